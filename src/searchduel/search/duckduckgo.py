"""DuckDuckGo without a key: the html endpoint, and the lite endpoint as its fallback.

Both are plain HTML forms answered by POST. Neither has a contract, so the parsers are
strict about what they accept: a page is either results, DuckDuckGo's own "no results"
page, a bot challenge (SearchBlocked), or something we do not recognise
(SearchUnparseable). An empty list means DuckDuckGo really found nothing.

`parse_html_page` and `parse_lite_page` are pure functions of the page text, tested
against saved real pages; the provider classes add the request and the status handling.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup, Tag

from ..config import SEARCH_TIMEOUT_S
from ..errors import ConfigError, SearchBlocked, SearchUnparseable
from ..types import Hit
from .http import BROWSER_USER_AGENT, dedupe, new_client, raise_for_refusal, send, squash

DEFAULT_DDG_URL = "https://html.duckduckgo.com"
# The real lite endpoint lives on its own host; a mirror (--ddg-url) serves both paths.
DEFAULT_LITE_URL = "https://lite.duckduckgo.com"
HTML_PATH = "/html/"
LITE_PATH = "/lite/"
# df: DuckDuckGo's time filter: day, week, month, year ("" = any time)
TIME_FILTERS = ("", "d", "w", "m", "y")

_DATE_RE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?:T[\d:.]+)?\b")
# Zero-click boxes that describe the visitor rather than the query.
_SELF_ANSWERS = ("Your IP address", "Your user agent", "URL Decoded")


def html_endpoint(ddg_url: str = DEFAULT_DDG_URL) -> str:
    """The html endpoint under a base URL (scheme and host; the path stays /html/)."""
    return ddg_url.rstrip("/") + HTML_PATH


def lite_endpoint(ddg_url: str = DEFAULT_DDG_URL) -> str:
    """The lite endpoint: lite.duckduckgo.com for the default, else the same base URL."""
    base = ddg_url.rstrip("/")
    if base == DEFAULT_DDG_URL:
        base = DEFAULT_LITE_URL
    return base + LITE_PATH


def unwrap_link(href: str | None) -> str | None:
    """The real target of a result link, or None for ads and links that are not web pages.

    DuckDuckGo wraps targets as //duckduckgo.com/l/?uddg=<percent-encoded URL>&rut=...;
    ads go through /y.js. parse_qs undoes the percent-encoding of the target.
    """
    if not href:
        return None
    url = urljoin("https://duckduckgo.com/", href.strip())
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "duckduckgo.com" or host.endswith(".duckduckgo.com"):
        if parts.path.startswith("/y.js"):
            return None
        if parts.path.startswith("/l/"):
            target = parse_qs(parts.query).get("uddg")
            if not target:
                return None
            url = target[0]
            parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _text(node: Tag | None) -> str:
    # get_text() without a separator keeps "<b>caffe</b>ine" as one word
    return squash(node.get_text()) if node is not None else ""


def _date(text: str) -> str | None:
    match = _DATE_RE.search(text)
    return match.group(1) if match else None


def _is_challenge(soup: BeautifulSoup) -> bool:
    """The bot challenge, recognised by its structure (a snippet may quote the phrases)."""
    if soup.select_one("#challenge-form, [data-testid='anomaly-modal'], [class*='anomaly-modal']"):
        return True
    for tag in soup.find_all(["form", "script", "img", "iframe"]):
        target = tag.get("action") or tag.get("src") or ""
        if "anomaly.js" in str(target):
            return True
    return False


def _challenge_text(text: str) -> bool:
    lowered = text.lower()
    return "bots use duckduckgo too" in lowered or "anomaly.js" in lowered


def _blocked(provider: str, label: str) -> SearchBlocked:
    return SearchBlocked(f"{label} blocked the request (bot challenge)", provider=provider)


def _unparseable(soup: BeautifulSoup, provider: str, label: str) -> SearchUnparseable:
    title = _text(soup.title) or "no title"
    return SearchUnparseable(
        f"{label} answered with a page that has neither results nor a 'no results' "
        f"message (title: {title[:80]!r}); the layout may have changed",
        provider=provider,
    )


def _finish(hits: list[Hit], k: int) -> list[Hit]:
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(dedupe(hits)[:k])]


def _zero_click(soup: BeautifulSoup, provider: str) -> Hit | None:
    box = soup.select_one(".zci")
    if box is None:
        return None
    heading = box.select_one(".zci__heading a, h1 a")
    abstract = box.select_one("#zero_click_abstract, .zci__result")
    if abstract is None:
        return None
    url = unwrap_link(heading.get("href")) if heading is not None else None
    for link in abstract.find_all("a"):
        # "More at Wikipedia": the source link, not part of the abstract
        if _text(link).startswith("More at"):
            url = url or unwrap_link(link.get("href"))
            link.decompose()
    text = _text(abstract)
    if not url or not text or text.startswith(_SELF_ANSWERS):
        return None
    title = _text(heading) or text[:80]
    return Hit(
        title=title,
        url=url,
        snippet=text,
        provider=provider,
        display_url=urlsplit(url).hostname or "",
    )


def parse_html_page(
    text: str,
    k: int = 10,
    *,
    zero_click: bool = True,
    provider: str = "duckduckgo",
    label: str = "DuckDuckGo",
) -> list[Hit]:
    """Hits from a html.duckduckgo.com results page.

    Raises SearchBlocked for a bot challenge and SearchUnparseable for a page with neither
    results nor the "No  results." marker; returns [] only for a real no-results page.
    """
    soup = BeautifulSoup(text, "lxml")
    if _is_challenge(soup):
        raise _blocked(provider, label)
    blocks = soup.select("#links div.result") or soup.select("div.web-result")
    organic: list[Hit] = []
    for block in blocks:
        classes = block.get("class") or []
        if "result--ad" in classes or "result--no-result" in classes:
            continue
        link = block.select_one("h2 a.result__a") or block.select_one("a.result__a")
        if link is None:
            continue
        url = unwrap_link(link.get("href"))
        title = _text(link)
        if url is None or not title:
            continue
        extras = block.select_one(".result__extras__url")
        date = None
        if extras is not None:
            for span in extras.find_all("span", recursive=False):
                date = date or _date(span.get_text())
        organic.append(
            Hit(
                title=title,
                url=url,
                snippet=_text(block.select_one(".result__snippet")),
                provider=provider,
                display_url=_text(block.select_one(".result__url")),
                date=date,
            )
        )
    extra = _zero_click(soup, provider) if zero_click else None
    if organic:
        return _finish(([extra] if extra else []) + organic, k)
    if soup.select_one(".no-results") is not None or "No  results." in text:
        return _finish([extra] if extra else [], k)
    if _challenge_text(text):
        raise _blocked(provider, label)
    raise _unparseable(soup, provider, label)


def parse_lite_page(
    text: str,
    k: int = 10,
    *,
    provider: str = "duckduckgo-lite",
    label: str = "DuckDuckGo Lite",
) -> list[Hit]:
    """Hits from a lite.duckduckgo.com results page.

    Each result is four table rows: the numbered a.result-link, td.result-snippet,
    span.link-text (with span.timestamp when dated), and a spacer. Sponsored results sit
    in tr.result-sponsored rows. Same error contract as parse_html_page.
    """
    soup = BeautifulSoup(text, "lxml")
    if _is_challenge(soup):
        raise _blocked(provider, label)
    hits: list[Hit] = []
    for link in soup.select("a.result-link"):
        row = link.find_parent("tr")
        if row is not None and "result-sponsored" in (row.get("class") or []):
            continue
        url = unwrap_link(link.get("href"))
        title = _text(link)
        if url is None or not title:
            continue
        snippet, display, date = "", "", None
        sibling = row.find_next_sibling("tr") if row is not None else None
        while sibling is not None and sibling.select_one("a.result-link") is None:
            snippet = snippet or _text(sibling.select_one("td.result-snippet"))
            display = display or _text(sibling.select_one("span.link-text"))
            stamp = sibling.select_one("span.timestamp")
            date = date or (_date(stamp.get_text()) if stamp is not None else None)
            sibling = sibling.find_next_sibling("tr")
        hits.append(
            Hit(
                title=title,
                url=url,
                snippet=snippet,
                provider=provider,
                display_url=display,
                date=date,
            )
        )
    if hits:
        return _finish(hits, k)
    if "No more results." in text or "No  results." in text:
        return []
    if _challenge_text(text):
        raise _blocked(provider, label)
    raise _unparseable(soup, provider, label)


def _accept_language(region: str) -> str:
    # "us-en" -> "en-US": a browser's language agrees with the region it asks for
    country, _, lang = region.partition("-")
    if not lang or lang == "wt" or not country:
        return "en-US,en;q=0.5"
    tag = f"{lang}-{country.upper()}"
    return f"{tag},{lang};q=0.9" + ("" if lang == "en" else ",en;q=0.5")


class _DuckDuckGoEndpoint:
    """One DuckDuckGo form endpoint: POST the form, map the status, parse the page."""

    name = ""
    label = ""

    @staticmethod
    def endpoint_for(base_url: str) -> str:
        raise NotImplementedError

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        base_url: str = DEFAULT_DDG_URL,
        region: str = "wt-wt",
        time_filter: str = "",
        timeout: float = SEARCH_TIMEOUT_S,
    ) -> None:
        if time_filter not in TIME_FILTERS:
            raise ConfigError(
                f"bad DuckDuckGo time filter {time_filter!r}: valid values: "
                + ", ".join(repr(t) for t in TIME_FILTERS)
            )
        self.client = client if client is not None else new_client()
        self.endpoint = self.endpoint_for(base_url)
        self.region = region
        self.time_filter = time_filter
        self.timeout = timeout
        parts = urlsplit(self.endpoint)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    def headers(self) -> dict[str, str]:
        """What a browser sends when submitting the search form on the same site."""
        return {
            "User-Agent": BROWSER_USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": _accept_language(self.region),
            "Origin": self._origin,
            "Referer": self._origin + "/",
            "Sec-Fetch-Dest": "document",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-User": "?1",
            "Upgrade-Insecure-Requests": "1",
        }

    def form(self, query: str) -> dict[str, str]:
        return {"q": query, "b": "", "kl": self.region, "df": self.time_filter}

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Up to k hits for query; raises SearchBlocked / SearchUnavailable / SearchUnparseable."""
        response = send(
            self.client,
            "POST",
            self.endpoint,
            provider=self.name,
            label=self.label,
            timeout=self.timeout,
            data=self.form(query),
            headers=self.headers(),
        )
        raise_for_refusal(response, provider=self.name, label=self.label)
        if response.status_code == 202:
            # DuckDuckGo's rate-limit answer: the challenge page, or an empty body
            raise SearchBlocked(
                f"{self.label} blocked the request (bot challenge, HTTP 202)",
                provider=self.name,
            )
        return self.parse(response.text, k)

    def parse(self, text: str, k: int) -> list[Hit]:
        raise NotImplementedError


class DuckDuckGoHtml(_DuckDuckGoEndpoint):
    """html.duckduckgo.com: ~10 organic results per page, with snippets and dates."""

    name = "duckduckgo"
    label = "DuckDuckGo"
    endpoint_for = staticmethod(html_endpoint)

    def __init__(
        self, client: httpx.Client | None = None, *, zero_click: bool = True, **options: Any
    ) -> None:
        super().__init__(client, **options)
        self.zero_click = zero_click

    def parse(self, text: str, k: int) -> list[Hit]:
        return parse_html_page(
            text, k, zero_click=self.zero_click, provider=self.name, label=self.label
        )


class DuckDuckGoLite(_DuckDuckGoEndpoint):
    """lite.duckduckgo.com: a table layout, tried when the html endpoint fails."""

    name = "duckduckgo-lite"
    label = "DuckDuckGo Lite"
    endpoint_for = staticmethod(lite_endpoint)

    def parse(self, text: str, k: int) -> list[Hit]:
        return parse_lite_page(text, k, provider=self.name, label=self.label)

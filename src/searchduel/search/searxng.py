"""SearXNG: a meta-search engine you run (or trust), through its JSON API.

GET {base}/search?q=...&format=json. An instance has the JSON format off by default; it then
answers 403, which we report with the line to add to its settings.yml. An empty result list
while every upstream engine failed (unresponsive_engines) is not "no results": it is a
block or an outage upstream, and raised as such.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config import SEARCH_TIMEOUT_S
from ..errors import ConfigError, SearchBlocked, SearchUnavailable, SearchUnparseable
from ..types import Hit
from .http import BROWSER_USER_AGENT, dedupe, new_client, raise_for_refusal, send, squash

TIME_RANGES = ("", "day", "week", "month", "year")
SAFESEARCH = (0, 1, 2)  # off, moderate, strict
# Upstream failure reasons SearXNG reports that mean "they refused us", not "they are down".
_BLOCK_REASONS = ("captcha", "too many requests", "access denied", "forbidden", "blocked")


def region_to_language(region: str) -> str:
    """DuckDuckGo's region code (us-en, wt-wt) as a SearXNG language (en-US, all)."""
    country, _, lang = region.partition("-")
    if not lang or lang == "wt" or not country:
        return "all"
    return f"{lang}-{country.upper()}"


class SearxngProvider:
    """A SearXNG instance's JSON API; results carry the upstream engine that found them."""

    name = "searxng"
    label = "SearXNG"

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        base_url: str,
        language: str = "all",
        time_range: str = "",
        safesearch: int = 1,
        timeout: float = SEARCH_TIMEOUT_S,
    ) -> None:
        if not base_url:
            raise ConfigError(
                "SearXNG needs an instance: set --searxng-url or SEARCHDUEL_SEARXNG_URL "
                "(e.g. http://localhost:8888)"
            )
        if time_range not in TIME_RANGES:
            raise ConfigError(
                f"bad SearXNG time range {time_range!r}: valid values: "
                + ", ".join(repr(t) for t in TIME_RANGES)
            )
        if safesearch not in SAFESEARCH:
            raise ConfigError(f"bad SearXNG safesearch {safesearch!r}: valid values: 0, 1, 2")
        self.client = client if client is not None else new_client()
        self.endpoint = base_url.rstrip("/") + "/search"
        self.language = language
        self.time_range = time_range
        self.safesearch = safesearch
        self.timeout = timeout

    def params(self, query: str) -> dict[str, str]:
        params = {
            "q": query,
            "format": "json",
            "language": self.language,
            "safesearch": str(self.safesearch),
            "pageno": "1",
        }
        if self.time_range:
            params["time_range"] = self.time_range
        return params

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Up to k hits for query; raises SearchBlocked / SearchUnavailable / SearchUnparseable."""
        response = send(
            self.client,
            "GET",
            self.endpoint,
            provider=self.name,
            label=self.label,
            timeout=self.timeout,
            params=self.params(query),
            headers={"User-Agent": BROWSER_USER_AGENT, "Accept": "application/json"},
        )
        if response.status_code == 403:
            raise SearchBlocked(
                f"{self.label} refused the JSON API (HTTP 403): the instance probably has "
                "JSON output disabled; add `json` to `search.formats` in its settings.yml",
                provider=self.name,
            )
        raise_for_refusal(response, provider=self.name, label=self.label)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SearchUnparseable(
                f"{self.label} answered with something that is not JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                provider=self.name,
            ) from None
        return parse_json(data, k, provider=self.name, label=self.label)


def _date(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    return value[:10]


def parse_json(
    data: Any, k: int = 10, *, provider: str = "searxng", label: str = "SearXNG"
) -> list[Hit]:
    """Hits from SearXNG's JSON answer; same error contract as the DuckDuckGo parsers."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SearchUnparseable(f"{label} answered JSON without a results list", provider=provider)
    hits: list[Hit] = []
    for item in data["results"]:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        title = squash(str(item.get("title") or "")) or parts.hostname
        hits.append(
            Hit(
                title=title,
                url=url,
                snippet=squash(str(item.get("content") or "")),
                provider=provider,
                display_url=parts.hostname + parts.path.rstrip("/"),
                date=_date(item.get("publishedDate")),
                engine=str(item.get("engine") or ""),
            )
        )
    if not hits:
        failed = [
            (str(e[0]), str(e[1]) if len(e) > 1 else "")
            for e in data.get("unresponsive_engines") or []
            if isinstance(e, (list, tuple)) and e
        ]
        if failed:
            reasons = ", ".join(f"{name}: {why}" if why else name for name, why in failed)
            blocked = any(word in why.lower() for _, why in failed for word in _BLOCK_REASONS)
            error = SearchBlocked if blocked else SearchUnavailable
            raise error(f"{label}'s engines did not answer ({reasons})", provider=provider)
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(dedupe(hits)[:k])]

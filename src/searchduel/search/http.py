"""HTTP plumbing shared by the web search providers.

httpx errors become SearchError subclasses here, at the module boundary, so the chain and
everything above it only ever sees the project's own exception tree.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import SearchBlocked, SearchUnavailable, SearchUnreachable
from ..types import Hit

# One stable, current desktop browser. Rotating user agents is what bot detectors look for;
# a single ordinary one with the headers a real browser sends draws less attention.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

# Retry-After values above this are treated as "not soon": the breaker still honours them.
_RETRY_AFTER_CAP_S = 24 * 3600.0


def new_client() -> httpx.Client:
    """A client for providers that were not handed one: no proxy variables, no redirects."""
    return httpx.Client(trust_env=False, follow_redirects=False)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return min(float(value), _RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - now), _RETRY_AFTER_CAP_S)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    label: str,
    timeout: float,
    **kwargs: object,
) -> httpx.Response:
    """One request; transport failures become SearchUnavailable naming the provider
    (SearchUnreachable when no connection could be opened at all)."""
    try:
        return client.request(method, url, timeout=timeout, follow_redirects=False, **kwargs)
    except httpx.TimeoutException:
        raise SearchUnavailable(
            f"{label} did not answer within {timeout:g} s", provider=provider, cause="timeout"
        ) from None
    except httpx.ConnectError as exc:
        # DNS failure, connection refused, network unreachable: the chain rests the
        # provider at once instead of retrying
        raise SearchUnreachable(
            f"{label} could not be reached ({type(exc).__name__}: {exc})", provider=provider
        ) from None
    except httpx.HTTPError as exc:
        raise SearchUnavailable(
            f"{label} could not be reached ({type(exc).__name__}: {exc})",
            provider=provider,
            cause="unreachable",
        ) from None


def raise_for_refusal(response: httpx.Response, *, provider: str, label: str) -> None:
    """Raise SearchBlocked for refusals (403/418/429, redirects) and SearchUnavailable for
    other non-2xx answers. 2xx passes; callers decide what a 202 means for them."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status in (403, 418, 429):
        what = "rate-limited" if status == 429 else "refused"
        wait = f", retry after {retry_after:.0f} s" if retry_after is not None else ""
        raise SearchBlocked(
            f"{label} {what} the request (HTTP {status}{wait})",
            provider=provider,
            retry_after=retry_after,
        )
    if 300 <= status < 400:
        # Search endpoints answer a query in place; a redirect sends us to a ban or
        # consent page, never to results.
        where = response.headers.get("location", "")
        raise SearchBlocked(
            f"{label} redirected the search away from results (HTTP {status}"
            + (f" to {where}" if where else "")
            + ")",
            provider=provider,
            retry_after=retry_after,
        )
    raise SearchUnavailable(f"{label} answered HTTP {status}", provider=provider, cause="server")


def normalize_url(url: str) -> str:
    """A key under which the same page reached by trivially different URLs compares equal."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:  # a malformed port: keep the URL distinct rather than fail
        port = None
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    # http and https, and the fragment, do not make a different document
    return urlunsplit(("", host, path, parts.query, ""))


def dedupe(hits: Iterable[Hit]) -> list[Hit]:
    """Keep the first hit of each normalised URL, in order."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        key = normalize_url(hit.url)
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out


def squash(text: str) -> str:
    """Collapse runs of whitespace (newlines, nbsp) into single spaces."""
    return " ".join(text.split())

"""An in-memory cache of fetched pages, shared by every question the process answers.

It is a shared cache in the HTTP sense (one process serves many users), so it follows the
response's Cache-Control: ``no-store``, ``no-cache`` (we never revalidate) and ``private``
are not stored, ``s-maxage`` beats ``max-age``, and a lifetime of 0 is not stored. Without
a Cache-Control header a page lives `PAGE_CACHE_TTL_S`. Only usable pages are stored.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..config import (
    PAGE_CACHE_BYTES,
    PAGE_CACHE_ENTRIES,
    PAGE_CACHE_MAX_TTL_S,
    PAGE_CACHE_TTL_S,
)
from ..types import Page

_DIRECTIVE = re.compile(r"\s*([a-zA-Z-]+)\s*(?:=\s*\"?([^\",]*)\"?)?\s*(?:,|$)")


def cache_lifetime(
    cache_control: str | None,
    *,
    default: float = PAGE_CACHE_TTL_S,
    ceiling: float = PAGE_CACHE_MAX_TTL_S,
) -> float:
    """Seconds a response may be kept by a shared cache; 0 means do not store it."""
    if not cache_control:
        return default
    directives: dict[str, str] = {}
    for match in _DIRECTIVE.finditer(cache_control):
        if match.group(1):
            directives[match.group(1).lower()] = (match.group(2) or "").strip()
    if {"no-store", "no-cache", "private"} & directives.keys():
        return 0.0
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                return max(0.0, min(float(int(directives[name])), ceiling))
            except ValueError:
                return 0.0  # a malformed lifetime is treated as stale (RFC 9111 4.2.1)
    return default


@dataclass(frozen=True)
class _Entry:
    page: Page
    expires: float
    size: int = 0


class PageCache:
    """URL -> Page with a lifetime per entry; thread-safe; least recently used evicted first
    once either bound is passed: `max_entries` pages or `max_bytes` of their text."""

    def __init__(
        self,
        max_entries: int = PAGE_CACHE_ENTRIES,
        *,
        max_bytes: int = PAGE_CACHE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes of page text held now (UTF-8 length of text and title)."""
        return self._bytes

    def get(self, url: str) -> Page | None:
        """The cached page for url, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                self._bytes -= self._entries.pop(url).size
                return None
            self._entries.move_to_end(url)
            return entry.page

    def put(self, url: str, page: Page, cache_control: str | None = None) -> bool:
        """Store a usable page under url as its Cache-Control allows; True when stored."""
        ttl = cache_lifetime(cache_control)
        size = _page_bytes(page)
        if ttl <= 0 or not page.ok or self.max_entries <= 0 or size > self.max_bytes:
            return False
        with self._lock:
            old = self._entries.pop(url, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[url] = _Entry(page, self._clock() + ttl, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1].size
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _page_bytes(page: Page) -> int:
    return len(page.text.encode("utf-8", "surrogatepass")) + len(
        page.title.encode("utf-8", "replace")
    )


# The process-wide cache fetch_pages uses unless given another (or None).
PAGE_CACHE = PageCache()

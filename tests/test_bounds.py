"""Every cache is bounded by entries and by bytes, so a public app's memory plateaus."""

from __future__ import annotations

import pytest

from searchduel.config import PAGE_CACHE_BYTES, SEARCH_CACHE_BYTES
from searchduel.rag import rank
from searchduel.search import chain as chain_module
from searchduel.search.chain import SearchChain
from searchduel.types import Hit, Page
from searchduel.web.cache import PageCache


def page(url: str, chars: int) -> Page:
    return Page(url=url, status="ok", title="t", text="x" * chars)


def test_page_cache_is_bounded_by_bytes_as_well_as_entries() -> None:
    cache = PageCache(max_entries=100, max_bytes=10_000)
    for i in range(50):
        assert cache.put(f"https://a.example/{i}", page(f"https://a.example/{i}", 999))
    assert cache.bytes <= 10_000 and len(cache) == 10
    assert cache.get("https://a.example/49") is not None, "the newest stay"
    assert cache.get("https://a.example/0") is None, "the oldest went first"


def test_a_page_larger_than_the_whole_cache_is_not_stored() -> None:
    cache = PageCache(max_entries=100, max_bytes=10_000)
    cache.put("https://a.example/small", page("https://a.example/small", 100))
    assert not cache.put("https://a.example/huge", page("https://a.example/huge", 20_000))
    assert len(cache) == 1 and cache.bytes == 101


def test_replacing_and_expiring_pages_keeps_the_byte_count_true() -> None:
    now = [0.0]
    cache = PageCache(max_entries=10, max_bytes=10_000, clock=lambda: now[0])
    for _ in range(5):
        cache.put("https://a.example/", page("https://a.example/", 500))
    assert cache.bytes == 501
    now[0] += 10**6
    assert cache.get("https://a.example/") is None and cache.bytes == 0
    cache.put("https://a.example/", page("https://a.example/", 500))
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0


def test_default_page_cache_bytes_is_far_below_entries_times_page_size() -> None:
    from searchduel.config import MAX_PAGE_BYTES, PAGE_CACHE_ENTRIES

    assert PageCache().max_bytes == PAGE_CACHE_BYTES < PAGE_CACHE_ENTRIES * MAX_PAGE_BYTES / 10


class BigHits:
    """A provider whose hits carry large snippets, counting its calls."""

    name = "big"

    def __init__(self, snippet_chars: int) -> None:
        self.snippet_chars = snippet_chars
        self.calls = 0

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls += 1
        return [
            Hit(
                title=f"{query} {i}",
                url=f"https://b.example/{query}/{i}",
                snippet="s" * self.snippet_chars,
            )
            for i in range(k)
        ]


def test_search_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_module, "CACHE_BYTES", 50_000)
    provider = BigHits(snippet_chars=1_000)  # ~10 KB per query: five fit
    chain = SearchChain([provider], spacing_s=0)
    for i in range(20):
        chain.search(f"query {i}", k=10)
    assert chain._cache_bytes <= 50_000 and len(chain._cache) == 4
    before = provider.calls
    chain.search("query 19", k=10)
    assert provider.calls == before, "a recent query is still cached"
    chain.search("query 0", k=10)
    assert provider.calls == before + 1, "an old one was evicted"
    assert SEARCH_CACHE_BYTES == chain_module.SEARCH_CACHE_BYTES


def test_long_words_are_stemmed_but_not_remembered() -> None:
    rank._stem.cache_clear()
    word = "a" * 5000
    assert rank.stem(word) == word
    assert rank.stem("popularized") == rank.stem("popular")
    assert rank._stem.cache_info().currsize == 2
    assert rank._stem.cache_info().maxsize == rank.STEM_CACHE_ENTRIES

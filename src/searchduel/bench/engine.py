"""`bench engine`: what sharing one model between two columns costs, measured through the engine.

Rows:

- the plain column's time to first token with the search column running beside it, against
  the same run with search off (median of paired ratios; target <= 1.10);
- the plain column's tokens per second through the engine (search off), against raw
  `model.generate` with the exact same arguments (`TransformersBackend.generate_kwargs`,
  greedy) run in a worker thread, as the backend runs it (median of paired ratios; target
  >= 0.95). Tokens per second count the prompt's prefill in both;
- the options for two streams on one model, same run, no target: two streaming threads (what
  the backend does), two sequential streams, and one batched `generate` with left padding and
  a streamer that splits rows; `--engine-continuous` adds transformers' continuous batching;
- context ready for a repeated question (target <= 100 ms), against the first ask; the same
  with the default `--search auto` on a machine without internet (DuckDuckGo at a host that
  does not resolve), which must fall back to the corpus and answer the repeat from memory;
- context ready for new questions on the offline corpus, dense re-ranking on (target
  <= 300 ms a question), with the milliseconds of each stage.

Generation is greedy (temperature 0) so every way of generating makes the same tokens, and
token counts come from the raw `generate` output. The throughput rows above need the
transformers backend; with `--backend llamacpp` the suite measures one stream against two
(bench/backends.py), and on a model folder that holds both forms (`tiny-model DIR --gguf`)
it adds rows comparing the two local backends on the same weights, both columns generating,
and their resident memory after load.

On a CPU shared with other work, run it with OMP_WAIT_POLICY=PASSIVE: with OpenMP's default
(spinning) waits, identical `generate` calls there took anywhere from 0.45 s to 7 s.
The ratio rows' notes name the load and the policy the numbers were taken under.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Settings
from ..engine import Engine, RunOptions, SearchTrace
from ..types import Message
from . import Result, check

SUITE = "engine"
TTFT_TARGET = "<= 1.10"
THROUGHPUT_TARGET = ">= 0.95"
CACHE_TARGET_MS = "<= 100"
NEW_QUESTION_TARGET_MS = "<= 300"  # issue 20: a visitor on a CPU Space waits for this
NEW_QUESTIONS = 12  # questions of assets/qa.jsonl asked once each
# "No internet" for the auto row: a .invalid name never resolves (RFC 2606)
UNREACHABLE_DDG_URL = "http://searchduel-no-network.invalid"
# A question the shipped corpus answers, so `--search local` gives the search column real work.
PROMPT = "Plan a one-day trip to Skagway, Alaska"
REPS = 5

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine-reps", type=int, default=REPS, help="engine bench: repetitions (median)"
    )
    parser.add_argument("--engine-prompt", default=PROMPT, help="engine bench: the question asked")
    parser.add_argument(
        "--engine-new-questions",
        type=int,
        default=NEW_QUESTIONS,
        help="engine bench: new questions timed with dense re-ranking on",
    )
    parser.add_argument(
        "--engine-continuous",
        action="store_true",
        help="engine bench: also time transformers' continuous batching (generate_batch)",
    )


# --- helpers --------------------------------------------------------------------------------


def in_thread(fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread and return its result (re-raising its error).

    The backend generates in a worker thread; the raw baseline must too. On a CPU shared with
    other processes, OpenMP's spinning workers made `generate` called from the main thread
    ~25x slower (median of 8 pairs) than the same call from a fresh thread.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=work, name="bench-generate", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True)
class RawRun:
    """One raw `generate` call: new tokens, wall seconds, decoded text."""

    tokens: int
    seconds: float
    text: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def raw_generate(backend: Any, messages: Sequence[Message], max_new_tokens: int) -> RawRun:
    """`model.generate` with the backend's own arguments, greedy, no streamer, in a thread."""
    import torch

    ids = backend.counter.prompt_ids(list(messages))
    kwargs = backend.generate_kwargs(ids, max_new_tokens=max_new_tokens, temperature=0.0)

    def work() -> RawRun:
        start = time.perf_counter()
        with torch.inference_mode():
            out = backend.model.generate(**kwargs)
        seconds = time.perf_counter() - start
        new = out[0, len(ids) :].tolist()
        text = backend.tokenizer.decode(new, skip_special_tokens=True)
        return RawRun(len(new), seconds, text)

    return in_thread(work)


@dataclass(frozen=True)
class PlainRun:
    """The plain column of one engine run, timed where the caller receives the events."""

    first_s: float  # run start -> first plain token received
    done_s: float  # run start -> plain done received (0 when stopped at the first token)
    answer: str


def time_plain(
    engine: Engine, prompt: str, options: RunOptions, *, until_first: bool = False
) -> PlainRun:
    """Run both columns; time the plain column. `until_first` closes the run at its first token."""
    from ..errors import GenerationError

    start = time.perf_counter()
    first = done = 0.0
    parts: list[str] = []
    events = engine.run(prompt, options)
    try:
        for ev in events:
            if ev.column != "plain":
                continue
            if ev.kind == "token":
                if not first:
                    first = time.perf_counter() - start
                    if until_first:
                        break
                parts.append(ev.text)
            elif ev.kind == "done":
                done = time.perf_counter() - start
            elif ev.kind == "error":
                raise GenerationError(f"the plain column failed in the bench: {ev.text}")
    finally:
        events.close()  # stops both columns and joins their threads
    return PlainRun(first, done, "".join(parts))


def _drain(backend: Any, messages: Sequence[Message], max_new_tokens: int) -> tuple[float, str]:
    """Consume one backend stream; (seconds to its first piece, whole text)."""
    start = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    for piece in backend.stream(messages, max_new_tokens=max_new_tokens, temperature=0.0):
        if not first:
            first = time.perf_counter() - start
        parts.append(piece)
    return first, "".join(parts)


@dataclass(frozen=True)
class TwoStreams:
    """Two answers generated on one model: wall seconds, tokens, first piece of row 0 (plain)."""

    seconds: float
    tokens: int
    plain_first_s: float
    texts: tuple[str, str]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def two_threads(backend: Any, pair: Sequence[Sequence[Message]], n: int, tokens: int) -> TwoStreams:
    """What the engine does: each stream consumed in its own thread, both at once."""
    results: list[tuple[float, str]] = [(0.0, ""), (0.0, "")]

    def consume(i: int) -> None:
        results[i] = _drain(backend, pair[i], n)

    start = time.perf_counter()
    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return TwoStreams(seconds, tokens, results[0][0], (results[0][1], results[1][1]))


def two_sequential(
    backend: Any, pair: Sequence[Sequence[Message]], n: int, tokens: int
) -> TwoStreams:
    """One stream after the other, from a worker thread."""

    def work() -> TwoStreams:
        start = time.perf_counter()
        first, a = _drain(backend, pair[0], n)
        _, b = _drain(backend, pair[1], n)
        return TwoStreams(time.perf_counter() - start, tokens, first, (a, b))

    return in_thread(work)


class RowStreamer:
    """Splits a batched generate's per-step tokens into one text stream per row.

    Each row gets the backend's own incremental decoder, fed every step as a single stream's
    reader would be at worst; a row stops taking tokens once it emits an end token.
    """

    def __init__(self, tokenizer: Any, rows: int, end_ids: Sequence[int]):
        from ..llm.transformers_local import _TextDecoder

        self.decoders = [_TextDecoder(tokenizer) for _ in range(rows)]
        self.parts: list[list[str]] = [[] for _ in range(rows)]
        self.counts = [0] * rows
        self.end_ids = set(end_ids)
        self.finished = [False] * rows
        self.first_at = [0.0] * rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        now = time.perf_counter()
        for i, decoder in enumerate(self.decoders):
            if self.finished[i]:
                continue
            token = int(value[i])
            self.counts[i] += 1
            if token in self.end_ids:
                self.finished[i] = True
                continue
            text = decoder.feed([token])
            if text:
                self.parts[i].append(text)
                if not self.first_at[i]:
                    self.first_at[i] = now

    def end(self) -> None:
        for i, decoder in enumerate(self.decoders):
            self.parts[i].append(decoder.feed([], final=True))

    def texts(self) -> list[str]:
        return ["".join(parts) for parts in self.parts]

    def tokens(self) -> int:
        return sum(self.counts)


def _end_ids(backend: Any) -> list[int]:
    eos = backend.model.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    return [int(i) for i in ids]


def batched(backend: Any, pair: Sequence[Sequence[Message]], n: int) -> TwoStreams:
    """One `generate` for both prompts: left padding, a streamer that splits the rows."""
    import torch

    ids = [backend.counter.prompt_ids(list(m)) for m in pair]
    width = max(len(x) for x in ids)
    kwargs = backend.generate_kwargs(ids[0], max_new_tokens=n, temperature=0.0)
    pad = kwargs["generation_config"].pad_token_id
    rows = [[pad] * (width - len(x)) + x for x in ids]
    mask = [[0] * (width - len(x)) + [1] * len(x) for x in ids]
    kwargs["input_ids"] = torch.tensor(rows, device=backend.device)
    kwargs["attention_mask"] = torch.tensor(mask, device=backend.device)
    streamer = RowStreamer(backend.tokenizer, len(rows), _end_ids(backend))

    def work() -> TwoStreams:
        start = time.perf_counter()
        with torch.inference_mode():
            backend.model.generate(**kwargs, streamer=streamer)
        seconds = time.perf_counter() - start
        first = streamer.first_at[0] - start if streamer.first_at[0] else seconds
        a, b = streamer.texts()
        return TwoStreams(seconds, streamer.tokens(), first, (a, b))

    return in_thread(work)


def continuous(backend: Any, pair: Sequence[Sequence[Message]], n: int) -> TwoStreams:
    """transformers' continuous batching (`generate_batch`) for both prompts; no streaming.

    The manager is kept between calls, as a server would keep it: call once to warm up, and
    `end_continuous(backend)` when done. Its paged cache is sized for these two requests
    (sizing it from free memory, the default, allocates gigabytes on a CPU).
    """
    import logging
    import math

    import torch
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    ids = [backend.counter.prompt_ids(list(m)) for m in pair]
    config = backend.generate_kwargs(ids[0], max_new_tokens=n, temperature=0.0)["generation_config"]
    page = 256
    cache = ContinuousBatchingConfig(
        page_size=page,
        num_blocks=sum(math.ceil((len(x) + n) / page) for x in ids) + 2,
        max_batch_tokens=sum(len(x) for x in ids) + len(ids),
        max_requests_per_batch=len(ids),
    )

    def work() -> TwoStreams:
        logger = logging.getLogger("ContinuousBatchingLogger")
        level = logger.level
        logger.setLevel(logging.ERROR)  # it warns on every call that the manager is kept
        try:
            start = time.perf_counter()
            with torch.inference_mode():
                out = backend.model.generate_batch(
                    inputs=ids,
                    generation_config=config,
                    continuous_batching_config=cache,
                    warmup=False,
                    persistent_manager=True,
                )
            seconds = time.perf_counter() - start
        finally:
            logger.setLevel(level)
        by_prompt = {tuple(o.prompt_ids): list(o.generated_tokens) for o in out.values()}
        gen = [by_prompt.get(tuple(x), []) for x in ids]
        if any(o.error for o in out.values()):
            raise RuntimeError("; ".join(str(o.error) for o in out.values() if o.error))
        texts = [backend.tokenizer.decode(g, skip_special_tokens=True) for g in gen]
        return TwoStreams(seconds, sum(len(g) for g in gen), seconds, (texts[0], texts[-1]))

    return in_thread(work)


def end_continuous(backend: Any) -> None:
    """Stop the continuous batching manager `continuous` keeps."""
    backend.model.destroy_cached_continuous_batching_manager()


def conditions() -> str:
    """The machine's load and OpenMP wait policy, for the ratio rows' notes.

    With OpenMP's default (active) waiting on a CPU shared with other work, identical
    `generate` calls took 0.45-7 s; OMP_WAIT_POLICY=PASSIVE brought them within ~20-50%.
    """
    load = f"{os.cpu_count()} cores"
    if hasattr(os, "getloadavg"):  # not on Windows
        load = f"load {os.getloadavg()[0]:.1f} on {load}"
    return f"{load}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


# --- the rows -------------------------------------------------------------------------------


def ttft_rows(engine: Engine, prompt: str, reps: int, where: str = "") -> list[Result]:
    """Plain first token, search running vs search off, paired and interleaved."""
    search = engine.settings.search if engine.settings.search != "off" else "local"
    alone_opts = RunOptions(search="off", temperature=0.0)
    with_opts = RunOptions(search=search, temperature=0.0)
    alone: list[float] = []
    beside: list[float] = []
    for _ in range(reps):
        alone.append(time_plain(engine, prompt, alone_opts, until_first=True).first_s)
        beside.append(time_plain(engine, prompt, with_opts, until_first=True).first_s)
    ratio = _median([b / a for a, b in zip(alone, beside, strict=True) if a > 0])
    a_ms, b_ms = _median(alone) * 1000, _median(beside) * 1000
    return [
        Result(SUITE, "plain first token, search off", a_ms, "ms", note=f"median of {reps}"),
        Result(
            SUITE,
            "plain first token, search running",
            b_ms,
            "ms",
            a_ms,
            note=f"--search {search}; median of {reps}",
        ),
        Result(
            SUITE,
            "first token: search running / off",
            ratio,
            "x",
            1.0,
            TTFT_TARGET,
            check(ratio, TTFT_TARGET),
            note=f"median of {reps} paired runs; {where}",
        ),
    ]


def throughput_rows(engine: Engine, prompt: str, reps: int, where: str = "") -> list[Result]:
    """Plain column tokens/s through the engine vs raw generate, paired and interleaved."""
    from ..rag.prompts import plain_messages

    backend = engine.backend
    n = engine.settings.max_new_tokens
    messages = plain_messages(prompt)
    opts = RunOptions(search="off", temperature=0.0)
    raw_tps: list[float] = []
    eng_tps: list[float] = []
    same = True
    for _ in range(reps):
        raw = raw_generate(backend, messages, n)
        run = time_plain(engine, prompt, opts)
        same = same and run.answer == raw.text
        raw_tps.append(raw.tokens_per_s)
        eng_tps.append(raw.tokens / run.done_s if run.done_s > 0 else 0.0)
    ratio = _median([e / r for e, r in zip(eng_tps, raw_tps, strict=True) if r > 0])
    note = (
        f"{raw.tokens} new tokens, prefill included; same text as raw: "
        f"{'yes' if same else 'NO'}; median of {reps}"
    )
    return [
        Result(
            SUITE, "plain column tokens/s", _median(eng_tps), "tok/s", _median(raw_tps), note=note
        ),
        Result(
            SUITE,
            "engine / raw generate",
            ratio,
            "x",
            1.0,
            THROUGHPUT_TARGET,
            check(ratio, THROUGHPUT_TARGET),
            note=f"median of {reps} paired runs of raw generate, same arguments; {where}",
        ),
    ]


def shared_model_rows(
    engine: Engine, prompt: str, reps: int, *, with_continuous: bool = False
) -> list[Result]:
    """Two streams on one model: threads vs sequential vs one batched generate."""
    from ..rag.prompts import plain_messages

    backend = engine.backend
    n = engine.settings.max_new_tokens
    search_settings = engine.settings.replace(
        search=engine.settings.search if engine.settings.search != "off" else "local"
    )
    pair = (plain_messages(prompt), list(engine.context(prompt, search_settings).messages))
    tokens = sum(raw_generate(backend, m, n).tokens for m in pair)
    options: dict[str, Callable[[], TwoStreams]] = {
        "threads": lambda: two_threads(backend, pair, n, tokens),
        "sequential": lambda: two_sequential(backend, pair, n, tokens),
        "batched": lambda: batched(backend, pair, n),
    }
    if with_continuous:
        options["continuous batching"] = lambda: continuous(backend, pair, n)
    runs: dict[str, list[TwoStreams]] = {name: [] for name in options}
    try:
        if with_continuous:
            continuous(backend, pair, n)  # warm-up: the manager and its cache are created once
        for _ in range(reps):
            for name, fn in options.items():
                runs[name].append(fn())
    finally:
        if with_continuous:
            end_continuous(backend)
    seq = _median([r.tokens_per_s for r in runs["sequential"]])
    notes = {
        "threads": "two streaming threads on one model (what the backend does)",
        "sequential": "one stream after the other",
        "batched": "one generate, left padding, a streamer that splits rows",
        "continuous batching": "model.generate_batch, kept manager; no streaming (first = all)",
    }
    results = []
    for name, rs in runs.items():
        tps = _median([r.tokens_per_s for r in rs])
        first_ms = _median([r.plain_first_s for r in rs]) * 1000
        results.append(
            Result(
                SUITE,
                f"2 streams: {name}",
                tps,
                "tok/s",
                None if name == "sequential" else seq,
                note=(
                    f"{notes[name]}; plain row's first text {first_ms:.0f} ms; "
                    f"{rs[0].tokens} tokens; median of {reps}"
                ),
            )
        )
    return results


def cache_rows(engine: Engine, prompt: str, reps: int) -> list[Result]:
    """engine.context on the same question twice, on a fresh engine each time (cold caches)."""
    settings = engine.settings.replace(
        search=engine.settings.search if engine.settings.search != "off" else "local"
    )
    first: list[float] = []
    repeat: list[float] = []
    for _ in range(reps):
        fresh = Engine(settings, engine.backend)
        for out in (first, repeat):
            start = time.perf_counter()
            fresh.context(prompt, settings)
            out.append((time.perf_counter() - start) * 1000)
    value = _median(repeat)
    return [
        Result(
            SUITE,
            "context ready, first ask",
            _median(first),
            "ms",
            note=f"--search {settings.search}; fresh engine; median of {reps}",
        ),
        Result(
            SUITE,
            "context ready, repeated question",
            value,
            "ms",
            _median(first),
            CACHE_TARGET_MS,
            check(value, CACHE_TARGET_MS),
            note=f"same engine, same question; median of {reps}",
        ),
    ]


def offline_auto_rows(engine: Engine, prompt: str, reps: int) -> list[Result]:
    """Default `--search auto` with no internet: the first ask falls back to the corpus, the
    repeat must come from memory."""
    settings = engine.settings.replace(search="auto", ddg_url=UNREACHABLE_DDG_URL, searxng_url="")
    first: list[float] = []
    repeat: list[float] = []
    provider = ""
    for _ in range(reps):
        fresh = Engine(settings, engine.backend)
        for out in (first, repeat):
            ctx_trace = SearchTrace()
            start = time.perf_counter()
            fresh.context(prompt, settings, trace=ctx_trace)
            out.append((time.perf_counter() - start) * 1000)
            provider = ctx_trace.provider
    value = _median(repeat)
    return [
        Result(
            SUITE,
            "context ready, first ask, auto without internet",
            _median(first),
            "ms",
            note=f"answered by {provider}; fresh engine; median of {reps}",
        ),
        Result(
            SUITE,
            "context ready, repeated question, auto without internet",
            value,
            "ms",
            _median(first),
            CACHE_TARGET_MS,
            check(value, CACHE_TARGET_MS),
            note=f"same engine, same question; median of {reps}",
        ),
    ]


def new_question_rows(engine: Engine, n: int = NEW_QUESTIONS) -> list[Result]:
    """engine.context on questions not asked before, offline corpus, dense re-ranking on; the
    passage-embedding cache is emptied first, so only what these questions share is reused."""
    from ..bench.retrieval import DEFAULT_QUESTIONS, load_questions

    settings = engine.settings.replace(search="local", dense=True)
    questions = [qa.question for qa in load_questions(DEFAULT_QUESTIONS)][-n:]
    try:
        from ..rag import dense

        dense.load_model()
        dense.clear_cache()
        # as the app's warm-up does: the corpus's passages are embedded once, like its index
        t_pin = time.perf_counter()
        pinned = engine.embed_corpus(settings)
        pin_s = time.perf_counter() - t_pin
    except Exception as exc:  # the model package missing: say so, measure without it
        print(f"engine bench: dense re-ranker unavailable ({exc})", file=sys.stderr)
        pinned, pin_s = 0, 0.0
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        trace = SearchTrace()
        start = time.perf_counter()
        engine.context(q, settings, trace=trace)
        times.append((time.perf_counter() - start) * 1000)
        for name, ms in (trace.timings or {}).items():
            stages.setdefault(name, []).append(ms)
    value = statistics.mean(times)
    per_stage = ", ".join(f"{k} {statistics.mean(v):.0f}" for k, v in stages.items())
    return [
        Result(
            SUITE,
            "context ready, new question, dense on",
            value,
            "ms",
            target=NEW_QUESTION_TARGET_MS,
            passed=check(value, NEW_QUESTION_TARGET_MS),
            note=f"--search local; mean of {len(times)} questions; ms by stage: {per_stage}",
        ),
        Result(
            SUITE,
            "offline corpus embedded at start-up",
            pin_s,
            "s",
            note=f"{pinned} passages, once per corpus (read back from disk after the first run)",
        ),
    ]


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """The engine suite on the model the settings name (`--model`, `--search`)."""
    from ..llm import make_backend, resolve
    from ..llm.llamacpp import LlamaCppBackend
    from ..llm.transformers_local import TransformersBackend
    from . import backends

    reps = max(1, getattr(args, "engine_reps", REPS) or REPS)
    prompt = getattr(args, "engine_prompt", None) or PROMPT
    settings = resolve(settings.replace(temperature=0.0))
    engine = Engine(settings, make_backend(settings))
    where = conditions()  # after the load: llama.cpp may have set OpenMP's wait policy
    # warm-up: corpus index, tokenizer, first-call set-up in torch are not what is measured
    time_plain(
        engine, prompt, RunOptions(search=settings.search if settings.search != "off" else "local")
    )
    results = ttft_rows(engine, prompt, reps, where)
    if isinstance(engine.backend, TransformersBackend):
        results += throughput_rows(engine, prompt, reps, where)
        results += shared_model_rows(
            engine, prompt, reps, with_continuous=bool(getattr(args, "engine_continuous", False))
        )
    elif isinstance(engine.backend, LlamaCppBackend):
        results += backends.llamacpp_stream_rows(engine, prompt, reps, where)
    else:
        print(
            "engine bench: throughput rows need a local backend; skipped",
            file=sys.stderr,
        )
    results += cache_rows(engine, prompt, reps)
    results += offline_auto_rows(engine, prompt, reps)
    results += new_question_rows(
        engine, max(1, getattr(args, "engine_new_questions", NEW_QUESTIONS) or NEW_QUESTIONS)
    )
    if backends.has_both_forms(settings):  # `tiny-model DIR --gguf`: the two local backends
        results += backends.compare_rows(settings, prompt, reps, where)
    return results

"""`bench store`: what keeping comparisons costs a run, and what the Results view costs.

Both on a real SQLite file in a temporary folder, with records shaped like real ones
(two ~1,500-character answers, 8 sources, a ~8,000-character packed context, 8 page rows):

- storing a comparison: `comparison_from_events` over a run's events plus `Store.save`,
  `--store-rounds` times; the p95 is what a run pays (target <= 20 ms).
- the Results view over `--store-votes` stored votes (default 10,000, one per comparison,
  300 prompts, 2 models, 3 providers, a third blind): the statistics, the three charts, and
  each chart drawn to WebP as gr.Plot does; the worst of 3 warm runs (target <= 1 s). The
  first, cold run (imports, font cache) is reported beside it without a target.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..types import Event, Source
from . import Result, check

SUITE = "store"
TARGET_SAVE_P95_MS = "<= 20"
TARGET_RESULTS_S = "<= 1"
_WORDS = ("the", "of", "search", "answer", "model", "source", "river", "coffee", "sleep")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench store`."""
    parser.add_argument(
        "--store-rounds", type=int, default=200, metavar="N", help="bench store: comparisons saved"
    )
    parser.add_argument(
        "--store-votes",
        type=int,
        default=10_000,
        metavar="N",
        help="bench store: votes behind the Results view",
    )


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    n = 0
    while n < chars:
        w = rng.choice(_WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)


def _events(rng: random.Random, prompt: str) -> list[Event]:
    """One run's events as the engine emits them (answers in ~4-character pieces)."""
    sources = [
        Source(n, f"Source {n}", f"https://site{n}.example/page", f"site{n}.example")
        for n in range(1, 9)
    ]
    pages = [
        {"url": s.url, "final_url": s.url, "status": "ok", "reason": "", "http_status": 200,
         "ms": 120.0, "bytes": 90_000, "title": s.title, "from_snippet": False}
        for s in sources
    ]  # fmt: skip
    trace = {
        "query": prompt, "provider": "duckduckgo", "offline": False, "notices": [],
        "hits": 10, "pages": pages, "context_tokens": 1990, "prompt_tokens": 2100,
        "timings": {"search": 800.0, "fetch": 2100.0, "chunk": 30.0, "bm25": 12.0, "pack": 4.0},
    }  # fmt: skip
    events = [
        Event("search", "trace", "", trace),
        Event("search", "sources", "", {"sources": sources, "context": _text(rng, 8000)}),
    ]
    for column in ("plain", "search"):
        answer = _text(rng, 1500)
        events += [Event(column, "token", answer[i : i + 4]) for i in range(0, len(answer), 4)]
        done = {"answer": answer, "ttft_s": 0.4, "total_s": 9.0, "tokens": 380,
                "tokens_per_s": 40.0}  # fmt: skip
        events.append(Event(column, "done", "", done))
    return events


def _save_times(folder: Path, rounds: int, settings: Settings) -> list[float]:
    from ..store import Store, comparison_from_events

    rng = random.Random(0)
    runs = [_events(rng, f"question {i}") for i in range(rounds)]
    times = []
    with Store(folder / "save.sqlite3") as store:
        for i, events in enumerate(runs):
            t0 = time.perf_counter()
            record = comparison_from_events(f"question {i}", events, settings)
            store.save(record, session=f"session-{i % 7}")
            times.append(time.perf_counter() - t0)
    return times


def _fill(path: Path, votes: int) -> None:
    """`votes` comparisons with one vote each, written in one import."""
    from ..store import Comparison, Store, new_id

    rng = random.Random(1)
    prompts = [f"prompt number {i}: {_text(rng, 40)}" for i in range(300)]
    context = _text(rng, 8000)
    start = time.time() - votes * 60
    records: list[dict[str, Any]] = []
    for i in range(votes):
        plain, search = rng.randint(300, 1800), rng.randint(300, 1800)
        choice = rng.choices(("search", "plain", "tie", "both_bad"), (45, 30, 15, 10))[0]
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + 60 * i))
        record = Comparison(
            prompt=rng.choice(prompts),
            plain_answer="p" * plain,
            search_answer="s" * search,
            model=rng.choice(("microsoft/Phi-3-mini-4k-instruct", "tiny")),
            provider=rng.choice(("duckduckgo", "searxng", "local")),
            context=context,
            id=new_id(),
            created=created + ".000000+00:00",
        ).as_dict()
        record["votes"] = [
            {"choice": choice, "left_column": rng.choice(("plain", "search")),
             "blind": rng.random() < 0.33, "reason": "", "created": record["created"]}
        ]  # fmt: skip
        records.append(record)
    with Store(path) as store:
        store.import_rows(records)


def _results_once(store: Any) -> tuple[float, float]:
    """(wall, this process's CPU) seconds of one Results view, charts drawn."""
    from ..render.results import results_view

    t0, c0 = time.perf_counter(), time.process_time()
    view = results_view(store)
    for fig in view.figures.values():
        if fig is not None:  # None: too few votes to draw it
            fig.savefig(io.BytesIO(), format="webp")  # gr.Plot's default format
    return time.perf_counter() - t0, time.process_time() - c0


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """Measure the p95 cost of storing a comparison and the Results view over N votes."""
    from ..store import Store

    rounds = max(20, int(getattr(args, "store_rounds", 200) or 200))
    votes = max(1, int(getattr(args, "store_votes", 10_000) or 10_000))
    with tempfile.TemporaryDirectory(prefix="searchduel-bench-store-") as tmp:
        folder = Path(tmp)
        times = sorted(_save_times(folder, rounds, settings))
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000
        median = statistics.median(times) * 1000
        t0 = time.perf_counter()
        _fill(folder / "results.sqlite3", votes)
        fill_s = time.perf_counter() - t0
        with Store(folder / "results.sqlite3") as store:
            cold = _results_once(store)[0]
            runs = [_results_once(store) for _ in range(3)]
    warm = [wall for wall, _cpu in runs]
    worst = max(warm)
    cpu = max(c for _wall, c in runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        Result(
            SUITE,
            "store a comparison p95",
            p95,
            "ms",
            target=TARGET_SAVE_P95_MS,
            passed=check(p95, TARGET_SAVE_P95_MS),
            note=f"{rounds} saves (record from events + insert), median {median:.2f} ms",
        ),
        Result(
            SUITE,
            f"results view, {votes} votes",
            worst,
            "s",
            target=TARGET_RESULTS_S,
            passed=check(worst, TARGET_RESULTS_S),
            note=f"worst of 3 warm runs (stats + 3 charts drawn to WebP); "
            f"median {statistics.median(warm):.3f} s; {votes} votes imported in {fill_s:.1f} s",
        ),
        Result(
            SUITE,
            "results view CPU",
            cpu,
            "s",
            note=f"this process's CPU seconds, worst of the 3 runs; load average {load:.1f} "
            f"on {os.cpu_count()} cores (wall time above includes waiting for a core)",
        ),
        Result(
            SUITE,
            "results view, first run",
            cold,
            "s",
            note="cold: matplotlib import and font cache included",
        ),
    ]

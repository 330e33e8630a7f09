"""`bench load`: bursts of strangers against a launched app, and whether its memory plateaus.

    app.py (tiny model, offline corpus, loopback) ◄── warm-up: one comparison
        ▲                                          ◄── burst 1: --clients at once ─► RSS
        │   /proc/PID/status VmRSS                 ◄── burst 2 ...              ─► RSS
        └──────────────────────────────────────── ◄── burst --bursts           ─► RSS

Each of --load-clients clients is its own `gradio_client.Client` calling /compare (as
`bench serve` does, whose launcher and client this reuses); it ends completed, busy (Gradio's
queue or the model's was full: a clear refusal), hung (no end within --client-timeout) or
failed. Latency is from the burst's start to the client's end. Resident memory is read from
/proc after each burst has ended and the app has been idle SETTLE_S. Targets: the first burst
adds at most 30% to the warmed-up size, and each later burst at most 2% to the one before (a
leak or an unbounded cache grows by a similar step every burst; a bounded one stops).

Bounded: --bursts x --clients comparisons, each within --client-timeout; the app searches
only its offline corpus and listens on 127.0.0.1. `--arena-max N` starts the app with
MALLOC_ARENA_MAX=N (0 leaves the environment alone) to compare allocator settings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from ..config import Settings
from . import Result, check
from .serve import CLIENT_TIMEOUT_S, LaunchedApp, Outcome, hung_and_failed_rows, load

SUITE = "load"
CLIENTS = 20
BURSTS = 3
SETTLE_S = 3.0  # idle time before reading RSS: lets the last threads exit and arenas trim
FIRST_BURST_TARGET = "<= 1.30"
LATER_BURST_TARGET = "<= 1.02"
MAX_NEW_TOKENS = 64  # enough tokens that generation, not setup, dominates a comparison


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load-clients", type=int, default=CLIENTS, help="load bench: clients in each burst"
    )
    parser.add_argument(
        "--bursts", type=int, default=BURSTS, help="load bench: bursts of clients at once"
    )
    parser.add_argument(
        "--arena-max",
        type=int,
        default=0,
        help="load bench: MALLOC_ARENA_MAX for the launched app (0 = leave as is)",
    )


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (from /proc; 0 where /proc is absent)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """Launch the app, warm it up, run the bursts, read RSS after each; terminate it."""
    clients = max(1, getattr(args, "load_clients", None) or CLIENTS)
    bursts = max(1, getattr(args, "bursts", None) or BURSTS)
    timeout = getattr(args, "client_timeout", None) or CLIENT_TIMEOUT_S
    arena_max = getattr(args, "arena_max", 0) or 0
    if settings.search not in ("local", "off"):
        settings = settings.replace(search="local")  # strangers' load must not hit a real engine
    if settings.max_new_tokens == Settings().max_new_tokens:
        settings = settings.replace(max_new_tokens=MAX_NEW_TOKENS)
    saved = os.environ.get("MALLOC_ARENA_MAX")
    if arena_max:
        os.environ["MALLOC_ARENA_MAX"] = str(arena_max)  # LaunchedApp passes os.environ on
    try:
        with LaunchedApp(settings, settings.queue_size) as app:
            assert app.proc is not None
            pid = app.proc.pid
            load(app.url, 1, settings.max_new_tokens, settings.search, timeout)  # warm-up
            time.sleep(SETTLE_S)
            sizes = [rss_mb(pid)]
            outcomes: list[Outcome] = []
            latencies: list[float] = []
            for _ in range(bursts):
                start = time.perf_counter()
                burst, _wall = load(
                    app.url, clients, settings.max_new_tokens, settings.search, timeout
                )
                outcomes += burst
                latencies += [o.ended - start for o in burst if o.kind == "completed"]
                time.sleep(SETTLE_S)
                sizes.append(rss_mb(pid))
    finally:
        if arena_max:
            if saved is None:
                os.environ.pop("MALLOC_ARENA_MAX", None)
            else:
                os.environ["MALLOC_ARENA_MAX"] = saved
    return summarize(outcomes, latencies, sizes, clients=clients, arena_max=arena_max)


def summarize(
    outcomes: list[Outcome],
    latencies: list[float],
    sizes: list[float],
    *,
    clients: int,
    arena_max: int = 0,
) -> list[Result]:
    """The suite's rows: outcomes, latency percentiles, RSS after each burst and its growth."""
    count = {
        k: sum(o.kind == k for o in outcomes) for k in ("completed", "rejected", "hung", "failed")
    }
    failed = sorted({o.message for o in outcomes if o.kind in ("failed", "hung")})
    busy = sorted({o.message for o in outcomes if o.kind == "rejected"})
    arenas = f"MALLOC_ARENA_MAX={arena_max}" if arena_max else "allocator as configured"
    rows = [
        Result(SUITE, "completed", count["completed"], "clients", note=f"{len(outcomes)} in all"),
        Result(SUITE, "busy", count["rejected"], "clients", note=" | ".join(busy)[:200]),
        *hung_and_failed_rows(SUITE, count, failed),
        Result(SUITE, "latency p50", percentile(latencies, 50), "s", note=f"{clients} at once"),
        Result(SUITE, "latency p95", percentile(latencies, 95), "s"),
        Result(SUITE, "RSS warmed up", sizes[0], "MB", note=arenas),
    ]
    for i in range(1, len(sizes)):
        ratio = sizes[i] / sizes[i - 1] if sizes[i - 1] else 0.0
        target = FIRST_BURST_TARGET if i == 1 else LATER_BURST_TARGET
        rows.append(
            Result(
                SUITE,
                f"RSS after burst {i}",
                sizes[i],
                "MB",
                baseline=sizes[i - 1],
                target="",
                note=f"x{ratio:.3f} of the size before it",
            )
        )
        rows.append(
            Result(
                SUITE,
                f"growth in burst {i}",
                ratio,
                "x",
                target=target,
                passed=check(ratio, target),
            )
        )
    return rows

"""`bench engine`, the local backends: llama.cpp on its own, and beside transformers.

Rows:

- with `--backend llamacpp`: the plain prompt's stream alone, then the plain and search
  prompts' streams at once (one context each, what the backend does; against them one after
  the other, the same work): tokens per second of all generated tokens, the search prompt's
  prefill included, and the plain stream's first piece (median of reps);
- when the model folder holds both forms (`tiny-model DIR --gguf`): the engine's two columns
  at once, search on the offline corpus, for transformers and for llama.cpp on the same
  weights, in one run: each column's first token and the tokens per second of both columns
  together over the time they generate (median of reps); and each backend's resident memory
  after load, measured in a fresh process that loads only that backend.

Greedy decoding throughout; tokens are the Pieces' counts (what the engine reports).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine import Engine, RunOptions
from ..types import Message
from . import Result

SUITE = "engine"
SRC = Path(__file__).resolve().parents[2]  # the folder holding the searchduel package


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _drain(backend: Any, messages: Sequence[Message], n: int) -> tuple[float, int]:
    """One stream to its end: (seconds to its first piece, tokens generated)."""
    start = time.perf_counter()
    first, tokens = 0.0, 0
    for piece in backend.stream(messages, max_new_tokens=n, temperature=0.0):
        if not first and piece:
            first = time.perf_counter() - start
        tokens += getattr(piece, "tokens", 1)
    return first, tokens


def _streams(backend: Any, pair: Sequence[Sequence[Message]], n: int, how: str) -> tuple:
    """(wall seconds, tokens, plain first piece s) for "alone", "threads" or "sequential"."""
    results: list[tuple[float, int]] = [(0.0, 0), (0.0, 0)]
    start = time.perf_counter()
    if how == "alone":
        results[0] = _drain(backend, pair[0], n)
    elif how == "sequential":
        results = [_drain(backend, m, n) for m in pair]
    else:

        def consume(i: int) -> None:
            results[i] = _drain(backend, pair[i], n)

        workers = [threading.Thread(target=consume, args=(i,), daemon=True) for i in (0, 1)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return time.perf_counter() - start, sum(t for _, t in results), results[0][0]


def llamacpp_stream_rows(engine: Engine, prompt: str, reps: int, where: str) -> list[Result]:
    """One context per stream: one stream, two at once, two in turn (tok/s, first piece)."""
    from ..rag.prompts import plain_messages

    backend = engine.backend
    n = engine.settings.max_new_tokens
    on = engine.settings.search if engine.settings.search != "off" else "local"
    search = engine.settings.replace(search=on)
    pair = (plain_messages(prompt), list(engine.context(prompt, search).messages))
    runs: dict[str, list[tuple]] = {"alone": [], "threads": [], "sequential": []}
    _streams(backend, pair, n, "threads")  # warm-up
    for _ in range(reps):
        for how in runs:
            runs[how].append(_streams(backend, pair, n, how))
    notes = {
        "alone": "the plain prompt alone, all cores",
        "threads": "plain and search prompts at once, a context each, the cores shared",
        "sequential": "plain then search prompt",
    }
    sequential_tps = _median([t / s for s, t, _ in runs["sequential"]])
    rows = []
    for how, rs in runs.items():
        tps = _median([t / s for s, t, _ in rs])
        first_ms = _median([f for _, _, f in rs]) * 1000
        rows.append(
            Result(
                SUITE,
                f"llama.cpp {'1 stream' if how == 'alone' else '2 streams: ' + how}",
                tps,
                "tok/s",
                sequential_tps if how == "threads" else None,
                note=f"{notes[how]}; plain first piece {first_ms:.0f} ms; {rs[0][1]} tokens; "
                f"median of {reps}; {where}",
            )
        )
    return rows


def has_both_forms(settings: Settings) -> bool:
    """A transformers folder that also holds a GGUF (`tiny-model DIR --gguf`)."""
    from ..llm.gguf_model import available
    from ..llm.llamacpp import has_gguf

    folder = Path(settings.model)
    return (folder / "config.json").is_file() and has_gguf(str(folder)) and available()


def _both_columns(engine: Engine, prompt: str) -> tuple[float, float, float]:
    """One engine run, search on: (plain first token s, search first token s, tok/s of both
    columns over the time from the first token to the last column's end)."""
    first: dict[str, float] = {}
    done: dict[str, tuple[float, int]] = {}
    for ev in engine.run(prompt, RunOptions(search="local", temperature=0.0)):
        if ev.kind == "token" and ev.column not in first:
            first[ev.column] = ev.t
        elif ev.kind == "done":
            done[ev.column] = (ev.t, int(ev.data.get("tokens") or 0))
        elif ev.kind == "error":
            raise RuntimeError(f"the {ev.column} column failed in the bench: {ev.text}")
    span = max(t for t, _ in done.values()) - min(first.values())
    tokens = sum(n for _, n in done.values())
    return first["plain"], first["search"], tokens / span if span > 0 else 0.0


def resident_after_load(backend: str, model: str) -> dict[str, float]:
    """In a fresh process: MB resident before and after loading `backend` on `model`."""
    code = (
        "import json,sys;from searchduel.bench.backends import _rss_child;"
        "print(json.dumps(_rss_child(sys.argv[1], sys.argv[2])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, backend, model],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_child(backend: str, model: str) -> dict[str, float]:
    """Runs in the child: load one backend the way the app does, report its resident size."""
    from ..llm import make_backend

    settings = Settings(model=model, backend=backend)
    if backend == "transformers":
        import torch  # noqa: F401 (counted before the load, as the app has it loaded anyway)
    else:
        from ..llm.gguf_model import lib

        lib()
    before = _rss_mb()
    loaded = make_backend(settings)
    list(loaded.stream([{"role": "user", "content": "Hello"}], max_new_tokens=4))
    return {"before": before, "after": _rss_mb()}


def compare_rows(settings: Settings, prompt: str, reps: int, where: str) -> list[Result]:
    """Transformers and llama.cpp on the same tiny model, both columns at once, one run."""
    from ..llm import make_backend

    rows: list[Result] = []
    folder = settings.model
    for name in ("transformers", "llamacpp"):
        local = settings.replace(backend=name, search="local", temperature=0.0)
        engine = Engine(local, make_backend(local))
        engine.warm_up().join()
        _both_columns(engine, prompt)  # warm-up: first-call set-up is not what is measured
        runs = [_both_columns(engine, prompt) for _ in range(reps)]
        rss = resident_after_load(name, folder)
        label = "transformers (fp32)" if name == "transformers" else "llama.cpp (F32 GGUF)"
        plain_ms = _median([r[0] for r in runs]) * 1000
        search_ms = _median([r[1] for r in runs]) * 1000
        rows.append(
            Result(
                SUITE,
                f"both columns, {label}",
                _median([r[2] for r in runs]),
                "tok/s",
                note=f"first token: plain {plain_ms:.0f} ms, search {search_ms:.0f} ms; "
                f"{local.max_new_tokens} tokens a column; --search local; median of {reps}; "
                f"{where}",
            )
        )
        rows.append(
            Result(
                SUITE,
                f"resident memory after load, {label}",
                rss["after"],
                "MB",
                note=f"a fresh process loading only this backend; {rss['before']:.0f} MB "
                "before the load (Python and the backend's library imported)",
            )
        )
    return rows

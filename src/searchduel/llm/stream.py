"""The reader's side of a generate thread, shared by the local backends (transformers and
llama.cpp): token ids from a queue handed out as counted Pieces, in batches.

    generate thread ─► out: int | [int, ...] ... then END (an exception before END on failure)
    reader (hand_out) ─► feed(ids, final) ─► Piece(text, tokens=n) ─► the engine

Decisions, in one place:

- The first piece goes out at once; after it, what arrives within STREAM_FLUSH_S of the last
  hand-out goes out together: one wake-up of the readers per batch, not per token (a wake-up
  per token cost a fast model ~12% of its throughput, bench engine).
- An exception from the generate thread is raised here, in the reader, as GenerationError
  (one already a GenerationError as it is): a thread that raises never leaves its reader
  waiting, since the thread puts END after it in any case.
- The caller's `stop` is passed on to the thread through `halt` while the reader waits and
  between batches; the caller sets `halt` again and joins the thread when the reader ends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..config import STREAM_FLUSH_S
from ..errors import GenerationError
from .base import Piece

END = object()  # the generate thread is done (after its last ids, or its error)
POLL_S = 0.05  # how often a reader with nothing to read looks at the caller's stop


def hand_out(
    out: queue.Queue,
    feed: Callable[[list[int], bool], str],
    *,
    stop: threading.Event | None,
    halt: threading.Event,
    finished: threading.Event | None = None,
) -> Iterator[Piece]:
    """Pieces from the ids on `out` until END; `feed(ids, final)` decodes a batch.
    `finished` (set by the thread when it is done) cuts a batching wait short."""
    last_yield = -STREAM_FLUSH_S
    pending = 0  # generated ids not yet counted in a yielded Piece
    stopped = lambda: stop is not None and stop.is_set()  # noqa: E731
    while True:
        try:
            item = out.get(timeout=POLL_S)
        except queue.Empty:
            if stopped():
                halt.set()
            continue
        wait = last_yield + STREAM_FLUSH_S - time.perf_counter()
        if wait > 0 and not stopped():
            (finished or threading.Event()).wait(wait)
        items = [item]
        while items[-1] is not END and not isinstance(items[-1], BaseException):
            try:
                items.append(out.get_nowait())
            except queue.Empty:
                break
        ids = [i for step in items for i in _ids(step)]
        pending += len(ids)
        end = items[-1] is END
        text = feed(ids, end)
        if text or (end and pending):
            yield Piece(text, tokens=pending)  # "" when the last ids decode to nothing
            pending = 0
            last_yield = time.perf_counter()
        if isinstance(items[-1], BaseException):
            error = items[-1]
            if isinstance(error, GenerationError):
                raise error
            raise GenerationError(f"generation failed: {error}") from error
        if end:
            return
        if stopped():
            halt.set()


def _ids(step: Any) -> list[int]:
    if isinstance(step, int):
        return [step]
    if isinstance(step, list):
        return step
    return []

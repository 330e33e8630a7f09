"""The gate in front of a shared local model: how many streams generate at once, how many
may wait, and "busy, N ahead of you" past that (TransformersBackend, LlamaCppBackend)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..config import COMPARE_CONCURRENCY
from ..errors import BackendBusy, Cancelled

if TYPE_CHECKING:
    from ..config import Settings


def waiting_room(settings: Settings) -> int:
    """Streams that may wait at a local model's gate: `--queue-size` for visitors on top of
    two streams for every comparison and batch the app runs at once, so a running comparison
    is never told "busy" for its second column."""
    return settings.queue_size + 2 * (COMPARE_CONCURRENCY + settings.batch_concurrency)


class Gate:
    """At most `slots` streams generate at once; at most `max_waiting` wait for a slot."""

    def __init__(self, slots: int, max_waiting: int):
        self._cond = threading.Condition()
        self._free = slots
        self._waiting = 0
        self.max_waiting = max_waiting

    @property
    def waiting(self) -> int:
        return self._waiting

    def acquire(self, stop: threading.Event | None) -> None:
        with self._cond:
            if self._free > 0 and self._waiting == 0:
                self._free -= 1
                return
            if self._waiting >= self.max_waiting:
                raise BackendBusy(
                    f"the model is busy: {self._waiting} requests ahead of you; try again soon",
                    ahead=self._waiting,
                )
            self._waiting += 1
            try:
                while self._free == 0:
                    if stop is not None and stop.is_set():
                        raise Cancelled("stopped while waiting for the model")
                    self._cond.wait(timeout=0.1)
                self._free -= 1
            finally:
                self._waiting -= 1

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify()

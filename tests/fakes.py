"""Test doubles that run the real code paths around them (no mocks)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from searchduel.errors import GenerationError


class ScriptedBackend:
    """A Backend whose answers are queued by the test: `enqueue(pieces)`; calls go in `history`.

    Each piece is yielded after `delay` seconds. A queued Exception is raised mid-stream after
    the pieces before it. Token counts are words, so budgets are easy to reason about.
    """

    name = "scripted"

    def __init__(self, *, context_window: int = 4096, delay: float = 0.0):
        self.context_window = context_window
        self.delay = delay
        self.history: list[list[dict[str, str]]] = []
        self._script: list[list[object]] = []
        self._lock = threading.Lock()

    def enqueue(self, *pieces: object) -> None:
        with self._lock:
            self._script.append(list(pieces))

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        with self._lock:
            self.history.append([dict(m) for m in messages])
            script = self._script.pop(0) if self._script else ["ok"]
        for piece in script[:max_new_tokens]:
            if stop is not None and stop.is_set():
                return
            if self.delay:
                time.sleep(self.delay)
            if isinstance(piece, BaseException):
                raise GenerationError(f"generation failed: {piece}") from piece
            yield str(piece)

    def count_text_tokens(self, text: str) -> int:
        return math.ceil(len(text.split()) * 1.0) if text else 0

    def count_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        return sum(self.count_text_tokens(m["content"]) + 4 for m in messages) + 2


class CitingBackend(ScriptedBackend):
    """Always answers CITING_ANSWER, piece by piece, counted as Pieces (one token each).

    The answer cites [1] and carries HTML (an image with a script handler, a <b> tag), so a
    page test can check that citations link to their source and that model text stays inert.
    With `hold` (a file), an answer waits before its last word for as long as the file exists
    (or until Stop): a page test then has a running comparison for as long as it needs one,
    however busy the machine.
    """

    name = "citing"
    precision = ""

    def __init__(self, *, hold: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.hold = hold

    def stream(self, messages, *, max_new_tokens, temperature=0.0, seed=0, stop=None):
        from searchduel.llm.base import Piece

        with self._lock:
            self.history.append([dict(m) for m in messages])
        words = CITING_ANSWER.split(" ")[:max_new_tokens]
        for i, word in enumerate(words):
            if stop is not None and stop.is_set():
                return
            if self.delay:
                time.sleep(self.delay)
            while i == len(words) - 1 and self.hold is not None and self.hold.exists():
                if stop is not None and stop.wait(0.02):
                    return
            yield Piece(word + " ", tokens=1)


CITING_ANSWER = (
    "Skagway is a small port town [1]. Cruise ships dock there <img src=x onerror=alert(1)> "
    "<b>bold</b> "
    "and the White Pass railway climbs from it [1][2]. " + "More words follow here. " * 8
).strip()


class GroundedBackend(ScriptedBackend):
    """Always answers GROUNDED_ANSWER (one token a word): a sentence copied from the shipped
    corpus (the judge finds it supported), one with a made-up name and year (unsupported),
    and a question (not checked), so a page test can see every kind of mark."""

    name = "grounded"
    precision = ""

    def stream(self, messages, *, max_new_tokens, temperature=0.0, seed=0, stop=None):
        from searchduel.llm.base import Piece

        with self._lock:
            self.history.append([dict(m) for m in messages])
        for word in GROUNDED_ANSWER.split(" ")[:max_new_tokens]:
            if stop is not None and stop.is_set():
                return
            if self.delay:
                time.sleep(self.delay)
            yield Piece(word + " ", tokens=1)


GROUNDED_ANSWER = (
    "Skagway is a small town at the head of Taiya Inlet, the northern tip of Lynn Canal and "
    "the end of the Inside Passage in Southeast Alaska [1]. The town was founded by Admiral "
    "Horatio Pemberton in 1612 <b>bold</b>. Shall I plan the afternoon too?"
)

"""The Backend protocol every model backend implements."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from ..types import Message

__all__ = ["Backend", "Message", "Piece"]


class Piece(str):
    """A piece of streamed answer text that knows how many generated tokens it holds.

    Backends that see token ids (transformers) or one token per streamed chunk (OpenAI
    servers) yield Pieces, so the engine counts generated tokens instead of re-tokenizing
    the answer (which can differ: 34 counted for 32 generated). A Piece may be empty when
    the last tokens decode to no text; a plain str yielded instead means "not counted".
    """

    tokens: int

    def __new__(cls, text: str, tokens: int = 1) -> Piece:
        piece = super().__new__(cls, text)
        piece.tokens = tokens
        return piece


@runtime_checkable
class Backend(Protocol):
    """A chat model that streams text.

    `stream` yields pieces of the answer as they are generated (Pieces where it can count
    them). It raises GenerationError
    (never hangs) if generation fails, and stops early, without raising, once `stop` is set.
    Both columns call it with the same decoding settings; temperature 0 means greedy.
    `count_tokens` counts the whole chat prompt as the model will see it (template included),
    exactly where a tokenizer is known, otherwise a documented over-estimate.
    """

    name: str
    context_window: int

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]: ...

    def count_tokens(self, messages: Sequence[Message]) -> int: ...

    def count_text_tokens(self, text: str) -> int:
        """Tokens of a bare string (no template, no special tokens)."""
        ...

"""Model backends: a Backend protocol and a name -> factory registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import Backend, Message

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Backend", "Message", "make_backend"]


def make_backend(settings: Settings, progress: Callable[..., None] | None = None) -> Backend:
    """The backend named by settings.backend; `progress(stage, done=, total=)` hears a local
    model's download bytes and its load (see transformers_local.load_model)."""
    if settings.backend == "openai":
        from .openai_compat import OpenAIBackend

        return OpenAIBackend.from_settings(settings)
    from .transformers_local import TransformersBackend

    return TransformersBackend.from_settings(settings, progress)

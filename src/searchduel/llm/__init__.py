"""Model backends: a Backend protocol and a name -> factory registry.

    settings.backend ─► pick_backend ─► "transformers" | "llamacpp" | "openai" | "demo"

`auto` (the default) means: CUDA ─► transformers (4-bit NF4); no CUDA, llama-cpp-python
installed and a GGUF for the model ─► llamacpp; otherwise ─► transformers on the CPU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Backend, Message

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Backend", "Message", "make_backend", "pick_backend", "resolve"]


def _cuda() -> bool:
    # bitsandbytes imports on a CPU too, so the GPU is asked for, not inferred from errors.
    # ZeroGPU lends a GPU per call, so its container may show none before the first one: it
    # counts as CUDA (transformers under spaces.GPU). On Linux without NVIDIA's driver there
    # is no GPU to ask about, and torch stays unimported until the backend is chosen
    # (llama.cpp sets OpenMP's wait policy first: gguf_model.py).
    if os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true", "yes"):
        return True
    if sys.platform == "linux" and not (
        Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia[0-9]*"))
    ):
        return False
    import torch

    return torch.cuda.is_available()


def pick_backend(
    settings: Settings, *, cuda: bool | None = None, llama_cpp: bool | None = None
) -> str:
    """The backend that runs: `settings.backend`, or what `auto` means on this machine.

    A .gguf file always goes to llama.cpp (nothing else here reads one). `cuda` and
    `llama_cpp` (whether llama-cpp-python is installed) are looked up when not given.
    """
    if settings.backend != "auto":
        return settings.backend
    from .llamacpp import has_gguf

    if settings.model.endswith(".gguf"):
        return "llamacpp"
    if cuda if cuda is not None else _cuda():
        return "transformers"
    if llama_cpp is None:
        from .gguf_model import available

        llama_cpp = available()
    if llama_cpp and has_gguf(settings.model, settings.gguf_file):
        return "llamacpp"
    return "transformers"


def resolve(settings: Settings) -> Settings:
    """The settings with `auto` replaced by the backend that runs here (what is recorded)."""
    picked = pick_backend(settings)
    return settings if picked == settings.backend else settings.replace(backend=picked)


def make_backend(settings: Settings, progress: Callable[..., None] | None = None) -> Backend:
    """The backend named by settings.backend (`auto` resolved here); `progress(stage, done=,
    total=)` hears a local model's download bytes and its load (see hub.py)."""
    backend = pick_backend(settings)
    if backend == "demo":
        from .demo import DemoBackend

        return DemoBackend()
    if backend == "openai":
        from .openai_compat import OpenAIBackend

        return OpenAIBackend.from_settings(settings)
    if backend == "llamacpp":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend.from_settings(settings, progress)
    from .transformers_local import TransformersBackend

    return TransformersBackend.from_settings(settings, progress)

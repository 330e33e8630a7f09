"""Token counting with a model's own tokenizer and chat template, or a safe estimate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .base import Message

# Without a tokenizer we over-estimate: real BPE vocabularies (Llama/Phi/Mistral/Qwen) average
# 3.5-4.5 characters per token on English prose; 2.5 chars/token stays above the true count
# even for code, numbers and non-Latin text, so a budget computed with it is never exceeded
# for the text we pack. Each message adds a few template tokens.
ESTIMATE_CHARS_PER_TOKEN = 2.5
ESTIMATE_TOKENS_PER_MESSAGE = 8


def load_tokenizer(name_or_path: str) -> Any:
    """A transformers tokenizer from a hub id, a folder, or a folder holding one .gguf vocab."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    try:
        if path.is_dir() and not (path / "tokenizer.json").exists():
            ggufs = sorted(path.glob("*.gguf"))
            if ggufs:
                return AutoTokenizer.from_pretrained(str(path), gguf_file=ggufs[0].name)
        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:  # transformers raises OSError/ValueError/... : convert here
        raise ModelLoadError(f"could not load the tokenizer {name_or_path!r}: {exc}") from exc


class ChatTokenCounter:
    """Exact counts: the chat prompt as the model sees it, through its own template."""

    exact = True

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        out = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True
        )
        # transformers 5 returns a BatchEncoding here; older versions a plain list
        ids = out["input_ids"] if hasattr(out, "keys") else out
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return list(ids)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_ids(messages))

    def count_text_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


class EstimateTokenCounter:
    """A documented over-estimate for servers whose tokenizer we do not have."""

    exact = False

    def count_text_tokens(self, text: str) -> int:
        return math.ceil(len(text) / ESTIMATE_CHARS_PER_TOKEN)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        total = sum(self.count_text_tokens(m.get("content", "")) for m in messages)
        return total + ESTIMATE_TOKENS_PER_MESSAGE * (len(messages) + 1)

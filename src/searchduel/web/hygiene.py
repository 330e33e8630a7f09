"""Text hygiene for page text before it reaches a prompt.

Two threats, both invisible to a person reading the page:

- Invisible Unicode that can smuggle instructions or reorder what is displayed: tag
  characters (U+E0000-E007F, "ASCII smuggling"), bidi embeddings/overrides/isolates
  (U+202A-202E, U+2066-2069, "Trojan Source"), zero-width space U+200B, word joiner and
  invisible operators U+2060-2064, and U+FEFF. ZWJ/ZWNJ (U+200D/U+200C) stay: they are
  part of correct spelling in Persian, Hindi and other scripts and of emoji sequences.
- Chat control tokens. A tokenizer matches its special tokens as literal strings anywhere
  in the text, so a page saying ``<|end|><|user|>`` would end the context and open a fake
  turn. Every ``<|...|>`` form, and the sentencepiece/Gemma specials, is rewritten with
  single guillemets (``‹|user|›``): still readable, never a special token.
"""

from __future__ import annotations

import re
import unicodedata

# Removed everywhere; see the module docstring for why each range is here.
_INVISIBLE = re.compile(
    "[\U000e0000-\U000e007f\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff]"
)
# C0/C1 controls other than tab and newline: never meaningful in page text, and some
# terminals and tokenizers treat them specially.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Any <|...|> (Phi-3, Llama 3, Qwen, GPT and most chat templates) plus the bare-tag
# specials of sentencepiece and Gemma vocabularies. Bounded so a stray "<|" cannot make the
# pattern scan a whole page.
_CONTROL_TOKEN = re.compile(
    r"<\|([^<>|\n]{0,64})\|>"
    r"|<(/?s|unk|pad|bos|eos|mask|start_of_turn|end_of_turn|start_of_image|end_of_image)>",
    re.IGNORECASE,
)


def strip_invisible(text: str) -> str:
    """Remove invisible Unicode (see module docstring); ZWJ and ZWNJ are kept."""
    return _INVISIBLE.sub("", text)


def _rewrite(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"‹|{match.group(1)}|›"
    return f"‹{match.group(2)}›"


def neutralise_control_tokens(text: str) -> str:
    """Rewrite chat control tokens so no tokenizer can read them as special tokens."""
    text = _CONTROL_TOKEN.sub(_rewrite, text)
    # a lone "<|" is no token, but joined to later text (a chunk edge, a long name) it could
    # open one; every such token starts with "<|". A lone "|>" stays: it is a pipe operator
    # in Elixir, F# and R code.
    return text.replace("<|", "‹|")


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


def clean_text(text: str) -> str:
    """Everything page text needs before a prompt: NFC, invisible and control characters
    out, control tokens neutralised, runs of spaces and blank lines collapsed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    # invisible characters go first, so "<\u200b|user|>" cannot slip past the token rule
    text = _CONTROL.sub("", strip_invisible(text))
    text = neutralise_control_tokens(text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()

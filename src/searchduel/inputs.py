"""What a request may ask for, checked on the server before any work starts.

    prompt, RunOptions ─► check_request ─┬─► Request(prompt, options, notes) ─► Engine.run
                                         └─► InvalidInput (nothing searched, nothing generated)

    message text ─► defang_control_tokens ─► chat template / server (never a special-token id)

The browser, the API (`/compare`), the CLI and the benchmarks all reach the model through
`Engine.run`, which calls `check_request` first; so a script calling the API directly gets the
same limits as the page.

Decisions, in one place:
- Empty prompts, and prompts of only spaces or invisible characters (zero-width spaces,
  joiners, format characters), are refused ("Type a question first.").
- NUL, the other C0/C1 control characters (tab and newline kept; CR and CRLF become newline)
  and lone surrogates are *stripped*, not refused: they are invisible, carry no meaning for
  the model, and arrive innocently in text pasted from PDFs and terminals. Refusing would lose
  a question for a character the asker cannot see.
- A prompt longer than `max_prompt_chars` (after that cleaning and trimming) is *refused*, not
  cut: a silently truncated question gets a confident answer to a question nobody asked. The
  message gives both numbers so the asker knows how much to cut.
- Chat control tokens typed into a prompt or written in a page (`<|user|>`, `<|end|>`, `<s>`,
  ...) are kept visible but broken with a zero-width space after their first character, so the
  tokenizer (ours, or a server's) reads them as plain characters, never as a special id.
  Inserting, unlike deleting, can never join two halves into a new marker.
- Run options: a value of the wrong kind (not a number, NaN, a bool) or below its floor is
  refused with the valid range; a number above the server's cap (`max_new_tokens_cap`,
  `pages_cap`) is lowered to the cap and the lowering is reported as a note, since the
  asker's intent ("as long as allowed") is clear. Temperature outside 0..2 is refused (a
  clamped temperature is a different experiment). An unknown provider is refused with the
  list of valid ones.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput
from .types import RunOptions

if TYPE_CHECKING:
    from .config import Settings

PROVIDERS = ("auto", "duckduckgo", "searxng", "local", "off")
TEMPERATURE_RANGE = (0.0, 2.0)  # the same bounds Settings enforces for --temperature
ZWSP = "\u200b"

# Control markers of the common chat formats (Phi-3/ChatML-style <|...|>, Llama/Mistral <s>,
# [INST], <<SYS>>, Gemma's turns); a tokenizer's own special tokens are added per tokenizer.
_MARKERS = re.compile(
    r"<\|[A-Za-z0-9_.:\-]{0,40}\|>"
    r"|</?s>"
    r"|\[/?INST\]"
    r"|<</?SYS>>"
    r"|<(?:start|end)_of_turn>",
    re.IGNORECASE,
)
# Characters stripped from prompts: C0 controls but tab and newline, DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Characters that print nothing though Python calls them printable (zero-width spaces and
# joiners, word joiner, the BOM, the Hangul fillers, braille blank): a prompt of only these
# is as empty as one of spaces.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u115f\u1160\u3164\uffa0\u2800")


@dataclass(frozen=True)
class Request:
    """A checked request: the cleaned prompt, options within the server's caps, and notes
    saying what was lowered (shown to the asker, never an error)."""

    prompt: str
    options: RunOptions
    notes: tuple[str, ...] = ()


def clean_prompt(text: Any, max_chars: int) -> str:
    """The prompt as the engine will use it, or InvalidInput saying what to fix."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidInput("The question must be text.", field="prompt")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATE.sub("", _CONTROL.sub("", text)).strip()
    if not any(c.isprintable() and not c.isspace() and c not in _INVISIBLE for c in text):
        raise InvalidInput("Type a question first.", field="prompt")
    if len(text) > max_chars:
        raise InvalidInput(
            f"The question is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Shorten it and ask again.",
            field="prompt",
        )
    return text


def check_options(options: RunOptions | None, settings: Settings) -> tuple[RunOptions, list[str]]:
    """Options within range (see the module docstring), and notes on what was lowered."""
    options = options or RunOptions()
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if options.max_new_tokens is not None:
        changes["max_new_tokens"] = _whole(
            "Max new tokens", options.max_new_tokens, settings.max_new_tokens_cap, notes
        )
    if options.pages is not None:
        changes["pages"] = _whole("Pages to read", options.pages, settings.pages_cap, notes)
    if options.temperature is not None:
        low, high = TEMPERATURE_RANGE
        value = _number("Temperature", options.temperature, f"from {low:g} to {high:g}")
        if not low <= value <= high:
            raise InvalidInput(
                f"Temperature must be from {low:g} to {high:g}; got {value:g}.",
                field="temperature",
            )
        changes["temperature"] = value
    if options.search is not None:
        if not isinstance(options.search, str) or options.search.strip() not in PROVIDERS:
            raise InvalidInput(
                f"Unknown search provider {_shown(options.search)}; use one of: "
                f"{', '.join(PROVIDERS)}.",
                field="search",
            )
        changes["search"] = options.search.strip()
    return replace(options, **changes), notes


def check_request(prompt: Any, options: RunOptions | None, settings: Settings) -> Request:
    """Everything a request asks for, checked; raises InvalidInput before any work starts."""
    text = clean_prompt(prompt, settings.max_prompt_chars)
    checked, notes = check_options(options, settings)
    return Request(text, checked, tuple(notes))


def defang_control_tokens(text: str, specials: Iterable[str] = ()) -> str:
    """`text` with every chat control marker broken by a zero-width space after its first
    character, so no tokenizer reads it as a special token (see the module docstring)."""
    extra = sorted({s for s in specials if len(s) > 1 and s in text}, key=len, reverse=True)
    pattern = _MARKERS
    if extra:
        pattern = re.compile("|".join([*(re.escape(s) for s in extra), _MARKERS.pattern]), re.I)
    if not pattern.search(text):
        return text
    return pattern.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)


def tokenizer_markers(tokenizer: Any) -> tuple[str, ...]:
    """A tokenizer's special and added tokens that look like markup (`<...>`, `[...]`): the
    strings its chat template gives meaning to, which prompt text must never produce."""
    names: set[str] = set(getattr(tokenizer, "all_special_tokens", []) or [])
    try:
        names.update(tokenizer.get_added_vocab())
    except (AttributeError, TypeError):
        pass
    return tuple(
        sorted(n for n in names if len(n) > 2 and n[0] in "<[" and n[-1] in ">]" and n.strip())
    )


def _whole(label: str, value: Any, cap: int, notes: list[str]) -> int:
    number = _number(label, value, f"from 1 to {cap:,}")
    if abs(number - round(number)) > 1e-9:
        raise InvalidInput(
            f"{label} must be a whole number from 1 to {cap:,}; got {number:g}.",
            field=label,
        )
    whole = round(number)
    if whole < 1:
        raise InvalidInput(f"{label} must be from 1 to {cap:,}; got {whole}.", field=label)
    if whole > cap:
        notes.append(f"{label} lowered from {whole:,} to this server's limit of {cap:,}.")
        whole = cap
    return whole


def _number(label: str, value: Any, valid: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{label} must be a number {valid}; got {value!r}.", field=label)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInput(
                f"{label} must be a number {valid}; got {_shown(value)}.", field=label
            ) from None
    if not isinstance(value, (int, float)):
        raise InvalidInput(f"{label} must be a number {valid}.", field=label)
    if not math.isfinite(value):
        raise InvalidInput(f"{label} must be a number {valid}; got {value!r}.", field=label)
    return float(value)


def _shown(value: Any) -> str:
    """A short, printable rendering of a client's value for a message."""
    text = str(value)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in text)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))

"""The demo writer: a backend that is not a language model, so that the page shows what the
judge does (citations, supported and unsupported sentences) on a machine with no model.

    search column: fenced sources + question ─► the source sentences closest to the question,
                                                each with its [n] ─► + one sentence it makes up
    plain column:  the question alone ─► two sentences of its own words, made up

It is labelled wherever it runs (`--backend demo`: the model line and a banner say it copies
from its sources and makes one sentence up); nothing it writes is an answer.

Decisions, in one place:

- Deterministic: the same question and sources give the same answer, so a permalink and a
  rerun agree, and tests can rely on the shape (sentences copied verbatim, one made up).
- The sentence it makes up is the point of the demo: the judge should mark it unsupported,
  and the copied ones supported.
- Token counts are words, over-estimated by a third for the template (no tokenizer exists).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence

from ..types import Message
from .base import Piece

DEMO_NAME = "demo writer"
DEMO_WINDOW = 4096
WORD_DELAY_S = 0.02  # about 50 words a second: the columns visibly stream
COPIED_SENTENCES = 3
_FENCE = re.compile(
    r"^<<<(?P<nonce>[0-9a-f]+) \[(?P<n>\d+)\][^\n]*\n(?P<body>.*?)\n(?P=nonce)>>> \[(?P=n)\]",
    re.MULTILINE | re.DOTALL,
)
_SENTENCE = re.compile(r"[^.!?\n]*[A-Za-z][^.!?\n]*[.!?]")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = (
    "a an and are as at be by did do does for from how i in is it me of on or plan the to "
    "was were what when where which who why with you your"
)
_STOP = frozenset(_STOPWORDS.split(" "))
MADE_UP = (
    "It was also the first place in the region to be painted by a touring artist in 1911.",
    "Local records say a second route opened there in 1887 and closed a year later.",
    "Most guides agree that the best month to visit is October, when prices halve.",
)
FROM_MEMORY = (
    "Without sources this column can only guess, so here is a guess about {topic}.",
    "Most people who ask about {topic} find the summer months the easiest time for it.",
)


class DemoBackend:
    """See the module docstring. Implements the Backend protocol."""

    name = DEMO_NAME
    precision = "no model: copies sentences from its sources"
    context_window = DEMO_WINDOW
    demo = True  # the page says what it is (ui/page.py's banner)

    def __init__(self, word_delay: float = WORD_DELAY_S):
        self.word_delay = word_delay

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        prompt = messages[-1]["content"] if messages else ""
        words = write(prompt).split(" ")[:max_new_tokens]
        for i, word in enumerate(words):
            if stop is not None and stop.is_set():
                return
            if self.word_delay:
                time.sleep(self.word_delay)
            yield Piece(word if i == len(words) - 1 else word + " ", tokens=1)

    def count_text_tokens(self, text: str) -> int:
        return (len(text.split()) * 4 + 2) // 3

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.count_text_tokens(m["content"]) + 4 for m in messages) + 2


def write(prompt: str) -> str:
    """The demo's answer to one column's prompt."""
    question = prompt.rsplit("Question:", 1)[-1].strip() if "Question:" in prompt else prompt
    pick = int(hashlib.sha256(question.encode("utf-8")).hexdigest(), 16)
    sources = [(int(m["n"]), m["body"]) for m in _FENCE.finditer(prompt)]
    if not sources:
        topic = _topic(question)
        return (
            " ".join(line.format(topic=topic) for line in FROM_MEMORY)
            + " "
            + MADE_UP[pick % len(MADE_UP)]
        )
    wanted = set(_WORD.findall(question.lower())) - _STOP
    scored = []
    for n, body in sources:
        for sentence in _SENTENCE.findall(body):
            sentence = " ".join(sentence.split())
            if len(sentence.split()) < 5 or sentence.startswith("#"):
                continue
            overlap = len(wanted & set(_WORD.findall(sentence.lower())))
            scored.append((-overlap, n, len(scored), sentence))
    chosen, seen = [], set()
    for _score, n, _i, sentence in sorted(scored):
        if n in seen and len(seen) < len(sources):
            continue  # one sentence a source first, so several sources are cited
        seen.add(n)
        chosen.append(f"{sentence[:-1]} [{n}]{sentence[-1]}")
        if len(chosen) == COPIED_SENTENCES:
            break
    return " ".join([*chosen, MADE_UP[pick % len(MADE_UP)]])


def _topic(question: str) -> str:
    """The question's capitalised names ("Skagway, Alaska"), else its first content words."""
    names = re.findall(r"\b[A-Z][\w'’-]*(?:,? (?:[A-Z][\w'’-]*|\d+\b))*", question)
    names = [n for n in names if n.split()[0].lower() not in _STOP]
    if names:
        return max(names, key=len)
    words = [w for w in re.findall(r"[A-Za-z0-9'’-]+", question) if w.lower() not in _STOP]
    return " ".join(words[:4]) or "this question"

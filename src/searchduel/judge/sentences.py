"""Answer text -> sentences with character offsets, each marked checkable or not.

    text -> lines (a newline always ends a sentence; a list item is one sentence)
         -> split after . ! ? followed by space (not after an abbreviation, an initial or a
            list number) -> a citation run that opens the next sentence ("... end. [2] Next")
            goes back to the sentence it follows -> kind of each piece

Kinds: "claim" (checked), "question" (ends with ?), "heading" (markdown heading, or a line
ending with a colon: it introduces what follows), "fragment" (fewer than MIN_CLAIM_WORDS
words), "meta" (about the sources or the conversation, not the world: "the passages do not
say...", "let me know if..."). Only claims are checked against the sources; the rest are
reported as "not checked".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_CLAIM_WORDS = 4  # "Yes.", "Sure!", "In short:" say nothing the sources could back

_WORD = re.compile(r"\w+")
_BOUNDARY = re.compile(r"[.!?]+[\"')\]’”]*\s+")
_LEADING_CITATIONS = re.compile(r"^\s*(?:\[\s*\d{1,3}(?:\s*[-–,;]\s*\d{1,3})*\s*\])+")
_LIST_NUMBER = re.compile(r"\(?\d{1,2}")
_META = re.compile(
    r"\b(?:passages?|sources?|context|provided (?:text|information))\b[^.]{0,40}\b(?:do(?:es)?"
    r" not|don't|doesn't|did not|no|cannot|can't)\b"
    r"|\b(?:i|we) (?:cannot|can't|am unable|could not|couldn't)\b|\bunable to answer\b"
    r"|^\W*(?:let me know|i hope (?:this|that)|feel free|hope (?:this|that) helps)",
    re.IGNORECASE,
)
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "no",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "approx",
        "fig",
        "a.m",
        "p.m",
    ]
)


@dataclass(frozen=True)
class Sentence:
    start: int  # character offsets into the answer
    end: int
    text: str
    kind: str  # claim | question | heading | fragment

    @property
    def checked(self) -> bool:
        return self.kind == "claim"


def _pieces(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for block in re.finditer(r"[^\n]+", text):
        b0, seg = block.start(), block.group()
        start = 0
        for m in _BOUNDARY.finditer(seg):
            before = seg[start : m.start()]
            words = before.split()
            last = words[-1].lower() if words else ""
            if _LIST_NUMBER.fullmatch(before.strip()):  # "1." opening a list item
                continue
            if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            out.append((b0 + start, b0 + m.end()))
            start = m.end()
        if seg[start:].strip():
            out.append((b0 + start, b0 + len(seg)))
    # a citation run at the head of a piece belongs to the piece before it on the same line
    fixed: list[tuple[int, int]] = []
    for s, e in out:
        m = _LEADING_CITATIONS.match(text[s:e])
        if m and fixed and "\n" not in text[fixed[-1][1] : s]:
            ps, _ = fixed[-1]
            fixed[-1] = (ps, s + m.end())
            s += m.end()
        if text[s:e].strip():
            fixed.append((s, e))
    # trim surrounding whitespace so offsets point at the words
    trimmed = []
    for s, e in fixed:
        piece = text[s:e]
        s2 = s + (len(piece) - len(piece.lstrip()))
        e2 = e - (len(piece) - len(piece.rstrip()))
        if e2 > s2:
            trimmed.append((s2, e2))
    return trimmed


def _kind(piece: str) -> str:
    body = piece.strip()
    words = _WORD.findall(_LEADING_CITATIONS.sub("", body))
    if body.startswith("#") or body.endswith(":"):
        return "heading"
    if _META.search(body):
        return "meta"
    if body.rstrip("\"')]’” ").endswith("?"):
        return "question"
    if len(words) < MIN_CLAIM_WORDS:
        return "fragment"
    return "claim"


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of `text`, in order, with offsets such that text[start:end] == text."""
    return [Sentence(s, e, text[s:e], _kind(text[s:e])) for s, e in _pieces(text)]

"""Counts in words: "1 vote", "2 votes", "no votes" never read as "1 votes"."""

from __future__ import annotations


def plural(n: int, noun: str, many: str = "") -> str:
    """`n` and the noun in the number that agrees with it ("1 question", "3 questions");
    `many` for nouns that do not just take an s ("1 batch", "2 batches")."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"

"""The SearchProvider protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import Hit


@runtime_checkable
class SearchProvider(Protocol):
    """Turns a query into hits.

    `search` returns [] only for a genuine "no results" answer. A block (bot challenge, 403,
    429 ...) raises SearchBlocked, an unreachable provider SearchUnavailable, and a page it
    cannot read SearchUnparseable: never an empty list for those.
    """

    name: str

    def search(self, query: str, k: int = 10) -> list[Hit]: ...

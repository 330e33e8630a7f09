"""Who may vote on what: decided on the server, whatever a client sends.

    on load ─► VoterTokens.issue() ─► the browser keeps a signed voter id (its history state)
    a vote ─► Ballot.cast(on_screen, voter token, session, address, choice, reason)
               ├─ the comparison must be the one this session was shown (Screen state: the
               │  server's own record of what it streamed or opened for this session)
               ├─ search must have been on (otherwise there is nothing to compare)
               ├─ the address must be within --vote-limit votes an hour
               ├─ blind only if the sides were never shown to this voter before the vote
               └─► Store.vote(voter, ...)  (once per comparison and voter: DuplicateVote)
    every refusal ─► Store.count_refusal(reason) ─► the Results say how many and why

Decisions, in one place:

- A voter is a signed token the server issued (HMAC-SHA256 under a key that never leaves
  the server: `--history-secret`, else one derived from the store's salt). The browser keeps
  it in its storage, so one browser is one voter across tabs and reloads. A token that does
  not verify is ignored, and the voter is then the Gradio session itself: a client minting
  ids gets one vote per session it was shown the comparison in, no more.
- What a session was shown is the page's server-side state (gr.State lives on the server),
  set only by the server's own handlers: a finished run streamed to it, or a comparison it
  opened by link or history. An id alone is not enough to vote.
- A comparison opened by link or history is votable, but never blind; a blind comparison
  whose sides this voter saw elsewhere (a second tab) before voting is stored as not blind
  (`revealed`, a bounded memory of (voter, comparison) pairs).
- Votes count against a per-address limit (`--vote-limit` an hour): sessions and tokens
  are free to make, addresses are not. A refused vote is counted by reason in the store,
  nothing else kept of it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .errors import DuplicateVote, RateLimited, VoteRefused
from .limits import RateLimiter
from .store import Store, Vote

VOTE_WINDOW_S = 3600.0  # --vote-limit counts votes per hour
REVEALED_PAIRS = 50_000  # (voter, comparison) pairs remembered as revealed; ~100 bytes each
TOKEN_BYTES = 16
_SIG_CHARS = 32
SESSION_PREFIX = "session:"


class VoterTokens:
    """Signed voter ids: `issue()` makes one, `verify(token)` gives its id or ""."""

    def __init__(self, key: str):
        self._key = key.encode("utf-8")

    def _sign(self, voter: str) -> str:
        return hmac.new(self._key, voter.encode("ascii"), hashlib.sha256).hexdigest()[:_SIG_CHARS]

    def issue(self) -> str:
        voter = secrets.token_urlsafe(TOKEN_BYTES)
        return f"{voter}.{self._sign(voter)}"

    def verify(self, token: Any) -> str:
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 100:
            return ""
        voter, sig = token.split(".")
        if not (voter.isascii() and sig.isascii()) or not hmac.compare_digest(
            sig, self._sign(voter)
        ):
            return ""
        return voter


class Ballot:
    """The vote rules over one store (see the module docstring)."""

    def __init__(self, store: Store, tokens: VoterTokens, vote_limit: int):
        self.store = store
        self.tokens = tokens
        self.limiter = RateLimiter(vote_limit, window_s=VOTE_WINDOW_S)
        self._revealed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def voter(self, token: Any, session: str) -> str:
        """Who votes: the verified token's voter, else the session."""
        return self.tokens.verify(token) or f"{SESSION_PREFIX}{session or 'none'}"

    def reveal(self, voter: str, comparison_id: str) -> None:
        """This voter has seen which side searched (a permalink, history, a non-blind run)."""
        with self._lock:
            self._revealed[(voter, comparison_id)] = None
            self._revealed.move_to_end((voter, comparison_id))
            while len(self._revealed) > REVEALED_PAIRS:
                self._revealed.popitem(last=False)

    def revealed(self, voter: str, comparison_id: str) -> bool:
        with self._lock:
            return (voter, comparison_id) in self._revealed

    def cast(
        self,
        on_screen: Mapping[str, Any],
        comparison_id: str,
        *,
        voter: str,
        address: str,
        choice: str,
        reason: str = "",
    ) -> Vote:
        """Store one vote on `comparison_id` for `voter`, or raise VoteRefused /
        DuplicateVote (each counted in the store). `on_screen` is the server's record of the
        comparison this session was shown: id, left column, blind, search_off."""
        if not comparison_id or on_screen.get("id") != comparison_id:
            self._refuse("not_shown")
            raise VoteRefused(
                "this page was not shown that comparison, so it cannot vote on it",
                reason="not_shown",
            )
        if on_screen.get("search_off"):
            self._refuse("search_off")
            raise VoteRefused(
                "search was off for this comparison: there is no second answer to compare",
                reason="search_off",
            )
        try:
            self.limiter.check(address, "votes")
        except RateLimited as exc:
            self._refuse("rate_limited")
            raise VoteRefused(str(exc), reason="rate_limited") from exc
        blind = bool(on_screen.get("blind")) and not self.revealed(voter, comparison_id)
        try:
            vote = self.store.vote(
                comparison_id,
                session=voter,
                choice=choice,
                left_column=on_screen.get("left", "plain"),
                blind=blind,
                reason=reason,
            )
        except DuplicateVote:
            self._refuse("duplicate")
            raise
        self.reveal(voter, comparison_id)
        return vote

    def _refuse(self, reason: str) -> None:
        self.store.count_refusal(reason)

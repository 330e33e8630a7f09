"""The vote bar under the two answers: four buttons, a reason, a status line.

    a vote button ─► Votes.vote ─► ballot.Ballot.cast (the server's rules) ─► store.vote
                                 └─► the comparison shown again, revealed (Screen.show)

Decisions, in one place:

- The buttons are disabled by the duel's lock and enabled by its unlock only when the
  comparison was stored, so never on a half-finished answer and never left stuck after a
  failed run; a vote that fails to be written keeps them enabled for a retry.
- Who may vote on what is ballot.py's: the comparison this session was shown (the `shown`
  state, which lives on the server), once per voter (a signed id the server issued to the
  browser, else the session), within the address's vote limit; a refusal is a notice and
  changes nothing else.
- "vote-left" / "vote-right" are the columns as shown; the placement (`shown`: left column,
  blind or not) is the server's, and is stored with the vote.
- With search off there is one answer and nothing to compare: no vote.
- After a vote the comparison is shown again from the store, revealed in place when it was
  blind ("A · Search on"), by the screen the page hands in (stored.RecordView).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from ..ballot import Ballot
from ..config import MAX_VOTE_REASON_CHARS
from ..errors import DuplicateVote, InvalidVote, StoreError, VoteRefused
from ..limits import request_address
from ..render.live import column_title, other
from ..store import Store
from .history import history_choices, remember

VOTE_KEYS = ("left", "right", "tie", "bad")
VOTE_ASK = "Which answer is better? One vote each; an optional reason helps."
VOTE_ASK_BLIND = "Which answer is better, A or B? The sides are revealed once you vote."
VOTE_LATER = "*Vote once both answers are finished.*"
NO_VOTE_SEARCH_OFF = "*Search was off for this comparison: one answer, nothing to vote on.*"
CHOICE_WORDS = {
    "plain": "search off better",
    "search": "search on better",
    "tie": "a tie",
    "both_bad": "both bad",
}


@dataclass
class VoteBar:
    """The vote bar's components."""

    buttons: list[gr.Button]
    reason: gr.Textbox
    status: gr.Markdown
    group: gr.Group  # hidden until a comparison is on screen

    def enable(self, on: bool) -> dict[Any, Any]:
        return {b: gr.update(interactive=on) for b in self.buttons}

    def show(self, on: bool) -> dict[Any, Any]:
        """The bar for a comparison on screen (none before the first, none without a store)."""
        return {self.group: gr.update(visible=on)}


def add_vote_bar(store_note: str) -> VoteBar:
    """The buttons (disabled until a stored comparison is shown), the reason box, the status."""
    with gr.Group(elem_id="votes", visible=False) as group:
        with gr.Row(elem_id="vote-row"):
            buttons = [
                gr.Button(label, elem_id=f"vote-{key}", interactive=False, min_width=110)
                for key, label in zip(
                    VOTE_KEYS,
                    ("Search off better", "Search on better", "Tie", "Both bad"),
                    strict=True,
                )
            ]
        reason = gr.Textbox(
            label="Reason (optional, one line)",
            max_lines=1,
            max_length=MAX_VOTE_REASON_CHARS,
            elem_id="vote-reason",
        )
    status = gr.Markdown(store_note, elem_id="vote-status")
    return VoteBar(buttons, reason, status, group)


def vote_labels(left: str, blind: bool) -> tuple[str, str]:
    """The two column buttons' words for a placement."""
    if blind:
        return "A is better", "B is better"
    return f"{column_title(left)} better", f"{column_title(other(left))} better"


def voter_of(ballot: Ballot, state: Any, request: gr.Request | None) -> str:
    """Who votes from this page: the browser's signed voter id (kept in its history state),
    else the Gradio session (see ballot.py)."""
    token = state.get("visitor") if isinstance(state, dict) else None
    session = (request.session_hash if request is not None else None) or ""
    return ballot.voter(token, session)


class Screen(Protocol):
    """What shows a stored comparison on the Duel tab (stored.RecordView)."""

    def show(
        self, record: Any, *, state: Any, request: gr.Request | None, **how: Any
    ) -> dict[Any, Any]:
        """{component: update} that put `record` on screen for this browser."""
        ...

    def clear(self) -> dict[Any, Any]:
        """{component: update} that take the stored comparison off the screen."""
        ...


class Votes:
    """The four buttons' handler. `store_note` says why nothing is stored when the store is
    off; `screen` shows the comparison again after a vote."""

    def __init__(
        self,
        store: Store,
        store_note: str,
        bar: VoteBar,
        screen: Screen,
        ballot: Ballot,
        hops: int,
        history: tuple[gr.BrowserState, gr.Radio],
    ):
        self.store, self.store_note, self.bar, self.screen = store, store_note, bar, screen
        self.ballot, self.hops = ballot, hops
        self.history, self.history_list = history

    def handler(self, which: str) -> Callable[..., dict[Any, Any]]:
        def vote(placement: Any, why: str, state: Any, request: gr.Request) -> dict[Any, Any]:
            return self.vote(which, placement, why, state, request)

        return vote

    def vote(
        self, which: str, placement: Any, why: str, state: Any, request: gr.Request | None
    ) -> dict[Any, Any]:
        status = self.bar.status
        on_screen = dict(placement or {})
        cid = on_screen.get("id", "")
        if not self.store.enabled:  # open_store's note says why
            gr.Warning(self.store_note)
            return {status: self.store_note}
        if not cid:
            gr.Warning("There is no finished comparison to vote on yet.")
            return {status: gr.skip()}
        left = on_screen.get("left", "plain")
        choice = {"left": left, "right": other(left), "tie": "tie", "bad": "both_bad"}[which]
        try:
            self.ballot.cast(
                on_screen,
                cid,
                voter=voter_of(self.ballot, state, request),
                address=request_address(request, self.hops),
                choice=choice,
                reason=why or "",
            )
        except DuplicateVote:
            gr.Warning("You have already voted on this comparison (one vote each).")
            return {
                status: "**You have already voted on this comparison** (one vote each).",
                **self.bar.enable(False),
            }
        except VoteRefused as exc:
            gr.Warning(f"Your vote was not recorded: {exc}")
            out = {status: f"**Your vote was not recorded:** {exc}."}
            if exc.reason != "rate_limited":  # the others will not change by trying again
                out.update(self.bar.enable(False))
            return out
        except (InvalidVote, StoreError) as exc:  # the buttons stay enabled for a retry
            gr.Warning(f"Your vote was not recorded: {exc}")
            return {status: f"**Your vote was not recorded:** {exc}. Try again."}
        try:
            voted_on = self.store.get(cid)
        except StoreError as exc:
            logging.getLogger(__name__).warning("could not read back %s: %s", cid, exc)
            return {status: "**Thanks, your vote is in.**", **self.bar.enable(False)}
        out = self.screen.show(
            voted_on,
            state=state,
            request=request,
            left=left,
            revealed_blind=bool(on_screen.get("blind")),
        )
        words = CHOICE_WORDS[choice]
        if on_screen.get("blind"):  # its id may join the history now that the vote is in
            new_state = remember(state, cid, str(on_screen.get("prompt", "")), "blind")
            out[self.history] = new_state
            out[self.history_list] = gr.update(choices=history_choices(new_state), value=None)
            out[status] = (
                f"**Thanks, your vote is in: {words}.** A was "
                f"{column_title(left).lower()}, B was {column_title(other(left)).lower()}."
            )
        else:
            out[status] = f"**Thanks, your vote is in: {words}.**"
        out[self.bar.reason] = ""
        return out

    def wire(self, shown: gr.State, outputs: list[Any]) -> None:
        """Each button votes for its key; `outputs` are the stored view's components."""
        for key, button in zip(VOTE_KEYS, self.bar.buttons, strict=True):
            button.click(
                self.handler(key),
                inputs=[shown, self.bar.reason, self.history],
                outputs=[*outputs, self.bar.reason, self.history, self.history_list],
                concurrency_limit=None,  # queued so a refusal's notice reaches the page
                api_visibility="private",
            )

"""The vote bar under the two answers: four buttons, a reason, a status line.

    a vote button ─► Votes.vote ─► store.vote(...) ─► the comparison shown revealed (`show`)

Decisions, in one place:

- The buttons are disabled by the duel's lock and enabled by its unlock only when the
  comparison was stored, so never on a half-finished answer and never left stuck after a
  failed run; a vote that fails to be written keeps them enabled for a retry.
- A voter is the browser's id kept in its history (it survives reloads and tabs), else the
  Gradio session; a second vote is refused with a message.
- "vote-left" / "vote-right" are the columns as shown; the placement (`shown`: left column,
  blind or not) is the server's, and is stored with the vote.
- After a vote the comparison is shown again from the store, revealed in place when it was
  blind ("A · Search on"), by the `show` function the page hands in (stored.RecordView).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from ..config import MAX_VOTE_REASON_CHARS
from ..errors import DuplicateVote, InvalidVote, StoreError
from ..render.live import column_title, other
from ..store import Store

VOTE_KEYS = ("left", "right", "tie", "bad")
VOTE_ASK = "Which answer is better? One vote each; an optional reason helps."
VOTE_ASK_BLIND = "Which answer is better, A or B? The sides are revealed once you vote."
VOTE_LATER = "*Vote once both answers are finished.*"
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

    def enable(self, on: bool) -> dict[Any, Any]:
        return {b: gr.update(interactive=on) for b in self.buttons}


def add_vote_bar(store_note: str) -> VoteBar:
    """The buttons (disabled until a stored comparison is shown), the reason box, the status."""
    with gr.Group(elem_id="votes"):
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
    return VoteBar(buttons, reason, status)


def vote_labels(left: str, blind: bool) -> tuple[str, str]:
    """The two column buttons' words for a placement."""
    if blind:
        return "A is better", "B is better"
    return f"{column_title(left)} better", f"{column_title(other(left))} better"


def visitor(state: Any, request: gr.Request | None) -> str:
    """Who votes: the browser's id from its history (survives reloads), else the session."""
    found = (state or {}).get("visitor") if isinstance(state, dict) else ""
    if found:
        return str(found)
    return (request.session_hash if request is not None else None) or ""


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

    def __init__(self, store: Store, store_note: str, bar: VoteBar, screen: Screen):
        self.store, self.store_note, self.bar, self.screen = store, store_note, bar, screen

    def handler(self, which: str) -> Callable[..., dict[Any, Any]]:
        def vote(placement: Any, why: str, state: Any, request: gr.Request) -> dict[Any, Any]:
            return self.vote(which, placement, why, state, request)

        return vote

    def vote(
        self, which: str, placement: Any, why: str, state: Any, request: gr.Request | None
    ) -> dict[Any, Any]:
        status = self.bar.status
        placement = dict(placement or {})
        cid = placement.get("id", "")
        if not self.store.enabled:  # open_store's note says why
            gr.Warning(self.store_note)
            return {status: self.store_note}
        if not cid:
            gr.Warning("There is no finished comparison to vote on yet.")
            return {status: gr.skip()}
        left = placement.get("left", "plain")
        choice = {"left": left, "right": other(left), "tie": "tie", "bad": "both_bad"}[which]
        who = visitor(state, request)
        blind = bool(placement.get("blind"))
        try:
            self.store.vote(
                cid, session=who, choice=choice, left_column=left, blind=blind, reason=why or ""
            )
        except DuplicateVote:
            gr.Warning("You have already voted on this comparison (one vote each).")
            return {
                status: "**You have already voted on this comparison** (one vote each).",
                **self.bar.enable(False),
            }
        except (InvalidVote, StoreError) as exc:  # the buttons stay enabled for a retry
            gr.Warning(f"Your vote was not recorded: {exc}")
            return {status: f"**Your vote was not recorded:** {exc}. Try again."}
        try:
            voted_on = self.store.get(cid)
        except StoreError as exc:
            logging.getLogger(__name__).warning("could not read back %s: %s", cid, exc)
            return {status: "**Thanks, your vote is in.**", **self.bar.enable(False)}
        out = self.screen.show(
            voted_on, state=state, request=request, left=left, revealed_blind=blind
        )
        words = CHOICE_WORDS[choice]
        if blind:
            out[status] = (
                f"**Thanks, your vote is in: {words}.** A was "
                f"{column_title(left).lower()}, B was {column_title(other(left)).lower()}."
            )
        else:
            out[status] = f"**Thanks, your vote is in: {words}.**"
        out[self.bar.reason] = ""
        return out

    def wire(self, shown: gr.State, history: gr.BrowserState, outputs: list[Any]) -> None:
        """Each button votes for its key; `outputs` are the stored view's components."""
        for key, button in zip(VOTE_KEYS, self.bar.buttons, strict=True):
            button.click(
                self.handler(key),
                inputs=[shown, self.bar.reason, history],
                outputs=[*outputs, self.bar.reason],
                queue=False,
                api_visibility="private",
            )

"""A comparison as it streams: the engine's events folded into what the page's columns show.

    Event ─► LiveView.apply ─► ColumnView (text, status, done, error, prompt, grounding) x 2
                            └─► sources, trace
    LiveView.outputs()          the nine column outputs, in OUTPUTS order
    blind_outputs(view, left)   the same nine, answers only, placed as shown
    Pacer.due(event)            whether this event's update goes to the page now

Decisions, in one place:

- Every output is rendered whole from the folded state on each update, so a late event (the
  judge's grounding after both answers) re-renders its column in place.
- Blind outputs carry the answers only: no [n] markers, stage words, stats, sources, trace or
  prompts, since any of them tells the sides apart.
- A running comparison's tokens reach the page at most once per config.PAGE_FLUSH_S (Pacer):
  each update re-renders both answers whole in the browser, so an update per token made a busy
  browser fall behind the model. Anything but a token (a stage word, sources, an error, a
  column's end, the judge's marks) goes at once, with the tokens held before it; tokens held
  in the last interval go with the next event (the stream always ends with a column's end).
- Outputs that did not change since the last update go out as they were, not as gr.skip():
  Gradio streams an unchanged value as an empty diff, while a skip builds a component on the
  server and makes that output's next value go whole (Gradio 6.31, blocks.postprocess_data
  and handle_streaming_diffs); bench page saw no browser time saved by skips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..types import Event, Source
from .events import (
    answer_markdown,
    blind_markdown,
    note_markdown,
    prompt_markdown,
    search_notice,
    sources_markdown,
    stats_line,
    trace_markdown,
)
from .grounding import grounded_markdown, no_sources_note
from .markdown import safe_markdown

# plain, plain stats, plain prompt, search, search stats, search prompt, notice, sources, trace
OUTPUTS = (
    "answer_plain",
    "stats_plain",
    "given_plain",
    "answer_search",
    "stats_search",
    "given_search",
    "notice",
    "sources",
    "trace",
)


def other(column: str) -> str:
    """The column that is not `column`."""
    return "search" if column == "plain" else "plain"


def column_title(column: str) -> str:
    """A column's name on the page."""
    return "Search off" if column == "plain" else "Search on"


@dataclass
class ColumnView:
    text: str = ""
    status: str = ""
    done: dict[str, Any] | None = None
    error: str = ""
    detail: str = ""
    prompt: dict[str, Any] | None = None
    grounding: dict[str, Any] | None = None  # the engine's `grounding` event (judge.ground)

    def markdown(
        self, sources: list[Source] | None = None, corpus_root: str = "", column: str = "plain"
    ) -> str:
        if self.done and self.done.get("skipped"):
            return note_markdown(self.done.get("note", ""), prefix="ℹ️ ")
        answer = self.done.get("answer", self.text) if self.done else self.text
        if self.grounding is not None:  # tinted by the judge (render_grounding)
            body = grounded_markdown(answer, self.grounding, column, sources, corpus_root)
        elif self.done and sources is not None:
            body = answer_markdown(answer, sources, corpus_root)
        else:
            body = safe_markdown(answer)
        if self.error:
            body += note_markdown(self.error, prefix="> ⚠️ ", emphasis="**")
        if not body and self.status:
            body = note_markdown(self.status)
        return body

    def stats(self) -> str:
        return stats_line(self.done)

    def unsent(self) -> str:
        """Why the fold-out of what the model was given is empty."""
        if self.done and self.done.get("skipped"):
            return "*Nothing was sent: search is off.*"
        if self.error:
            return "*Nothing was sent to the model.*"
        return "*Not sent yet.*"


@dataclass
class LiveView:
    """The page's state for one comparison, folded from the engine's events."""

    corpus_root: str = ""
    plain: ColumnView = field(default_factory=ColumnView)
    search: ColumnView = field(default_factory=ColumnView)
    sources: list[Source] = field(default_factory=list)
    trace: dict[str, Any] | None = None

    def apply(self, event: Event) -> None:
        col = self.plain if event.column == "plain" else self.search
        if event.kind == "token":
            col.text += event.text
        elif event.kind == "status":
            col.status = event.data.get("message", "")
        elif event.kind == "done":
            col.done = event.data
        elif event.kind == "error":
            col.error = event.text
            col.detail = event.data.get("detail", "")
        elif event.kind == "prompt":
            col.prompt = event.data
        elif event.kind == "sources":
            self.sources = list(event.data["sources"])
        elif event.kind == "trace":
            self.trace = event.data
        elif event.kind == "grounding":
            col.grounding = event.data

    def ungrounded(self) -> str:
        """A neutral note under the plain answer once both columns ended without sources."""
        ended = all(c.done or c.error for c in (self.plain, self.search))
        plain = self.plain.done or {}
        if not ended or self.sources or plain.get("stopped") or not plain.get("answer"):
            return ""
        return no_sources_note()

    def outputs(self) -> tuple[str, ...]:
        errors = {
            name: col.detail
            for name, col in (("search off", self.plain), ("search on", self.search))
            if col.detail
        }
        return (
            self.plain.markdown() + self.ungrounded(),
            self.plain.stats(),
            prompt_markdown(self.plain.prompt, self.plain.unsent()),
            self.search.markdown(self.sources, self.corpus_root, "search"),
            self.search.stats(),
            prompt_markdown(self.search.prompt, self.search.unsent()),
            search_notice(self.trace),
            sources_markdown(self.sources, self.corpus_root),
            trace_markdown(self.trace, errors),
        )


def _blind_column(col: ColumnView) -> str:
    answer = col.done.get("answer", col.text) if col.done else col.text
    body = blind_markdown(answer)
    if col.error:
        body += note_markdown(col.error, prefix="> ⚠️ ", emphasis="**")
    if not body and (col.status or not col.done):
        body = note_markdown("Working…")
    return body


def blind_outputs(view: LiveView, left: str) -> tuple[str, ...]:
    """The nine column outputs in blind mode: answers only, placed as shown, no citations."""
    cols = {"plain": view.plain, "search": view.search}
    return (_blind_column(cols[left]), "", "", _blind_column(cols[other(left)]), "", "", "", "", "")


class Pacer:
    """Which of a streaming comparison's updates go to the page: every event but a token, and
    a token when the last update went out `interval` or more ago; `held` says whether an
    update has been held back since the last one that went out."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.sent = -math.inf
        self.held = False

    def due(self, event: Event) -> bool:
        now = self.clock()
        if event.kind != "token" or now - self.sent >= self.interval:
            self.sent, self.held = now, False
            return True
        self.held = True
        return False

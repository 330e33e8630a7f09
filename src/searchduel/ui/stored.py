"""A stored comparison on the Duel tab: after a run or a vote, from the history, or from a
permalink; and the tools that take it with you (Share, Copy as Markdown, Download JSON).

    store.get(id) ─► RecordView.show ─► columns, votes, tools, the note above the columns
    ?c=<id> (demo.load) / a history entry ─► RecordView.open ─► show, or a friendly note

Decisions, in one place:

- Storing goes through store.py only; `open_store` turns a store that cannot open into
  "storing is off" with the reason, and the page keeps serving.
- A stored comparison is shown read-only by the same render functions as a live one
  (render.record), votable once by a browser that has not voted on it; Ask runs its prompt
  again. An unknown or malformed id gets a note and the page works on.
- Share copies `/?c=<id>` (page.js reads the id from a hidden field); Copy as Markdown copies
  render.record.comparison_markdown; Download JSON serves the record as a file.
- Handlers with many outputs return {component: update}; one that changes nothing returns
  one gr.skip() (an empty dict is not read as updates).
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import Settings
from ..errors import ComparisonNotFound, StoreError
from ..render.events import (
    answer_markdown,
    note_markdown,
    search_notice,
    sources_markdown,
    trace_markdown,
)
from ..render.live import column_title, other
from ..render.markdown import safe_markdown
from ..render.record import (
    comparison_markdown,
    grounding_line,
    record_context_markdown,
    record_error,
    record_search_off,
    record_sources,
    record_stats,
    record_trace,
)
from ..store import COLUMNS, Comparison, Store
from .duel import Columns
from .history import history_choices
from .votes import VOTE_ASK, VoteBar, visitor, vote_labels

log = logging.getLogger(__name__)
STORE_OFF_NOTE = (
    "Storing is turned off on this server: comparisons are not kept, so there is no voting, "
    "history or links."
)
NOT_FOUND_NOTE = (
    "**That link does not open a stored comparison.** It may be mistyped, or the comparison "
    "is gone. Ask your own question below."
)


def open_store(settings: Settings) -> tuple[Store, str]:
    """The comparison store and, when nothing can be stored, the page's words for why."""
    if not settings.store:
        return Store(None), STORE_OFF_NOTE
    try:
        return Store.from_settings(settings), ""
    except StoreError as exc:
        log.warning("storing is off: %s", exc)
        note = f"Comparisons cannot be stored on this server ({exc}), so there is no voting."
        return Store(None), note


def link_base(request: gr.Request | None) -> str:
    """The page's address without query or fragment, for a permalink."""
    referer = request.headers.get("referer", "") if request is not None else ""
    return referer.split("?", 1)[0].split("#", 1)[0]


@dataclass
class Tools:
    """Share / Copy as Markdown / Download JSON, and the hidden fields they read."""

    row: gr.Row
    download: gr.DownloadButton
    cid_box: gr.Textbox
    md_box: gr.Textbox


def add_tools() -> Tools:
    with gr.Row(elem_id="tools", visible=False) as row:
        share = gr.Button("Share", size="sm", elem_id="share", scale=0, min_width=110)
        copy_md = gr.Button(
            "Copy as Markdown", size="sm", elem_id="copy-markdown", scale=0, min_width=170
        )
        download = gr.DownloadButton(
            "Download JSON", size="sm", elem_id="download-json", scale=0, min_width=150
        )
        cid_box = gr.Textbox(visible="hidden", elem_id="comparison-id")
        md_box = gr.Textbox(visible="hidden", elem_id="comparison-md")
    share.click(None, js="() => searchDuel.share()", api_visibility="private")
    copy_md.click(None, js="() => searchDuel.copyMarkdown()", api_visibility="private")
    return Tools(row, download, cid_box, md_box)


class RecordView:
    """Shows a stored comparison on the Duel tab's components."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        columns: Columns,
        bar: VoteBar,
        tools: Tools,
        shown: gr.State,
        note: gr.Markdown,
        prompt: gr.Textbox,
    ):
        self.store, self.columns, self.bar, self.tools = store, columns, bar, tools
        self.shown, self.note, self.prompt = shown, note, prompt
        root = Path(settings.corpus).expanduser().resolve() if settings.corpus else None
        self.corpus_root = str(root) if root else ""
        self.downloads = Path(tempfile.mkdtemp(prefix="searchduel-json-"))

    def outputs(self) -> list[Any]:
        """Every component show() updates."""
        c, t = self.columns, self.tools
        return [
            c.title_left, c.title_right, c.answer_plain, c.stats_plain, c.given_plain,
            c.answer_search, c.stats_search, c.given_search, c.notice, c.sources, c.trace,
            c.given_plain_fold, c.given_search_fold, c.trace_fold, c.grounding,
            *self.bar.buttons, self.bar.status, self.shown, t.row, t.cid_box, t.md_box,
            t.download, self.note,
        ]  # fmt: skip

    def clear(self) -> dict[Any, Any]:
        """No stored comparison on screen any more (a new one is starting)."""
        t = self.tools
        return {t.row: gr.update(visible=False), t.cid_box: "", t.md_box: "", self.note: ""}

    def _answer(self, rec: dict[str, Any], column: str) -> str:
        if column == "search" and record_search_off(rec):
            body = note_markdown("Search was off for this comparison.", prefix="ℹ️ ")
        elif column == "search":
            body = answer_markdown(rec["search_answer"], record_sources(rec), self.corpus_root)
        else:
            body = safe_markdown(rec[f"{column}_answer"])
        error = record_error(rec, column)
        if error:
            body += note_markdown(error, prefix="> ⚠️ ", emphasis="**")
        return body

    @staticmethod
    def _given(rec: dict[str, Any], column: str) -> str:
        if column != "search":
            return "*Stored comparisons keep the sources block, not the whole prompt.*"
        if record_search_off(rec):
            return "*Nothing was sent: search is off.*"
        return record_context_markdown(rec)

    def show(
        self,
        record: Comparison,
        *,
        state: Any,
        request: gr.Request | None,
        left: str = "plain",
        revealed_blind: bool = False,
        note: str = "",
    ) -> dict[Any, Any]:
        """{component: update} that put `record` on screen for the browser of `state` and
        `request` (its vote, its permalink), `left` in the left column."""
        rec = record.as_dict()
        right, c = other(left), self.columns

        def title(column: str, letter: str) -> str:
            prefix = f"{letter} · " if revealed_blind else ""
            return f"### {prefix}{column_title(column)}"

        source_text = sources_markdown(record_sources(rec), self.corpus_root)
        if source_text and left == "search":
            source_text = (
                "*These are the sources of the left answer (A), which searched.*\n\n" + source_text
            )
        errors = {
            column_title(col).lower(): record_error(rec, col)
            for col in COLUMNS
            if record_error(rec, col)
        }
        json_path = self.downloads / f"searchduel-{record.id}.json"
        json_path.write_text(json.dumps(rec, ensure_ascii=False, indent=1), "utf-8")
        base = link_base(request)
        link = f"{base}?c={record.id}" if base else ""
        return {
            c.title_left: title(left, "A"),
            c.title_right: title(right, "B"),
            c.answer_plain: self._answer(rec, left),
            c.stats_plain: record_stats(rec, left),
            c.given_plain: self._given(rec, left),
            c.answer_search: self._answer(rec, right),
            c.stats_search: record_stats(rec, right),
            c.given_search: self._given(rec, right),
            c.notice: gr.update(
                value=search_notice(record_trace(rec)) if right == "search" else "",
                visible=right == "search",
            ),
            c.sources: source_text,
            c.trace: trace_markdown(record_trace(rec), errors),
            c.given_plain_fold: gr.update(visible=True),
            c.given_search_fold: gr.update(visible=True),
            c.trace_fold: gr.update(visible=True),
            c.grounding: grounding_line(rec.get("grounding")),
            **self._vote_bar(record.id, left, revealed_blind, visitor(state, request)),
            self.shown: {"id": record.id, "left": left, "blind": False, "prompt": record.prompt},
            self.tools.row: gr.update(visible=True),
            self.tools.cid_box: record.id,
            self.tools.md_box: comparison_markdown(rec, link),
            self.tools.download: gr.update(value=str(json_path)),
            self.note: note,
        }

    def _vote_bar(self, cid: str, left: str, revealed_blind: bool, who: str) -> dict[Any, Any]:
        can_vote = self.store.enabled and not self.store.has_voted(cid, who)
        label_left, label_right = vote_labels(left, False)
        if revealed_blind:
            label_left, label_right = "A is better", "B is better"
        buttons = self.bar.buttons
        voted = self.store.enabled and not can_vote
        return {
            buttons[0]: gr.update(value=label_left, interactive=can_vote),
            buttons[1]: gr.update(value=label_right, interactive=can_vote),
            buttons[2]: gr.update(interactive=can_vote),
            buttons[3]: gr.update(interactive=can_vote),
            self.bar.status: "You have voted on this comparison." if voted else VOTE_ASK,
        }

    def open(
        self, comparison_id: str, state: Any, request: gr.Request | None, how: str
    ) -> dict[Any, Any]:
        """A stored comparison on the Duel tab with its prompt in the box, or a friendly note
        when there is none."""
        if not self.store.enabled:
            return {self.note: f"**That link cannot be opened here.** {STORE_OFF_NOTE}"}
        try:
            record = self.store.get(comparison_id)
        except (ComparisonNotFound, StoreError) as exc:
            log.info("no comparison for %r: %s", comparison_id[:40], exc)
            return {self.note: NOT_FOUND_NOTE}
        when = record.created[:16].replace("T", " ")
        out = self.show(
            record,
            state=state,
            request=request,
            note=f"*{how} from {when} UTC. Ask runs the prompt again.*",
        )
        out[self.prompt] = record.prompt
        return out


def wire_history(
    demo: gr.Blocks, view: RecordView, history: gr.BrowserState, history_list: gr.Radio
) -> None:
    """A history entry and a `?c=<id>` link open a stored comparison (its prompt in the box);
    a browser without an id gets one on its first visit."""

    def from_history(comparison_id: str | None, state: Any, request: gr.Request) -> Any:
        if not comparison_id:
            return {view.note: gr.skip()}
        out = view.open(comparison_id, state, request, "A comparison of yours")
        out[history_list] = gr.update(value=None)
        return out

    def on_load(state: Any, request: gr.Request) -> Any:
        state = dict(state) if isinstance(state, dict) else {"items": []}
        out: dict[Any, Any] = {}
        if not state.get("visitor"):
            state["visitor"] = secrets.token_urlsafe(16)
            out[history] = state
        out[history_list] = gr.update(choices=history_choices(state), value=None)
        wanted = request.query_params.get("c") if request is not None else None
        if wanted is not None:
            out.update(view.open(wanted, state, request, "A stored comparison"))
        return out

    outputs = view.outputs()
    history_list.input(
        from_history,
        inputs=[history_list, history],
        outputs=[*outputs, view.prompt, history_list],
        queue=False,
        api_visibility="private",
    )
    demo.load(
        on_load,
        inputs=[history],
        outputs=[*outputs, view.prompt, history, history_list],
        queue=False,
        api_visibility="private",
    )

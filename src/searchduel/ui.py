"""Gradio Blocks: wires components to the engine and renders its events. Nothing else.

    build(loader) ─► header (title, model line, test-model banner, load status)
                 ├─► Sidebar: this browser's history (gr.BrowserState) ─► a stored comparison
                 └─► Tabs ─► "Duel" tab (_duel_tab): prompt, Ask/Stop, blind toggle, settings,
                     │          examples, two columns (answer, copy, stats, what the model was
                     │          given), sources, the search trace, votes, Share / Markdown / JSON;
                     │          finished answers tinted by the engine's grounding events
                     │          (render_grounding.py)
                     ├─► "Results" tab (_results_tab): results.results_view, exports
                     └─► "Batch" tab (ui_batch.batch_tab): a question file -> evaluate
    Ask / Enter / an example ─► _lock ─► compare (one generator, both columns) ─► _unlock
                                           └─► store.save(comparison_from_events(...))
    a vote button ─► store.vote ─► the stored comparison shown revealed (record_view)
    ?c=<id> (demo.load) / a history entry ─► store.get ─► record_view, or a friendly note

Decisions, in one place:

- The page is built before the model is ready (loader.BackendLoader): a timer polls the
  loader every LOAD_POLL_S and shows the stage ("Downloading 1.2 of 7.6 GB…", "Loading the
  model into memory…"); Ask stays disabled until the model is ready; a failed load shows
  what failed and how to fix it, and the page keeps serving.
- Enter asks, Shift+Enter makes a new line (assets/duel.js turns Enter into a click on Ask).
- One comparison at a time per browser: while it runs, Ask reads "Running…" and is disabled,
  and Stop is enabled (only then). A second Ask that still reaches the server (a double click,
  the API) is refused with a warning and the running one goes on. Stop ends the run through
  the engine's stop event, so the generator ends normally and `_unlock` resets the buttons.
- One event yields both columns (two listeners on one button would run one after the other).
  `compare` is the API's /compare; `_lock` and `_unlock` are private steps around it.
- Examples run on click (the same lock → compare → unlock chain). The prompt is never cleared.
- An API call to /compare made while the model loads waits for it (the page's Ask is
  disabled instead); after a failed load it gets an error saying what failed.
- Storing goes through store.py only. A comparison is stored when both columns ended (an
  answer or an error) and Stop was not pressed; the API's /compare is stored too.
- Votes: the four buttons are disabled by _lock and enabled by _unlock only when the
  comparison was stored, so never on a half-finished answer and never left stuck after a
  failed run; a vote that fails to be written keeps them enabled for a retry. A voter is the
  browser's id kept in its history (it survives reloads and tabs), else the Gradio session;
  a second vote is refused with a message. "vote-left"/"vote-right" are the columns as shown.
- Blind mode (`--blind` sets the toggle's default; the visitor can switch it): _lock draws the
  left column at random and titles the columns A / B; compare then sends only the answers
  (no [n] markers, no stage words, stats, sources, trace or prompts), so nothing that tells
  the sides apart reaches the browser before the vote. The vote reveals them in place
  (A · Search on), and the side shown and blind mode are recorded with it.
- The left column keeps the element ids "answer-plain", "stats-plain"... whatever it shows;
  only its title says which answer it holds.
- History: gr.BrowserState under HISTORY_STORAGE_KEY, encrypted with `history_secret` (or a
  secret derived from the store's salt, so it survives restarts); ids and prompts only.
- `?c=<id>` and history entries show the stored comparison read-only (Ask runs the prompt
  again), votable once by a browser that has not voted on it; an unknown or malformed id gets
  a note and the page works on.
- Handlers with many outputs return {component: update}; one that changes nothing returns
  one gr.skip() (an empty dict is not read as updates).
- Everything shown comes from render.py; messages are the engine's plain words (errors'
  details only in the trace's fold-out). New tabs go into `build` beside `_duel_tab`.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr

from .config import (
    ASSETS_DIR,
    COMPARE_CONCURRENCY,
    HISTORY_ITEMS,
    HISTORY_STORAGE_KEY,
    LOAD_POLL_S,
    MAX_VOTE_REASON_CHARS,
    Settings,
)
from .engine import Engine, RunOptions
from .errors import (
    ComparisonNotFound,
    DuplicateVote,
    InvalidInput,
    InvalidVote,
    RateLimited,
    StoreError,
)
from .limits import RateLimiter, client_address, proxy_hops
from .loader import BackendLoader, ModelInfo
from .render import (
    answer_markdown,
    blind_markdown,
    comparison_markdown,
    grounding_line,
    prompt_markdown,
    record_context_markdown,
    record_error,
    record_search_off,
    record_sources,
    record_stats,
    record_trace,
    safe_markdown,
    search_notice,
    sources_markdown,
    stats_line,
    trace_markdown,
)
from .render_grounding import grounded_markdown, no_sources_note
from .results import results_view
from .store import COLUMNS, Comparison, Store, comparison_from_events
from .types import Event, Source
from .ui_batch import batch_tab

TITLE = "Search Duel"
INTRO = (
    "One prompt, the same model twice: **search off** answers alone, **search on** answers "
    "from pages it fetched. Watch what search adds, and check every claim against its sources."
)
CSS_PATH = ASSETS_DIR / "style.css"
JS_PATH = ASSETS_DIR / "duel.js"
# plain, plain stats, plain prompt, search, search stats, search prompt, notice, sources, trace
N_OUTPUTS = 9
PROVIDER_CHOICES = ["auto", "duckduckgo", "searxng", "local", "off"]
PLACEHOLDER = "Ask something a search would help with…  (Enter to ask, Shift+Enter: new line)"
ASK, RUNNING = "Ask", "Running…"


def load_examples() -> list[str]:
    path = ASSETS_DIR / "examples.json"
    try:
        return [str(x) for x in json.loads(path.read_text("utf-8"))]
    except (OSError, ValueError):
        return []


@dataclass
class _Column:
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
            return f"ℹ️ *{self.done.get('note', '')}*"
        answer = self.done.get("answer", self.text) if self.done else self.text
        if self.grounding is not None:  # tinted by the judge (render_grounding)
            body = grounded_markdown(answer, self.grounding, column, sources, corpus_root)
        elif self.done and sources is not None:
            body = answer_markdown(answer, sources, corpus_root)
        else:
            body = safe_markdown(answer)
        if self.error:
            body = (body + "\n\n" if body else "") + f"> ⚠️ **{self.error}**"
        if not body and self.status:
            body = f"*{self.status}*"
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
class _View:
    """The page's state for one comparison, folded from the engine's events."""

    corpus_root: str = ""
    plain: _Column = field(default_factory=_Column)
    search: _Column = field(default_factory=_Column)
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


@dataclass
class _Run:
    """One browser's comparison: accepted by _lock, run by compare, released by _unlock."""

    run_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    done: bool = False
    comparison_id: str = ""  # set when the finished comparison was stored
    prompt: str = ""


def model_line(info: ModelInfo) -> str:
    """The line under the title naming the model, its precision, window, backend, search."""
    name = f"[{info.name}]({info.link})" if info.link else f"`{info.name}`"
    parts = [f"**Model:** {name}"]
    if info.precision:
        parts.append(info.precision)
    if info.window:
        parts.append(f"{info.window:,}-token window")
    parts.append("local" if info.backend == "local" else f"served by {info.backend}")
    parts.append(f"**Search:** {info.search}")
    return " · ".join(parts)


TEST_MODEL_BANNER = (
    "**Test model with random weights: its answers are noise.** It is here to try the "
    "plumbing (search, sources, streaming, timings). For real answers start the app with the "
    "real model: `python app.py --model microsoft/Phi-3-mini-4k-instruct` (or a downloaded "
    "folder)."
)


def load_status(snap: dict[str, Any]) -> str:
    state = snap.get("state", "starting")
    if state == "ready":
        return ""
    if state == "failed":
        return (
            f"**{snap.get('what', 'The model could not be loaded.')}**\n\n"
            f"{snap.get('fix', '')}\n\n<details><summary>Details</summary>\n\n"
            f"`{_tick_free(str(snap.get('detail', '')))}`\n\n</details>"
        )
    if state == "downloading":
        done, total = snap.get("done", 0), snap.get("total", 0)
        if total:
            return f"Downloading the model: {_gb(done)} of {_gb(total)} GB…"
        return "Downloading the model…"
    if state == "loading":
        return "Loading the model into memory… Ask is enabled once it is ready."
    return "Starting… Ask is enabled once the model is ready."


def _tick_free(text: str) -> str:
    return text.replace("`", "'")


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f}"


def build(app: BackendLoader | Engine, settings: Settings | None = None) -> gr.Blocks:
    """The page. `app` is a BackendLoader (loading or loaded) or a ready Engine; launch the
    result with launch_kwargs()."""
    loader = app if isinstance(app, BackendLoader) else BackendLoader.ready(app)
    settings = settings or loader.settings
    store, store_note = open_store(settings)
    secret = settings.history_secret or store.derived_secret("history")
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        history = gr.BrowserState(
            {"visitor": "", "items": []}, storage_key=HISTORY_STORAGE_KEY, secret=secret
        )
        gr.Markdown(f"# {TITLE}\n{INTRO}", elem_id="intro")
        model = gr.Markdown(model_line(loader.info()), elem_id="model-line")
        banner = gr.Markdown(TEST_MODEL_BANNER, elem_id="test-model-banner", visible=False)
        status = gr.Markdown(load_status(loader.snapshot()), elem_id="load-status")
        with gr.Sidebar(label="History", open=False, elem_id="history-panel"):
            gr.Markdown("### Your comparisons\nThis browser's recent ones; click one to see it.")
            history_list = gr.Radio(
                [], label="Recent", show_label=False, elem_id="history", interactive=True
            )
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Duel", id="duel"):
                ask = _duel_tab(demo, loader, settings, store, store_note, history, history_list)
            with gr.Tab("Results", id="results", elem_id="results") as results_tab:
                _results_tab(store, results_tab)
            with gr.Tab("Batch", id="batch"):
                batch_tab(loader, settings)  # ui_batch.py
        del tabs
        timer = gr.Timer(LOAD_POLL_S)

        def poll() -> tuple[Any, ...]:
            snap = loader.snapshot()
            info = loader.info()
            settled = snap["state"] in ("ready", "failed")
            return (
                model_line(info),
                gr.update(visible=info.test_model),
                load_status(snap),
                gr.update(interactive=snap["state"] == "ready"),
                gr.Timer(active=not settled),
            )

        outputs = [model, banner, status, ask, timer]
        timer.tick(poll, outputs=outputs, queue=False, api_visibility="private")
        demo.load(poll, outputs=outputs, queue=False, api_visibility="private")
    demo.queue(max_size=settings.queue_size)
    return demo


def open_store(settings: Settings) -> tuple[Store, str]:
    """The comparison store and, when nothing can be stored, the page's words for why."""
    if not settings.store:
        return Store(None), STORE_OFF_NOTE
    try:
        return Store.from_settings(settings), ""
    except StoreError as exc:
        logging.getLogger(__name__).warning("storing is off: %s", exc)
        return Store(
            None
        ), f"Comparisons cannot be stored on this server ({exc}), so there is no voting."


STORE_OFF_NOTE = (
    "Storing is turned off on this server: comparisons are not kept, so there is no voting, "
    "history or links."
)
VOTE_ASK = "Which answer is better? One vote each; an optional reason helps."
VOTE_ASK_BLIND = "Which answer is better, A or B? The sides are revealed once you vote."
NOT_FOUND_NOTE = (
    "**That link does not open a stored comparison.** It may be mistyped, or the comparison "
    "is gone. Ask your own question below."
)


def other(column: str) -> str:
    return "search" if column == "plain" else "plain"


def column_title(column: str) -> str:
    return "Search off" if column == "plain" else "Search on"


def vote_labels(left: str, blind: bool) -> tuple[str, str]:
    if blind:
        return "A is better", "B is better"
    return f"{column_title(left)} better", f"{column_title(other(left))} better"


def history_choices(state: Any) -> list[tuple[str, str]]:
    items = (state or {}).get("items") or []
    out = []
    for item in items:
        prompt = " ".join(str(item.get("prompt", "")).split())
        label = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        out.append((label or "(empty prompt)", str(item.get("id", ""))))
    return out


def remember(state: Any, comparison_id: str, prompt: str) -> dict[str, Any]:
    """The history with this comparison first (newest first, HISTORY_ITEMS at most)."""
    state = dict(state or {})
    items = [i for i in state.get("items") or [] if i.get("id") != comparison_id]
    items.insert(0, {"id": comparison_id, "prompt": prompt[:300]})
    state["items"] = items[:HISTORY_ITEMS]
    return state


def _visitor(state: Any, request: gr.Request | None) -> str:
    """Who votes: the browser's id from its history (survives reloads), else the session."""
    visitor = (state or {}).get("visitor") if isinstance(state, dict) else ""
    if visitor:
        return str(visitor)
    return (request.session_hash if request is not None else None) or ""


def _blind_column(col: _Column) -> str:
    answer = col.done.get("answer", col.text) if col.done else col.text
    body = blind_markdown(answer)
    if col.error:
        body = (body + "\n\n" if body else "") + f"> ⚠️ **{col.error}**"
    if not body and (col.status or not col.done):
        body = "*Working…*"
    return body


def blind_outputs(view: _View, left: str) -> tuple[str, ...]:
    """The nine column outputs in blind mode: answers only, placed as shown, no citations."""
    cols = {"plain": view.plain, "search": view.search}
    return (_blind_column(cols[left]), "", "", _blind_column(cols[other(left)]), "", "", "", "", "")


def _duel_tab(
    demo: gr.Blocks,
    loader: BackendLoader,
    settings: Settings,
    store: Store,
    store_note: str,
    history: gr.BrowserState,
    history_list: gr.Radio,
) -> gr.Button:
    """The main tab: prompt, buttons, settings, examples, both columns, votes, the tools for
    one comparison. Returns Ask (the header's poll enables it once the model is ready)."""
    runs: dict[str, _Run] = {}
    runs_lock = threading.Lock()
    # comparisons one client address may start a minute (--rate-limit), page and API alike
    limiter = RateLimiter(settings.rate_limit)
    hops = proxy_hops(settings.proxy_hops)
    corpus_root = str(Path(settings.corpus).expanduser().resolve()) if settings.corpus else ""
    downloads = Path(tempfile.mkdtemp(prefix="searchduel-json-"))

    def key_of(request: gr.Request | None) -> str:
        return (request.session_hash if request is not None else None) or "api"

    with gr.Row(equal_height=True, elem_id="ask-row"):
        prompt = gr.Textbox(
            label="Prompt",
            placeholder=PLACEHOLDER,
            lines=2,
            max_lines=8,
            scale=6,
            elem_id="prompt",
        )
        with gr.Column(scale=1, min_width=120):
            ask = gr.Button(ASK, variant="primary", elem_id="ask", interactive=False)
            stop = gr.Button("Stop", variant="stop", elem_id="stop", interactive=False)
    with gr.Row(elem_id="mode-row"):
        blind = gr.Checkbox(
            value=settings.blind,
            label="Blind: show the answers as A and B at random; reveal after my vote",
            elem_id="blind",
            interactive=store.enabled,
            container=False,
        )
    with gr.Accordion("Settings", open=False, elem_id="settings"), gr.Row():
        max_new = gr.Slider(
            16,
            2048,
            value=settings.max_new_tokens,
            step=16,
            label="Max new tokens (each answer)",
            elem_id="max-new-tokens",
        )
        temperature = gr.Slider(
            0.0,
            1.5,
            value=settings.temperature,
            step=0.05,
            label="Temperature (0 = greedy, same for both columns)",
        )
        pages = gr.Slider(1, 10, value=settings.pages, step=1, label="Pages to read")
        provider = gr.Dropdown(PROVIDER_CHOICES, value=settings.search, label="Search provider")
    examples = load_examples()
    example_block = (
        gr.Examples(examples=[[e] for e in examples], inputs=[prompt], label="Examples")
        if examples
        else None
    )
    run_id = gr.State("")
    shown = gr.State({})  # the comparison on screen: id, left column, blind, voted
    record_note = gr.Markdown(elem_id="record-note")
    with gr.Row(equal_height=False, elem_id="duel"):
        with gr.Column(elem_classes=["duel-column"], elem_id="column-plain"):
            title_left = gr.Markdown("### Search off", elem_id="title-left")
            answer_plain = gr.Markdown(elem_id="answer-plain", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_plain = gr.Markdown(elem_id="stats-plain", elem_classes=["stats"])
                copy_plain = gr.Button(
                    "Copy", size="sm", elem_id="copy-plain", scale=0, min_width=70
                )
            with gr.Accordion(
                "What the model was given", open=False, elem_id="prompt-plain"
            ) as acc_given_plain:
                given_plain = gr.Markdown(elem_id="given-plain")
        with gr.Column(elem_classes=["duel-column"], elem_id="column-search"):
            title_right = gr.Markdown("### Search on", elem_id="title-right")
            notice = gr.Markdown(elem_id="search-notice", elem_classes=["stats"])
            answer_search = gr.Markdown(elem_id="answer-search", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_search = gr.Markdown(elem_id="stats-search", elem_classes=["stats"])
                copy_search = gr.Button(
                    "Copy", size="sm", elem_id="copy-search", scale=0, min_width=70
                )
            sources = gr.Markdown(elem_id="sources")
            with gr.Accordion(
                "What the model was given", open=False, elem_id="prompt-search"
            ) as acc_given_search:
                given_search = gr.Markdown(elem_id="given-search")
            with gr.Accordion("Search trace", open=False, elem_id="trace") as acc_trace:
                trace = gr.Markdown(elem_id="trace-body", elem_classes=["trace-table"])
    grounding = gr.Markdown(elem_id="grounding", elem_classes=["stats"])
    with gr.Group(elem_id="votes"):
        with gr.Row(elem_id="vote-row"):
            vote_buttons = [
                gr.Button(label, elem_id=f"vote-{key}", interactive=False, min_width=110)
                for key, label in (
                    ("left", "Search off better"),
                    ("right", "Search on better"),
                    ("tie", "Tie"),
                    ("bad", "Both bad"),
                )
            ]
        reason = gr.Textbox(
            label="Reason (optional, one line)",
            max_lines=1,
            max_length=MAX_VOTE_REASON_CHARS,
            elem_id="vote-reason",
        )
    vote_status = gr.Markdown(store_note, elem_id="vote-status")
    with gr.Row(elem_id="tools", visible=False) as tools:
        share = gr.Button("Share", size="sm", elem_id="share", scale=0, min_width=110)
        copy_md = gr.Button(
            "Copy as Markdown", size="sm", elem_id="copy-markdown", scale=0, min_width=170
        )
        download = gr.DownloadButton(
            "Download JSON", size="sm", elem_id="download-json", scale=0, min_width=150
        )
        cid_box = gr.Textbox(visible="hidden", elem_id="comparison-id")
        md_box = gr.Textbox(visible="hidden", elem_id="comparison-md")
    for button, target in ((copy_plain, "answer-plain"), (copy_search, "answer-search")):
        button.click(
            None,
            js=f"() => navigator.clipboard.writeText((document.querySelector("
            f"'#{target} .answer-text') || document.querySelector('#{target}')).innerText.trim())",
            api_visibility="private",
        )
    share.click(None, js=SHARE_JS, api_visibility="private")
    copy_md.click(
        None,
        js="() => navigator.clipboard.writeText("
        "document.querySelector('#comparison-md textarea').value)",
        api_visibility="private",
    )

    # --- a stored comparison on screen (a revealed vote, history, a permalink) ---------------

    def record_view(
        record: Comparison,
        *,
        left: str = "plain",
        revealed_blind: bool = False,
        visitor: str = "",
        note: str = "",
        link_base: str = "",
    ) -> dict[Any, Any]:
        rec = record.as_dict()
        right = other(left)
        search_off = record_search_off(rec)
        rec_sources = record_sources(rec)

        def answer(column: str) -> str:
            text = rec[f"{column}_answer"]
            if column == "search" and search_off:
                body = "ℹ️ *Search was off for this comparison.*"
            elif column == "search":
                body = answer_markdown(text, rec_sources, corpus_root)
            else:
                body = safe_markdown(text)
            error = record_error(rec, column)
            if error:
                body = (body + "\n\n" if body else "") + f"> ⚠️ **{error}**"
            return body

        def given(column: str) -> str:
            if column == "search":
                if search_off:
                    return "*Nothing was sent: search is off.*"
                return record_context_markdown(rec)
            return "*Stored comparisons keep the sources block, not the whole prompt.*"

        def title(column: str, letter: str) -> str:
            return (
                f"### {letter} · {column_title(column)}"
                if revealed_blind
                else (f"### {column_title(column)}")
            )

        source_text = sources_markdown(rec_sources, corpus_root)
        if source_text and left == "search":
            source_text = "*These are the sources of the left answer (A), which searched.*\n\n" + (
                source_text
            )
        can_vote = store.enabled and not store.has_voted(record.id, visitor)
        label_left, label_right = vote_labels(left, False)
        if revealed_blind:
            label_left, label_right = "A is better", "B is better"
        status = (
            "You have voted on this comparison." if store.enabled and not can_vote else VOTE_ASK
        )
        json_path = downloads / f"searchduel-{record.id}.json"
        json_path.write_text(json.dumps(rec, ensure_ascii=False, indent=1), "utf-8")
        link = f"{link_base}?c={record.id}" if link_base else ""
        errors = {
            column_title(c).lower(): record_error(rec, c) for c in COLUMNS if record_error(rec, c)
        }
        return {
            title_left: title(left, "A"),
            title_right: title(right, "B"),
            answer_plain: answer(left),
            stats_plain: record_stats(rec, left),
            given_plain: given(left),
            answer_search: answer(right),
            stats_search: record_stats(rec, right),
            given_search: given(right),
            notice: gr.update(
                value=search_notice(record_trace(rec)) if right == "search" else "",
                visible=right == "search",
            ),
            sources: source_text,
            trace: trace_markdown(record_trace(rec), errors),
            acc_given_plain: gr.update(visible=True),
            acc_given_search: gr.update(visible=True),
            acc_trace: gr.update(visible=True),
            grounding: grounding_line(rec.get("grounding")),
            vote_buttons[0]: gr.update(value=label_left, interactive=can_vote),
            vote_buttons[1]: gr.update(value=label_right, interactive=can_vote),
            vote_buttons[2]: gr.update(interactive=can_vote),
            vote_buttons[3]: gr.update(interactive=can_vote),
            vote_status: status,
            shown: {"id": record.id, "left": left, "blind": False, "prompt": record.prompt},
            tools: gr.update(visible=True),
            cid_box: record.id,
            md_box: comparison_markdown(rec, link),
            download: gr.update(value=str(json_path)),
            record_note: note,
        }

    record_outputs = [
        title_left,
        title_right,
        answer_plain,
        stats_plain,
        given_plain,
        answer_search,
        stats_search,
        given_search,
        notice,
        sources,
        trace,
        acc_given_plain,
        acc_given_search,
        acc_trace,
        grounding,
        *vote_buttons,
        vote_status,
        shown,
        tools,
        cid_box,
        md_box,
        download,
        record_note,
    ]

    def link_base(request: gr.Request | None) -> str:
        referer = request.headers.get("referer", "") if request is not None else ""
        return referer.split("?", 1)[0].split("#", 1)[0]

    def open_stored(
        comparison_id: str, state: Any, request: gr.Request | None, how: str
    ) -> dict[Any, Any]:
        """A stored comparison on the Duel tab, or a friendly note when there is none."""
        if not store.enabled:
            return {record_note: f"**That link cannot be opened here.** {STORE_OFF_NOTE}"}
        try:
            record = store.get(comparison_id)
        except (ComparisonNotFound, StoreError) as exc:
            logging.getLogger(__name__).info("no comparison for %r: %s", comparison_id[:40], exc)
            return {record_note: NOT_FOUND_NOTE}
        when = record.created[:16].replace("T", " ")
        note = f"*{how} from {when} UTC. Ask runs the prompt again.*"
        out = record_view(
            record, visitor=_visitor(state, request), note=note, link_base=link_base(request)
        )
        out[prompt] = record.prompt
        return out

    # --- the run: lock ─► compare ─► unlock -----------------------------------------------

    def lock(prompt_text: str, blind_on: bool, provider_name: str, request: gr.Request) -> Any:
        if loader.engine is None:
            gr.Warning("The model is not ready yet.")
            return {ask: gr.skip()}
        if not (prompt_text or "").strip():
            gr.Warning("Type a question first.")
            return {ask: gr.skip()}
        key = key_of(request)
        with runs_lock:
            current = runs.get(key)
            if current is not None and not current.done:
                gr.Warning("A comparison is already running: wait for it, or press Stop.")
                return {ask: gr.skip()}
            run = runs[key] = _Run(uuid.uuid4().hex)
        is_blind = bool(blind_on) and store.enabled and provider_name != "off"
        left = secrets.choice(COLUMNS) if is_blind else "plain"
        label_left, label_right = vote_labels(left, is_blind)
        return {
            ask: gr.update(value=RUNNING, interactive=False),
            stop: gr.update(interactive=True),
            run_id: run.run_id,
            shown: {"id": "", "left": left, "blind": is_blind},
            title_left: "### A" if is_blind else "### Search off",
            title_right: "### B" if is_blind else "### Search on",
            acc_given_plain: gr.update(visible=not is_blind),
            acc_given_search: gr.update(visible=not is_blind),
            acc_trace: gr.update(visible=not is_blind),
            notice: gr.update(visible=not is_blind),
            grounding: "",
            vote_buttons[0]: gr.update(value=label_left, interactive=False),
            vote_buttons[1]: gr.update(value=label_right, interactive=False),
            vote_buttons[2]: gr.update(interactive=False),
            vote_buttons[3]: gr.update(interactive=False),
            vote_status: store_note or "*Vote once both answers are finished.*",
            tools: gr.update(visible=False),
            cid_box: "",
            md_box: "",
            record_note: "",
        }

    def compare(
        prompt: str,
        max_new_tokens: float,
        temperature: float,
        pages: float,
        provider: str,
        run_id: str = "",
        shown: Any = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> Iterator[tuple[str, ...]]:
        skip = tuple(gr.skip() for _ in range(N_OUTPUTS))
        if loader.engine is None and not run_id:  # an API call waits for the model to load
            loader.wait()
        engine = loader.engine
        if engine is None:
            snap = loader.snapshot()
            if snap["state"] == "failed":
                raise gr.Error(snap.get("what", "The model could not be loaded."))
            gr.Warning("The model is not ready yet.")
            yield skip
            return
        if not (prompt or "").strip():
            gr.Warning("Type a question first.")
            yield skip
            return
        peer = request.client.host if request is not None and request.client else "local"
        headers = dict(request.headers) if request is not None else {}
        try:
            limiter.check(client_address(headers, peer, hops))
        except RateLimited as exc:
            if not run_id:  # an API call: an error its client sees
                raise gr.Error(str(exc)) from None
            gr.Warning(str(exc))  # the page: a notice, and everything stays as it was
            yield skip
            return
        key = key_of(request)
        with runs_lock:
            run = runs.get(key)
            if run_id:  # from the page: only the run _lock accepted, and only once
                if run is None or run.run_id != run_id or run.started:
                    yield skip
                    return
            elif run is not None and not run.done:  # the API: one at a time per session
                gr.Warning("A comparison is already running: wait for it, or press Stop.")
                yield skip
                return
            else:
                run = runs[key] = _Run(uuid.uuid4().hex)
            run.started = True
        options = RunOptions(
            max_new_tokens=int(max_new_tokens),
            temperature=float(temperature),
            pages=int(pages),
            search=provider,
        )
        placement = shown if (run_id and isinstance(shown, dict)) else {}
        is_blind = bool(placement.get("blind"))
        left = placement.get("left", "plain")
        view = _View(corpus_root=corpus_root)
        events: list[Event] = []
        question = prompt.strip()
        try:
            for event in engine.run(question, options, stop=run.stop):
                events.append(event)
                view.apply(event)
                if event.kind == "error" and event.data.get("type") == "BackendBusy":
                    gr.Warning(event.text)
                yield blind_outputs(view, left) if is_blind else view.outputs()
            run.comparison_id = _store_run(question, events, view, options.apply(engine.settings))
            run.prompt = question
        except InvalidInput as exc:  # refused before any work (inputs.py); the prompt stays
            if not run_id:
                raise gr.Error(str(exc)) from None
            gr.Warning(str(exc))
            yield skip
        finally:
            run.stop.set()
            run.done = True

    def _store_run(question: str, events: list[Event], view: _View, ran: Settings) -> str:
        """Store a finished comparison (both columns ended, not stopped); its id or ""."""
        columns = (view.plain, view.search)
        finished = all(c.done is not None or c.error for c in columns)
        stopped = any(c.done and c.done.get("stopped") for c in columns)
        if not store.enabled or not finished or stopped:
            return ""
        try:
            return store.save(comparison_from_events(question, events, ran))
        except StoreError as exc:
            gr.Warning(f"This comparison could not be stored: {exc}")
            return ""

    def unlock(run_id: str, placement: Any, state: Any, request: gr.Request) -> Any:
        key = key_of(request)
        with runs_lock:
            run = runs.get(key)
            if run is not None and not run.done and not (run.run_id == run_id and not run.started):
                return {ask: gr.skip()}  # another run of this browser is still going
            runs.pop(key, None)
        out: dict[Any, Any] = {
            ask: gr.update(value=ASK, interactive=True),
            stop: gr.update(interactive=False),
        }
        cid = run.comparison_id if run is not None and run.run_id == run_id else ""
        if not cid:
            out[vote_status] = store_note or "*Not stored: the comparison did not finish.*"
            return out
        placement = dict(placement or {})
        placement.update(id=cid, prompt=run.prompt)
        out[shown] = placement
        for button in vote_buttons:
            out[button] = gr.update(interactive=True)
        new_state = remember(state, cid, run.prompt)
        out[history] = new_state
        out[history_list] = gr.update(choices=history_choices(new_state), value=None)
        if placement.get("blind"):
            out[vote_status] = VOTE_ASK_BLIND
            return out
        try:  # never leave Ask stuck on "Running…" because the store hiccuped
            shown_record = store.get(cid)
        except StoreError as exc:
            logging.getLogger(__name__).warning("could not read back %s: %s", cid, exc)
            return out
        out.update(
            record_view(
                shown_record, visitor=_visitor(state, request), link_base=link_base(request)
            )
        )
        for name in (answer_plain, answer_search, stats_plain, stats_search, given_plain):
            out.pop(name)  # the live rendering stays (it has the full prompts)
        for name in (given_search, notice, sources, trace):
            out.pop(name)
        return out

    def stop_now(request: gr.Request) -> None:
        with runs_lock:
            run = runs.get(key_of(request))
        if run is not None:
            run.stop.set()

    # --- votes ------------------------------------------------------------------------------

    def make_vote(which: str) -> Any:
        def vote(placement: Any, why: str, state: Any, request: gr.Request) -> Any:
            placement = dict(placement or {})
            cid = placement.get("id", "")
            if not store.enabled:
                gr.Warning(store_note or STORE_OFF_NOTE)
                return {vote_status: store_note or STORE_OFF_NOTE}
            if not cid:
                gr.Warning("There is no finished comparison to vote on yet.")
                return {vote_status: gr.skip()}
            left = placement.get("left", "plain")
            choice = {
                "left": left,
                "right": other(left),
                "tie": "tie",
                "bad": "both_bad",
            }[which]
            visitor = _visitor(state, request)
            try:
                store.vote(
                    cid,
                    session=visitor,
                    choice=choice,
                    left_column=left,
                    blind=bool(placement.get("blind")),
                    reason=why or "",
                )
            except DuplicateVote:
                gr.Warning("You have already voted on this comparison (one vote each).")
                return {
                    vote_status: "**You have already voted on this comparison** (one vote each).",
                    **{b: gr.update(interactive=False) for b in vote_buttons},
                }
            except (InvalidVote, StoreError) as exc:  # the buttons stay enabled for a retry
                gr.Warning(f"Your vote was not recorded: {exc}")
                return {vote_status: f"**Your vote was not recorded:** {exc}. Try again."}
            try:
                voted_on = store.get(cid)
            except StoreError as exc:
                logging.getLogger(__name__).warning("could not read back %s: %s", cid, exc)
                return {
                    vote_status: "**Thanks, your vote is in.**",
                    **{b: gr.update(interactive=False) for b in vote_buttons},
                }
            out = record_view(
                voted_on,
                left=left,
                revealed_blind=bool(placement.get("blind")),
                visitor=visitor,
                link_base=link_base(request),
            )
            words = {
                "plain": "search off better",
                "search": "search on better",
                "tie": "a tie",
                "both_bad": "both bad",
            }[choice]
            if placement.get("blind"):
                out[vote_status] = (
                    f"**Thanks, your vote is in: {words}.** A was "
                    f"{column_title(left).lower()}, B was {column_title(other(left)).lower()}."
                )
            else:
                out[vote_status] = f"**Thanks, your vote is in: {words}.**"
            out[reason] = ""
            return out

        return vote

    for key, button in zip(("left", "right", "tie", "bad"), vote_buttons, strict=True):
        button.click(
            make_vote(key),
            inputs=[shown, reason, history],
            outputs=[*record_outputs, reason],
            queue=False,
            api_visibility="private",
        )

    # --- history and permalinks ------------------------------------------------------------

    def from_history(comparison_id: str | None, state: Any, request: gr.Request) -> Any:
        if not comparison_id:
            return {record_note: gr.skip()}
        out = open_stored(comparison_id, state, request, "A comparison of yours")
        out[history_list] = gr.update(value=None)
        return out

    history_list.input(
        from_history,
        inputs=[history_list, history],
        outputs=[*record_outputs, prompt, history_list],
        queue=False,
        api_visibility="private",
    )

    def on_load(state: Any, request: gr.Request) -> Any:
        state = dict(state) if isinstance(state, dict) else {"items": []}
        out: dict[Any, Any] = {}
        if not state.get("visitor"):
            state["visitor"] = secrets.token_urlsafe(16)
            out[history] = state
        out[history_list] = gr.update(choices=history_choices(state), value=None)
        wanted = request.query_params.get("c") if request is not None else None
        if wanted is not None:
            out.update(open_stored(wanted, state, request, "A stored comparison"))
        return out

    demo.load(
        on_load,
        inputs=[history],
        outputs=[*record_outputs, prompt, history, history_list],
        queue=False,
        api_visibility="private",
    )

    # --- wiring the run ------------------------------------------------------------------------

    outputs = [
        answer_plain,
        stats_plain,
        given_plain,
        answer_search,
        stats_search,
        given_search,
        notice,
        sources,
        trace,
    ]
    inputs = [prompt, max_new, temperature, pages, provider, run_id, shown]
    unlock_outputs = [ask, stop, history, history_list, *record_outputs]

    def chain(start: Any, api_name: str | bool) -> Any:
        visibility = "public" if api_name else "private"
        run = start.then(
            compare,
            inputs=inputs,
            outputs=outputs,
            api_name=api_name,
            api_visibility=visibility,
            concurrency_limit=COMPARE_CONCURRENCY,
            concurrency_id="model",
        )
        run.then(
            unlock,
            inputs=[run_id, shown, history],
            outputs=unlock_outputs,
            queue=False,
            api_visibility="private",
        )
        return run

    lock_outputs = [
        ask,
        stop,
        run_id,
        shown,
        title_left,
        title_right,
        acc_given_plain,
        acc_given_search,
        acc_trace,
        notice,
        grounding,
        *vote_buttons,
        vote_status,
        tools,
        cid_box,
        md_box,
        record_note,
    ]
    lock_io = {"inputs": [prompt, blind, provider], "outputs": lock_outputs, "queue": False}
    chain(ask.click(lock, **lock_io, api_visibility="private"), "compare")
    if example_block is not None:
        chain(example_block.load_input_event.then(lock, **lock_io, api_visibility="private"), False)
    stop.click(stop_now, inputs=None, outputs=None, api_name="stop", queue=False)
    return ask


SHARE_JS = """() => {
  const id = document.querySelector('#comparison-id textarea, #comparison-id input');
  if (!id || !id.value) return;
  const link = location.origin + location.pathname + '?c=' + encodeURIComponent(id.value);
  navigator.clipboard.writeText(link);
  const button = document.querySelector('#share');
  if (button) { const was = button.innerText; button.innerText = 'Link copied';
                setTimeout(() => { button.innerText = was; }, 2000); }
}"""


def _results_tab(store: Store, tab: gr.Tab) -> None:
    """Vote statistics with their intervals, charts, and the exports."""
    exports = Path(tempfile.mkdtemp(prefix="searchduel-export-"))
    blind_only = gr.Checkbox(False, label="Blind votes only", elem_id="results-blind")
    summary = gr.Markdown("*Open this tab to see the votes.*", elem_id="results-summary")
    with gr.Row():
        shares = gr.Plot(show_label=False, elem_id="chart-shares")
    with gr.Row():
        over_time = gr.Plot(show_label=False, elem_id="chart-over-time", min_width=380)
        length_bias = gr.Plot(show_label=False, elem_id="chart-length-bias", min_width=380)
    with gr.Row(elem_id="export-row"):
        csv_button = gr.Button("Export CSV", size="sm", elem_id="export-csv", min_width=120)
        jsonl_button = gr.Button("Export JSONL", size="sm", elem_id="export-jsonl", min_width=120)
    export_file = gr.File(label="Export (no session hashes)", elem_id="export-file", visible=False)

    def refresh(only_blind: bool) -> tuple[Any, ...]:
        try:
            view = results_view(store, blind_only=bool(only_blind))
        except StoreError as exc:
            return f"The votes could not be read: {exc}", None, None, None
        figs = view.figures
        return view.markdown, figs["shares"], figs["over_time"], figs["length_bias"]

    charts = [summary, shares, over_time, length_bias]
    tab.select(refresh, [blind_only], charts, api_visibility="private")
    blind_only.change(refresh, [blind_only], charts, api_visibility="private")

    def export(fmt: str) -> Any:
        if not store.enabled:
            gr.Warning(STORE_OFF_NOTE)
            return gr.update(visible=False)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = exports / f"searchduel-{stamp}.{fmt}"
        try:
            with path.open("w", encoding="utf-8", newline="") as f:
                store.export(fmt, f)
        except StoreError as exc:
            gr.Warning(f"The export failed: {exc}")
            return gr.update(visible=False)
        return gr.update(value=str(path), visible=True)

    csv_button.click(lambda: export("csv"), None, export_file, api_visibility="private")
    jsonl_button.click(lambda: export("jsonl"), None, export_file, api_visibility="private")


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch(): in Gradio 6 theme, css and head go here, not to Blocks().
    The offline corpus folder is served so that its sources open in the browser."""
    css = CSS_PATH.read_text("utf-8") if CSS_PATH.exists() else None
    js = JS_PATH.read_text("utf-8") if JS_PATH.exists() else ""
    allowed = [str(Path(settings.corpus).expanduser().resolve())] if settings.corpus else []
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": gr.themes.Soft(),
        "css": css,
        "head": f"<script>{js}</script>" if js else None,
        "allowed_paths": allowed,
        "show_error": True,
    }

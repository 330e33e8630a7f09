"""Gradio Blocks: wires components to the engine and renders its events. Nothing else.

    build(loader) ─► header (title, model line, test-model banner, load status)
                 └─► Tabs ─► "Duel" tab (_duel_tab): prompt, Ask/Stop, settings, examples,
                                two columns (answer, copy, stats, what the model was given),
                                sources and the search trace; finished answers tinted by
                                the engine's grounding events (render_grounding.py)
                         └─► "Batch" tab (ui_batch.batch_tab): a question file -> evaluate
    Ask / Enter / an example ─► _lock ─► compare (one generator, both columns) ─► _unlock

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
- Everything shown comes from render.py; messages are the engine's plain words (errors'
  details only in the trace's fold-out). New tabs go into `build` beside `_duel_tab`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from .config import ASSETS_DIR, COMPARE_CONCURRENCY, LOAD_POLL_S, Settings
from .engine import Engine, RunOptions
from .loader import BackendLoader, ModelInfo
from .render import (
    answer_markdown,
    prompt_markdown,
    safe_markdown,
    search_notice,
    sources_markdown,
    stats_line,
    trace_markdown,
)
from .render_grounding import grounded_markdown, no_sources_note
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
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}", elem_id="intro")
        model = gr.Markdown(model_line(loader.info()), elem_id="model-line")
        banner = gr.Markdown(TEST_MODEL_BANNER, elem_id="test-model-banner", visible=False)
        status = gr.Markdown(load_status(loader.snapshot()), elem_id="load-status")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Duel", id="duel"):
                ask = _duel_tab(loader, settings)
            with gr.Tab("Batch", id="batch"):
                batch_tab(loader, settings)  # ui_batch.py
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


def _duel_tab(loader: BackendLoader, settings: Settings) -> gr.Button:
    """The main tab: prompt, buttons, settings, examples, both columns. Returns Ask (the
    header's poll enables it once the model is ready)."""
    runs: dict[str, _Run] = {}
    runs_lock = threading.Lock()
    corpus_root = str(Path(settings.corpus).expanduser().resolve()) if settings.corpus else ""

    def key_of(request: gr.Request | None) -> str:
        return (request.session_hash if request is not None else None) or "api"

    def lock(prompt: str, request: gr.Request) -> tuple[Any, ...]:
        skip = (gr.skip(), gr.skip(), gr.skip())
        if loader.engine is None:
            gr.Warning("The model is not ready yet.")
            return skip
        if not (prompt or "").strip():
            gr.Warning("Type a question first.")
            return skip
        key = key_of(request)
        with runs_lock:
            current = runs.get(key)
            if current is not None and not current.done:
                gr.Warning("A comparison is already running: wait for it, or press Stop.")
                return skip
            run = runs[key] = _Run(uuid.uuid4().hex)
        return (
            gr.update(value=RUNNING, interactive=False),
            gr.update(interactive=True),
            run.run_id,
        )

    def compare(
        prompt: str,
        max_new_tokens: float,
        temperature: float,
        pages: float,
        provider: str,
        run_id: str = "",
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
        view = _View(corpus_root=corpus_root)
        try:
            for event in engine.run(prompt.strip(), options, stop=run.stop):
                view.apply(event)
                if event.kind == "error" and event.data.get("type") == "BackendBusy":
                    gr.Warning(event.text)
                yield view.outputs()
        finally:
            run.stop.set()
            run.done = True

    def unlock(run_id: str, request: gr.Request) -> tuple[Any, ...]:
        key = key_of(request)
        with runs_lock:
            run = runs.get(key)
            if run is not None and not run.done and not (run.run_id == run_id and not run.started):
                return gr.skip(), gr.skip()  # another run of this browser is still going
            runs.pop(key, None)
        return gr.update(value=ASK, interactive=True), gr.update(interactive=False)

    def stop_now(request: gr.Request) -> None:
        with runs_lock:
            run = runs.get(key_of(request))
        if run is not None:
            run.stop.set()

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
    with gr.Accordion("Settings", open=False, elem_id="settings"), gr.Row():
        max_new = gr.Slider(
            16,
            2048,
            value=settings.max_new_tokens,
            step=16,
            label="Max new tokens (each answer)",
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
    with gr.Row(equal_height=False, elem_id="duel"):
        with gr.Column(elem_classes=["duel-column"], elem_id="column-plain"):
            gr.Markdown("### Search off")
            answer_plain = gr.Markdown(elem_id="answer-plain", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_plain = gr.Markdown(elem_id="stats-plain", elem_classes=["stats"])
                copy_plain = gr.Button(
                    "Copy", size="sm", elem_id="copy-plain", scale=0, min_width=70
                )
            with gr.Accordion("What the model was given", open=False, elem_id="prompt-plain"):
                given_plain = gr.Markdown(elem_id="given-plain")
        with gr.Column(elem_classes=["duel-column"], elem_id="column-search"):
            gr.Markdown("### Search on")
            notice = gr.Markdown(elem_id="search-notice", elem_classes=["stats"])
            answer_search = gr.Markdown(elem_id="answer-search", min_height=160)
            with gr.Row(elem_classes=["answer-foot"]):
                stats_search = gr.Markdown(elem_id="stats-search", elem_classes=["stats"])
                copy_search = gr.Button(
                    "Copy", size="sm", elem_id="copy-search", scale=0, min_width=70
                )
            sources = gr.Markdown(elem_id="sources")
            with gr.Accordion("What the model was given", open=False, elem_id="prompt-search"):
                given_search = gr.Markdown(elem_id="given-search")
            with gr.Accordion("Search trace", open=False, elem_id="trace"):
                trace = gr.Markdown(elem_id="trace-body", elem_classes=["trace-table"])
    for button, target in ((copy_plain, "answer-plain"), (copy_search, "answer-search")):
        button.click(
            None,
            js=f"() => navigator.clipboard.writeText((document.querySelector("
            f"'#{target} .answer-text') || document.querySelector('#{target}')).innerText.trim())",
            api_visibility="private",
        )
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
    inputs = [prompt, max_new, temperature, pages, provider, run_id]

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
            unlock, inputs=[run_id], outputs=[ask, stop], queue=False, api_visibility="private"
        )
        return run

    lock_io = {"inputs": [prompt], "outputs": [ask, stop, run_id], "queue": False}
    chain(ask.click(lock, **lock_io, api_visibility="private"), "compare")
    if example_block is not None:
        chain(example_block.load_input_event.then(lock, **lock_io, api_visibility="private"), False)
    stop.click(stop_now, inputs=None, outputs=None, api_name="stop", queue=False)
    return ask


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

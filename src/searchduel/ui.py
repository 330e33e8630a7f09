"""Gradio Blocks: wires components to the engine and renders its events. Nothing else.

One event (Ask click or Enter) runs one generator that yields both columns, so they stream
at the same time in a browser. It is exposed to the API as /compare.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from .config import ASSETS_DIR, COMPARE_CONCURRENCY, Settings
from .engine import Engine, RunOptions
from .render import search_notice, sources_markdown, stats_line, trace_markdown
from .types import Event

TITLE = "Search Duel"
INTRO = (
    "One prompt, the same model twice: **search off** answers alone, **search on** answers "
    "from pages it fetched. Watch what search adds, and check every claim against its sources."
)
CSS_PATH = ASSETS_DIR / "style.css"
N_OUTPUTS = 7  # plain, plain stats, search, search stats, search notice, sources, trace
PROVIDER_CHOICES = ["auto", "duckduckgo", "searxng", "local", "off"]


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

    def markdown(self) -> str:
        body = self.done.get("rendered", self.text) if self.done else self.text
        if self.error:
            body = (body + "\n\n" if body else "") + f"> ⚠️ **{self.error}**"
        if not body and self.status:
            body = f"*{self.status}*"
        return body

    def stats(self) -> str:
        return stats_line(self.done)


@dataclass
class _View:
    plain: _Column = field(default_factory=_Column)
    search: _Column = field(default_factory=_Column)
    sources: str = ""
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
        elif event.kind == "sources":
            self.sources = sources_markdown(event.data["sources"])
        elif event.kind == "trace":
            self.trace = event.data

    def outputs(self) -> tuple[str, ...]:
        return (
            self.plain.markdown(),
            self.plain.stats(),
            self.search.markdown(),
            self.search.stats(),
            search_notice(self.trace),
            self.sources,
            trace_markdown(self.trace),
        )


def build(engine: Engine, settings: Settings | None = None) -> gr.Blocks:
    """The page. Needs an engine (with its loaded model); launch with launch_kwargs()."""
    settings = settings or engine.settings
    stops: dict[str, threading.Event] = {}

    def compare(
        prompt: str,
        max_new_tokens: float,
        temperature: float,
        pages: float,
        provider: str,
        request: gr.Request,
    ) -> Iterator[tuple[str, ...]]:
        if not (prompt or "").strip():
            gr.Warning("Type a question first.")
            yield tuple(gr.skip() for _ in range(N_OUTPUTS))
            return
        key = request.session_hash if request is not None else "api"
        stop = stops[key] = threading.Event()
        options = RunOptions(
            max_new_tokens=int(max_new_tokens),
            temperature=float(temperature),
            pages=int(pages),
            search=provider,
        )
        view = _View()
        try:
            for event in engine.run(prompt.strip(), options, stop=stop):
                view.apply(event)
                if event.kind == "error" and event.data.get("type") == "BackendBusy":
                    gr.Warning(event.text)
                yield view.outputs()
        finally:
            stop.set()
            stops.pop(key, None)

    def stop_now(request: gr.Request) -> None:
        event = stops.get(request.session_hash) if request is not None else None
        if event is not None:
            event.set()

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(
                label="Prompt",
                placeholder="Ask something a search would help with…",
                lines=2,
                max_lines=8,
                scale=6,
                elem_id="prompt",
            )
            with gr.Column(scale=1, min_width=120):
                ask = gr.Button("Ask", variant="primary", elem_id="ask")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
        examples = load_examples()
        if examples:
            gr.Examples(examples=[[e] for e in examples], inputs=[prompt], label="Examples")
        with gr.Row(equal_height=False):
            with gr.Column(elem_classes=["duel-column"]):
                gr.Markdown("### Search off")
                answer_plain = gr.Markdown(elem_id="answer-plain", min_height=160)
                stats_plain = gr.Markdown(elem_id="stats-plain", elem_classes=["stats"])
            with gr.Column(elem_classes=["duel-column"]):
                gr.Markdown("### Search on")
                notice = gr.Markdown(elem_id="search-notice", elem_classes=["stats"])
                answer_search = gr.Markdown(elem_id="answer-search", min_height=160)
                stats_search = gr.Markdown(elem_id="stats-search", elem_classes=["stats"])
                sources = gr.Markdown(elem_id="sources")
                with gr.Accordion("Search trace", open=False, elem_id="trace"):
                    trace = gr.Markdown(elem_id="trace-body")
        with gr.Accordion("Settings", open=False, elem_id="settings"):
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
        run = gr.on(
            triggers=[ask.click, prompt.submit],
            fn=compare,
            inputs=[prompt, max_new, temperature, pages, provider],
            outputs=[
                answer_plain,
                stats_plain,
                answer_search,
                stats_search,
                notice,
                sources,
                trace,
            ],
            api_name="compare",
            concurrency_limit=COMPARE_CONCURRENCY,
            concurrency_id="model",
        )
        stop.click(stop_now, inputs=None, outputs=None, cancels=[run], api_name="stop", queue=False)
    demo.queue(max_size=settings.queue_size)
    return demo


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for demo.launch(): in Gradio 6 theme and css go here, not to Blocks()."""
    css = CSS_PATH.read_text("utf-8") if CSS_PATH.exists() else None
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": gr.themes.Soft(),
        "css": css,
        "show_error": True,
    }

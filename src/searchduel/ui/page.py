"""The page: the header (title, model line, test-model banner, load status), the history
panel and the three tabs, put together from the parts in this package.

    build(loader) ─► header ─► poll the loader until the model is ready or failed
                 ├─► history.add_history_panel (the side panel)
                 └─► Tabs ─► Duel: duel.add_prompt_row, duel.add_columns, votes.add_vote_bar,
                     │         stored.add_tools; handlers duel.Duel, votes.Votes,
                     │         stored.RecordView / wire_history
                     ├─► Results: results.add_results_tab
                     └─► Batch: batch.add_batch_tab
    server.launch_kwargs(settings) ─► demo.launch(...) (how the page is served)

Decisions, in one place:

- The page is built before the model is ready (loader.BackendLoader): a timer polls the
  loader every LOAD_POLL_S and shows the stage ("Downloading 1.2 of 7.6 GB…", "Loading the
  model into memory…"); Ask stays disabled until the model is ready; a failed load shows
  what failed and how to fix it, and the page keeps serving.
- The page's CSS and JavaScript are files beside this one (page.css, page.js, put in the page
  by server.launch_kwargs); page.js also holds the small client-side actions (Enter asks,
  copy, share, the evidence panel).
- Only this package turns errors into gr.Error / gr.Warning; everything it shows comes from
  render/, in the engine's plain words.
- One rate limiter for the page (limits.RateLimiter, `rate_limit` a minute per client
  address), handed to the Duel tab and the Batch tab: a client's comparisons and batch
  questions come out of one budget.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..ballot import Ballot, VoterTokens
from ..config import LOAD_POLL_S, TEMP_FILE_TTL_S, Settings
from ..engine import Engine
from ..limits import RateLimiter, proxy_hops
from ..loader import BackendLoader, ModelInfo
from .batch import add_batch_tab
from .duel import Duel, add_columns, add_prompt_row
from .history import add_history_panel, add_history_state
from .results import add_results_tab
from .server import cap_client_queue
from .stored import RecordView, add_tools, open_store, wire_history
from .votes import Votes, add_vote_bar

TITLE = "Search Duel"
INTRO = (
    "One prompt, the same model twice: **search off** answers alone, **search on** answers "
    "from pages it fetched. Watch what search adds, and check every claim against its sources."
)
TEST_MODEL_BANNER = (
    "**Test model with random weights: its answers are noise.** It is here to try the "
    "plumbing (search, sources, streaming, timings). For real answers start the app with the "
    "real model: `python app.py --model microsoft/Phi-3-mini-4k-instruct` (or a downloaded "
    "folder)."
)
DEMO_BANNER = (
    "**Demo writer: no language model.** Each answer is copied from the sources it was given "
    "(the search column cites them) plus one sentence it makes up, so the citations and the "
    "judge's marks show without a model or a GPU: the copied sentences come back supported, "
    "the made-up one unsupported. For real answers start the app without `--backend demo`."
)


def banner(info: ModelInfo) -> Any:
    """The banner over a model whose answers are not answers, or none."""
    if info.demo:
        return gr.update(value=DEMO_BANNER, visible=True)
    return gr.update(value=TEST_MODEL_BANNER, visible=info.test_model)


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


def load_status(snap: dict[str, Any]) -> str:
    """The status line under the model line while the model loads, or why it failed."""
    state = snap.get("state", "starting")
    if state == "ready":
        return ""
    if state == "failed":
        detail = str(snap.get("detail", "")).replace("`", "'")
        return (
            f"**{snap.get('what', 'The model could not be loaded.')}**\n\n"
            f"{snap.get('fix', '')}\n\n<details><summary>Details</summary>\n\n"
            f"`{detail}`\n\n</details>"
        )
    if state == "downloading":
        done, total = snap.get("done", 0), snap.get("total", 0)
        if total:
            return f"Downloading the model: {done / 1e9:.2f} of {total / 1e9:.2f} GB…"
        return "Downloading the model…"
    if state == "loading":
        return "Loading the model into memory… Ask is enabled once it is ready."
    return "Starting… Ask is enabled once the model is ready."


def add_header(loader: BackendLoader) -> tuple[gr.Markdown, gr.Markdown, gr.Markdown]:
    gr.Markdown(f"# {TITLE}\n{INTRO}", elem_id="intro")
    model = gr.Markdown(model_line(loader.info()), elem_id="model-line")
    banner = gr.Markdown(TEST_MODEL_BANNER, elem_id="test-model-banner", visible=False)
    status = gr.Markdown(load_status(loader.snapshot()), elem_id="load-status")
    return model, banner, status


def wire_header(
    demo: gr.Blocks,
    loader: BackendLoader,
    header: tuple[gr.Markdown, gr.Markdown, gr.Markdown],
    ask: gr.Button,
) -> None:
    """Poll the loader until the model is ready or failed; Ask follows the model's state."""
    timer = gr.Timer(LOAD_POLL_S)

    def poll() -> tuple[Any, ...]:
        snap = loader.snapshot()
        info = loader.info()
        settled = snap["state"] in ("ready", "failed")
        return (
            model_line(info),
            banner(info),
            load_status(snap),
            gr.update(interactive=snap["state"] == "ready"),
            gr.Timer(active=not settled),
        )

    outputs = [*header, ask, timer]
    timer.tick(poll, outputs=outputs, queue=False, api_visibility="private")
    demo.load(poll, outputs=outputs, queue=False, api_visibility="private")


def build(app: BackendLoader | Engine, settings: Settings | None = None) -> gr.Blocks:
    """The page. `app` is a BackendLoader (loading or loaded) or a ready Engine; launch the
    result with server.launch_kwargs()."""
    loader = app if isinstance(app, BackendLoader) else BackendLoader.ready(app)
    settings = settings or loader.settings
    store, store_note = open_store(settings)
    # the voter ids' key never leaves the server; the browser storage's key is public anyway
    tokens = VoterTokens(settings.history_secret or store.derived_secret("voter"))
    ballot = Ballot(store, tokens, settings.vote_limit)
    # one budget per client address for comparisons and batch questions alike (--rate-limit)
    limiter = RateLimiter(settings.rate_limit)
    cache = (int(TEMP_FILE_TTL_S), int(TEMP_FILE_TTL_S))  # Gradio's copies of served files
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=cache) as demo:
        history = add_history_state(store.derived_secret("browser-storage"))
        header = add_header(loader)
        history_list = add_history_panel()
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Duel", id="duel"):
                row = add_prompt_row(settings, store.enabled)
                run_id, shown = gr.State(""), gr.State({})  # shown: id, left column, blind
                note = gr.Markdown(elem_id="record-note")
                columns = add_columns()
                bar = add_vote_bar(store_note)
                tools = add_tools()
            with gr.Tab("Results", id="results", elem_id="results") as results_tab:
                add_results_tab(store, results_tab, settings)
            with gr.Tab("Batch", id="batch"):
                add_batch_tab(loader, settings, limiter)
        view = RecordView(store, settings, (columns, bar, tools), (shown, note, row.prompt), ballot)
        hops = proxy_hops(settings.proxy_hops)
        votes = Votes(store, store_note, bar, view, ballot, hops, (history, history_list))
        votes.wire(shown, view.outputs())
        wire_history(demo, view, history, history_list)
        state = (run_id, shown, history, history_list)
        duel = Duel(loader, settings, store, store_note, (row, columns, bar), state, view, limiter)
        duel.wire(view.outputs())
        wire_header(demo, loader, header, row.ask)
    demo.queue(max_size=settings.queue_size)
    cap_client_queue(demo, settings)
    return demo

"""The Results tab: the vote statistics with their intervals, the charts, and the exports.

    tab selected / "Blind votes only" ─► render.results.results_view(store) ─► text + 3 charts
    Export CSV / JSONL ─► store.export ─► a file (no session hashes)

Decisions, in one place:

- The tab refreshes each time it is opened: votes arrive from every visitor.
- The figures and words are render/results.py's, the same as `python -m searchduel results`.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import StoreError
from ..render.results import results_view
from ..store import Store
from .stored import STORE_OFF_NOTE


def add_results_tab(store: Store, tab: gr.Tab) -> None:
    """The tab's components and events; `tab` is the gr.Tab they sit in."""
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
        # a chart without enough votes is hidden; the summary says when it will appear
        return view.markdown, *(
            gr.update(value=figs[name], visible=figs[name] is not None)
            for name in ("shares", "over_time", "length_bias")
        )

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

"""The Results tab: the vote statistics with their intervals and the charts; raw exports for
the operator only.

    tab selected / "Blind votes only" ─► render.results.results_view(store) ─► text + 3 charts
    operator token + Export CSV / JSONL ─► store.export ─► a file (no session hashes)

Decisions, in one place:

- The tab refreshes each time it is opened: votes arrive from every visitor.
- The figures and words are render/results.py's, the same as `python -m searchduel results`,
  with how many votes the server refused and why.
- The public page shows aggregates only. Raw exports (prompts, answers, ids, reasons) are
  the operator's: without `--admin-token` the page has no export event at all (the CLI's
  `export` works on the server); with it, each export checks the token typed into the
  password box (compared in constant time; wrong tries held to a few a minute per address).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import Any

import gradio as gr

from ..config import Settings
from ..errors import RateLimited, StoreError
from ..limits import RateLimiter, proxy_hops, request_address
from ..render.results import refusals_markdown, results_view
from ..store import Store
from .files import TempFolder
from .stored import STORE_OFF_NOTE

TOKEN_TRIES = 5  # wrong operator tokens one address may try a minute


def add_results_tab(store: Store, tab: gr.Tab, settings: Settings) -> None:
    """The tab's components and events; `tab` is the gr.Tab they sit in."""
    blind_only = gr.Checkbox(False, label="Blind votes only", elem_id="results-blind")
    summary = gr.Markdown("*Open this tab to see the votes.*", elem_id="results-summary")
    with gr.Row():
        shares = gr.Plot(show_label=False, elem_id="chart-shares")
    with gr.Row():
        over_time = gr.Plot(show_label=False, elem_id="chart-over-time", min_width=380)
        length_bias = gr.Plot(show_label=False, elem_id="chart-length-bias", min_width=380)

    def refresh(only_blind: bool) -> tuple[Any, ...]:
        try:
            view = results_view(store, blind_only=bool(only_blind))
            refused = refusals_markdown(store.refusals())
        except StoreError as exc:
            return f"The votes could not be read: {exc}", None, None, None
        figs = view.figures
        text = view.markdown + (f"\n\n{refused}" if refused else "")
        # a chart without enough votes is hidden; the summary says when it will appear
        return text, *(
            gr.update(value=figs[name], visible=figs[name] is not None)
            for name in ("shares", "over_time", "length_bias")
        )

    charts = [summary, shares, over_time, length_bias]
    tab.select(refresh, [blind_only], charts, api_visibility="private")
    blind_only.change(refresh, [blind_only], charts, api_visibility="private")
    if settings.admin_token:
        add_exports(store, settings)


def add_exports(store: Store, settings: Settings) -> None:
    """The operator's exports: a token box, two buttons, the file."""
    exports = TempFolder("searchduel-export-")
    tries = RateLimiter(TOKEN_TRIES)
    hops = proxy_hops(settings.proxy_hops)
    with gr.Accordion("Operator: export every comparison", open=False, elem_id="operator"):
        token = gr.Textbox(
            label="Operator token", type="password", max_lines=1, elem_id="admin-token"
        )
        with gr.Row(elem_id="export-row"):
            csv_button = gr.Button("Export CSV", size="sm", elem_id="export-csv", min_width=120)
            jsonl_button = gr.Button(
                "Export JSONL", size="sm", elem_id="export-jsonl", min_width=120
            )
        export_file = gr.File(
            label="Export (no session hashes)", elem_id="export-file", visible=False
        )

    def export(fmt: str, given: str, request: gr.Request | None) -> Any:
        if not hmac.compare_digest(str(given or "").encode(), settings.admin_token.encode()):
            try:
                tries.check(request_address(request, hops), "wrong tokens")
            except RateLimited as exc:
                raise gr.Error(str(exc)) from None
            raise gr.Error("That is not the operator token.")
        if not store.enabled:
            gr.Warning(STORE_OFF_NOTE)
            return gr.update(visible=False)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = exports.folder("export-") / f"searchduel-{stamp}.{fmt}"
        try:
            with path.open("w", encoding="utf-8", newline="") as f:
                store.export(fmt, f)
        except StoreError as exc:
            gr.Warning(f"The export failed: {exc}")
            return gr.update(visible=False)
        return gr.update(value=str(path), visible=True)

    def export_csv(given: str, request: gr.Request) -> Any:
        return export("csv", given, request)

    def export_jsonl(given: str, request: gr.Request) -> Any:
        return export("jsonl", given, request)

    csv_button.click(export_csv, [token], export_file, api_visibility="private")
    jsonl_button.click(export_jsonl, [token], export_file, api_visibility="private")

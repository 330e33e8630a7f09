"""This browser's recent comparisons: the side panel and the list kept in the browser.

Decisions, in one place:

- The list lives in a gr.BrowserState under HISTORY_STORAGE_KEY, encrypted with the history
  secret (`--history-secret`, or a secret derived from the store's salt, so it survives
  restarts); it holds ids and prompts only, newest first, HISTORY_ITEMS at most.
- A click on an entry shows the stored comparison (stored.RecordView); the radio is cleared
  again so the same entry can be clicked twice.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..config import HISTORY_ITEMS, HISTORY_STORAGE_KEY

LABEL_CHARS = 60
PROMPT_CHARS = 300  # of a prompt kept in the browser's list


def add_history_state(secret: str) -> gr.BrowserState:
    return gr.BrowserState(
        {"visitor": "", "items": []}, storage_key=HISTORY_STORAGE_KEY, secret=secret
    )


def add_history_panel() -> gr.Radio:
    """The side panel (the arrow at the top left) with the list of recent comparisons."""
    with gr.Sidebar(label="History", open=False, elem_id="history-panel"):
        gr.Markdown("### Your comparisons\nThis browser's recent ones; click one to see it.")
        return gr.Radio([], label="Recent", show_label=False, elem_id="history", interactive=True)


def history_choices(state: Any) -> list[tuple[str, str]]:
    """(label, id) for each remembered comparison."""
    items = (state or {}).get("items") or []
    out = []
    for item in items:
        prompt = " ".join(str(item.get("prompt", "")).split())
        label = prompt if len(prompt) <= LABEL_CHARS else prompt[: LABEL_CHARS - 1] + "…"
        out.append((label or "(empty prompt)", str(item.get("id", ""))))
    return out


def remember(state: Any, comparison_id: str, prompt: str) -> dict[str, Any]:
    """The history with this comparison first (newest first, HISTORY_ITEMS at most)."""
    state = dict(state or {})
    items = [i for i in state.get("items") or [] if i.get("id") != comparison_id]
    items.insert(0, {"id": comparison_id, "prompt": prompt[:PROMPT_CHARS]})
    state["items"] = items[:HISTORY_ITEMS]
    return state

"""This browser's recent comparisons: the side panel and the list kept in the browser.

Decisions, in one place:

- The list lives in a gr.BrowserState under HISTORY_STORAGE_KEY, with the browser's signed
  voter id (ballot.py). Gradio's "encryption" of it uses a key that is public in /config, so
  it is a stable, non-secret key (kept across restarts so the list stays readable) and the
  server trusts nothing in it unchecked. It holds ids, prompts, times and modes only, newest
  first, HISTORY_ITEMS at most. A blind comparison joins it once voted on.
- A click on an entry shows the stored comparison (stored.RecordView); the radio is cleared
  again so the same entry can be clicked twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import gradio as gr

from ..config import HISTORY_ITEMS, HISTORY_STORAGE_KEY

LABEL_CHARS = 60
PROMPT_CHARS = 300  # of a prompt kept in the browser's list


def add_history_state(storage_key: str) -> gr.BrowserState:
    """The browser's own storage: its voter id (signed by the server) and its list. Gradio
    encrypts it with a key it puts in /config, so it is no secret: nothing the server keeps
    secret goes in, and nothing in it is trusted unchecked (the voter id is verified)."""
    return gr.BrowserState(
        {"visitor": "", "items": []}, storage_key=HISTORY_STORAGE_KEY, secret=storage_key
    )


def add_history_panel() -> gr.Radio:
    """The side panel (the arrow at the top left) with the list of recent comparisons."""
    with gr.Sidebar(label="History", open=False, elem_id="history-panel"):
        gr.Markdown("### Your comparisons\nThis browser's recent ones; click one to see it.")
        return gr.Radio([], label="Recent", show_label=False, elem_id="history", interactive=True)


def history_choices(state: Any) -> list[tuple[str, str]]:
    """(label, id) for each remembered comparison: when (UTC), how (blind, search off) and
    the prompt, so two runs of one prompt tell apart."""
    items = (state or {}).get("items") or []
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        prompt = " ".join(str(item.get("prompt", "")).split())
        prompt = prompt if len(prompt) <= LABEL_CHARS else prompt[: LABEL_CHARS - 1] + "…"
        parts = [str(item[k])[:20] for k in ("at", "mode") if item.get(k)]
        label = " · ".join([*parts, prompt or "(empty prompt)"])
        out.append((label, str(item.get("id", ""))))
    return out


def remember(state: Any, comparison_id: str, prompt: str, mode: str = "") -> dict[str, Any]:
    """The history with this comparison first (newest first, HISTORY_ITEMS at most); `mode`
    says how it ran ("blind", "search off", or "" for the usual duel)."""
    state = dict(state or {})
    old = state.get("items") if isinstance(state.get("items"), list) else []
    items = [i for i in old if isinstance(i, dict) and i.get("id") != comparison_id]
    at = datetime.now(timezone.utc).strftime("%b %-d %H:%M UTC")
    entry = {"id": comparison_id, "prompt": prompt[:PROMPT_CHARS], "at": at}
    if mode:
        entry["mode"] = mode
    items.insert(0, entry)
    state["items"] = items[:HISTORY_ITEMS]
    return state

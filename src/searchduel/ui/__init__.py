"""The Gradio page, one module per part a visitor sees. It wires components to the engine and
shows what render/ makes of its events; nothing here searches, ranks or prompts.

    page.py     build(): header (model line, load status), the tabs, the parts wired
    server.py   launch_kwargs() and the limits of a public server (client queue, uploads,
                proxies); files.py the files it hands out (downloads, corpus as text)
    duel.py     the prompt row, both columns, the run lock (Runs) and /compare
    votes.py    the vote bar and its handler
    stored.py   a stored comparison on screen (after a run or vote, history, ?c= links),
                Share / Copy as Markdown / Download JSON
    history.py  this browser's recent comparisons (side panel, browser storage)
    results.py  the Results tab
    batch.py    the Batch tab (/batch)
    page.css, page.js   the page's style and client-side actions

Modules import down this list only where they need to: page imports every part; stored
imports duel, votes and history; duel imports votes and history; nothing imports page.
"""

from .page import build
from .server import launch_kwargs

__all__ = ["build", "launch_kwargs"]

"""The app for the Batch tab's limits: answers that wait while HOLD_FILE exists, the client
address taken from X-Forwarded-For (one trusted proxy), so one test plays several visitors.

    python tests/batch_app.py PORT HOLD_FILE RATE_LIMIT DATA_DIR

A CitingBackend (ready at once) answers; the search column reads the shipped offline corpus,
lexical ranking only; the page runs at most 5 questions of a file, one batch at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from fakes import CitingBackend  # noqa: E402
from searchduel import ui  # noqa: E402
from searchduel.config import DEFAULT_CORPUS, Settings  # noqa: E402
from searchduel.loader import BackendLoader  # noqa: E402


def main() -> None:
    port, hold, rate, data = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    settings = Settings(
        model="microsoft/Phi-3-mini-4k-instruct",
        search="local",
        corpus=str(DEFAULT_CORPUS),
        dense=False,
        max_new_tokens=64,
        batch_questions=5,
        batch_concurrency=1,
        rate_limit=rate,
        proxy_hops=1,
        data_dir=data,
        port=port,
    )
    backend = CitingBackend(delay=0.01, hold=hold)
    loader = BackendLoader(settings, factory=lambda s, progress: backend).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))


if __name__ == "__main__":
    main()

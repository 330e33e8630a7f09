"""The app on a backend double that loads slowly: the page must serve while it loads.

    python tests/slow_app.py PORT GATE_FILE [HOLD_FILE]

The double's loader reports download progress (bytes of a 7.6 GB total) until GATE_FILE
exists, then a moment of "loading", then returns a CitingBackend; the search column uses the
shipped offline corpus. Tests create GATE_FILE when they have seen the loading state. With
HOLD_FILE, each answer waits before its last word while that file exists (a running
comparison for as long as a test needs one).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from fakes import CitingBackend  # noqa: E402
from searchduel import ui  # noqa: E402  (ui.build, ui.launch_kwargs)
from searchduel.config import DEFAULT_CORPUS, Settings  # noqa: E402
from searchduel.loader import BackendLoader  # noqa: E402

TOTAL_BYTES = 7_600_000_000


def main() -> None:
    port, gate = int(sys.argv[1]), Path(sys.argv[2])
    hold = Path(sys.argv[3]) if len(sys.argv) > 3 else None

    def slow_factory(settings: Settings, progress) -> CitingBackend:
        done = 0
        while not gate.exists():
            done = min(TOTAL_BYTES - 1, done + 50_000_000)
            progress("downloading", done=done, total=TOTAL_BYTES)
            time.sleep(0.1)
        progress("loading")
        return CitingBackend(delay=0.03, hold=hold)

    settings = Settings(
        model="microsoft/Phi-3-mini-4k-instruct",
        search="local",
        corpus=str(DEFAULT_CORPUS),
        dense=False,
        max_new_tokens=64,
        port=port,
    )
    loader = BackendLoader(settings, factory=slow_factory).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))


if __name__ == "__main__":
    main()

"""The app as app.py starts it (flags and SEARCHDUEL_* variables), on a backend double that
answers at once with citations; each answer waits before its last word while HOLD_FILE
exists. For the tests that play a hostile client over the raw protocol.

    python tests/hostile_app.py HOLD_FILE [app.py flags ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from fakes import CitingBackend  # noqa: E402
from searchduel import ui  # noqa: E402
from searchduel.config import Settings, add_flags  # noqa: E402
from searchduel.loader import BackendLoader  # noqa: E402


def main() -> None:
    hold = Path(sys.argv[1])
    parser = argparse.ArgumentParser()
    add_flags(parser)
    settings = Settings.load(parser.parse_args(sys.argv[2:]), dict(os.environ))
    backend = CitingBackend(delay=0.005, hold=hold)
    loader = BackendLoader(settings, factory=lambda s, progress: backend).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))


if __name__ == "__main__":
    main()

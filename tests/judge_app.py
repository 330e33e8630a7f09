"""The app on a backend double whose answer the judge can check: it copies a sentence of the
shipped offline corpus (supported) and makes one up (unsupported).

    python tests/judge_app.py PORT

Ready at once (no loading); the search column uses the shipped offline corpus, lexical
ranking only. Used by the browser test of the tinted answers and by the Batch tab tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from fakes import GroundedBackend  # noqa: E402
from searchduel import ui  # noqa: E402
from searchduel.config import DEFAULT_CORPUS, Settings  # noqa: E402
from searchduel.loader import BackendLoader  # noqa: E402


def main() -> None:
    port = int(sys.argv[1])
    settings = Settings(
        model="microsoft/Phi-3-mini-4k-instruct",
        search="local",
        corpus=str(DEFAULT_CORPUS),
        dense=False,
        max_new_tokens=64,
        batch_questions=3,
        port=port,
    )
    loader = BackendLoader(settings, factory=lambda s, progress: GroundedBackend()).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))


if __name__ == "__main__":
    main()

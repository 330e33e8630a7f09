"""Search Duel: the Gradio app (Hugging Face Spaces and local).

    python app.py [--model ID_OR_FOLDER] [--search auto|duckduckgo|searxng|local|off]
                  [--corpus DIR] [--host HOST] [--port PORT] ...

Every flag is also a SEARCHDUEL_* variable; GRADIO_SERVER_PORT works too. The page serves
at once and the model loads behind it; a bad setting exits 2, a model that fails to load (a
missing folder included) is explained on the page, which keeps serving.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from searchduel.config import Settings, add_flags
from searchduel.errors import SearchDuelError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Search Duel: the app")
    add_flags(parser)
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if os.environ.get("SPACE_ID") and "SEARCHDUEL_HOST" not in environ:
        environ["SEARCHDUEL_HOST"] = "0.0.0.0"  # Spaces routes traffic to the container port
    try:
        settings = Settings.load(args, environ, check_paths=False)
    except SearchDuelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from searchduel import ui
    from searchduel.loader import BackendLoader

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the page serves at once; the model loads behind it (a failure is shown on the page)
    print(f"loading {settings.model} ({settings.backend}) ...", flush=True)
    loader = BackendLoader(settings).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

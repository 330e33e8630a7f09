"""Files the server hands out: a visitor's downloads, removed after a while, and the offline
corpus, served as text.

    Download JSON / exports / batch reports ─► TempFolder.write ─► removed TEMP_FILE_TTL_S later
    a source link /corpus/<name> ─► corpus_route ─► the document as text/plain (nosniff)

Decisions, in one place:

- A temporary file lives TEMP_FILE_TTL_S (long enough to click its link): each write sweeps
  the folder of older entries, so the folder holds only what the last minutes made. Gradio
  keeps its own copy of a file it serves; page.build sets Blocks(delete_cache=...) for those.
- Corpus documents are pages from the web when --corpus points at saved pages, so they are
  never rendered on the app's origin (a script in one would run as the app): they are served
  as text/plain with `X-Content-Type-Options: nosniff` and a sandboxing CSP, from a route of
  their own, by a name relative to the corpus folder (no server path in any link). A name
  that leaves the folder, or is not a corpus document, is a 404.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..config import CORPUS_ROUTE, TEMP_FILE_TTL_S

CORPUS_SUFFIXES = (".html", ".htm", ".md", ".txt")
CORPUS_FILE_BYTES = 5_000_000  # a saved page is rarely over 1 MB; more is not a document
TEXT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}


class TempFolder:
    """A folder of files made for visitors, each removed `ttl` seconds after it was written."""

    def __init__(self, prefix: str, ttl: float = TEMP_FILE_TTL_S):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.ttl = ttl

    def write(self, name: str, text: str) -> Path:
        self.sweep()
        path = self.path / name
        path.write_text(text, "utf-8")
        return path

    def folder(self, prefix: str) -> Path:
        """A fresh sub-folder (swept as a whole when it is old)."""
        self.sweep()
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.path))

    def sweep(self, now: float | None = None) -> None:
        cutoff = (time.time() if now is None else now) - self.ttl
        for entry in self.path.iterdir():
            try:
                if entry.stat().st_mtime >= cutoff:
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            except OSError:
                continue


def corpus_file(root: Path, name: str) -> Path | None:
    """The corpus document `name`, or None when it is not one (outside the folder, not a
    document, missing)."""
    if not name or "\x00" in name:
        return None
    try:
        path = (root / name).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root) or path.suffix.lower() not in CORPUS_SUFFIXES:
        return None
    return path if path.is_file() else None


def corpus_route(corpus: str) -> Route:
    """GET /corpus/<name>: one document of the corpus folder, as plain text."""
    root = Path(corpus).expanduser().resolve()

    def serve(request: Request) -> Response:
        path = corpus_file(root, request.path_params["name"])
        if path is None or path.stat().st_size > CORPUS_FILE_BYTES:
            return PlainTextResponse("No such document.", status_code=404, headers=TEXT_HEADERS)
        text = path.read_bytes().decode("utf-8", errors="replace")
        disposition = f"inline; filename*=UTF-8''{quote(path.name)}"
        headers = {**TEXT_HEADERS, "Content-Disposition": disposition}
        return PlainTextResponse(text, headers=headers)

    return Route(CORPUS_ROUTE + "{name:path}", serve, methods=["GET", "HEAD"])

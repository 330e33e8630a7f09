"""One structured log line per comparison, read off the engine's event stream.

    Engine.run ─► events ─┬─► caller (UI, API, CLI, bench)
                          └─► ComparisonLog.see(event) ... .close() ─► one JSON line
                                                     (logger "searchduel.comparison")

Decisions, in one place:
- A reader of the events, like the UI: it computes nothing the events do not say, so the log
  and the page cannot disagree.
- One line per comparison, written when it ends (both columns ended, the client left, or
  Stop), with an `outcome`: "ok" (both answered), "error" (a column failed), "stopped" (the
  reader left or Stop before both ended).
- The prompt's text is not logged unless `log_prompts` is on (people type private things);
  its length always is.
- Tracebacks are logged once, where a column turns an exception into its error event
  (`log_failure`), never in the user's message and never again in the comparison line, which
  carries only the error's type.
- When nothing has configured logging (app.py on a Space), the first line installs one stderr
  handler on the "searchduel" logger, so the lines reach the Space's log; a host that set up
  logging keeps its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from .errors import UNEXPECTED
from .types import Event

LOGGER = "searchduel.comparison"
log = logging.getLogger(LOGGER)
errors_log = logging.getLogger("searchduel.errors")
_COLUMN_FIELDS = ("ttft_s", "total_s", "generate_s", "tokens", "tokens_per_s", "stopped")


def ensure_handler() -> None:
    """A plain stderr handler on the "searchduel" logger when no handler exists anywhere."""
    root = logging.getLogger("searchduel")
    if root.level == logging.NOTSET:
        # an app that set only the root logger (app.py: basicConfig at WARNING) must still
        # get the comparison lines, which are INFO: the root's handlers take any level
        root.setLevel(logging.INFO)
    if root.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def log_failure(exc: BaseException) -> None:
    """The one log record, with its traceback, of a column that failed (the thread's name
    says which column). Our own errors are warnings; anything else is an error."""
    from .errors import Cancelled, SearchDuelError

    if isinstance(exc, Cancelled):
        return
    ensure_handler()
    level = logging.WARNING if isinstance(exc, SearchDuelError) else logging.ERROR
    errors_log.log(
        level,
        "%s failed: %s: %s",
        threading.current_thread().name,
        type(exc).__name__,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


def public_message(exc: BaseException) -> str:
    """What a user may read about a failure: our own message without file paths, tracebacks
    or secret values; for anything unexpected, a plain sentence (the details are logged)."""
    from .errors import SearchDuelError

    if not isinstance(exc, SearchDuelError):
        return UNEXPECTED
    text = str(exc).split("Traceback (most recent call last)")[0].strip()
    text = _PATH.sub("[path]", text)
    for secret in _secrets():
        text = text.replace(secret, "[hidden]")
    return text or UNEXPECTED


# an absolute POSIX path of two or more parts, not the path part of a URL ("host/v1")
_PATH = re.compile(r"(?<![\w:/.\-])(?:~|/)(?:[\w.\-]+/)+[\w.\-]*")
_SECRET_NAMES = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)
SECRET_MIN_CHARS = 6  # shorter values ("1", "true") would blank ordinary words


def _secrets() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if _SECRET_NAMES.search(name) and len(value) >= SECRET_MIN_CHARS
    ]


class ComparisonLog:
    """Collects one comparison's events; `close()` writes its JSON line (once)."""

    def __init__(self, prompt: str, settings: Any, backend: Any = None):
        self.id = uuid.uuid4().hex[:12]
        self.t0 = time.perf_counter()
        self.record: dict[str, Any] = {
            "event": "comparison",
            "id": self.id,
            "backend": getattr(settings, "backend", ""),
            "model": getattr(backend, "name", "") or getattr(settings, "model", ""),
            "search": getattr(settings, "search", ""),
            "prompt_chars": len(prompt),
        }
        if getattr(settings, "log_prompts", False):
            self.record["prompt"] = prompt
        self.columns: dict[str, dict[str, Any]] = {"plain": {}, "search": {}}
        self.trace: dict[str, Any] = {}
        self.sources = 0
        self.closed = False

    def see(self, event: Event) -> None:
        col = self.columns[event.column]
        if event.kind == "done":
            col["outcome"] = "done"
            col.update({k: event.data[k] for k in _COLUMN_FIELDS if k in event.data})
            if "invalid_citations" in event.data:
                col["invalid_citations"] = len(event.data["invalid_citations"])
        elif event.kind == "error":
            col["outcome"] = "error"
            col["error_type"] = event.data.get("type", "")
        elif event.kind == "trace":
            self.trace = event.data
        elif event.kind == "sources":
            self.sources = len(event.data.get("sources", []))

    def close(self) -> dict[str, Any]:
        """Write the line (first call only) and return the record."""
        if self.closed:
            return self.record
        self.closed = True
        outcomes = [c.get("outcome") for c in self.columns.values()]
        if None in outcomes:
            outcome = "stopped"
        elif "error" in outcomes:
            outcome = "error"
        else:
            outcome = "ok"
        trace = self.trace
        pages = trace.get("pages") or []
        self.record.update(
            {
                "outcome": outcome,
                "total_s": round(time.perf_counter() - self.t0, 3),
                "plain": self.columns["plain"],
                "search_column": {
                    **self.columns["search"],
                    "provider": trace.get("provider", ""),
                    "offline": trace.get("offline", False),
                    "hits": trace.get("hits", 0),
                    "pages": dict(Counter(p.get("status", "") for p in pages)),
                    "sources": self.sources,
                    "context_tokens": trace.get("context_tokens", 0),
                    "prompt_tokens": trace.get("prompt_tokens", 0),
                    "notices": len(trace.get("notices") or []),
                },
                "timings_ms": dict(trace.get("timings") or {}),
            }
        )
        ensure_handler()
        log.info(json.dumps(self.record, ensure_ascii=False, default=str))
        return self.record

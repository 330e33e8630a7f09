"""`bench serve`: K people at once against a launched app, through Gradio's API.

`app.py` is started in a subprocess as a stranger would start it (the model from `--model`,
a free port, `--queue-size` from `--serve-queue-size`, small by default). Its search is the
offline corpus (`--search local`; `off` is kept), so a load test never reaches a real search
engine. Then `--clients` clients, each its own `gradio_client.Client` (its own session),
submit /compare at the same moment. Each client ends one of four ways:

- completed: both columns answered;
- rejected:  Gradio's queue was full, or a column said the model is busy (the backend's queue
             was full); a clear refusal is a correct answer under load;
- hung:      no end within `--client-timeout` seconds (target: none);
- failed:    any other error (target: none).

Answers per minute count the columns that answered (two per completed comparison) over the
wall time from the first submission to the last end. The app is always terminated.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import SearchDuelError
from . import Result, check

SUITE = "serve"
CLIENTS = 6
QUEUE_SIZE = 2  # small, so that six clients meet the queue limit
CLIENT_TIMEOUT_S = 180.0  # one comparison on the tiny model takes seconds; a hang takes forever
START_TIMEOUT_S = 180.0  # app.py: imports, model load, first page
PAGES = 4
HUNG_TARGET = "<= 0"
FAILED_TARGET = "<= 0"
APP = Path(__file__).resolve().parents[3] / "app.py"
PROMPTS = (
    "Plan a one-day trip to Skagway, Alaska",
    "How does photosynthesis turn sunlight into sugar?",
    "Who flew on Apollo 11, and when did they land on the Moon?",
    "How do I bake a sourdough loaf at home?",
    "Why did the Berlin Wall suddenly open on 9 November 1989?",
    "What is retrieval-augmented generation, and why does it help small language models?",
)
WARNING_MARK = "⚠️"  # ui._Column.markdown puts a column's error after this mark


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=CLIENTS, help="serve bench: clients at once")
    parser.add_argument(
        "--serve-queue-size",
        type=int,
        default=QUEUE_SIZE,
        help="serve bench: --queue-size of the launched app",
    )
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=CLIENT_TIMEOUT_S,
        help="serve bench: seconds before a client counts as hung",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LaunchedApp:
    """`python app.py ...` in a subprocess, ready when its page answers; always terminated."""

    def __init__(
        self,
        settings: Settings,
        queue_size: int,
        *,
        port: int = 0,
        env: dict[str, str] | None = None,
    ):
        self.settings = settings
        self.queue_size = queue_size
        self.env = dict(env or {})  # on top of this process's environment
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    def command(self) -> list[str]:
        """The app's command line; an API key travels in the environment, never as a flag."""
        s = self.settings
        server = ["--base-url", s.base_url] if s.base_url else []
        server += ["--tokenizer", s.tokenizer] if s.tokenizer else []
        return [
            sys.executable,
            str(APP),
            "--model",
            s.model,
            "--backend",
            s.backend,
            "--search",
            s.search,
            "--corpus",
            s.corpus,
            "--max-new-tokens",
            str(s.max_new_tokens),
            "--queue-size",
            str(self.queue_size),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *server,
        ]

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]

    def log_text(self) -> str:
        """Everything the app has written to stdout and stderr so far."""
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text("utf-8", "replace")

    def __enter__(self) -> LaunchedApp:
        import httpx

        if not APP.exists():
            raise SearchDuelError(f"bench serve needs the repository's app.py; not found at {APP}")
        env = {
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",
            "SEARCHDUEL_RATE_LIMIT": "0",
            **self.env,
        }
        self._log = tempfile.NamedTemporaryFile(  # closed in close()
            "w+", prefix="searchduel-serve-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            self.command(), env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=APP.parent
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self.proc.poll() is not None:
                    raise SearchDuelError(
                        f"app.py exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if httpx.get(self.url, timeout=2, trust_env=False).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SearchDuelError(
                        f"app.py did not answer within {START_TIMEOUT_S:g} s:\n{self.log_tail()}"
                    )
                time.sleep(0.5)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Outcome:
    """How one client's comparison ended."""

    kind: str = "hung"  # completed | rejected | hung | failed
    answers: int = 0  # columns that answered
    message: str = ""
    ended: float = 0.0  # perf_counter at the end


def column_error(markdown: str) -> str:
    """The error a rendered column shows, '' when it has none."""
    if WARNING_MARK not in markdown:
        return ""
    return markdown.split(WARNING_MARK, 1)[1].strip(" *\n")


def classify(outputs: Any) -> Outcome:
    """An Outcome from /compare's final outputs (plain, stats, search, stats, sources, trace)."""
    plain, search = str(outputs[0] or ""), str(outputs[2] or "")
    errors = [e for e in (column_error(plain), column_error(search)) if e]
    answers = sum(1 for text in (plain, search) if text.strip() and not column_error(text))
    if not errors:
        return Outcome("completed", answers)
    if any("busy" in e.lower() for e in errors):
        return Outcome("rejected", answers, next(e for e in errors if "busy" in e.lower()))
    return Outcome("failed", answers, "; ".join(errors))


def one_client(
    url: str, prompt: str, max_new_tokens: int, provider: str, timeout: float, out: Outcome
) -> None:
    """Submit one /compare and record how it ended in `out` (left 'hung' if it never ends)."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    client = None
    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        job = client.submit(prompt, max_new_tokens, 0.0, PAGES, provider, api_name="/compare")
        try:
            result = job.result(timeout=timeout)
        except TimeoutError:
            job.cancel()
            out.message = f"no end within {timeout:g} s"
            return
        outcome = classify(result)
    except QueueError as exc:
        outcome = Outcome("rejected", 0, f"Gradio queue full: {exc}")
    except AppError as exc:
        text = str(exc)
        kind = "rejected" if "queue is full" in text.lower() or "busy" in text.lower() else "failed"
        outcome = Outcome(kind, 0, text)
    except Exception as exc:  # anything else is a failure to report, not to hide
        outcome = Outcome("failed", 0, f"{type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            client.close()
    out.kind, out.answers, out.message = outcome.kind, outcome.answers, outcome.message
    out.ended = time.perf_counter()


def load(
    url: str, clients: int, max_new_tokens: int, provider: str, timeout: float
) -> tuple[list[Outcome], float]:
    """K clients at once; (outcomes, seconds from the start to the last end)."""
    outcomes = [Outcome() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=one_client,
            args=(url, PROMPTS[i % len(PROMPTS)], max_new_tokens, provider, timeout, outcomes[i]),
            name=f"serve-client-{i}",
            daemon=True,  # a hung client must not keep the bench alive
        )
        for i in range(clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    # the client's own timeout covers the job; this covers a hang before the job (connecting)
    deadline = start + timeout + 30
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    ends = [o.ended for o in outcomes if o.ended]
    wall = (max(ends) if ends else time.perf_counter()) - start
    return outcomes, wall


def hung_and_failed_rows(suite: str, count: dict[str, int], failed: list[str]) -> list[Result]:
    """The two rows every client-load suite holds to zero: clients that hung, and that failed."""
    return [
        Result(
            suite,
            "hung",
            count["hung"],
            "clients",
            target=HUNG_TARGET,
            passed=check(count["hung"], HUNG_TARGET),
        ),
        Result(
            suite,
            "failed",
            count["failed"],
            "clients",
            target=FAILED_TARGET,
            passed=check(count["failed"], FAILED_TARGET),
            note=" | ".join(failed)[:300],
        ),
    ]


def summarize(outcomes: list[Outcome], wall: float, *, queue_size: int) -> list[Result]:
    """The suite's rows from the clients' outcomes."""
    count = {
        k: sum(o.kind == k for o in outcomes) for k in ("completed", "rejected", "hung", "failed")
    }
    k = len(outcomes)
    answers = sum(o.answers for o in outcomes)
    per_min = answers / wall * 60 if wall > 0 else 0.0
    rejected = sorted({o.message for o in outcomes if o.kind == "rejected"})
    failed = sorted({o.message for o in outcomes if o.kind in ("failed", "hung")})
    return [
        Result(SUITE, "completed", count["completed"], "clients", note=f"of {k} at once"),
        Result(
            SUITE,
            "rejected (busy / queue full)",
            count["rejected"],
            "clients",
            note=(f"app --queue-size {queue_size}; " + " | ".join(rejected))[:300],
        ),
        *hung_and_failed_rows(SUITE, count, failed),
        Result(
            SUITE,
            "answers/min",
            per_min,
            "/min",
            note=f"{answers} columns answered in {wall:.1f} s (2 per completed comparison)",
        ),
    ]


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """Launch the app, load it with --clients clients, terminate it."""
    clients = max(1, getattr(args, "clients", CLIENTS) or CLIENTS)
    queue_size = max(1, getattr(args, "serve_queue_size", QUEUE_SIZE) or QUEUE_SIZE)
    timeout = getattr(args, "client_timeout", CLIENT_TIMEOUT_S) or CLIENT_TIMEOUT_S
    if settings.search not in ("local", "off"):
        settings = settings.replace(search="local")  # strangers' load must not hit a real engine
    with LaunchedApp(settings, queue_size) as app:
        outcomes, wall = load(app.url, clients, settings.max_new_tokens, settings.search, timeout)
    return summarize(outcomes, wall, queue_size=queue_size)

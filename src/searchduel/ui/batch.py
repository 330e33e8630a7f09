"""The page's Batch tab: a question file run through both columns, judged, with a report.

    upload (.txt a question a line | .csv / .jsonl: question, optional id, optional answers)
      -> evaluate.read_items: at most `batch_questions` questions, read line by line (a bad
         file or line: one clear message naming it, nothing run)
      -> a batch slot: one per client address, `batch_concurrency` server-wide (else refused)
      -> a worker thread: evaluate.evaluate(engine, a fresh folder), each question charged to
         the client's rate limit as it starts
      -> the handler yields the worker's progress (and a heartbeat) until the report is done:
         report.md on the page (made inert: it quotes answers), its two charts, and the whole
         folder (report.md, results.csv, results.jsonl, charts, sources) as one zip

Decisions, in one place:

- Part of the page (page.build calls `add_batch_tab`), so it turns errors into
  gr.Error / gr.Warning; the running and the report are evaluate.py's, shared with
  `python -m searchduel eval` (the same greedy, seeded runs and the same figures).
- A batch is a visitor asking its questions one after another: each question is a
  comparison on the shared model (the backend's queue, as a visitor's), and each takes one
  start from the client address's rate limit (`rate_limit` a minute, shared with the Duel
  tab) as it starts. When the budget is spent the batch waits for the next start, saying
  so, rather than failing: the visitor gets every question, and one client never runs more
  than `rate_limit` comparisons a minute, page, API and batch together.
- At most one batch per client address and `batch_concurrency` in all run at once; one
  more is refused at once with a plain message (gr.Error: visible on the page, an error
  for an API client), never queued behind a batch of minutes. The event therefore has its
  own concurrency group without a limit: a refusal never waits for a slot.
- A cancelled job (gradio_client's cancel) or a closed tab stops the batch within
  HEARTBEAT_S plus the running question's stop: Gradio can close a generator only between
  its yields, so the handler yields at least every HEARTBEAT_S, and closing it sets the
  batch's stop, which ends the running question's engine run and starts no other. The
  slot is given back when the worker has ended.
- A question too long for the server (`max_prompt_chars`) is skipped with a note (in the
  progress and in the report), not a failed batch.
- A visitor's mistake (a bad file, a second batch) is one plain INFO line in the log, no
  traceback; a failure nobody foresaw is logged with its traceback.
- Each batch writes a fresh folder (files.TempFolder: removed after TEMP_FILE_TTL_S): the
  page never resumes another visitor's run (the CLI resumes). A stopped batch's folder is
  removed.
- The tab's event is the API's /batch (a file in, the report's Markdown and zip out, and
  the charts); while it runs, the report output carries the progress in words.
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import gradio as gr

from ..config import BATCH_FILE_BYTES, Settings
from ..errors import ConfigError, RateLimited, SearchDuelError, user_message
from ..limits import RateLimiter, Slots, proxy_hops, request_address
from ..loader import BackendLoader
from ..logs import ensure_handler
from ..render.markdown import safe_markdown
from ..render.words import plural
from .files import TempFolder

SUFFIXES = (".txt", ".csv", ".jsonl")
CHARTS = {"grounded": "Sentences the sources back", "latency": "Latency"}  # evaluate's charts
# Longest the handler goes without handing Gradio an update: how late a cancel or a closed
# tab is noticed (Gradio closes a generator only between yields); one small message each.
HEARTBEAT_S = 0.5
_CHART_LINE = re.compile(r"(?m)^!\[[^\]\n]*\]\(charts/[^)\n]*\)\n?")
INTRO = (
    "Run a question set through both columns and see whether search helped: upload a "
    "**.txt** file (a question a line), or a **.csv** / **.jsonl** file with a `question` "
    "field, an optional `id` and optional `answers` (reference answers; in a csv, separated by "
    "`|`). Each question is a full comparison, judged against the search column's sources. "
    "The page runs at most {cap} questions of a file (of at most {mb:g} MB), one batch at a "
    "time, each question counted like a comparison against your per-minute limit; "
    "`python -m searchduel eval FILE` runs any number."
)
REFUSED = {
    "yours": "A batch from your address is already running. Wait for it to finish (or stop "
    "it), then run this one.",
    "full": "The server is running as many batches as it takes at once ({n}). Try again in a "
    "few minutes.",
}
log = logging.getLogger("searchduel.batch")


def load_questions(
    path: str | None, cap: int, max_bytes: int = BATCH_FILE_BYTES
) -> tuple[list[Any], str]:
    """The file's questions, at most `cap` (only as much of the file is read), and a note
    when it holds more. A bad file raises ConfigError in words about the file as the
    visitor named it."""
    from ..evaluate import read_items

    if not path:
        raise ConfigError("Choose a question file first (.txt, .csv or .jsonl).")
    p = Path(path)
    name = p.name
    if p.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{name}: upload a .txt, .csv or .jsonl file.")
    loaded = read_items(p, limit=cap, max_bytes=max_bytes, name=name, then="upload it")
    note = ""
    if loaded.more:
        note = (
            f"{name} has more than {plural(cap, 'question')}; the page runs the first {cap} "
            "(setting batch_questions). `python -m searchduel eval` runs them all."
        )
    return loaded.items, note


def report_markdown(report: str) -> str:
    """report.md for the page as safe HTML (it quotes answers, questions and ids from the
    uploaded file), its chart lines dropped (the charts are shown in the gallery above it)."""
    return safe_markdown(_CHART_LINE.sub("", report))


def _refuse(message: str) -> NoReturn:
    """A visitor's mistake: one plain log line, and the message on the page (no traceback)."""
    ensure_handler()
    log.info("batch refused: %s", " ".join(message.split()))
    raise gr.Error(message, print_exception=False)


class Batches:
    """The Batch tab's handler and the batches it runs."""

    def __init__(self, loader: BackendLoader, settings: Settings, limiter: RateLimiter):
        self.loader, self.settings, self.limiter = loader, settings, limiter
        self.slots = Slots(settings.batch_concurrency)
        self.hops = proxy_hops(settings.proxy_hops)
        self.reports = TempFolder("searchduel-batch-")  # each report removed after a while

    def run(
        self,
        path: str | None,
        request: gr.Request = None,  # type: ignore[assignment]
        progress: Any = gr.Progress(),  # noqa: B008
    ) -> Iterator[tuple[Any, ...]]:
        """The batch, as a generator: progress while it runs, then the report."""
        try:
            items, note = load_questions(path, self.settings.batch_questions)
        except ConfigError as exc:
            _refuse(str(exc))
        engine = self._engine()
        address = request_address(request, self.hops)
        why = self.slots.take(address)
        if why:
            _refuse(REFUSED[why].format(n=self.settings.batch_concurrency))
        from ..evaluate import Stop

        stop, updates = Stop(), queue.Queue()
        folder = self.reports.folder("run-") / f"eval-{Path(path or 'questions').stem}"
        try:
            threading.Thread(
                target=self._work,
                args=(items, engine, folder, stop, updates, address),
                name="batch",
                daemon=True,
            ).start()
        except BaseException:
            self.slots.give_back(address)
            raise
        if note:
            gr.Warning(note)
        try:
            yield from self._follow(updates, progress, len(items))
        finally:  # also when Gradio closes the generator: a cancel, a closed tab
            stop.set()

    def _engine(self) -> Any:
        if self.loader.engine is None:
            self.loader.wait()
        if self.loader.engine is None:
            what = self.loader.snapshot().get("what", "The model could not be loaded.")
            raise gr.Error(what, print_exception=False)
        return self.loader.engine

    def _work(
        self,
        items: list[Any],
        engine: Any,
        folder: Path,
        stop: threading.Event,
        updates: queue.Queue,
        address: str,
    ) -> None:
        """The worker thread: the whole batch, its outcome put on `updates`."""
        from ..evaluate import evaluate

        def charge(_item: Any) -> None:
            while not stop.is_set():
                try:
                    self.limiter.check(address)
                    return
                except RateLimited as exc:
                    updates.put(("wait", exc.retry_after))
                    stop.wait(max(1.0, exc.retry_after))

        try:
            overall = evaluate(
                items,
                engine,
                folder,
                progress=lambda done, total, current: updates.put(("progress", (done, current))),
                stop=stop,
                before=charge,
                note=lambda text: updates.put(("note", text)),
            )
            if stop.is_set():
                shutil.rmtree(folder.parent, ignore_errors=True)
                return
            archive = shutil.make_archive(str(folder), "zip", root_dir=folder)
            updates.put(("done", (overall, folder, archive)))
        except BaseException as exc:  # told to the handler, which says it on the page
            updates.put(("error", exc))
        finally:
            self.slots.give_back(address)

    def _follow(self, updates: queue.Queue, progress: Any, total: int) -> Iterator[tuple]:
        """Yield the worker's progress (the report output carries it in words) until its
        outcome; a heartbeat at least every HEARTBEAT_S."""
        skip = (gr.skip(), gr.skip(), gr.skip())
        done, current, waiting, notes = 0, "", 0.0, []
        limit = self.settings.rate_limit
        yield ("*Starting the batch…*", None, None, None)
        while True:
            try:
                kind, value = updates.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                yield (_status(done, total, current, waiting, notes, limit), *skip)
                continue
            if kind == "progress":
                (done, current), waiting = value, 0.0
            elif kind == "wait":
                waiting = value
            elif kind == "note":
                notes.append(value)
            elif kind == "error":
                self._failed(value)
            elif kind == "done":
                yield self._finished(*value)
                return
            desc = (
                f"waiting {waiting:.0f} s (rate limit)"
                if waiting
                else (f"question {min(done + 1, total)} of {total}" if current else "report")
            )
            progress((done, total), desc=desc, unit="questions")
            yield (_status(done, total, current, waiting, notes, limit), *skip)

    def _failed(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, SearchDuelError):
            raise gr.Error(user_message(exc), print_exception=False)
        log.error("the batch failed", exc_info=(type(exc), exc, exc.__traceback__))
        raise gr.Error(
            "The batch failed; the details are in the server log.", print_exception=False
        )

    def _finished(self, overall: dict, folder: Path, archive: str) -> tuple[Any, ...]:
        del overall  # report.md states every figure
        report = (folder / "report.md").read_text("utf-8")
        charts = [folder / "charts" / f"{name}.png" for name in CHARTS]
        return report_markdown(report), archive, *(str(p) if p.is_file() else None for p in charts)


def _status(
    done: int, total: int, current: str, waiting: float, notes: list[str], limit: int
) -> str:
    """The batch's progress in words, in the report's place until the report is ready."""
    if waiting:
        line = (
            f"Waiting {waiting:.0f} s: one address may start {limit} questions a minute "
            "(comparisons included), and this one has for now."
        )
    elif current:
        line = f"Running question {min(done + 1, total)} of {total} ({current})…"
    else:
        line = "Writing the report…"
    return "\n".join([f"*{safe_markdown(line)}*", "", *(f"- {safe_markdown(n)}" for n in notes)])


def add_batch_tab(
    loader: BackendLoader, settings: Settings, limiter: RateLimiter | None = None
) -> None:
    """The Batch tab's components and its one event (/batch). `limiter` is the page's
    (shared with the Duel tab); without one the tab has its own."""
    if limiter is None:  # (not `or`: a limiter with no clients yet has length 0)
        limiter = RateLimiter(settings.rate_limit)
    batches = Batches(loader, settings, limiter)
    intro = INTRO.format(cap=settings.batch_questions, mb=BATCH_FILE_BYTES / 1e6)
    gr.Markdown(intro, elem_id="batch-intro")
    with gr.Row(equal_height=False, elem_id="batch-row"):
        upload = gr.File(
            label="Question file",
            file_types=list(SUFFIXES),
            type="filepath",
            elem_id="batch-file",
            scale=3,
        )
        with gr.Column(scale=1, min_width=160):
            run = gr.Button("Run batch", variant="primary", elem_id="batch-run")
            archive = gr.File(
                label="Report (zip)", elem_id="batch-zip", interactive=False, visible=False
            )
    with gr.Row(elem_id="batch-charts"):
        # no label badge: it covered the chart's own title and its top tick; the figure
        # says what it shows
        charts = [
            gr.Image(
                label=label,
                show_label=False,
                alt_text=label,
                buttons=["download", "fullscreen"],
                type="filepath",
                interactive=False,
                height=320,
                visible=False,
                elem_classes="batch-chart",
            )
            for label in CHARTS.values()
        ]
    report = gr.Markdown(elem_id="batch-report")
    results = [archive, *charts]

    def reveal(*values: Any) -> list[Any]:
        return [gr.update(visible=value is not None) for value in values]

    # the last batch's zip and charts go away while a batch runs, so its progress (in the
    # report's place) sits right under Run batch; the API's /batch returns plain values
    run.click(
        lambda: [gr.update(value=None, visible=False)] * len(results),
        outputs=results,
        queue=False,
        api_visibility="private",
        show_progress="hidden",
    ).then(
        batches.run,
        inputs=[upload],
        outputs=[report, *results],
        api_name="batch",
        concurrency_limit=None,  # refusals must not wait: Batches admits or refuses at once
        concurrency_id="batch",
        show_progress_on=[report],
    ).then(
        reveal,
        inputs=results,
        outputs=results,
        queue=False,
        api_visibility="private",
        show_progress_on=[report],  # ("hidden" still flashed a timer on the zip)
    )

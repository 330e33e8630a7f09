"""The page's Batch tab: a question file run through both columns, judged, with a report.

    upload (.txt a question a line | .csv / .jsonl: question, optional id, optional answers)
      -> evaluate.load_items (a bad file: one clear message, nothing run)
      -> the first `batch_questions` questions (a warning says how many were left out)
      -> evaluate.evaluate(engine, a fresh folder, progress -> gr.Progress)
      -> report.md on the page (made inert: it quotes answers), its two charts, and the whole
         folder (report.md, results.csv, results.jsonl, charts, sources) as one zip

Decisions, in one place:

- Part of the page (page.build calls `add_batch_tab`), so it turns errors into
  gr.Error / gr.Warning; the running and the report are evaluate.py's, shared with
  `python -m searchduel eval` (the same greedy, seeded runs and the same figures).
- A batch holds the model like a comparison does (the same concurrency id), so it waits its
  turn and never slows a visitor's comparison by running beside it.
- Each batch writes a fresh folder under the temporary directory: the page never resumes
  another visitor's run (the CLI resumes).
- The tab's event is the API's /batch (a file in, the report's Markdown and zip out).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from ..config import COMPARE_CONCURRENCY, Settings
from ..errors import ConfigError, SearchDuelError, user_message
from ..loader import BackendLoader
from ..render.markdown import safe_markdown

SUFFIXES = (".txt", ".csv", ".jsonl")
CHARTS = {"grounded": "Sentences the sources back", "latency": "Latency"}  # evaluate's charts
_CHART_LINE = re.compile(r"(?m)^!\[[^\]\n]*\]\(charts/[^)\n]*\)\n?")
INTRO = (
    "Run a question set through both columns and see whether search helped: upload a "
    "**.txt** file (a question a line), or a **.csv** / **.jsonl** file with a `question` "
    "field, an optional `id` and optional `answers` (reference answers; in a csv, separated by "
    "`|`). Each question is a full comparison, judged against the search column's sources. "
    "The page runs at most {cap} questions of a file; `python -m searchduel eval FILE` runs "
    "any number."
)


def load_questions(path: str | None, cap: int) -> tuple[list[Any], str]:
    """The file's questions, at most `cap`, and a note when some were left out. A bad file
    raises ConfigError in words about the file as the visitor named it."""
    from ..evaluate import load_items

    if not path:
        raise ConfigError("Choose a question file first (.txt, .csv or .jsonl).")
    p = Path(path)
    name = p.name
    if p.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{name}: upload a .txt, .csv or .jsonl file.")
    try:
        items = load_items(p)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(str(p), name)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (save it as UTF-8, then upload it).") from exc
    note = ""
    if len(items) > cap:
        note = (
            f"{name} has {len(items)} questions; the page runs the first {cap} "
            "(setting batch_questions). `python -m searchduel eval` runs them all."
        )
    return items[:cap], note


def report_markdown(report: str) -> str:
    """report.md for the page as safe HTML (it quotes answers, questions and ids from the
    uploaded file), its chart lines dropped (the charts are shown in the gallery above it)."""
    return safe_markdown(_CHART_LINE.sub("", report))


def add_batch_tab(loader: BackendLoader, settings: Settings) -> None:
    """The Batch tab's components and its one event (/batch)."""

    def run_batch(path: str | None, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        from ..evaluate import evaluate

        try:
            items, note = load_questions(path, settings.batch_questions)
        except ConfigError as exc:
            raise gr.Error(str(exc)) from exc
        if note:
            gr.Warning(note)
        if loader.engine is None:
            loader.wait()
        engine = loader.engine
        if engine is None:
            raise gr.Error(loader.snapshot().get("what", "The model could not be loaded."))
        out = Path(tempfile.mkdtemp(prefix="searchduel-batch-"))
        folder = out / f"eval-{Path(path or 'questions').stem}"

        def tick(done: int, total: int, current: str) -> None:
            desc = f"question {min(done + 1, total)} of {total}" if current else "report"
            progress((done, total), desc=desc, unit="questions")

        try:
            overall = evaluate(items, engine, folder, progress=tick)
        except SearchDuelError as exc:
            raise gr.Error(user_message(exc)) from exc
        archive = shutil.make_archive(str(folder), "zip", root_dir=folder)
        report = (folder / "report.md").read_text("utf-8")
        del overall  # report.md states every figure
        shown = [folder / "charts" / f"{name}.png" for name in CHARTS]
        return report_markdown(report), archive, *(str(p) if p.is_file() else None for p in shown)

    gr.Markdown(INTRO.format(cap=settings.batch_questions), elem_id="batch-intro")
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
            archive = gr.File(label="Report (zip)", elem_id="batch-zip", interactive=False)
    with gr.Row(elem_id="batch-charts"):
        charts = [
            gr.Image(label=label, type="filepath", interactive=False, height=320)
            for label in CHARTS.values()
        ]
    report = gr.Markdown(elem_id="batch-report")
    run.click(
        run_batch,
        inputs=[upload],
        outputs=[report, archive, *charts],
        api_name="batch",
        concurrency_limit=COMPARE_CONCURRENCY,
        concurrency_id="model",
    )

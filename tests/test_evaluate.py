"""eval: both columns over a question set on the tiny model and the offline corpus."""

from __future__ import annotations

import csv
import json
import threading

import pytest

from searchduel.config import ASSETS_DIR
from searchduel.engine import Engine
from searchduel.errors import ConfigError
from searchduel.evaluate import (
    contains,
    evaluate,
    load_items,
    paired_bootstrap,
    regrade,
    token_f1,
)

SAMPLE = ASSETS_DIR / "eval" / "corpus-qa.jsonl"


def test_sample_sets_load():
    items = load_items(SAMPLE)
    assert len(items) >= 20 and all(i.answers for i in items)
    assert len(load_items(ASSETS_DIR / "eval" / "examples.txt")) == len(
        json.loads((ASSETS_DIR / "examples.json").read_text("utf-8"))
    )


def test_bad_lines_are_named(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{"answers": ["x"]}\n', "utf-8")
    with pytest.raises(ConfigError, match=r"q.jsonl line 2: no question"):
        load_items(bad)
    dup = tmp_path / "q.csv"
    dup.write_text("id,question,answers\na,One?,x|y\na,Two?,\n", "utf-8")
    with pytest.raises(ConfigError, match="used twice"):
        load_items(dup)
    dup.write_text("id,question,answers\na,One?,x|y\nb,Two?,\n", "utf-8")
    assert [i.answers for i in load_items(dup)] == [("x", "y"), ()]


def test_reference_match():
    assert contains("It costs two Belize dollars.", ["two Belize dollars"]) is True
    assert contains("It costs twelve Belize dollars.", ["two Belize dollars"]) is False
    assert contains("anything", []) is None
    assert token_f1("the tender boats", ["tender boats"]) == 1.0
    assert token_f1("tender", ["tender boats"]) == pytest.approx(2 / 3)


def test_paired_bootstrap_is_seeded_and_brackets_the_mean():
    diffs = [0.1, 0.3, 0.2, 0.0, 0.4, 0.2]
    lo, hi = paired_bootstrap(diffs)
    assert lo <= sum(diffs) / len(diffs) <= hi
    assert paired_bootstrap(diffs) == (lo, hi)


class StopAfter:
    """An engine that sets the stop flag after `n` questions, as Ctrl-C would."""

    def __init__(self, engine: Engine, n: int, stop: threading.Event):
        self.engine, self.n, self.stop = engine, n, stop

    def run(self, question, options=None, *, stop=None):
        self.n -= 1
        if self.n < 0:
            self.stop.set()
        return self.engine.run(question, options, stop=stop)


def test_eval_end_to_end_with_resume(tmp_path, settings, tiny_backend):
    items = load_items(SAMPLE)[:3]
    engine = Engine(settings, tiny_backend)
    out = tmp_path / "report"
    stop = threading.Event()
    first = evaluate(items, StopAfter(engine, 1, stop), out, stop=stop)
    assert first["interrupted"] is True and first["questions"] == 1
    lines = (out / "results.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == [items[0].id]

    seen: list[str] = []

    class Counting:
        def run(self, question, options=None, *, stop=None):
            seen.append(question)
            return engine.run(question, options, stop=stop)

    second = evaluate(items, Counting(), out)
    assert seen == [i.question for i in items[1:]]  # the finished question is skipped
    assert second["interrupted"] is False and second["questions"] == 3
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in records] == [i.id for i in items]
    for r in records:
        assert r["sources"] and all(s["text"] for s in r["sources"])
        for name in ("plain", "search"):
            col = r[name]
            assert col["answer"] and col["total_s"] > 0
            assert col["grounded_share"] is None or 0 <= col["grounded_share"] <= 1
            assert col["contains"] in (True, False) and 0 <= col["f1"] <= 1
        snap = json.loads((out / "sources" / f"{r['id']}.json").read_text("utf-8"))
        assert snap["sources"] == r["sources"]
    # the judging is reproducible from the snapshots alone
    again = regrade(out)
    assert [r["search"]["summary"] for r in again] == [r["search"]["summary"] for r in records]
    with (out / "results.csv").open(encoding="utf-8") as f:
        assert [row["id"] for row in csv.DictReader(f)] == [i.id for i in items]
    report = (out / "report.md").read_text("utf-8")
    assert "paired bootstrap 95% interval" in report and "miss into a hit" in report
    for chart in ("grounded.png", "latency.png"):
        assert (out / "charts" / chart).read_bytes()[:4] == b"\x89PNG"


def test_eval_cli_writes_the_report_folder(tmp_path, tiny_model_dir, capsys):
    from searchduel.cli import main

    questions = tmp_path / "q.txt"
    questions.write_text("How do passengers get ashore in Belize City?\n", "utf-8")
    out = tmp_path / "out"
    argv = ["eval", str(questions), "--out", str(out), "--model", str(tiny_model_dir)]
    argv += ["--search", "local", "--max-new-tokens", "8", "--dense", "false"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "1/1" in captured.err and "report.md" in captured.out
    assert {p.name for p in out.iterdir()} >= {"report.md", "results.csv", "results.jsonl"}


def test_ctrl_c_keeps_what_finished(tmp_path, settings, tiny_backend):
    engine = Engine(settings, tiny_backend)
    items = load_items(SAMPLE)[:2]

    class Interrupted:
        calls = 0

        def run(self, question, options=None, *, stop=None):
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            return engine.run(question, options, stop=stop)

    figures = evaluate(items, Interrupted(), tmp_path)
    assert figures["interrupted"] is True and figures["questions"] == 1
    assert (tmp_path / "report.md").is_file()

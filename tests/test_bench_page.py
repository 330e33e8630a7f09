"""`bench page`: its plumbing (the app's log line, the rows, a skip without Chromium) and one
small real run in Chromium. No timing is asserted: the targets live in the bench's output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from searchduel.bench import page as bench_page
from searchduel.config import DEFAULT_CORPUS, Settings

LINE = {
    "event": "comparison",
    "total_s": 3.4,
    "plain": {"total_s": 2.5, "tokens": 384},
    "search_column": {"total_s": 3.3, "tokens": 380},
}


def test_comparison_lines_are_read_from_the_app_log():
    log = "\n".join(
        [
            "loading /tmp/tiny (transformers) ...",
            "INFO searchduel.comparison: " + json.dumps(LINE),
            'INFO searchduel.comparison: {"event": "comparison", "cut off',
            "INFO searchduel.comparison: " + json.dumps({**LINE, "total_s": 9.0}),
        ]
    )
    assert [line["total_s"] for line in bench_page.comparison_lines(log)] == [3.4, 9.0]


def test_rows_report_the_median_ratio_with_the_answer_length_and_stop():
    timings = [
        bench_page.Timing(4.0, 3.3, 3.4, (384, 380), (1900, 2100)),
        bench_page.Timing(3.5, 3.5, 3.6, (384, 384), (1950, 2000)),
        bench_page.Timing(6.0, 3.0, 3.1, (384, 384), (1940, 2050)),
    ]
    rows = bench_page.rows(timings, 384, target="<= 1.20", load="", stopped=bench_page.Stopped(0.4))
    ratio, stop = rows
    assert ratio.value == pytest.approx(4.0 / 3.3)
    assert ratio.baseline == 3.3 and ratio.target == "<= 1.20" and ratio.passed is False
    assert "384+380 tokens" in ratio.note and "1,900+2,100 chars" in ratio.note
    assert "median of 3" in ratio.note
    assert stop.name.startswith("Stop") and stop.value == 0.4 and stop.unit == "s"
    ended = bench_page.rows(timings, 32, target="", load="", stopped=bench_page.Stopped(None))
    assert "not timed" in ended[1].note and ended[0].passed is None
    assert len(bench_page.rows(timings, 32, target="", load="", stopped=None)) == 1


def test_lengths_are_whole_numbers_or_a_clear_error():
    from searchduel.errors import ConfigError

    assert bench_page.parse_lengths("") == [384, 1024]
    assert bench_page.parse_lengths("64, 512") == [64, 512]
    for bad in ("long", "384,x", "0", ","):
        with pytest.raises(ConfigError, match="--page-lengths"):
            bench_page.parse_lengths(bad)


def test_without_chromium_the_suite_says_so_and_skips(monkeypatch):
    monkeypatch.setattr(bench_page, "chromium", lambda: "/nonexistent/chromium")
    (row,) = bench_page.run(argparse.Namespace(), Settings())
    assert row.name == "skipped" and "Chromium is not installed" in row.note
    assert row.passed is None


@pytest.mark.slow
@pytest.mark.browser
def test_a_small_run_times_the_page_and_stop_in_chromium(tiny_model_dir, monkeypatch):
    from test_browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    monkeypatch.setenv("SEARCHDUEL_DENSE", "false")  # the launched app reads the environment
    args = argparse.Namespace(page_runs=1, page_lengths="384", page_busy=False, page_no_stop=False)
    settings = Settings(model=str(tiny_model_dir), search="local", corpus=str(DEFAULT_CORPUS))
    ratio, stop = bench_page.run(args, settings)
    assert ratio.name == "page / engine, 384 max new tokens" and ratio.target == "<= 1.20"
    assert ratio.value > 0 and ratio.baseline and ratio.baseline > 0
    assert "384+384 tokens" in ratio.note and "chars" in ratio.note
    assert "answer updates" in ratio.note and "browser busy" in ratio.note
    assert stop.name.startswith("Stop until the page is still")
    assert stop.value > 0 or "not timed" in stop.note

"""`bench load` with a small client count: a launched app under bursts of /compare calls
answers every request or says busy, none hangs, and its resident size is reported."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from searchduel.bench import load
from searchduel.config import Settings

pytestmark = pytest.mark.slow


def test_bursts_complete_or_say_busy_and_memory_is_reported(tiny_model_dir: Path, monkeypatch):
    monkeypatch.setenv("SEARCHDUEL_DENSE", "false")  # the launched app reads its environment
    args = argparse.Namespace(load_clients=3, bursts=2, client_timeout=120.0, arena_max=0)
    settings = Settings(model=str(tiny_model_dir), search="local", max_new_tokens=16)
    rows = {r.name: r for r in load.run(args, settings)}
    assert rows["hung"].value == 0 and rows["hung"].passed
    assert rows["failed"].value == 0, rows["failed"].note
    assert rows["completed"].value + rows["busy"].value == 6
    assert rows["completed"].value >= 1
    assert 0 < rows["latency p50"].value <= rows["latency p95"].value
    sizes = [rows["RSS warmed up"].value, rows["RSS after burst 1"].value]
    assert all(s > 50 for s in sizes), "RSS read from /proc, in MB"
    assert {"growth in burst 1", "growth in burst 2"} <= set(rows)
    assert rows["growth in burst 2"].target == load.LATER_BURST_TARGET


def test_rss_of_this_process_is_read_from_proc() -> None:
    import os

    assert load.rss_mb(os.getpid()) > 10
    assert load.rss_mb(2**22 + 7) == 0.0  # no such process


def test_percentiles() -> None:
    assert load.percentile([], 50) == 0.0
    assert load.percentile([3.0], 95) == 3.0
    values = [float(i) for i in range(1, 101)]
    assert load.percentile(values, 50) == pytest.approx(50.5, abs=1)
    assert load.percentile(values, 95) == pytest.approx(95, abs=1.1)

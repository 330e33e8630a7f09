"""A client that goes away mid-answer (a closed tab, a cancelled API job) frees the model:
against the launched app, through gradio_client, as another program would do it."""

from __future__ import annotations

import json
import time

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
APP_LOG = REPO / "tests" / ".app.log"


def first_text(job, timeout: float = 60) -> float:
    """Seconds until the job's plain column shows answer text (not a "*Writing…*" status)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        outputs = job.outputs()
        text = outputs[-1][0].strip() if outputs else ""
        if text and not text.startswith("*"):
            return time.monotonic() - start
        if job.done() and job.exception() is not None:
            raise AssertionError(f"the job failed: {job.exception()}")
        time.sleep(0.02)
    raise AssertionError(f"no text within {timeout} s")


def comparison_lines(after: int) -> list[dict]:
    text = APP_LOG.read_bytes()[after:].decode("utf-8", "replace")
    # the app's log format puts "INFO searchduel.comparison: " before the JSON
    marker = '{"event": "comparison"'
    return [json.loads(line[line.index(marker) :]) for line in text.splitlines() if marker in line]


def test_a_cancelled_job_stops_and_the_next_request_answers_promptly(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    offset = APP_LOG.stat().st_size
    job = client.submit(
        "Plan a one-day trip to Skagway, Alaska", 320, 0.0, 4, "local", api_name="/compare"
    )
    first_text(job)
    job.cancel()
    cancelled = time.monotonic()
    lines: list[dict] = []
    while not lines and time.monotonic() - cancelled < 10:
        lines = [line for line in comparison_lines(offset) if "outcome" in line]
        time.sleep(0.02)
    stopped_after = time.monotonic() - cancelled
    assert lines, "the comparison never ended after the cancel"
    assert lines[-1]["outcome"] == "stopped", lines[-1]
    print(f"cancel -> comparison ended: {stopped_after:.2f} s")
    assert stopped_after < 2.0, f"the comparison ended {stopped_after:.2f} s after the cancel"
    other = Client(app_url, verbose=False)  # the next person: another session
    nxt = other.submit("Skagway", 16, 0.0, 4, "off", api_name="/compare")
    waited = first_text(nxt)
    nxt.result()
    print(f"next request's first text: {waited:.2f} s")
    assert waited < 10, f"the next request waited {waited:.2f} s for its first token"

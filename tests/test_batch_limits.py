"""The Batch tab's limits through Gradio's API, against tests/batch_app.py as another program
would use it: a cancelled batch stops, one batch per address and one at a time, a batch's
questions share the address's rate limit, a too-long question is skipped, not the batch.

Each test is its own visitor (its own X-Forwarded-For address behind the app's one trusted
proxy), so their rate budgets and batch slots do not meet.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.slow


def visitor(url: str, address: str):
    from gradio_client import Client

    return Client(url, verbose=False, headers={"X-Forwarded-For": address})


def questions(tmp_path, *lines: str, name: str = "q.txt"):
    from gradio_client import handle_file

    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return handle_file(str(path))


def comparisons(log, after: int) -> list[dict]:
    """The app's comparison log lines written after byte `after`."""
    text = log.read_bytes()[after:].decode("utf-8", "replace")
    marker = '{"event": "comparison"'
    return [json.loads(line[line.index(marker) :]) for line in text.splitlines() if marker in line]


def wait_for(predicate, what: str, timeout: float = 60):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout} s")


def status_of(job) -> str:
    """The batch's progress as the report output carries it while the batch runs."""
    outputs = job.outputs()
    return str(outputs[-1][0]) if outputs else ""


def test_a_cancelled_batch_stops_within_2_s_and_starts_no_other_question(batch_app, tmp_path):
    url, hold, _data, log = batch_app
    client = visitor(url, "10.0.8.1")
    hold.touch()
    try:
        offset = log.stat().st_size
        job = client.submit(
            questions(tmp_path, "Plan a day in Skagway", "What is in Juneau?", "And Sitka?"),
            api_name="/batch",
        )
        wait_for(lambda: "Running question 1 of 3" in status_of(job), "the first question")
        assert job.cancel()
        cancelled = time.monotonic()
        ended = wait_for(
            lambda: [c for c in comparisons(log, offset) if c.get("outcome")], "the run's end"
        )
        stopped_after = time.monotonic() - cancelled
        print(f"cancel -> question ended: {stopped_after:.2f} s")
        assert [c["outcome"] for c in ended] == ["stopped"]
        assert stopped_after < 2.0, f"the batch's question ended {stopped_after:.2f} s later"
    finally:
        hold.unlink(missing_ok=True)
    time.sleep(1.5)  # settle: a question started now would finish (nothing holds it) and log
    assert len(comparisons(log, offset)) == 1, "no further question started after the cancel"
    # the slot is free again: the same visitor's next batch runs
    report = client.predict(questions(tmp_path, "Where is Skagway?"), api_name="/batch")[0]
    assert "<h1>Search on vs off</h1>" in report and "1 question;" in report


def test_one_batch_per_address_and_one_in_all_the_rest_refused_at_once(batch_app, tmp_path):
    from gradio_client.exceptions import AppError

    url, hold, _data, _log = batch_app
    first = visitor(url, "10.0.9.1")
    hold.touch()
    try:
        job = first.submit(questions(tmp_path, "Plan a day in Skagway"), api_name="/batch")
        wait_for(lambda: "Running question 1 of 1" in status_of(job), "the first batch")
        again = visitor(url, "10.0.9.1")  # the same address, another session
        start = time.monotonic()
        with pytest.raises(AppError, match="A batch from your address is already running"):
            again.predict(questions(tmp_path, "And Juneau?"), api_name="/batch")
        assert time.monotonic() - start < 5, "refused at once, not queued"
        other = visitor(url, "10.0.9.2")
        start = time.monotonic()
        with pytest.raises(AppError, match=r"as many batches as it takes at once \(1\)"):
            other.predict(questions(tmp_path, "And Sitka?"), api_name="/batch")
        assert time.monotonic() - start < 5, "refused at once, not queued"
    finally:
        hold.unlink(missing_ok=True)
    report = job.result(timeout=60)[0]
    assert "<h1>Search on vs off</h1>" in report, "the first batch was never disturbed"


def test_batch_questions_count_against_the_address_rate_limit(batch_app, tmp_path):
    """3 starts a minute per address: a 5-question batch runs 3, then waits (saying so)
    rather than failing; meanwhile the same visitor's /compare is refused, another's runs."""
    from gradio_client.exceptions import AppError

    url, _hold, _data, log = batch_app
    client = visitor(url, "10.0.10.1")
    offset = log.stat().st_size
    lines = [f"Question {i} about Skagway?" for i in range(5)]
    job = client.submit(questions(tmp_path, *lines), api_name="/batch")
    try:
        waiting = wait_for(lambda: "Waiting" in status_of(job) and status_of(job), "a wait")
        assert "questions a minute" in waiting and "(comparisons included)" in waiting
        ran = [c for c in comparisons(log, offset) if c.get("outcome")]
        assert len(ran) == 3, "three questions, then the budget is spent"
        with pytest.raises(AppError, match="Too many questions from your address"):
            client.predict("Skagway", 16, 0.0, 4, "off", api_name="/compare")
        other = visitor(url, "10.0.10.2")
        assert other.predict("Skagway", 16, 0.0, 4, "off", api_name="/compare")[0].strip()
    finally:
        job.cancel()
    time.sleep(1.0)  # settle: the waiting batch must not start a question once cancelled
    assert len([c for c in comparisons(log, offset) if c.get("outcome")]) == 4  # 3 + other's


def test_a_too_long_question_is_skipped_with_a_note_not_the_batch(batch_app, tmp_path):
    url, _hold, _data, _log = batch_app
    client = visitor(url, "10.0.11.1")
    job = client.submit(
        questions(tmp_path, "Plan a day in Skagway", "x" * 5000, "What is in Juneau?"),
        api_name="/batch",
    )
    report, archive, grounded, latency = job.result(timeout=120)
    assert "<h1>Search on vs off</h1>" in report
    assert "2 questions;" in report and "1 skipped" in report
    assert "q002: The question is 5,000 characters long; the limit is 2,000" in report
    assert "Something went wrong" not in report
    assert archive and grounded and latency
    seen = [str(o[0]) for o in job.outputs()]
    assert any("q002 was skipped" in s for s in seen), "the progress told it as it happened"

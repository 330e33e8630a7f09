"""The Batch tab through Gradio's API (/batch) on tests/judge_app.py: a question file in,
the report (Markdown, zip, charts) out; bad files get one clear message."""

from __future__ import annotations

import json
import zipfile

import pytest

from conftest import REPO
from safe_html import check_html
from searchduel.errors import ConfigError
from searchduel.ui.batch import load_questions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(judge_app):
    from gradio_client import Client

    return Client(judge_app, verbose=False)


def test_a_two_question_file_gives_a_report_to_download(client, tmp_path):
    from gradio_client import handle_file

    questions = tmp_path / "two.jsonl"
    questions.write_text(
        json.dumps({"id": "skagway", "question": "Plan a day in Skagway", "answers": ["Taiya"]})
        + "\n"
        + json.dumps({"id": "juneau", "question": "What is there to see in Juneau?"})
        + "\n",
        "utf-8",
    )
    report, archive, grounded, latency = client.predict(
        handle_file(str(questions)), api_name="/batch"
    )
    elements, text = check_html(report)  # the page's safe HTML; report.md is in the zip
    assert elements[1][0] == "h1" and text.startswith("Search on vs off")
    assert "2 questions; 2 with both" in text and "skagway" in text and "juneau" in text
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"report.md", "results.csv", "results.jsonl"} <= names
        lines = z.read("results.jsonl").decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["skagway", "juneau"]
    skagway = records[0]
    assert skagway["search"]["grounded_share"] == 0.5, "one copied, one made-up sentence"
    assert skagway["search"]["contains"] is True, "the copied sentence names Taiya"
    assert grounded and latency, "the charts are shown"


def test_a_bad_file_is_named_with_its_line(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    log = REPO / "tests" / ".judge_app.log"
    offset = log.stat().st_size
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"id": "x"}\n', "utf-8")
    with pytest.raises(AppError, match=r"bad\.jsonl line 2: no question"):
        client.predict(handle_file(str(bad)), api_name="/batch")
    # a visitor's mistake: one plain line in the server's log, no traceback
    written = log.read_bytes()[offset:].decode("utf-8", "replace")
    assert "batch refused: bad.jsonl line 2: no question" in written
    assert "Traceback" not in written


def test_the_page_runs_at_most_the_cap(tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("\n".join(f"Question {i}?" for i in range(5)), "utf-8")
    items, note = load_questions(str(path), 3)
    assert [i.question for i in items] == ["Question 0?", "Question 1?", "Question 2?"]
    assert "has more than 3 questions" in note and "first 3" in note
    assert load_questions(str(path), 20)[1] == ""


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("q.pdf", b"%PDF-1.4", "upload a .txt, .csv or .jsonl"),
        ("q.txt", b"\xff\xfe\x00bad", "not UTF-8"),
        ("q.csv", b"id,text\n1,hello\n", "'question' column"),
        ("q.txt", b"\n# only a comment\n", "no questions"),
    ],
)
def test_bad_files_get_a_clear_message(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=words) as info:
        load_questions(str(path), 20)
    assert str(tmp_path) not in str(info.value), "the file is named as uploaded, not by path"


def test_no_file_is_a_clear_message():
    with pytest.raises(ConfigError, match="Choose a question file"):
        load_questions(None, 20)


def test_the_report_on_the_page_is_inert_and_keeps_its_quotes():
    from searchduel.ui.batch import report_markdown

    report = "# R\n\n![grounded](charts/grounded.png)\n![latency](charts/latency.png)\n\n"
    report += "> The answer <img src=x onerror=alert(1)> <b>b</b> ``<img src=y>```\n\n"
    report += "| id |\n|---|\n| ``<img src=z>``` |\n"
    out = report_markdown(report)
    assert "charts/" not in out and "grounded" not in out
    elements, text = check_html(out)
    assert [tag for tag, _ in elements if tag not in ("thead", "tbody", "tr")] == [
        *("div", "h1", "blockquote", "p", "table", "th", "td")
    ], "the quoted answer is still quoted, the table a table"
    assert "<img src=x onerror=alert(1)> <b>b</b> ``<img src=y>```" in text


def test_the_page_reads_no_further_than_its_cap(tmp_path):
    """Line 25 is not UTF-8: reading the first 3 questions (and one more, to know there
    are more) never gets there."""
    path = tmp_path / "long.txt"
    lines = [f"Question {i}?".encode() for i in range(24)] + [b"\xff\xfe broken"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    items, note = load_questions(str(path), 3)
    assert [i.id for i in items] == ["q001", "q002", "q003"]
    assert "has more than 3 questions" in note
    with pytest.raises(ConfigError, match=r"long\.txt line 25: not UTF-8 text"):
        load_questions(str(path), 30)


def test_a_file_over_the_byte_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"\xff" * 2_000)  # not even UTF-8: it is never read
    with pytest.raises(ConfigError, match=r"big\.txt is 2,000 bytes; .* at most 1,000 bytes"):
        load_questions(str(path), 20, max_bytes=1_000)


def test_the_app_refuses_uploads_over_the_cap():
    from searchduel.config import BATCH_FILE_BYTES, Settings
    from searchduel.ui import launch_kwargs

    assert launch_kwargs(Settings())["max_file_size"] == BATCH_FILE_BYTES

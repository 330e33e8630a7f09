"""One JSON log line per comparison; errors logged once with their traceback, never shown."""

from __future__ import annotations

import json
import logging

import pytest

from fakes import ScriptedBackend
from searchduel.engine import Engine
from searchduel.errors import GenerationError
from searchduel.logs import UNEXPECTED, public_message

PROMPT = "Plan a one-day trip to Skagway, Alaska"


def lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "searchduel.comparison"]


class PlainColumnFails(ScriptedBackend):
    """Answers the search column; the plain column (its message is the bare prompt) raises
    something unexpected whose text holds a path and a secret."""

    def stream(self, messages, **kwargs):
        if messages[0]["content"] == PROMPT:
            raise ValueError("boom in /srv/app/secret/weights.bin with key hf_Sekr3tValue")
        yield from super().stream(messages, **kwargs)


def test_one_line_per_comparison_with_stages_pages_tokens_and_outcome(settings, caplog):
    caplog.set_level(logging.INFO, logger="searchduel")
    backend = ScriptedBackend()
    backend.enqueue("a", " b", " c")
    backend.enqueue("d", " e")
    list(Engine(settings, backend).run(PROMPT))
    [line] = lines(caplog)
    assert line["event"] == "comparison" and line["outcome"] == "ok"
    assert line["prompt_chars"] == len(PROMPT) and "prompt" not in line
    assert PROMPT not in json.dumps(line), "no prompt text unless log_prompts is on"
    assert {"search", "fetch", "pack"} <= set(line["timings_ms"])
    col = line["search_column"]
    assert col["provider"] == "local" and col["outcome"] == "done"
    assert sum(col["pages"].values()) >= 1 and set(col["pages"]) <= {"ok", "empty", "error"}
    assert sorted([line["plain"]["tokens"], col["tokens"]]) == [2, 3]
    assert line["total_s"] >= 0


def test_log_prompts_setting_puts_the_prompt_in(settings, caplog):
    caplog.set_level(logging.INFO, logger="searchduel")
    list(Engine(settings.replace(log_prompts=True, search="off"), ScriptedBackend()).run(PROMPT))
    [line] = lines(caplog)
    assert line["prompt"] == PROMPT


def test_an_unexpected_error_is_logged_once_and_shown_plainly(settings, caplog, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_Sekr3tValue")
    caplog.set_level(logging.INFO, logger="searchduel")
    events = list(Engine(settings, PlainColumnFails()).run(PROMPT))
    [error] = [e for e in events if e.kind == "error"]
    assert error.column == "plain" and error.text == UNEXPECTED
    assert error.data["type"] == "ValueError"
    done = [e for e in events if e.kind == "done"]
    assert [e.column for e in done] == ["search"], "the other column finishes"
    failures = [r for r in caplog.records if r.name == "searchduel.errors"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "column-plain" in failures[0].getMessage()
    [line] = lines(caplog)
    assert line["outcome"] == "error" and line["plain"]["error_type"] == "ValueError"
    assert "Traceback" not in json.dumps(line) and "/srv/app" not in json.dumps(line)


def test_a_stopped_comparison_is_logged_as_stopped(settings, caplog):
    caplog.set_level(logging.INFO, logger="searchduel")
    backend = ScriptedBackend(delay=0.05)
    backend.enqueue(*["x "] * 100)
    backend.enqueue(*["y "] * 100)
    run = Engine(settings, backend).run(PROMPT)
    next(e for e in run if e.kind == "token")
    run.close()
    [line] = lines(caplog)
    assert line["outcome"] == "stopped"


def test_the_line_is_written_under_an_app_that_configured_only_warnings(tmp_path):
    """app.py calls logging.basicConfig(level=WARNING): the INFO comparison line must still
    reach its handler (a fresh process, so that no earlier test set the levels)."""
    import subprocess
    import sys

    code = (
        "import logging; logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from searchduel.config import Settings\n"
        "from searchduel.logs import ComparisonLog\n"
        "class B:\n    name = 'b'\n"
        "ComparisonLog('q', Settings(search='off'), B()).close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "PYTHONPATH": "src"},
    )
    assert done.returncode == 0, done.stderr
    assert '"outcome"' in done.stderr


@pytest.mark.parametrize(
    "message, hidden, kept",
    [
        ("could not load /opt/models/phi3/config.json: bad", "/opt/models", "could not load"),
        ("cannot reach http://127.0.0.1:8000/v1 (refused)", None, "http://127.0.0.1:8000/v1"),
        ("the key hf_Sekr3tValue was refused", "hf_Sekr3tValue", "was refused"),
        ("failed\nTraceback (most recent call last):\n  File x", "Traceback", "failed"),
    ],
)
def test_public_message_drops_paths_secrets_and_tracebacks(message, hidden, kept, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_Sekr3tValue")
    shown = public_message(GenerationError(message))
    assert kept in shown
    if hidden:
        assert hidden not in shown
    assert public_message(KeyError("/etc/passwd")) == UNEXPECTED

"""python -m searchduel ...: JSON shapes, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, free_port
from searchduel.cli import main
from searchduel.config import settings_table


def run_json(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_ask_json_has_both_columns(capsys, tiny_model_dir):
    code, (result,) = run_json(
        capsys,
        "ask",
        "Plan a one-day trip to Belize",
        "--json",
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
        "--max-new-tokens",
        "12",
    )
    assert code == 0
    assert result["prompt"] == "Plan a one-day trip to Belize"
    for key in ("answer", "ttft_s", "total_s", "tokens"):
        assert result["plain"][key] and result["search"][key]
    search = result["search"]
    assert search["provider"] == "local" and search["offline"] is True
    assert search["sources"][0]["n"] == 1 and "belize" in search["sources"][0]["url"]
    assert {"url", "status", "reason", "ms", "bytes"} <= set(search["pages"][0])
    assert search["context_tokens"] > 0
    for name in ("plain", "search"):  # both answers judged against the same sources
        grounding = result[name]["grounding"]
        answer = result[name]["answer"]
        assert grounding["sentences"] and grounding["summary"]["checked"] >= 0
        for s in grounding["sentences"]:
            assert answer[s["start"] : s["end"]] == s["text"]
            assert s["label"] in ("supported", "weak", "unsupported", "not checked")
    assert "precision" in result["search"]["grounding"]["citation"]


def test_context_jsonl_one_object_per_question(capsys, tmp_path, tiny_model_dir):
    questions = tmp_path / "q.txt"
    questions.write_text("What is the White Pass railroad?\n\nWhat currency does Belize use?\n")
    code, rows = run_json(
        capsys,
        "context",
        "--questions",
        str(questions),
        "--jsonl",
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
    )
    assert code == 0
    assert [r["question"] for r in rows] == [
        "What is the White Pass railroad?",
        "What currency does Belize use?",
    ]
    for row in rows:
        assert set(row) >= {
            "question",
            "provider",
            "sources",
            "context",
            "context_tokens",
            "prompt_tokens",
        }
        assert row["context_tokens"] > 0 and row["prompt_tokens"] > row["context_tokens"]
        for source in row["sources"]:
            assert f"[{source['n']}]" in row["context"]


def test_search_json_from_the_corpus(capsys):
    code, (result,) = run_json(capsys, "search", "Skagway gold rush", "--search", "local", "--json")
    assert code == 0
    assert result["provider"] == "local" and result["query"] == "Skagway gold rush"
    assert result["hits"] and {"title", "url", "snippet"} <= set(result["hits"][0])


def test_fetch_refused_address_exits_non_zero_with_status(capsys):
    code, (result,) = run_json(capsys, "fetch", "http://2130706433:9/", "--json")
    assert code == 1
    assert result["status"] == "blocked-address" and result["bytes"] == 0


def test_bad_setting_exits_2_naming_the_variable(capsys):
    assert main(["search", "x", "--search", "bing"]) == 2
    err = capsys.readouterr().err
    assert "SEARCHDUEL_SEARCH" in err and "duckduckgo" in err


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "searchduel", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0
    for command in ("ask", "search", "fetch", "extract", "context", "bench"):
        assert command in out.stdout


def test_readme_settings_table_is_current():
    readme = (REPO / "README.md").read_text("utf-8")
    start = readme.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip() == settings_table().strip(), (
        "README settings table is stale: paste searchduel.config.settings_table()"
    )


@pytest.mark.parametrize("flag", ["--host", "--port", "--model", "--search", "--corpus"])
def test_app_accepts_the_common_flags(flag):
    out = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert flag in out.stdout


def test_a_bad_number_flag_exits_2_naming_the_flag(capsys):
    assert main(["ask", "hi", "--max-new-tokens", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--max-new-tokens" in err and "a whole number" in err and "base 10" not in err


def test_a_missing_model_folder_is_named_before_any_download(capsys, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "hi", "--model", "models/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "huggingface" not in err.lower()


def test_ask_with_search_off_is_not_a_failure(capsys, tiny_model_dir):
    argv = ["ask", "Skagway", "--model", str(tiny_model_dir), "--search", "off"]
    code = main([*argv, "--max-new-tokens", "8"])
    out = capsys.readouterr().out
    assert code == 0, "search off is what was asked for"
    assert "off for this comparison" in out and "[error]" not in out


def test_context_json_prints_the_exact_messages(capsys, tiny_model_dir):
    code, (record,) = run_json(
        capsys,
        "context",
        "Skagway gold rush",
        "--json",
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
    )
    assert code == 0
    assert record["context"] and record["context"] in record["messages"][-1]["content"]


def test_context_ranks_over_the_embedded_corpus_as_the_page_does(
    capsys, monkeypatch, tmp_path, tiny_model_dir
):
    """The CLI warms up as the app does: with dense on, the offline corpus's passages are
    embedded before the first question, so every one of them is scored (rag/rank.py)."""
    import numpy as np

    from searchduel.rag import dense

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    read: list[int] = []

    def encode(texts, max_tokens=dense.PASSAGE_TOKENS):
        read.append(len(texts))
        return np.eye(384, dtype=np.float32)[[hash(t) % 384 for t in texts]]

    monkeypatch.setattr(dense, "_encode", encode)
    monkeypatch.setattr(dense, "_cache", type(dense._cache)())
    monkeypatch.setattr(dense, "_pinned", {})
    code, (row,) = run_json(
        capsys,
        "context",
        "What currency does Belize use?",
        "--json",
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
        "--dense",
        "true",
    )
    assert code == 0 and row["sources"]
    assert len(dense._pinned) > 100, "the corpus was embedded ahead"
    # at question time: the question, and snippets of hits whose pages were not read
    assert sum(read[:-1]) == len(dense._pinned), "warm-up read the corpus, nothing else"
    assert read[-1] < 10, "then only the question and unread hits' snippets"


# --- question files, noise, the hub: what a person at a terminal reads ------------------------


def run_module(*argv: str, env: dict | None = None, timeout: float = 120):
    """`python -m searchduel ...` from this checkout, as a person at a terminal runs it."""
    import os
    import time

    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "searchduel", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env=full_env,
    )
    return out, time.monotonic() - t0


@pytest.mark.parametrize("command", ["eval", "context"])
def test_a_file_that_is_not_utf8_is_named_and_exits_2(capsys, tmp_path, command):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Où est la gare ?\n".encode("latin-1"))
    argv = [command, str(path)] if command == "eval" else ["context", "--questions", str(path)]
    assert main([*argv, "--model", "x/y"]) == 2  # refused before any model is needed
    err = capsys.readouterr().err
    assert f"{path} line 1: not UTF-8 text (save it as UTF-8" in err
    assert "Traceback" not in err and "UnicodeDecodeError" not in err


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("q.csv", 'question,id\n"Unterminated quote,q2\nWhat,q3\n', "line 2: a quoted field opens"),
        ("q.jsonl", '{"question": "ok"}\n\n{bad\n', "line 3: not a JSON object (a key is not in"),
        ("q.jsonl", '{"question": "ok"}\nnope\n', "line 2: not a JSON object (a value is missing"),
        ("q.jsonl", '{"question": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "line 1: not a"),
        ("q.csv", "question\n" + "x" * 300_000 + "\n", "line 2: a field is longer than 131,072"),
        ("q.jsonl", '["a list"]\n', "line 1: not a JSON object (it is a list)"),
    ],
)
def test_a_bad_question_file_is_named_with_its_line_and_nothing_runs(
    capsys, tmp_path, name, content, said
):
    path = tmp_path / name
    path.write_text(content, "utf-8")
    out = tmp_path / "out"
    assert main(["eval", str(path), "--out", str(out), "--model", "x/y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path} {said}"), err
    assert "column" not in err and "char " not in err, "no second line number from json"
    assert len(err.splitlines()) == 1 and not out.exists(), "nothing ran"


def test_a_bad_flag_value_is_one_line_naming_the_valid_values():
    out, _ = run_module("export", "--format", "xml")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "'xml'" in lines[0] and "csv" in lines[0] and "jsonl" in lines[0]


def test_ask_keeps_the_log_off_stderr_unless_verbose(tiny_model_dir):
    argv = ["ask", "Skagway", "--model", str(tiny_model_dir), "--search", "off"]
    argv += ["--max-new-tokens", "4"]
    quiet, _ = run_module(*argv)
    assert quiet.returncode == 0, quiet.stderr
    assert '"event": "comparison"' not in quiet.stderr
    loud, _ = run_module(*argv, "--verbose")
    assert loud.returncode == 0 and '"event": "comparison"' in loud.stderr


def test_eval_progress_is_clean_and_a_too_long_question_is_skipped(tiny_model_dir, tmp_path):
    """The progress bar alone on stderr (no JSON log lines through it); a question over
    --max-prompt-chars is skipped with a note and listed in the report, the rest run."""
    path = tmp_path / "q.txt"
    path.write_text("Where is Skagway?\n" + "x" * 2_500 + "\nWhat is Belize?\n", "utf-8")
    out = tmp_path / "out"
    argv = ["eval", str(path), "--out", str(out), "--model", str(tiny_model_dir)]
    done, _ = run_module(*argv, "--search", "off", "--max-new-tokens", "4")
    assert done.returncode == 1, "a skipped question is work not done"
    assert '"event"' not in done.stderr and "Traceback" not in done.stderr
    assert "\nq002 was skipped: The question is 2,500 characters long" in done.stderr
    assert "3/3" in done.stderr and "(2 of 3 done, 1 skipped)" in done.stdout
    report = (out / "report.md").read_text("utf-8")
    assert report.splitlines()[2].startswith("2 questions;") and "1 skipped" in report
    assert "## Skipped\n\n- q002: The question is 2,500 characters long" in report
    ids = [json.loads(x)["id"] for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert ids == ["q001", "q003"]


@pytest.mark.parametrize("command", ["ask", "context"])
def test_without_the_hub_a_hub_model_fails_fast_with_the_way_out(tmp_path, command):
    """No --model on a machine that cannot reach the hub: said in seconds (the libraries'
    retries took 11 s for ask and 55 s for context), with the local-folder hint."""
    closed = free_port()
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{closed}"}
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        env[name] = ""
    out, took = run_module(command, "Skagway", "--search", "local", env=env)
    assert out.returncode == 1
    assert "the model hub cannot be reached" in out.stderr
    assert "pass --model with a local folder" in out.stderr and "tiny-model" in out.stderr
    assert "Traceback" not in out.stderr and "Retrying" not in out.stderr
    assert took < 10, f"{took:.1f} s to fail"
    offline, took = run_module(command, "Skagway", env={**env, "HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "HF_HUB_OFFLINE is set" in offline.stderr
    assert took < 10, f"{took:.1f} s to fail"

"""python -m searchduel ...: JSON shapes, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
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

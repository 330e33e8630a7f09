"""The Results view and the `results` / `export` commands over a real store."""

from __future__ import annotations

import io
import json

import pytest

from searchduel.cli import main
from searchduel.render.results import results_view
from searchduel.store import Comparison, Store, read_export


@pytest.fixture
def data_dir(tmp_path):
    """A store with 10 votes: search 5 (3 blind), plain 2, tie 2, both bad 1."""
    with Store(tmp_path / "searchduel.sqlite3") as store:
        votes = [
            ("search", True, "local"),
            ("search", True, "local"),
            ("search", True, "duckduckgo"),
            ("search", False, "duckduckgo"),
            ("search", False, "duckduckgo"),
            ("plain", False, "duckduckgo"),
            ("plain", True, "local"),
            ("tie", False, "local"),
            ("tie", False, "local"),
            ("both_bad", True, "local"),
        ]
        for i, (choice, blind, provider) in enumerate(votes):
            cid = store.save(
                Comparison(f"question {i % 4}", "plain " * i, "search " * 3, provider=provider)
            )
            store.vote(cid, session=f"s{i}", choice=choice, blind=blind)
    return tmp_path


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_results_json_has_the_promised_keys_and_numbers(capsys, data_dir):
    code, out, _ = run_cli(capsys, "results", "--json", "--data-dir", str(data_dir))
    assert code == 0
    r = json.loads(out)
    assert (r["votes"], r["search_wins"], r["plain_wins"], r["ties"], r["both_bad"]) == (
        10,
        5,
        2,
        2,
        1,
    )
    assert r["search_win_share"] == pytest.approx(5 / 7)
    assert r["wilson_low"] < 5 / 7 < r["wilson_high"]
    assert r["ties_half_share"] == pytest.approx(6.5 / 10)
    assert r["prompts"] == 4
    assert {g["name"] for g in r["by_provider"]} == {"local", "duckduckgo"}


def test_results_blind_only(capsys, data_dir):
    code, out, _ = run_cli(capsys, "results", "--json", "--blind-only", "--data-dir", str(data_dir))
    r = json.loads(out)
    assert code == 0 and r["blind_only"] is True
    assert (r["votes"], r["search_wins"], r["plain_wins"], r["both_bad"]) == (5, 3, 1, 1)


def test_results_text(capsys, data_dir):
    code, out, _ = run_cli(capsys, "results", "--data-dir", str(data_dir))
    assert code == 0
    assert "10 votes" in out and "71.4%" in out and "sign test" in out


def test_results_say_how_many_votes_were_refused_and_why(capsys, data_dir):
    with Store(data_dir / "searchduel.sqlite3") as store:
        for reason in ("rate_limited", "rate_limited", "duplicate"):
            store.count_refusal(reason)
    code, out, _ = run_cli(capsys, "results", "--data-dir", str(data_dir))
    assert code == 0 and "3 votes refused" in out and "over the address's vote limit 2" in out
    code, out, _ = run_cli(capsys, "results", "--json", "--data-dir", str(data_dir))
    assert json.loads(out)["refused"] == {"rate_limited": 2, "duplicate": 1}


def test_results_same_store_through_the_variable(capsys, data_dir, monkeypatch):
    monkeypatch.setenv("SEARCHDUEL_DATA_DIR", str(data_dir))
    code, out, _ = run_cli(capsys, "results", "--json")
    assert code == 0 and json.loads(out)["votes"] == 10


def test_export_to_a_file_and_to_stdout(capsys, data_dir, tmp_path):
    target = tmp_path / "votes.csv"
    code, _, err = run_cli(
        capsys, "export", "--format", "csv", "--out", str(target), "--data-dir", str(data_dir)
    )
    assert code == 0 and "10 comparisons" in err
    records = read_export(target, "csv")
    assert sum(len(r["votes"]) for r in records) == 10
    code, out, _ = run_cli(capsys, "export", "--format", "jsonl", "--data-dir", str(data_dir))
    assert code == 0
    assert read_export(out, "jsonl") == records
    assert "session" not in out


def test_missing_or_disabled_store_is_a_clear_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "results", "--data-dir", str(tmp_path / "none"))
    assert code == 1 and "no store at" in err and "SEARCHDUEL_DATA_DIR" in err
    assert not (tmp_path / "none").exists()
    code, _, err = run_cli(capsys, "export", "--store", "false", "--data-dir", str(tmp_path))
    assert code == 1 and "turned off" in err


def test_results_view_draws_its_charts(data_dir):
    with Store(data_dir / "searchduel.sqlite3") as store:
        view = results_view(store)
        blind = results_view(store, blind_only=True)
    assert set(view.figures) == {"shares", "over_time", "length_bias"}
    for fig in view.figures.values():
        png = io.BytesIO()
        fig.savefig(png, format="png")
        assert png.getvalue().startswith(b"\x89PNG")
    assert "10 votes" in view.markdown and "5 blind votes" in blind.markdown
    shares = view.figures["shares"].axes[0]
    labels = [t.get_text() for t in shares.get_yticklabels()]
    assert "provider: local" in labels and "all (ties out)" in labels


def test_results_view_of_an_empty_store(tmp_path):
    with Store(tmp_path / "empty.sqlite3") as store:
        view = results_view(store)
    assert view.markdown == "No votes yet."
    assert view.figures["over_time"] is None and view.figures["length_bias"] is None
    view.figures["shares"].savefig(io.BytesIO(), format="png")
    off = results_view(Store(None), charts=False)
    assert "turned off" in off.markdown and off.summary["votes"] == 0


def test_ask_save_stores_the_comparison(capsys, tmp_path, tiny_model_dir):
    code, out, _ = run_cli(
        capsys,
        "ask",
        "What currency does Belize use?",
        "--json",
        "--save",
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
        "--dense",
        "false",
        "--max-new-tokens",
        "8",
        "--data-dir",
        str(tmp_path),
    )
    result = json.loads(out)
    with Store(tmp_path / "searchduel.sqlite3", create=False) as store:
        stored = store.get(result["id"])
    assert stored.prompt == "What currency does Belize use?"
    assert stored.search_answer == result["search"]["answer"] and stored.context
    assert code == 0


def test_bench_store_measures_both_targets(tmp_path):
    import argparse

    from searchduel.bench import store as bench_store
    from searchduel.config import Settings

    args = argparse.Namespace(store_rounds=20, store_votes=300)
    results = {r.name: r for r in bench_store.run(args, Settings())}
    save = results["store a comparison p95"]
    assert save.unit == "ms" and save.value > 0 and save.target == "<= 20"
    view = results["results view, 300 votes"]
    assert view.unit == "s" and view.value > 0 and view.target == "<= 1"


def test_one_vote_is_said_in_the_singular_and_its_thin_charts_are_a_note(tmp_path, capsys):
    """1 vote, 1 decisive vote: no "1 votes"; the charts over time and by length wait for
    CHART_MIN_DECISIVE decisive votes (an empty plot with ticks 0.945...1.050 before)."""
    from searchduel.config import CHART_MIN_DECISIVE

    with Store(tmp_path / "searchduel.sqlite3") as store:
        cid = store.save(Comparison("q", "plain", "search search", provider="local"))
        store.vote(cid, session="s", choice="search", blind=False)
        view = results_view(store)
    text = view.markdown
    assert "**1 vote** on 1 prompt:" in text and "1 votes" not in text
    assert "of 1 decisive vote (" in text and "1 decisive votes" not in text
    assert view.figures["over_time"] is None and view.figures["length_bias"] is None
    assert f"appear from {CHART_MIN_DECISIVE} decisive votes" in text and "1 so far" in text
    code, out, _ = run_cli(capsys, "results", "--data-dir", str(tmp_path))
    assert code == 0 and "1 vote," in out and "1 votes" not in out
    assert "appear from" not in out, "the CLI draws no charts, so it promises none"


def test_enough_votes_draw_every_chart_with_short_labels(data_dir):
    with Store(data_dir / "searchduel.sqlite3") as store:
        view = results_view(store)
    assert all(fig is not None for fig in view.figures.values())
    assert "appear from" not in view.markdown
    ax = view.figures["length_bias"].axes[0]
    edges = [t.get_text() for t in ax.get_xticklabels()]
    counts = [t.get_text() for t in ax.get_xticklabels(minor=True)]
    assert edges == ["−1k", "−300", "−100", "+100", "+300", "+1k"]
    assert len(counts) == 7 and all(c.startswith("n=") for c in counts)
    assert not [t for t in ax.texts if t.get_text().startswith("n=")], "no labels on the axis"
    over = view.figures["over_time"].axes[0]
    assert over.get_xlim()[0] >= 1, "the curve starts at the first decisive vote"

"""bench retrieval: recall against baselines on a small corpus, and the scale timing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from searchduel.bench import retrieval
from searchduel.config import Settings

DOCS = {
    "lighthouse.md": "# Harbour Lighthouse\n\n"
    + "The tower stands on the northern breakwater of the harbour. " * 40
    + "\n\n## History\n\nThe harbour lighthouse was first lit in 1874 by the port board.\n",
    "glacier.txt": "Glacier Walks\n\n"
    + "Walkers meet at the visitor centre car park. " * 40
    + "\n\nA three-hour glacier walk costs about 95 dollars with crampons.\n",
    "cheese.md": "# Cheese Rolling\n\nVillagers chase a nine-pound Double Gloucester down "
    "Cooper's Hill every spring.\n",
}
QA = [
    {
        "id": "1",
        "question": "When was the harbour lighthouse first lit?",
        "answers": ["1874"],
        "doc": "lighthouse.md",
    },
    {
        "id": "2",
        "question": "How much is a glacier walk?",
        "answers": ["95 dollars"],
        "doc": "glacier.txt",
    },
    {
        "id": "3",
        "question": "What cheese is chased down the hill?",
        "answers": ["Double Gloucester"],
        "doc": "cheese.md",
    },
]


def _args(tmp_path: Path, **extra) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    retrieval.add_arguments(parser)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in QA), encoding="utf-8")
    argv = ["--questions", str(qa), "--scale-docs", "0", "--budgets", "300"]
    if "squad" not in extra:
        argv += ["--squad", ""]  # the shared SQuAD set is measured by the bench, not here
    for k, v in extra.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return parser.parse_args(argv)


def test_recall_and_baselines_on_a_small_corpus(tmp_path: Path, monkeypatch) -> None:
    # the estimate counter keeps this test fast; budgets with the real tokenizer are
    # tested in test_pack
    monkeypatch.setattr(retrieval, "PHI3_TOKENIZER", tmp_path / "no-tokenizer")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    misses = tmp_path / "misses.jsonl"
    args = _args(tmp_path, misses=misses)
    results = {r.name: r for r in retrieval.run(args, Settings(corpus=str(corpus)))}
    assert results["recall (ours)"].value == 1.0 and results["recall (ours)"].passed
    # the headline is the default pipeline, dense re-ranking included; lexical is measured too
    assert "dense on" in results["context tokens (ours)"].note
    assert results["recall (ours)"].value == results["recall ours@2000+dense"].value
    assert "recall ours@2000" in results
    assert results["recall oracle"].value == 1.0
    assert results["gold doc in pages"].value == 1.0
    for name in ("head", "bm25-120w", "snippets", "ours@300"):
        assert 0 <= results[f"recall {name}"].value <= 1
        assert results[f"tokens {name}"].value > 0
    assert results["tokens ours@300"].value <= 300
    assert results["index build"].value > 0 and results["query time"].value > 0
    assert misses.read_text() == ""


def test_answer_matching_is_whole_word_and_folded() -> None:
    assert retrieval.contains_answer("It was lit in 1874.", ["1874"])
    assert not retrieval.contains_answer("It was lit in 18745.", ["1874"])
    assert retrieval.contains_answer("Capital: São Paulo", ["sao paulo"])
    assert retrieval.contains_answer("about 2,850 km long", ["2,850 km"])
    assert not retrieval.contains_answer("anything", [""])


def test_truncate_tokens_keeps_the_longest_prefix() -> None:
    text = "one two three four five six"
    out = retrieval.truncate_tokens(text, 3, lambda t: len(t.split()))
    assert out.split() == ["one", "two", "three"]


@pytest.mark.slow
def test_scale_400_documents_index_in_seconds_query_under_a_second() -> None:
    build_s, _mean, q_p95, size = retrieval.measure_scale(400, queries=10)
    assert size > 14_000_000
    assert build_s < 60  # generous for a loaded CI box; the bench reports the real figure
    assert q_p95 < 0.5


def test_generated_corpus_is_deterministic(tmp_path: Path) -> None:
    a = retrieval.generate_corpus(tmp_path / "a", 3, doc_chars=3000)
    b = retrieval.generate_corpus(tmp_path / "b", 3, doc_chars=3000)
    assert a == b
    assert (tmp_path / "a" / "doc0000.md").read_text() == (
        tmp_path / "b" / "doc0000.md"
    ).read_text()


def test_squad_loader_reads_the_set_or_says_why_not(tmp_path: Path) -> None:
    missing = retrieval.load_squad(tmp_path / "nowhere")
    assert isinstance(missing, str) and "no SQuAD dev set" in missing
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "Jaws.txt").write_text("Title: Jaws\n\nJaws is a 1975 film.\n")
    item = {"id": "q1", "question": "When?", "match": ["1975", "in 1975"], "gold_doc": "Jaws.txt"}
    (tmp_path / "questions.json").write_text(json.dumps([item]))
    corpus, questions = retrieval.load_squad(tmp_path)
    assert corpus == tmp_path / "corpus"
    assert questions == [retrieval.QA("q1", "When?", ("1975", "in 1975"), "Jaws.txt")]
    (tmp_path / "questions.json").write_text("[{}]")
    assert "unreadable" in retrieval.load_squad(tmp_path)


def test_bench_skips_the_squad_set_with_a_reason_when_shared_data_is_absent(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(retrieval, "PHI3_TOKENIZER", tmp_path / "no-tokenizer")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    args = _args(tmp_path, squad=tmp_path / "no-shared")
    results = {r.name: r for r in retrieval.run(args, Settings(corpus=str(corpus), dense=False))}
    assert results["squad-dev"].note.startswith("skipped: no SQuAD dev set")
    assert not any(name.startswith("squad-dev recall") for name in results)
    # the per-stage timings of the project set are reported
    for stage in ("search", "chunk", "bm25", "pack"):
        assert results[f"stage {stage}"].value > 0


def test_bench_measures_a_squad_style_set_beside_the_project_set(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(retrieval, "PHI3_TOKENIZER", tmp_path / "no-tokenizer")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    squad = tmp_path / "squad"
    (squad / "corpus").mkdir(parents=True)
    for name, text in DOCS.items():
        (squad / "corpus" / (Path(name).stem + ".txt")).write_text(text, encoding="utf-8")
    (squad / "questions.json").write_text(
        json.dumps(
            [
                {
                    "id": q["id"],
                    "question": q["question"],
                    "match": q["answers"],
                    "gold_doc": Path(q["doc"]).stem + ".txt",
                }
                for q in QA
            ]
        )
    )
    args = _args(tmp_path, squad=squad)
    results = {r.name: r for r in retrieval.run(args, Settings(corpus=str(corpus), dense=False))}
    assert results["squad-dev recall (ours)"].value == 1.0
    assert results["squad-dev recall over the best baseline"].passed
    for name in ("head", "bm25-120w", "snippets", "oracle", "ours@1000", "ours@2000"):
        assert 0 <= results[f"squad-dev recall {name}"].value <= 1
    assert results["squad-dev stage bm25"].value > 0

"""The judge: sentence splitting, labels, the properties of the checker, the scorer, `ground`."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED_DATA, require_shared
from searchduel.cli import main
from searchduel.judge import ground, ground_record
from searchduel.judge.metrics import score
from searchduel.judge.sentences import split_sentences

NOUNS = [
    "harbour",
    "lighthouse",
    "tower",
    "glacier",
    "walkers",
    "village",
    "cheese",
    "market",
    "river",
    "bridge",
    "museum",
    "temple",
    "canal",
    "forest",
    "valley",
    "railway",
    "station",
    "orchard",
    "vineyard",
    "castle",
    "quarry",
]
VERBS = [
    "opened",
    "restored",
    "painted",
    "guarded",
    "crossed",
    "photographed",
    "measured",
    "rebuilt",
]
NAMES = [
    "Lamanai",
    "Skagway",
    "Cozumel",
    "Danube",
    "Orinoco",
    "Tallinn",
    "Kyoto",
    "Valparaiso",
    "Tromso",
    "Zanzibar",
]
OTHER_NAMES = ["Reykjavik", "Marrakesh", "Ushuaia", "Hobart", "Tbilisi", "Windhoek"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
OTHER_MONTHS = ["September", "October", "November", "December"]


def make_sentence(rng: random.Random) -> str:
    n1, n2 = rng.sample(NOUNS, 2)
    return (
        f"The {n1} near {rng.choice(NAMES)} {rng.choice(VERBS)} {rng.randint(2, 999)} "
        f"{n2}s in {rng.choice(MONTHS)} {rng.randint(1800, 1999)}."
    )


def make_sources(rng: random.Random, n: int = 3) -> list[str]:
    return [" ".join(make_sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(n)]


seeds = st.integers(min_value=0, max_value=2**32 - 1)


# --- sentences ----------------------------------------------------------------------------


def test_split_keeps_citations_list_items_and_marks_what_is_not_checked():
    text = (
        "Sure. Paris is the capital of France [1]. It has 2.1 million people. [2] Is it big?\n"
        "## Facts\n1. The Seine flows through the city.\n- St. Louis is elsewhere, e.g. Missouri."
    )
    got = [(s.text, s.kind) for s in split_sentences(text)]
    assert got == [
        ("Sure.", "fragment"),
        ("Paris is the capital of France [1].", "claim"),
        ("It has 2.1 million people. [2]", "claim"),
        ("Is it big?", "question"),
        ("## Facts", "heading"),
        ("1. The Seine flows through the city.", "claim"),
        ("- St. Louis is elsewhere, e.g. Missouri.", "claim"),
    ]
    for s in split_sentences(text):
        assert text[s.start : s.end] == s.text


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seeds)
def test_a_sentence_copied_from_a_source_is_supported(seed):
    rng = random.Random(seed)
    sources = make_sources(rng)
    pick = rng.choice(split_sentences(rng.choice(sources)))
    g = ground(pick.text, sources)
    assert [s.label for s in g.sentences] == ["supported"]
    assert g.summary["grounded_share"] == 1.0
    ev = g.sentences[0].evidence
    assert pick.text in sources[ev["source"] - 1][ev["start"] : ev["end"]]


def swapped(sentence: str, sources: list[str], rng: random.Random) -> str:
    """The sentence with one number, month or place swapped for one no source mentions."""
    words = sentence.rstrip(".").split()
    kind = rng.choice(("number", "month", "name"))
    everything = " ".join(sources)
    for i, w in enumerate(words):
        if kind == "number" and w.isdigit():
            new = str(int(w) + rng.randint(1, 50))
            while new in everything:
                new = str(int(new) + 1)
            words[i] = new
            break
        if kind == "month" and w in MONTHS:
            words[i] = rng.choice(OTHER_MONTHS)
            break
        if kind == "name" and w in NAMES:
            words[i] = rng.choice(OTHER_NAMES)
            break
    return " ".join(words) + "."


def test_one_swapped_number_date_or_name_is_unsupported():
    rng = random.Random(17)
    cases = 200
    flagged = 0
    for _ in range(cases):
        sources = make_sources(rng)
        pick = rng.choice(split_sentences(rng.choice(sources))).text
        changed = swapped(pick, sources, rng)
        assert changed != pick
        flagged += ground(changed, sources).sentences[0].label == "unsupported"
    assert flagged / cases >= 0.95


@settings(max_examples=60, deadline=None)
@given(seeds)
def test_removing_evidence_never_raises_the_grounded_share(seed):
    rng = random.Random(seed)
    sources = make_sources(rng, 4)
    pool = [s.text for src in sources for s in split_sentences(src)]
    answer = " ".join(
        rng.choice(pool) if rng.random() < 0.6 else make_sentence(rng) for _ in range(5)
    )
    full = ground(answer, sources).summary["grounded_share"]
    fewer = list(sources)
    del fewer[rng.randrange(len(fewer))]
    less = ground(answer, fewer).summary["grounded_share"]
    assert less <= full
    assert ground(answer, []).summary["grounded_share"] <= less


@settings(max_examples=40, deadline=None)
@given(seeds)
def test_citing_a_source_that_does_not_back_the_sentence_lowers_citation_precision(seed):
    rng = random.Random(seed)
    backing, other = make_sources(rng, 2)
    claim = split_sentences(backing)[0].text.rstrip(".")
    rest = "The museum keeps its old maps in the cellar beside the harbour archive."
    right = ground(f"{claim} [1]. {rest} [2].", [backing, other], citations=True)
    wrong = ground(f"{claim} [2]. {rest} [2].", [backing, other], citations=True)
    assert right.sentences[0].citations == [1] and wrong.sentences[0].citations == [2]
    assert wrong.citation["precision"] < right.citation["precision"]


def test_citation_recall_counts_supported_sentences_that_cite():
    sources = ["The lighthouse on the northern breakwater was first lit in 1874 by the board."]
    g = ground(
        "The lighthouse was first lit in 1874 [1]. The lighthouse stands on the northern "
        "breakwater.",
        sources,
        citations=True,
    )
    assert [s.label for s in g.sentences] == ["supported", "supported"]
    assert g.citation == {"citations": 1, "backing": 1, "precision": 1.0, "recall": 0.5}


def test_not_checked_sentences_stay_out_of_the_share():
    g = ground("Is it open today? Yes. The glacier walk costs 95 dollars.", ["Walks: 95 dollars."])
    assert [s.label for s in g.sentences][:2] == ["not checked", "not checked"]
    assert g.summary["checked"] == 1


# --- the scorer ---------------------------------------------------------------------------


def test_scores_against_hand_computed_values():
    data = [
        # tokens: alpha beta gamma delta; gold marks "beta"
        {"id": "a", "response": "alpha beta gamma delta", "spans": [{"start": 6, "end": 10}]},
        # no gold span: predicting one is a response false positive
        {"id": "b", "response": "one two", "spans": []},
        # gold span missed entirely
        {"id": "c", "response": "x y", "spans": [{"start": 0, "end": 1}]},
    ]
    preds = {
        "a": {"hallucinated": True, "spans": [{"start": 8, "end": 13}]},  # beta, gamma
        "b": {"hallucinated": True, "spans": [{"start": 0, "end": 3}]},  # one
    }
    s = score(data, preds)
    # responses: tp a, fp b, fn c -> P 1/2, R 1/2
    assert (s["response_p"], s["response_r"], s["response_f1"]) == (0.5, 0.5, 0.5)
    # tokens: tp beta; fp gamma, one; fn x -> P 1/3, R 1/2, F1 0.4
    assert s["token_p"] == pytest.approx(1 / 3)
    assert s["token_r"] == pytest.approx(1 / 2)
    assert s["token_f1"] == pytest.approx(0.4)


def test_scores_match_the_data_folders_score_py(tmp_path):
    folder = require_shared(SHARED_DATA / "grounding")
    spec = importlib.util.spec_from_file_location("ragtruth_score", folder / "score.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    data = ref.load_jsonl(folder / "ragtruth-qa-dev.jsonl")[:80]
    preds = {r["id"]: ground_record(r) for r in data}
    ours = score(data, preds)
    resp, tok = ref.score(data, preds)
    assert ours["response_counts"] == {k: v for k, v in resp.items() if v}
    assert ours["token_counts"] == {k: v for k, v in tok.items() if v}
    assert ours["response_f1"] == ref.prf(resp["tp"], resp["fp"], resp["fn"])[2]


# --- the ground command -------------------------------------------------------------------


def test_ground_cli_round_trip_and_a_bad_line_named(tmp_path, capsys):
    good = {
        "id": "r1",
        "question": "When was the lighthouse lit?",
        "sources": ["The harbour lighthouse was first lit in 1874 by the port board."],
        "response": "The lighthouse was first lit in 1874. It was painted red by Vikings in 912.",
    }
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps(good) + "\n" + '{"id": "r2", "response": "y", "sources": "x"}\n', "utf-8"
    )
    code = main(["ground", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert f"{path} line 2:" in captured.err and "sources" in captured.err
    (line,) = [json.loads(x) for x in captured.out.splitlines()]
    assert line["id"] == "r1" and line["hallucinated"] is True
    (span,) = line["spans"]
    assert good["response"][span["start"] : span["end"]] == "It was painted red by Vikings in 912."

    path.write_text(json.dumps(good) + "\n", "utf-8")
    assert main(["ground", str(path)]) == 0


def test_conversions_acronyms_and_list_commas_are_not_missing_facts():
    from searchduel.judge.features import Evidence, features

    ev = Evidence(
        [
            "Reheat food to 165°F and keep rooms at 60-75°F. Boxes 1,2,3 and 5 of the"
            " 1,000 forms go to the ACS. Employers pay lower NICs."
        ]
    )

    def missing(sentence):  # (numbers, names) the evidence never mentions
        f, _ = features(sentence, ev)
        return f[3], f[4]

    assert missing("Reheat food to at least 165°F (74°C) before serving.") == (0, 0)
    assert missing("Keep the rooms at 60-75°F (15-24°C) all year.") == (0, 0)
    assert missing("Reheat food to at least 170°F (74°C) before serving.") == (2, 0)
    assert missing("Boxes 1, 2, 3, and 5 of the 1000 forms are sent.") == (0, 0)
    assert missing("Boxes 1, 2, 4, and 5 of the 100 forms are sent.") == (2, 0)
    assert missing("Employers pay lower National Insurance Contributions (NICs).") == (0, 0)
    assert missing("Forms go to the American Cancer Society (ACS) each year.") == (0, 0)
    assert missing("Forms go to the Bristol Cricket Society (ACS) each year.") == (0, 2)


def test_the_response_stage_decides_whether_ground_output_has_spans():
    from dataclasses import replace

    from searchduel.judge.ground import load_model

    shipped = load_model()
    assert shipped.response_weights  # weights.json carries the response stage
    sources = ["The harbour lighthouse was first lit in 1874 by the port board."]
    record = {"id": "r", "question": "", "sources": sources}
    weak_claim = "The lighthouse was first lit by the harbour board in the evening."
    # the stage says no: no spans, even for a claim over the claim threshold
    never = replace(shipped, response_bias=-30.0, unsupported_at=0.01)
    out = ground_record({**record, "response": weak_claim}, never)
    assert out == {"id": "r", "hallucinated": False, "spans": []}
    # ... unless a claim holds a number or name the sources never mention (the hard rule)
    wrong = "The lighthouse was first lit in 1901 by Vikings."
    out = ground_record({**record, "response": wrong}, never)
    assert out["hallucinated"] and out["spans"]
    # the stage says yes and no claim passed the threshold: the worst claim is flagged
    always = replace(shipped, response_bias=30.0, unsupported_at=0.99)
    answer = f"The lighthouse was first lit in 1874. {weak_claim}"
    out = ground_record({**record, "response": answer}, always)
    (span,) = out["spans"]
    assert out["hallucinated"] and span["start"] >= answer.index(weak_claim)
    # without a response stage, a response is hallucinated iff a claim is unsupported
    plain = replace(shipped, response_weights=())
    assert ground_record({**record, "response": sources[0]}, plain)["hallucinated"] is False


def test_ground_cli_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["ground", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_grounding_events_judge_both_answers_against_the_search_sources():
    from searchduel.engine import grounding_events, summarize
    from searchduel.types import Event, Source

    source = "The harbour lighthouse was first lit in 1874 by the port board."
    answers = {
        "plain": "The lighthouse was first lit in 1901.",
        "search": "The lighthouse was first lit in 1874 [1].",
    }
    question = "When was the lighthouse lit?"
    events = [
        Event(
            "search", "sources", "", {"sources": [Source(1, "Lighthouse", "u")], "texts": [source]}
        ),
        Event("plain", "done", "", {"answer": answers["plain"]}),
        Event("search", "done", "", {"answer": answers["search"]}),
        *grounding_events(question, answers, [source]),
    ]
    assert [(e.column, e.kind) for e in events[-2:]] == [
        ("plain", "grounding"),
        ("search", "grounding"),
    ]
    assert not grounding_events(question, answers, []), "no sources, nothing judged"
    out = summarize(question, events)
    plain, search = out["plain"]["grounding"], out["search"]["grounding"]
    assert [s["label"] for s in plain["sentences"]] == ["unsupported"]
    assert [s["label"] for s in search["sentences"]] == ["supported"]
    ev = search["sentences"][0]["evidence"]
    assert ev["source"] == 1 and source[ev["start"] : ev["end"]] == ev["text"]
    assert search["citation"]["precision"] == 1.0 and plain["citation"] is None


def test_summary_line_per_column():
    from searchduel.judge.ground import summary_line

    summary = {"supported": 9, "weak": 2, "unsupported": 1, "not checked": 3, "checked": 12}
    assert summary_line(summary, "search") == (
        "9 of 12 claims backed by its sources · 2 weak · 1 unsupported"
    )
    assert summary_line({**summary, "weak": 0}, "plain").startswith(
        "9 of 12 claims agree with the sources · 1 unsupported"
    )
    assert summary_line({**summary, "checked": 0}, "plain") == "no claims to check"

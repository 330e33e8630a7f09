"""Vote statistics against reference values, and the properties each figure promises."""

from __future__ import annotations

import math
import random

import pytest

from searchduel.config import CURVE_POINTS
from searchduel.judge.stats import (
    bootstrap_ties_half,
    cumulative,
    length_bias,
    sign_test,
    summarize_votes,
    tally,
    ties_half_share,
    wilson,
)
from searchduel.store import VoteRow

# Computed once with scipy 1.17.1: binomtest(k, n).proportion_ci(method="wilson") and
# binomtest(k, n, 0.5).pvalue (two-sided). scipy is not a dependency of the project.
WILSON_REFERENCE = [
    (50, 100, 0.4038315303659956, 0.5961684696340044),
    (60, 100, 0.5020025867910618, 0.6905987135675411),
    (3, 10, 0.10779126740630102, 0.6032218525388546),
    (9, 12, 0.46769466506643426, 0.9110583316059453),
    (0, 10, 0.0, 0.27753279986288926),
    (7, 7, 0.6456695649333126, 1.0),
    (520, 1000, 0.48901772465751897, 0.5508292050030588),
]
SIGN_TEST_REFERENCE = [
    (50, 100, 1.0),
    (60, 100, 0.05688793364098089),
    (40, 100, 0.05688793364098089),
    (61, 100, 0.035200200217704855),
    (0, 10, 0.001953125),
    (3, 10, 0.34375),
    (9, 12, 0.14599609375),
    (7, 7, 0.015625),
    (520, 1000, 0.2174482932041415),
    (1, 1, 1.0),
]


def row(choice, *, prompt="q", model="m", provider="local", blind=False, created="", p=100, s=100):
    return VoteRow("x" * 22, choice, "plain", blind, created, prompt, model, provider, p, s)


def test_wilson_fifty_of_a_hundred_is_the_textbook_interval():
    low, high = wilson(50, 100)
    assert (round(low, 3), round(high, 3)) == (0.404, 0.596)


@pytest.mark.parametrize(("k", "n", "low", "high"), WILSON_REFERENCE)
def test_wilson_matches_reference(k, n, low, high):
    got = wilson(k, n)
    assert got == pytest.approx((low, high), abs=1e-12)


def test_wilson_with_no_votes_says_nothing_is_known():
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n", "p"), SIGN_TEST_REFERENCE)
def test_sign_test_matches_reference(k, n, p):
    assert sign_test(k, n) == pytest.approx(p, rel=1e-12)


def test_sign_test_is_exact_for_many_votes():
    # 5,100 of 10,000: the normal approximation gives 0.0455; the exact tail is a bit larger
    p = sign_test(5100, 10_000)
    assert 0.04 < p < 0.05
    assert sign_test(5100, 10_000) == sign_test(4900, 10_000)
    assert sign_test(0, 0) == 1.0


def test_tally_leaves_ties_out_of_the_win_share():
    rows = [row("search")] * 6 + [row("plain")] * 2 + [row("tie")] * 3 + [row("both_bad")]
    t = tally(rows)
    assert (t.votes, t.search_wins, t.plain_wins, t.ties, t.both_bad) == (12, 6, 2, 3, 1)
    assert t.search_win_share == 0.75
    assert (t.wilson_low, t.wilson_high) == wilson(6, 8)
    assert t.sign_test_p == sign_test(6, 8)


def test_ties_and_both_bad_count_half():
    rows = [row("search"), row("plain"), row("tie"), row("both_bad")]
    assert ties_half_share(rows) == 0.5
    assert ties_half_share([row("search"), row("tie")]) == 0.75
    assert ties_half_share([]) is None


def _mixed(n=300, prompts=40, seed=3):
    rng = random.Random(seed)
    choices = ("search", "plain", "tie", "both_bad")
    return [
        row(rng.choices(choices, (5, 3, 1, 1))[0], prompt=f"prompt {rng.randrange(prompts)}")
        for _ in range(n)
    ]


def test_bootstrap_is_identical_for_a_fixed_seed_and_moves_with_another():
    rows = _mixed()
    a = bootstrap_ties_half(rows, seed=7)
    b = bootstrap_ties_half(rows, seed=7)
    c = bootstrap_ties_half(rows, seed=8)
    assert a == b
    assert a != c
    share = ties_half_share(rows)
    assert a[0] < share < a[1]


def test_bootstrap_resamples_prompts_not_votes():
    # 200 votes on ONE prompt: resampling prompts can only redraw that prompt, so the interval
    # is the point; resampling votes would give a wide interval.
    rows = [row("search")] * 120 + [row("plain")] * 80
    low, high = bootstrap_ties_half(rows)
    assert low == high == pytest.approx(0.6)
    # the same votes spread over 200 prompts: a real interval around 0.6
    spread = [r._replace(prompt=f"p{i}") for i, r in enumerate(rows)]
    low, high = bootstrap_ties_half(spread)
    assert 0.5 < low < 0.6 < high < 0.7


def test_prompts_differing_in_case_and_spacing_are_one_cluster():
    rows = [
        row("search", prompt="Why is the sky blue?"),
        row("plain", prompt=" why is  the SKY blue? "),
    ]
    assert summarize_votes(rows)["prompts"] == 1


def test_summary_splits_by_model_and_provider_and_filters_blind():
    rows = (
        [row("search", model="phi3", provider="duckduckgo", blind=True)] * 4
        + [row("plain", model="phi3", provider="local")] * 2
        + [row("search", model="tiny", provider="local", blind=True)]
    )
    s = summarize_votes(rows)
    assert s["votes"] == 7 and s["search_wins"] == 5 and s["plain_wins"] == 2
    by_model = {g["name"]: g for g in s["by_model"]}
    assert by_model["phi3"]["votes"] == 6 and by_model["phi3"]["search_win_share"] == 4 / 6
    assert by_model["tiny"]["search_wins"] == 1
    assert [g["name"] for g in s["by_provider"]] == ["duckduckgo", "local"]  # most votes first
    assert s["by_provider"][1]["plain_wins"] == 2
    blind = summarize_votes(rows, blind_only=True)
    assert blind["votes"] == 5 and blind["plain_wins"] == 0 and blind["blind_only"] is True


def test_summary_of_no_votes_is_empty_not_an_error():
    s = summarize_votes([])
    assert s["votes"] == 0
    assert s["search_win_share"] is None and s["bootstrap_low"] is None
    assert s["over_time"] == [] and s["length_bias"]["longer_win_share"] is None


def test_cumulative_share_follows_time_and_ends_at_the_overall_share():
    rows = [
        row("search" if i % 3 else "plain", created=f"2026-01-01T00:{i:02d}") for i in range(60)
    ]
    rows.reverse()  # order of arrival must come from `created`, not from the list
    pts = cumulative(rows)
    assert [p["decisive"] for p in pts] == list(range(1, 61))
    assert pts[0]["search_win_share"] == 0.0  # minute 00 is a "plain" vote
    assert pts[-1]["search_win_share"] == tally(rows).search_win_share
    for p in pts:
        assert p["wilson_low"] <= p["search_win_share"] <= p["wilson_high"]


def test_cumulative_curve_is_thinned_but_keeps_its_ends():
    rows = [row("search", created=f"{i:06d}") for i in range(3 * CURVE_POINTS)]
    pts = cumulative(rows)
    assert len(pts) <= CURVE_POINTS
    assert pts[0]["decisive"] == 1 and pts[-1]["decisive"] == 3 * CURVE_POINTS


def test_length_bias_bins_and_longer_answer_share():
    rows = [
        row("search", p=100, s=2000),  # +1900: last bin
        row("search", p=100, s=400),  # +300: "+100 … +300"
        row("plain", p=500, s=400),  # -100: "-300 … -100"
        row("plain", p=100, s=100),  # equal length: middle bin, not in the longer-won share
        row("tie", p=100, s=900),  # ties are not decisive
    ]
    lb = length_bias(rows)
    by_label = {b["label"]: b for b in lb["bins"]}
    assert by_label["> +1000"]["search_wins"] == 1
    assert by_label["+100 … +300"]["decisive"] == 1
    assert by_label["-300 … -100"]["decisive"] == 1
    assert by_label["-100 … +100"]["decisive"] == 1
    assert sum(b["decisive"] for b in lb["bins"]) == 4
    # the longer answer won all three decisive votes where lengths differ
    assert (lb["longer_won"], lb["decisive_with_length_difference"]) == (3, 3)
    assert lb["longer_win_share"] == 1.0
    assert lb["longer_wilson_low"] == pytest.approx(wilson(3, 3)[0])


def test_summary_is_plain_json():
    import json

    s = summarize_votes(_mixed())
    again = json.loads(json.dumps(s))
    assert again == s
    assert not any(isinstance(v, float) and math.isnan(v) for v in s.values())

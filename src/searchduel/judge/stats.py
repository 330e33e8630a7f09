"""Vote statistics: is search-on better, by how much, and how sure can we be?

    vote rows (Store.vote_rows) ─► [blind only?] ─► tally ─┬─► win share excl. ties + Wilson 95%
                                                           ├─► ties as half + bootstrap over prompts
                                                           ├─► tie / both-bad rates, sign test
                                                           ├─► by model, by provider
                                                           ├─► cumulative share over time
                                                           └─► length bias (share per length bin)

Decisions, in one place:

- The headline is the search-on win share among decisive votes (ties and both-bad left
  out), with a Wilson score interval: unlike the normal approximation it stays inside
  [0, 1] and keeps its coverage with few votes or lopsided shares.
- "Both bad" is a tie for the ties-as-half share (as in Chatbot Arena's "tie (bothbad)"):
  neither answer was preferred.
- The ties-as-half interval is a bootstrap resampled over prompts, not votes: votes on the
  same prompt are not independent (one good retrieval wins them all), so resampling votes
  would make the interval too narrow. Percentile interval, BOOTSTRAP_RESAMPLES draws, a
  fixed seed: the same votes always give the same interval.
- The significance test is the two-sided exact sign test on decisive votes (binomial,
  p = 1/2), summed exactly in integers: no normal approximation, no scipy at run time.
- Length bias: among decisive votes, the share won by the longer answer, and the search-on
  share per bin of (search answer - plain answer) characters. Search answers cite sources
  and run longer; if long answers win whatever they say, it shows here.
- Order matters for votes (the first votes on a fresh page are unlike later ones), so the
  cumulative share over time is shown with its interval, not only the final number.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ..config import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CURVE_POINTS, LENGTH_BIAS_EDGES

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
# Resamples drawn per batch: bounds the index matrix to ~200 x prompts integers in memory.
_BATCH = 200
_POINTS = {"search": 1.0, "plain": 0.0, "tie": 0.5, "both_bad": 0.5}


class VoteLike(Protocol):
    """What the statistics read of a vote (store.VoteRow has it)."""

    choice: str
    blind: bool
    created: str
    prompt: str
    model: str
    provider: str
    plain_chars: int
    search_chars: int


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(k: int, n: int) -> float:
    """Two-sided exact sign test: P(a result at least this lopsided | p = 1/2)."""
    if n <= 0:
        return 1.0
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    term, tail = 1, 0  # C(n, 0); summed exactly in integers
    for i in range(m + 1):
        tail += term
        term = term * (n - i) // (i + 1)
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class Tally:
    """Counts of one set of votes and the win share with its Wilson interval."""

    votes: int
    search_wins: int
    plain_wins: int
    ties: int
    both_bad: int
    search_win_share: float | None  # among decisive votes (search + plain)
    wilson_low: float | None
    wilson_high: float | None
    sign_test_p: float

    @property
    def decisive(self) -> int:
        return self.search_wins + self.plain_wins

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decisive": self.decisive}


def tally(rows: Iterable[VoteLike]) -> Tally:
    counts = {"search": 0, "plain": 0, "tie": 0, "both_bad": 0}
    for r in rows:
        counts[r.choice] += 1
    s, p = counts["search"], counts["plain"]
    n = s + p
    low, high = wilson(s, n) if n else (None, None)
    return Tally(
        votes=sum(counts.values()),
        search_wins=s,
        plain_wins=p,
        ties=counts["tie"],
        both_bad=counts["both_bad"],
        search_win_share=s / n if n else None,
        wilson_low=low,
        wilson_high=high,
        sign_test_p=sign_test(s, n),
    )


@functools.lru_cache(maxsize=1 << 16)
def prompt_key(prompt: str) -> str:
    """Votes on the same prompt (spacing and case aside) form one bootstrap cluster."""
    return " ".join(prompt.split()).casefold()


def ties_half_share(rows: Sequence[VoteLike]) -> float | None:
    """Search-on share with ties and both-bad counted as half a win each."""
    if not rows:
        return None
    return sum(_POINTS[r.choice] for r in rows) / len(rows)


def bootstrap_ties_half(
    rows: Sequence[VoteLike],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the ties-as-half share, resampling prompts."""
    if not rows:
        return None
    index: dict[str, int] = {}
    cluster = np.fromiter(
        (index.setdefault(prompt_key(r.prompt), len(index)) for r in rows), np.int64, len(rows)
    )
    points = np.fromiter((_POINTS[r.choice] for r in rows), np.float64, len(rows))
    m = len(index)
    sums = np.bincount(cluster, weights=points, minlength=m)
    counts = np.bincount(cluster, minlength=m).astype(np.float64)
    rng = np.random.default_rng(seed)
    shares = np.empty(resamples)
    for start in range(0, resamples, _BATCH):
        b = min(_BATCH, resamples - start)
        pick = rng.integers(0, m, size=(b, m))
        shares[start : start + b] = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(shares, [tail, 100 - tail])
    return float(low), float(high)


def split(rows: Sequence[VoteLike], key: Callable[[VoteLike], str]) -> list[dict[str, Any]]:
    """One tally per group (model, provider, ...), the most-voted group first."""
    groups: dict[str, list[VoteLike]] = {}
    for r in rows:
        groups.setdefault(key(r) or "(unknown)", []).append(r)
    out = [{"name": name, **tally(g).as_dict()} for name, g in groups.items()]
    return sorted(out, key=lambda d: (-d["votes"], d["name"]))


def cumulative(rows: Sequence[VoteLike], points: int = CURVE_POINTS) -> list[dict[str, Any]]:
    """Search-on win share (decisive votes) after each vote in time order, with Wilson bands;
    at most `points` points, evenly spaced over the decisive votes, the last always kept."""
    decisive = sorted((r for r in rows if r.choice in ("search", "plain")), key=lambda r: r.created)
    n = len(decisive)
    if not n:
        return []
    wins = np.cumsum([r.choice == "search" for r in decisive])
    keep = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int))
    out = []
    for i in keep:
        k, total = int(wins[i]), int(i) + 1
        low, high = wilson(k, total)
        out.append(
            {
                "created": decisive[i].created,
                "decisive": total,
                "search_win_share": k / total,
                "wilson_low": low,
                "wilson_high": high,
            }
        )
    return out


def length_bias(
    rows: Sequence[VoteLike], edges: Sequence[int] = LENGTH_BIAS_EDGES
) -> dict[str, Any]:
    """Search-on win share per bin of length difference, and how often the longer one won."""
    bounds = [-math.inf, *edges, math.inf]
    decisive = [r for r in rows if r.choice in ("search", "plain")]
    groups: list[list[VoteLike]] = [[] for _ in range(len(bounds) - 1)]
    for r in decisive:  # bin i holds bounds[i] < difference <= bounds[i + 1]
        groups[bisect.bisect_left(edges, r.search_chars - r.plain_chars)].append(r)
    bins = []
    for (low, high), in_bin in zip(itertools.pairwise(bounds), groups, strict=True):
        t = tally(in_bin)
        bins.append(
            {
                "label": _bin_label(low, high),
                "low": None if low == -math.inf else low,
                "high": None if high == math.inf else high,
                "decisive": t.decisive,
                "search_wins": t.search_wins,
                "search_win_share": t.search_win_share,
                "wilson_low": t.wilson_low,
                "wilson_high": t.wilson_high,
            }
        )
    differ = [r for r in decisive if r.search_chars != r.plain_chars]
    longer = sum((r.choice == "search") == (r.search_chars > r.plain_chars) for r in differ)
    low, high = wilson(longer, len(differ)) if differ else (None, None)
    return {
        "unit": "characters, search answer minus plain answer",
        "bins": bins,
        "longer_won": longer,
        "decisive_with_length_difference": len(differ),
        "longer_win_share": longer / len(differ) if differ else None,
        "longer_wilson_low": low,
        "longer_wilson_high": high,
    }


def _bin_label(low: float, high: float) -> str:
    if low == -math.inf:
        return f"≤ {high:+d}"
    if high == math.inf:
        return f"> {low:+d}"
    return f"{low:+d} … {high:+d}"


def summarize_votes(
    rows: Sequence[VoteLike],
    *,
    blind_only: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Every figure of the Results view and `results --json`, JSON-ready."""
    if blind_only:
        rows = [r for r in rows if r.blind]
    t = tally(rows)
    boot = bootstrap_ties_half(rows, resamples=resamples, seed=seed)
    n = t.votes
    return {
        **t.as_dict(),
        "blind_only": blind_only,
        "tie_rate": t.ties / n if n else None,
        "both_bad_rate": t.both_bad / n if n else None,
        "ties_half_share": ties_half_share(rows),
        "bootstrap_low": boot[0] if boot else None,
        "bootstrap_high": boot[1] if boot else None,
        "bootstrap_resamples": resamples,
        "bootstrap_seed": seed,
        "prompts": len({prompt_key(r.prompt) for r in rows}),
        "by_model": split(rows, lambda r: r.model),
        "by_provider": split(rows, lambda r: r.provider),
        "over_time": cumulative(rows),
        "length_bias": length_bias(rows),
    }

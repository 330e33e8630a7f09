"""The Results view: the vote statistics as text and charts, with no Gradio in sight.

    Store.vote_rows(blind_only) ─► judge.stats.summarize_votes ─► summary (dict, JSON-ready)
                                                                 ├─► headline_markdown(summary)
                                                                 └─► figures(summary): shares,
                                                                     over time, length bias

`results_view(store)` gives all three; ui.py hands the figures to `gr.Plot` and the text to a
Markdown, and `python -m searchduel results` prints the same summary.

Decisions, in one place:

- Figures are `matplotlib.figure.Figure` objects on the Agg canvas, built without pyplot:
  no global figure registry (nothing leaks per request), no GUI backend, safe from the
  server's worker threads.
- Every share is drawn with its interval and the 50% line: a share without its interval
  is the commonest way to over-read a few votes.
- The charts over time and by answer length need CHART_MIN_DECISIVE decisive votes; with
  fewer their figure is None and the text says when they will appear (an empty plot with
  made-up ticks reads as a broken page).
- The two smaller charts are drawn 5.6 in wide with 9-10 pt text, so they still read when
  the page scales them to a phone's width; each length bin shows its count under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import CHART_MIN_DECISIVE
from ..judge.stats import summarize_votes
from .words import plural

SEARCH_COLOUR = "#2a7ab0"
NEUTRAL_COLOUR = "#888888"


@dataclass(frozen=True)
class ResultsView:
    """What the Results tab shows."""

    summary: dict[str, Any]
    markdown: str
    figures: dict[str, Any]  # name -> matplotlib Figure: "shares", "over_time", "length_bias"


def results_view(store: Any, *, blind_only: bool = False, charts: bool = True) -> ResultsView:
    """Statistics and charts over every stored vote (or the blind ones); a figure is None
    where there are too few votes to draw it, and the text says so."""
    summary = summarize_votes(store.vote_rows(blind_only=blind_only), blind_only=blind_only)
    text = headline_markdown(summary)
    if charts and summary["votes"]:
        text += chart_note(summary)
    if not getattr(store, "enabled", True):
        text = "Storing is turned off on this server (`--store false`): no votes are kept."
    return ResultsView(summary, text, figures(summary) if charts else {})


def chart_note(s: dict[str, Any]) -> str:
    """A line saying which charts wait for more votes ("" when every chart is drawn)."""
    if s["decisive"] >= CHART_MIN_DECISIVE:
        return ""
    return (
        f"\n\n*The charts of the share over time and by answer length appear from "
        f"{plural(CHART_MIN_DECISIVE, 'decisive vote')} (search on or off better; "
        f"{s['decisive']} so far).*"
    )


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def headline_markdown(s: dict[str, Any]) -> str:
    """The figures in words, for the top of the Results tab."""
    scope = "blind votes" if s["blind_only"] else "votes"
    if not s["votes"]:
        return f"No {scope} yet."
    lines = [
        f"**{plural(s['votes'], scope[:-1])}** on {plural(s['prompts'], 'prompt')}: "
        "search on better "
        f"{s['search_wins']}, search off better {s['plain_wins']}, tie {s['ties']}, "
        f"both bad {s['both_bad']}.",
        "",
        f"- Search-on win share (ties left out): **{_pct(s['search_win_share'])}** "
        f"(95% Wilson {_pct(s['wilson_low'])} – {_pct(s['wilson_high'])}; "
        f"two-sided sign test p = {s['sign_test_p']:.3g})",
        f"- Ties and both-bad as half: **{_pct(s['ties_half_share'])}** (95% bootstrap over "
        f"prompts {_pct(s['bootstrap_low'])} – {_pct(s['bootstrap_high'])})",
        f"- Tie rate {_pct(s['tie_rate'])}, both-bad rate {_pct(s['both_bad_rate'])}",
    ]
    lb = s["length_bias"]
    if lb["longer_win_share"] is not None:
        lines.append(
            f"- The longer answer won {_pct(lb['longer_win_share'])} of "
            f"{plural(lb['decisive_with_length_difference'], 'decisive vote')} (95% Wilson "
            f"{_pct(lb['longer_wilson_low'])} – {_pct(lb['longer_wilson_high'])})"
        )
    return "\n".join(lines)


def _figure(width: float = 6.4, height: float = 3.4, left: float = 0.11) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins, no layout engine: "constrained" drew each chart 4x slower (bench store).
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left, right=0.97, bottom=0.8 / height, top=1 - 0.4 / height)
    FigureCanvasAgg(fig)
    return fig


def figures(s: dict[str, Any]) -> dict[str, Any]:
    """The three charts of the Results tab (matplotlib Figures on the Agg canvas); None for
    a chart with fewer than CHART_MIN_DECISIVE decisive votes behind it."""
    enough = s["decisive"] >= CHART_MIN_DECISIVE
    return {
        "shares": shares_figure(s),
        "over_time": over_time_figure(s) if enough else None,
        "length_bias": length_bias_figure(s) if enough else None,
    }


def shares_figure(s: dict[str, Any]) -> Any:
    """Win share with its interval: overall, ties-as-half, each model and provider."""
    rows: list[tuple[str, float | None, float | None, float | None, int]] = [
        ("all (ties out)", s["search_win_share"], s["wilson_low"], s["wilson_high"], s["decisive"]),
        ("all (ties ½)", s["ties_half_share"], s["bootstrap_low"], s["bootstrap_high"], s["votes"]),
    ]
    for title, key in (("model", "by_model"), ("provider", "by_provider")):
        for g in s[key]:
            rows.append(
                (
                    f"{title}: {_short(g['name'])}",
                    g["search_win_share"],
                    g["wilson_low"],
                    g["wilson_high"],
                    g["decisive"],
                )
            )
    fig = _figure(7.0, 1.3 + 0.3 * len(rows), left=0.34)
    fig.subplots_adjust(right=0.88)  # room for the n= labels right of the axis
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    drawn = [(y, r) for y, r in zip(ys, rows, strict=True) if r[1] is not None]
    if drawn:
        x = [r[1] for _y, r in drawn]
        ax.errorbar(
            x,
            [y for y, _r in drawn],
            xerr=[[r[1] - r[2] for _y, r in drawn], [r[3] - r[1] for _y, r in drawn]],
            fmt="o",
            color=SEARCH_COLOUR,
            capsize=3,
        )
    for y, r in zip(ys, rows, strict=True):
        ax.annotate(f"n={r[4]}", (1.0, y), xytext=(4, 0), textcoords="offset points", va="center")
    ax.axvline(0.5, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1)
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("search-on win share (95% interval)")
    ax.set_title("Is search on better?")
    return fig


def over_time_figure(s: dict[str, Any]) -> Any:
    """Cumulative search-on win share after each decisive vote, with its Wilson band."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(5.6, 3.6, left=0.14)
    ax = fig.add_subplot()
    pts = s["over_time"]
    if pts:
        x = [p["decisive"] for p in pts]
        ax.fill_between(
            x,
            [p["wilson_low"] for p in pts],
            [p["wilson_high"] for p in pts],
            color=SEARCH_COLOUR,
            alpha=0.2,
            linewidth=0,
        )
        ax.plot(x, [p["search_win_share"] for p in pts], color=SEARCH_COLOUR)
        ax.set_xlim(x[0], x[-1])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))  # votes come whole
    ax.axhline(0.5, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1)
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=10)
    ax.set_xlabel("decisive votes so far (in time order)", fontsize=10)
    ax.set_ylabel("search-on win share", fontsize=10)
    ax.set_title("Win share over time (95% Wilson band)", fontsize=11)
    return fig


def length_bias_figure(s: dict[str, Any]) -> Any:
    """Search-on win share per bin of answer-length difference, with each bin's number of
    decisive votes under it."""
    fig = _figure(5.6, 3.9, left=0.14)
    fig.subplots_adjust(bottom=1.15 / 3.9)  # two-line bin labels and the axis title
    ax = fig.add_subplot()
    bins = s["length_bias"]["bins"]
    drawn = [(i, b) for i, b in enumerate(bins) if b["search_win_share"] is not None]
    if drawn:
        ax.errorbar(
            [i for i, _b in drawn],
            [b["search_win_share"] for _i, b in drawn],
            yerr=[
                [b["search_win_share"] - b["wilson_low"] for _i, b in drawn],
                [b["wilson_high"] - b["search_win_share"] for _i, b in drawn],
            ],
            fmt="o",
            color=SEARCH_COLOUR,
            capsize=3,
        )
    ax.axhline(0.5, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1)
    # the edges between bins on one row, each bin's count under its middle on the next:
    # short labels that never run into each other, even scaled to a phone's width
    edges = [b["high"] for b in bins[:-1]]
    ax.set_xticks([i + 0.5 for i in range(len(edges))], [_chars(e) for e in edges], fontsize=9)
    ax.set_xticks(range(len(bins)), [f"n={b['decisive']}" for b in bins], minor=True)
    ax.tick_params(axis="x", which="minor", length=0, pad=17, labelsize=9)
    ax.set_xlim(-0.5, len(bins) - 0.5)
    ax.set_ylim(-0.03, 1.03)  # a share of 0 or 1 is a whole dot, not half of one
    ax.tick_params(axis="y", labelsize=10)
    ax.set_xlabel("search answer minus plain answer (characters)", fontsize=10)
    ax.set_ylabel("search-on win share", fontsize=10)
    ax.set_title("Do longer answers win? (95% Wilson)", fontsize=11)
    return fig


def _chars(n: float) -> str:
    """A length difference for a tick label: "−1k", "−300", "+100"."""
    sign = "−" if n < 0 else "+"
    n = abs(int(n))
    return f"{sign}{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{sign}{n}"


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


REFUSAL_WORDS = {
    "duplicate": "already voted",
    "rate_limited": "over the address's vote limit",
    "not_shown": "not shown the comparison",
    "search_off": "search was off",
}


def refusals_markdown(refusals: dict[str, int]) -> str:
    """One line: how many votes the server refused, and why (ballot.py's reasons)."""
    total = sum(refusals.values())
    if not total:
        return ""
    parts = [
        f"{REFUSAL_WORDS.get(reason, reason)} {count}"
        for reason, count in sorted(refusals.items(), key=lambda kv: -kv[1])
    ]
    noun = "vote" if total == 1 else "votes"
    return f"*{total} {noun} refused: {', '.join(parts)}.*"

"""Response-level and token-level scores of unsupported-span predictions (RAGTruth style).

Positive = hallucinated. A response is gold-positive iff it has at least one span. Tokens are
`\\w+` matches of the response; a token is positive when it overlaps a span by one character
or more. Precision, recall and F1 are micro-averaged over all responses / all tokens. These
are the definitions of ../shared/data/grounding/score.py, written again here so the bench
needs nothing outside the package.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_WORD = re.compile(r"\w+")


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def token_labels(text: str, spans: Iterable[Mapping[str, int]]) -> list[bool]:
    spans = list(spans)
    return [
        any(m.start() < s["end"] and m.end() > s["start"] for s in spans)
        for m in _WORD.finditer(text)
    ]


def score(data: Sequence[Mapping[str, Any]], preds: Mapping[str, Mapping[str, Any]]) -> dict:
    """Scores of `preds` (id -> {"hallucinated", "spans"}) against gold records."""
    resp: Counter = Counter()
    tok: Counter = Counter()
    for rec in data:
        pred = preds.get(rec["id"], {})
        pspans = pred.get("spans") or []
        phall = bool(pred.get("hallucinated", bool(pspans)))
        gspans = rec.get("spans") or []
        gold = bool(gspans)
        resp["tp" if gold and phall else "fp" if phall else "fn" if gold else "tn"] += 1
        pairs = zip(
            token_labels(rec["response"], gspans),
            token_labels(rec["response"], pspans),
            strict=True,
        )
        for g, p in pairs:
            tok["tp" if g and p else "fp" if p else "fn" if g else "tn"] += 1
    rp, rr, rf = prf(resp["tp"], resp["fp"], resp["fn"])
    tp, tr, tf = prf(tok["tp"], tok["fp"], tok["fn"])
    return {
        "n": len(data),
        "response_p": rp,
        "response_r": rr,
        "response_f1": rf,
        "token_p": tp,
        "token_r": tr,
        "token_f1": tf,
        "response_counts": dict(resp),
        "token_counts": dict(tok),
    }

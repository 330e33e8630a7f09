"""Fit the checker's weights on labelled responses: `python -m searchduel ground --fit DATA`.

    DATA.jsonl (RAGTruth form: id, source_id, question, sources, response, spans)
    -> the claims of every response, their FEATURES, label = the claim overlaps a gold span
    -> K question-disjoint folds (by source_id): fit on K-1, choose the threshold on them,
       predict the held-out fold -> cross-validated scores (what to expect on new questions)
    -> fit on everything -> weights.json (weights, bias, threshold, the CV report)

Decisions, in one place:

- Logistic regression by projected gradient descent in numpy (no new dependency): weights
  of the evidence features are kept >= 0 (see features.py), an L2 penalty keeps them small.
- Classes are weighted to balance, so the threshold, not the class prior, sets the trade-off.
- The threshold maximises response-level F1 + token-level F1 on the training part only.
- Folds are assigned by a hash of source_id, so every run gives the same folds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .features import FEATURES, MONOTONE, Evidence, body, features, unsupported_parts
from .ground import WEIGHTS, Model
from .metrics import score
from .sentences import split_sentences

FOLDS = 5
L2 = 1e-3
STEPS = 3000
LEARNING_RATE = 0.5
THRESHOLDS = np.round(
    np.arange(0.05, 0.951, 0.02), 2
)  # 46 candidates: 0.01 steps changed CV F1 < 0.005


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    from ..errors import ConfigError

    out = []
    for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            raise ConfigError(f"{path}:{n}: not JSON ({exc})") from exc
    return out


def _claims(rec: dict[str, Any]) -> list[tuple]:
    """(start, end, features, label, parts) of every checked sentence of one record."""
    evidence = Evidence(rec["sources"], rec.get("question", ""))
    gold = rec.get("spans") or []
    out = []
    for s in split_sentences(rec["response"]):
        if not s.checked or not body(s.text).strip():
            continue
        f, _ = features(s.text, evidence)
        label = int(any(g["start"] < s.end and g["end"] > s.start for g in gold))
        parts = [[s.start + a, s.start + b] for a, b in unsupported_parts(s.text, evidence)]
        out.append((s.start, s.end, f, label, parts))
    return out


def fit_lr(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    n, d = x.shape
    pos = max(1.0, y.sum())
    neg = max(1.0, n - y.sum())
    sample_w = np.where(y == 1, n / (2 * pos), n / (2 * neg))
    w = np.zeros(d)
    b = 0.0
    mono = np.array([name in MONOTONE for name in FEATURES])
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = sample_w * (p - y) / n
        w -= LEARNING_RATE * (x.T @ g + L2 * w)
        b -= LEARNING_RATE * g.sum()
        w[mono] = np.maximum(w[mono], 0.0)
    return w, float(b)


def _predict(
    data: Sequence[dict], claims: Sequence[list], w: np.ndarray, b: float, t: float
) -> dict[str, dict]:
    from .ground import Grounding, Judged

    model = Model(tuple(float(v) for v in w), b, t)
    preds = {}
    for rec, cl in zip(data, claims, strict=True):
        judged = []
        for start, end, f, _, parts in cl:
            label = "unsupported" if model.label(f)[0] == "unsupported" else "supported"
            judged.append(Judged(start, end, rec["response"][start:end], label, parts=parts))
        spans = Grounding(judged, {}).unsupported_spans()
        preds[rec["id"]] = {"hallucinated": bool(spans), "spans": spans}
    return preds


def _choose_threshold(data, claims, w, b) -> float:
    best, best_t = -1.0, 0.5
    for t in THRESHOLDS:
        s = score(data, _predict(data, claims, w, b, float(t)))
        if s["response_f1"] + s["token_f1"] > best:
            best, best_t = s["response_f1"] + s["token_f1"], float(t)
    return best_t


def _fold(source_id: str) -> int:
    return int(hashlib.sha256(str(source_id).encode()).hexdigest()[:8], 16) % FOLDS


def _matrix(claims: Sequence[list]) -> tuple[np.ndarray, np.ndarray]:
    rows = [c for cl in claims for c in cl]
    x = np.array([c[2] for c in rows], dtype=float).reshape(-1, len(FEATURES))
    y = np.array([c[3] for c in rows], dtype=float)
    return x, y


def cross_validate(data: Sequence[dict], claims: Sequence[list]) -> dict[str, Any]:
    preds: dict[str, dict] = {}
    thresholds = []
    for k in range(FOLDS):
        train = [i for i, r in enumerate(data) if _fold(r.get("source_id", r["id"])) != k]
        test = [i for i, r in enumerate(data) if _fold(r.get("source_id", r["id"])) == k]
        if not train or not test:
            continue
        tr_data, tr_claims = [data[i] for i in train], [claims[i] for i in train]
        w, b = fit_lr(*_matrix(tr_claims))
        t = _choose_threshold(tr_data, tr_claims, w, b)
        thresholds.append(t)
        preds.update(_predict([data[i] for i in test], [claims[i] for i in test], w, b, t))
    s = score(data, preds)
    return {
        "folds": FOLDS,
        "thresholds": thresholds,
        **{k: round(v, 4) for k, v in s.items() if isinstance(v, float)},
    }


def fit(path: str | Path, out: str | Path = WEIGHTS) -> dict[str, Any]:
    """Cross-validate, fit on everything, write the weights file; returns what was written."""
    data = load_jsonl(path)
    claims = [_claims(r) for r in data]
    cv = cross_validate(data, claims)
    w, b = fit_lr(*_matrix(claims))
    t = _choose_threshold(data, claims, w, b)
    in_sample = score(data, _predict(data, claims, w, b, t))
    obj = {
        "features": list(FEATURES),
        "weights": [round(float(v), 5) for v in w],
        "bias": round(b, 5),
        "unsupported_at": t,
        "missing_fact": True,
        "fitted_on": Path(path).name,
        "responses": len(data),
        "claims": sum(len(c) for c in claims),
        "cross_validated": cv,
        "in_sample": {k: round(v, 4) for k, v in in_sample.items() if isinstance(v, float)},
    }
    if "ragtruth" in Path(path).name.lower():
        obj["data_licence"] = "RAGTruth: MIT, Copyright (c) 2023 Particle Media"
    Path(out).write_text(json.dumps(obj, indent=1) + "\n", "utf-8")
    from .ground import load_model

    load_model.cache_clear()
    return obj


__all__ = ["Model", "fit"]

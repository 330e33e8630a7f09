"""Fit the checker's weights on labelled responses: `python -m searchduel ground --fit DATA`.

    DATA.jsonl (RAGTruth form: id, source_id, question, sources, response, spans)
    -> the claims of every response, their FEATURES, label = the claim overlaps a gold span
    -> K question-disjoint folds (by source_id): fit on K-1 (claim model, then the response
       model on the claims' in-sample p), choose both thresholds on them, predict the
       held-out fold -> cross-validated scores (what to expect on new questions)
    -> fit on everything -> weights.json (weights, bias, thresholds, the CV report)

Decisions, in one place:

- Logistic regression by projected gradient descent in numpy (no new dependency): weights
  of the evidence features are kept >= 0 (see features.py), an L2 penalty keeps them small.
- Classes are weighted to balance, so the threshold, not the class prior, sets the trade-off.
- The response model (ground.RESPONSE_FEATURES) is fitted on z-scored features; its
  threshold maximises response-level F1, then the claim threshold maximises token-level F1
  given it, both on the training part only.
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
from .ground import RESPONSE_FEATURES, RESPONSE_MONOTONE, WEIGHTS, Model, response_features
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


def fit_lr(
    x: np.ndarray, y: np.ndarray, mono: np.ndarray | None = None, standardize: bool = False
) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression; weights where `mono` is True kept >= 0 (default:
    the MONOTONE claim features). standardize: fit on z-scores, return raw-scale weights."""
    n, d = x.shape
    pos = max(1.0, y.sum())
    neg = max(1.0, n - y.sum())
    sample_w = np.where(y == 1, n / (2 * pos), n / (2 * neg))
    mu, sd = (x.mean(0), x.std(0) + 1e-9) if standardize else (np.zeros(d), np.ones(d))
    xs = (x - mu) / sd
    w = np.zeros(d)
    b = 0.0
    if mono is None:
        mono = np.array([name in MONOTONE for name in FEATURES])
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        g = sample_w * (p - y) / n
        w -= LEARNING_RATE * (xs.T @ g + L2 * w)
        b -= LEARNING_RATE * g.sum()
        w[mono] = np.maximum(w[mono], 0.0)
    return w / sd, float(b - (w * mu / sd).sum())


def _judged(rec: dict, cl: Sequence[tuple], model: Model) -> list:
    from .ground import Judged

    out = []
    for start, end, f, _, parts in cl:
        label, p = model.label(f)
        label = "unsupported" if label == "unsupported" else "supported"
        text = rec["response"][start:end]
        out.append(
            Judged(start, end, text, label, p, parts=parts, fact_missing=model.fact_missing(f))
        )
    return out


def _predict(data: Sequence[dict], claims: Sequence[list], model: Model) -> dict[str, dict]:
    from .ground import decide

    preds = {}
    for rec, cl in zip(data, claims, strict=True):
        judged = _judged(rec, cl, model)  # every claim keeps its clauses in .parts
        hallucinated, spans = decide(model, judged, rec["response"], lambda j: j.parts)
        preds[rec["id"]] = {"hallucinated": hallucinated, "spans": spans}
    return preds


def _fit_model(data: Sequence[dict], claims: Sequence[list]) -> Model:
    """Both stages and both thresholds, from `data` alone."""
    w, b = fit_lr(*_matrix(claims))
    sentence = Model(tuple(float(v) for v in w), b, 0.5)
    x = np.array(
        [
            response_features([sentence.p(c[2]) for c in cl], rec["response"])
            for rec, cl in zip(data, claims, strict=True)
        ],
        dtype=float,
    ).reshape(-1, len(RESPONSE_FEATURES))
    y = np.array([bool(rec.get("spans")) for rec in data], dtype=float)
    wr, br = fit_lr(x, y, np.array([n in RESPONSE_MONOTONE for n in RESPONSE_FEATURES]), True)

    def model(t_claim: float, t_response: float) -> Model:
        resp = tuple(float(v) for v in wr)
        return Model(sentence.weights, b, t_claim, True, resp, br, t_response)

    # the response threshold first (the claim threshold does not move the response decision
    # except through a claim's missing fact), then the claim threshold for the spans
    t_resp = max(
        THRESHOLDS, key=lambda t: score(data, _predict(data, claims, model(0.5, t)))["response_f1"]
    )
    t_claim = max(
        THRESHOLDS, key=lambda t: score(data, _predict(data, claims, model(t, t_resp)))["token_f1"]
    )
    return model(float(t_claim), float(t_resp))


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
        model = _fit_model([data[i] for i in train], [claims[i] for i in train])
        thresholds.append([model.unsupported_at, model.hallucinated_at])
        preds.update(_predict([data[i] for i in test], [claims[i] for i in test], model))
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
    model = _fit_model(data, claims)
    in_sample = score(data, _predict(data, claims, model))
    obj = {
        "features": list(FEATURES),
        "weights": [round(float(v), 5) for v in model.weights],
        "bias": round(model.bias, 5),
        "unsupported_at": model.unsupported_at,
        "missing_fact": True,
        "response": {
            "features": list(RESPONSE_FEATURES),
            "weights": [round(float(v), 5) for v in model.response_weights],
            "bias": round(model.response_bias, 5),
            "hallucinated_at": model.hallucinated_at,
        },
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

"""Which sentences of an answer its sources back: supported / weak / unsupported / not checked.

    answer -> split_sentences (questions, headings, fragments: "not checked")
    sources (+ question) -> Evidence (windows, words, numbers; built once per answer)
    each claim -> features -> p(unsupported) = sigmoid(w . f + b), w and b from weights.json
               -> label by the fitted thresholds, evidence = its best window
    -> summary (counts, grounded share = supported / checked)
    -> with citations=True: citation precision and recall over the sentences' [n] markers

Decisions, in one place:

- The weights are fitted on RAGTruth QA responses with human-marked unsupported spans
  (`python -m searchduel ground --fit DATA.jsonl`, see judge/fit.py); the thresholds are
  chosen there too. "weak" is the band between WEAK_SHARE x the unsupported threshold and it:
  neither backed nor flagged.
- A cited source "backs" a sentence when the sentence checked against that source alone is
  not unsupported. Citation precision = backing citations / citations (a number naming no
  source counts as not backing); citation recall = supported sentences that cite / supported
  sentences. Either is None when there is nothing to divide by.
- A claim with a number, date, capitalised name or quoted phrase that the evidence never
  mentions is unsupported whatever the model says: a changed figure or name is the error a
  reader cannot see. On the RAGTruth QA dev set this rule costs 0.02 response F1 and 0.03
  token F1 (cross-validated; its annotators did not mark every such claim), and weights.json
  can turn it off ("missing_fact": false).
- The unsupported spans of `ground` output are the clauses of the unsupported claims that
  hold their unfound words or numbers (features.unsupported_parts; the whole claim when no
  clause stands out), a leading list marker left out.
- No language model, no network: the checker is the features and a dozen numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .features import FEATURES, Evidence, body, features, unsupported_parts
from .sentences import split_sentences

WEIGHTS = Path(__file__).with_name("weights.json")
WEAK_SHARE = 0.6  # p(unsupported) from 0.6 x the threshold up to it reads "weak"
LABELS = ("supported", "weak", "unsupported", "not checked")
_FACTS = tuple(FEATURES.index(n) for n in ("miss_numbers", "miss_names", "miss_quotes"))


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]
    bias: float
    unsupported_at: float  # p(unsupported) from which a claim is unsupported
    missing_fact: bool = True  # a number, name or quote absent from the evidence: unsupported

    @property
    def weak_at(self) -> float:
        return WEAK_SHARE * self.unsupported_at

    def p(self, f: Sequence[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, f, strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def label(self, f: Sequence[float]) -> tuple[str, float]:
        """The label of a claim with features `f`, and its p(unsupported)."""
        p = self.p(f)
        if p >= self.unsupported_at or (self.missing_fact and any(f[i] > 0 for i in _FACTS)):
            return "unsupported", p
        return ("weak" if p >= self.weak_at else "supported"), p


@lru_cache(maxsize=4)
def load_model(path: str | Path = WEIGHTS) -> Model:
    try:
        obj = json.loads(Path(path).read_text("utf-8"))
        if list(obj["features"]) != list(FEATURES):
            raise ConfigError(f"{path} was fitted on other features; refit with ground --fit")
        return Model(
            tuple(obj["weights"]),
            float(obj["bias"]),
            float(obj["unsupported_at"]),
            bool(obj.get("missing_fact", True)),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read grounding weights {path}: {exc}") from exc


@dataclass
class Judged:
    start: int  # offsets into the answer
    end: int
    text: str
    label: str
    p: float | None = None  # p(unsupported); None when not checked
    citations: list[int] = field(default_factory=list)
    evidence: dict[str, Any] | None = None  # {"source", "start", "end", "text"}
    parts: list[list[int]] = field(default_factory=list)  # unsupported clauses (answer offsets)


@dataclass
class Grounding:
    sentences: list[Judged]
    summary: dict[str, Any]
    citation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def unsupported_spans(self) -> list[dict[str, int]]:
        out = []
        for s in self.sentences:
            if s.label != "unsupported":
                continue
            for a, b in s.parts or [[s.start, s.end]]:
                piece = s.text[a - s.start : b - s.start]
                lead = len(piece) - len(piece.lstrip("-*•#0123456789.() \t"))
                lead = lead if lead < len(piece) else 0
                out.append({"start": a + lead, "end": b})
        return out


def cited_numbers(sentence: str) -> list[int]:
    from ..rag.cite import cited_numbers as numbers

    return numbers(sentence)


def ground(
    answer: str,
    sources: Sequence[str],
    *,
    question: str = "",
    citations: bool = False,
    model: Model | None = None,
) -> Grounding:
    """Label every sentence of `answer` against `sources` (texts, numbered from 1)."""
    model = model or load_model()
    evidence = Evidence(sources, question)
    judged: list[Judged] = []
    for s in split_sentences(answer):
        cites = cited_numbers(s.text) if citations else []
        if not s.checked or not body(s.text).strip():
            judged.append(Judged(s.start, s.end, s.text, "not checked", citations=cites))
            continue
        f, best = features(s.text, evidence)
        label, p = model.label(f)
        ev = None
        if best >= 0:
            w = evidence.windows[best]
            ev = {"source": w.source, "start": w.start, "end": w.end, "text": w.text}
        parts = []
        if label == "unsupported":
            parts = [[s.start + a, s.start + b] for a, b in unsupported_parts(s.text, evidence)]
        judged.append(Judged(s.start, s.end, s.text, label, round(p, 4), cites, ev, parts))
    out = Grounding(judged, summarize(judged))
    if citations:
        out.citation = citation_scores(judged, sources, question, model)
    return out


def summarize(judged: Sequence[Judged]) -> dict[str, Any]:
    counts = {label: sum(j.label == label for j in judged) for label in LABELS}
    checked = len(judged) - counts["not checked"]
    return {
        **counts,
        "checked": checked,
        "grounded_share": counts["supported"] / checked if checked else None,
    }


def summary_line(summary: dict[str, Any], column: str) -> str:
    """The page's one-line verdict: "9 of 12 claims backed by its sources · 2 weak · 1
    unsupported" (search column) or "... agree with the sources ..." (plain column)."""
    checked = summary["checked"]
    if not checked:
        return "no claims to check"
    verb = "backed by its sources" if column == "search" else "agree with the sources"
    parts = [f"{summary['supported']} of {checked} claims {verb}"]
    parts += [f"{summary[k]} {k}" for k in ("weak", "unsupported") if summary[k]]
    return " · ".join(parts)


def citation_scores(
    judged: Sequence[Judged], sources: Sequence[str], question: str, model: Model
) -> dict[str, Any]:
    single: dict[int, Evidence] = {}
    cited = backed = 0
    for j in judged:
        if j.label == "not checked":
            continue
        for n in j.citations:
            cited += 1
            if not 1 <= n <= len(sources):
                continue
            ev = single.get(n)
            if ev is None:
                ev = single[n] = Evidence([sources[n - 1]], question)
            f, _ = features(j.text, ev)
            backed += model.label(f)[0] != "unsupported"
    supported = [j for j in judged if j.label == "supported"]
    with_cite = sum(bool(j.citations) for j in supported)
    return {
        "citations": cited,
        "backing": backed,
        "precision": backed / cited if cited else None,
        "recall": with_cite / len(supported) if supported else None,
    }


def ground_record(record: dict[str, Any], model: Model | None = None) -> dict[str, Any]:
    """One `ground` CLI line: {"id", "question", "sources", "response"} -> prediction."""
    g = ground(
        record["response"], record["sources"], question=record.get("question", ""), model=model
    )
    spans = g.unsupported_spans()
    return {"id": record["id"], "hallucinated": bool(spans), "spans": spans}

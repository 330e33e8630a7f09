"""Which sentences of an answer its sources back: supported / weak / unsupported / not checked.

    answer -> split_sentences (questions, headings, fragments: "not checked")
    sources (+ question) -> Evidence (windows, words, numbers; built once per answer)
    each claim -> features -> p(unsupported) = sigmoid(w . f + b), w and b from weights.json
               -> label by the fitted thresholds, evidence = its best window
    -> summary (counts, grounded share = supported / checked)
    -> with citations=True: citation precision and recall over the sentences' [n] markers
    `ground` output (ground_record -> decide): the claims' p(unsupported), the response's
    length and whether it gives the refusal -> p(hallucinated) = sigmoid(w' . r + b')
    -> "no": no spans; "yes": the unsupported claims' spans (none: the worst claim's)

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
  reader cannot see. On the RAGTruth QA dev set, with the response stage and the number and
  acronym handling of features.py, the rule gains 0.016 response F1 and 0.012 token F1
  (cross-validated: 0.702 / 0.491 without it, 0.717 / 0.503 with it; before those it cost
  about 0.02 of each). weights.json can turn it off ("missing_fact": false).
- The unsupported spans of `ground` output are the clauses of the unsupported claims that
  hold their unfound words or numbers (features.unsupported_parts; the whole claim when no
  clause stands out), a leading list marker left out.
- Whether a response holds unsupported text is decided once more for the whole response
  (RESPONSE_FEATURES: the highest and the summed p(unsupported) of its claims, log words,
  the refusal "Unable to answer"), by a second small logistic model with its own threshold,
  both fitted in the same command. It only shapes `ground` output: sentence labels on the
  page stay per claim. A claim with a missing fact keeps its response flagged (the hard rule
  wins). Cross-validated on the RAGTruth QA dev set: response F1 0.677 -> 0.709, token F1
  0.483 -> 0.479 (weights.json holds the current figures).
- No language model, no network: the checker is the features and a few dozen numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
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
# The response-level decision of `ground` output reads these (see response_features).
RESPONSE_FEATURES = ("max_p", "sum_p", "words", "refusal")
RESPONSE_MONOTONE = ("max_p", "sum_p")  # fitted weights kept >= 0
# RAGTruth's QA prompt asks for this exact refusal; answers that add text around it are
# often the ones that go beyond the passages.
_REFUSAL = re.compile(r"\bunable to answer\b", re.IGNORECASE)


def response_features(ps: Sequence[float], response: str) -> list[float]:
    """RESPONSE_FEATURES of one response from its claims' p(unsupported)."""
    return [
        max(ps, default=0.0),
        float(sum(ps)),
        math.log1p(len(response.split())),
        1.0 if _REFUSAL.search(response) else 0.0,
    ]


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]
    bias: float
    unsupported_at: float  # p(unsupported) from which a claim is unsupported
    missing_fact: bool = True  # a number, name or quote absent from the evidence: unsupported
    # the response-level stage of `ground` output; () = a response is hallucinated iff a
    # claim is unsupported
    response_weights: tuple[float, ...] = ()
    response_bias: float = 0.0
    hallucinated_at: float = 0.5

    @property
    def weak_at(self) -> float:
        return WEAK_SHARE * self.unsupported_at

    def p(self, f: Sequence[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, f, strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def label(self, f: Sequence[float]) -> tuple[str, float]:
        """The label of a claim with features `f`, and its p(unsupported)."""
        p = self.p(f)
        if p >= self.unsupported_at or self.fact_missing(f):
            return "unsupported", p
        return ("weak" if p >= self.weak_at else "supported"), p

    def fact_missing(self, f: Sequence[float]) -> bool:
        """The hard rule: a number, name or quoted phrase the evidence never mentions."""
        return self.missing_fact and any(f[i] > 0 for i in _FACTS)

    def p_hallucinated(self, ps: Sequence[float], response: str) -> float | None:
        """p(the response holds unsupported text) of the response-level stage; None without."""
        if not self.response_weights:
            return None
        x = response_features(ps, response)
        z = self.response_bias + sum(w * v for w, v in zip(self.response_weights, x, strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=4)
def load_model(path: str | Path = WEIGHTS) -> Model:
    try:
        obj = json.loads(Path(path).read_text("utf-8"))
        if list(obj["features"]) != list(FEATURES):
            raise ConfigError(f"{path} was fitted on other features; refit with ground --fit")
        resp = obj.get("response") or {}
        if resp and list(resp["features"]) != list(RESPONSE_FEATURES):
            raise ConfigError(f"{path} was fitted on other response features; refit")
        return Model(
            tuple(obj["weights"]),
            float(obj["bias"]),
            float(obj["unsupported_at"]),
            bool(obj.get("missing_fact", True)),
            tuple(resp.get("weights", ())),
            float(resp.get("bias", 0.0)),
            float(resp.get("hallucinated_at", 0.5)),
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
    fact_missing: bool = False  # a number, name or quote of it the evidence never mentions


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
        judged.append(
            Judged(
                s.start, s.end, s.text, label, round(p, 4), cites, ev, parts, model.fact_missing(f)
            )
        )
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


def decide(
    model: Model,
    judged: Sequence[Judged],
    response: str,
    parts_of: Callable[[Judged], list[list[int]]],
) -> tuple[bool, list[dict[str, int]]]:
    """Whether a response holds unsupported text, and its spans (the `ground` output).

    With a response-level stage: "no" empties the spans, unless a claim holds a number, name
    or quote the evidence never mentions (the hard rule wins); "yes"
    with no unsupported claim flags the clauses (parts_of) of the claim with the highest
    p(unsupported)."""
    spans = Grounding(list(judged), {}).unsupported_spans()
    checked = [j for j in judged if j.p is not None]
    p = model.p_hallucinated([j.p for j in checked], response)
    if p is None:
        return bool(spans), spans
    fact = any(j.fact_missing for j in checked)
    if (p < model.hallucinated_at and not fact) or not checked:
        return False, []
    if not spans:
        worst = max(checked, key=lambda j: j.p)
        flagged = Judged(worst.start, worst.end, worst.text, "unsupported", parts=parts_of(worst))
        spans = Grounding([flagged], {}).unsupported_spans()
    return True, spans


def ground_record(record: dict[str, Any], model: Model | None = None) -> dict[str, Any]:
    """One `ground` CLI line: {"id", "question", "sources", "response"} -> prediction."""
    model = model or load_model()
    question = record.get("question", "")
    g = ground(record["response"], record["sources"], question=question, model=model)

    def parts_of(j: Judged) -> list[list[int]]:
        evidence = Evidence(record["sources"], question)
        return [[j.start + a, j.start + b] for a, b in unsupported_parts(j.text, evidence)]

    hallucinated, spans = decide(model, g.sentences, record["response"], parts_of)
    return {"id": record["id"], "hallucinated": hallucinated, "spans": spans}

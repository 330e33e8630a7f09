"""Deterministic evidence features of one sentence against a set of source texts.

    sources (+ question) -> Evidence: windows of two consecutive source sentences, their
                            index terms and term pairs, every word and number of the sources,
                            a BM25 index over the windows
    sentence -> body (citations, list markers and "passage N" references removed)
             -> FEATURES (each one grows as the sentence gets less backed)

Decisions, in one place:

- Every feature is monotone in the evidence: removing a source can only raise it (a share
  of the sentence's words found, a count of its numbers and names missing, a negation with
  no negation anywhere in the evidence). With the fitted weights constrained to be
  non-negative on these features, taking evidence away never makes a sentence look better.
  Antonyms, and a negation present in the source but dropped by the sentence, are left out
  for that reason: they would make the checker trust a sentence more as evidence goes away.
- Words are compared as the search ranker compares them (rag.rank.tokenize: folded, stemmed,
  stopwords out), minus a few words answers use to talk about the sources themselves.
- Numbers are matched as whole numbers ("1874" is not in "18745"), thousands separators
  ignored (a comma before exactly three digits: "1,2,3" is a list, not 123). A figure in
  brackets after a found figure is its conversion ("165°F (74°C)", "60-75°F (15-24°C)")
  and counts as found. Capitalised words (names, months, places) are matched as folded
  words or stems; a capital opening the sentence, or a phrase after a colon, a dash or an
  opening quote, is not taken for a name, nor is a single letter ("25 C"), nor an acronym
  in brackets spelled by the words before it ("National Insurance Contributions (NICs)"),
  nor those words when the evidence has the acronym. Quoted phrases are matched word by
  word, punctuation ignored. (Measured on the RAGTruth QA dev set with the response stage,
  cross-validated: conversions and acronyms took response F1 0.709 -> 0.717 and token F1
  0.479 -> 0.488; list commas then token F1 0.488 -> 0.503.)
- The question counts as evidence: restating it is not a claim the sources must back.
- The evidence window shown for a sentence is the one sharing most of its words, BM25
  breaking ties, so the passage a reader sees is the one the features judged.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..rag.rank import STOPWORDS, BM25Index, _fold, stem, tokenize
from .sentences import split_sentences

FEATURES = (
    "miss_window",  # share of the sentence's content words absent from its best window
    "miss_pairs",  # share of its adjacent content-word pairs absent from every window
    "miss_all",  # share of its content words absent from all the evidence
    "miss_numbers",  # numbers absent from the evidence (capped at 2)
    "miss_names",  # capitalised words absent from the evidence (capped at 2)
    "miss_quotes",  # quoted phrases absent from the evidence (capped at 1)
    "lone_negation",  # the sentence negates, the evidence never does
    "length",  # log(1 + content words): evidence-free
)
MONOTONE = FEATURES[:-1]  # weights of these are kept >= 0 when fitting
CAP_NUMBERS = 2
CAP_NAMES = 2
WINDOW_SENTENCES = 2  # a claim often joins two adjacent source sentences

# Words answers use about the sources and the task rather than about the world.
META_WORDS = frozenset(
    [
        "answer",
        "answers",
        "based",
        "given",
        "passage",
        "passages",
        "provided",
        "provide",
        "provides",
        "information",
        "question",
        "context",
        "mentioned",
        "mention",
        "mentions",
        "unable",
        "specific",
        "specifically",
        "according",
        "following",
        "however",
        "therefore",
        "additionally",
        "overall",
        "note",
        "also",
        "include",
        "includes",
        "including",
        "sure",
        "hope",
        "helps",
        "source",
        "sources",
        "text",
        "states",
        "stated",
        "says",
        "said",
    ]
)
_META_TERMS = frozenset(stem(w) for w in META_WORDS)
NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "won't",
        "n't",
    ]
)
_WORD = re.compile(r"\w+")
_NEG_WORD = re.compile(r"[\w']+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPWORD = re.compile(r"\b[A-Z][\w'’-]*")
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,80})[\"”]")
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*•]|#+)\s+")
_PASSAGE_REF = re.compile(r"\b(?:passages?|sources?)\s*\d+(?:\s*(?:,|and|&|-|or)\s*\d+)*", re.I)
_CITATIONS = re.compile(r"\[\s*\d{1,3}(?:\s*[-–,;]\s*\d{1,3})*\s*\]")
_CAP_SKIP = STOPWORDS | META_WORDS | {"i"}
_PHRASE_START = re.compile(r"[:;(\"“]\s*|\s[-–—]\s+")
# "American Cancer Society (ACS)": the words an acronym spells, found when the acronym is
_EXPANSION = re.compile(r"((?:[A-Z][\w'-]*\s+){1,5}[A-Z][\w'-]*)\s*\(([A-Z]{2,6})s?\)")


@dataclass(frozen=True)
class Window:
    source: int  # 1-based source number; 0 = the question
    start: int  # character offsets into that source's text
    end: int
    text: str
    terms: frozenset[str]
    pairs: frozenset[tuple[str, str]]


def content_terms(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in _META_TERMS and not t.isdigit()]


def _pairs(terms: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(itertools.pairwise(terms))


def body(sentence: str) -> str:
    """The sentence without citation runs, a list marker or "passage N" references."""
    text = _CITATIONS.sub(" ", sentence)
    text = _LIST_MARKER.sub("", text, count=1)
    return _PASSAGE_REF.sub(" ", text)


# "165°F (74°C)", "5 miles (8 km)": a figure in brackets right after a figure is a
# conversion of it; it counts as found when the figure before it is.
_CONVERSION = re.compile(
    r"(\d[\d.,]*)\s*[^\W\d_]{0,12}[°%]?[^\W\d_]{0,4}\s*\(\s*(?:about |approx\.? |~)?$"
)
# "National Insurance Contributions (NICs)": an acronym spelled by the words before it.
_ACRONYM = re.compile(r"([A-Z]{2,6})s?\)")


def missing_numbers(text: str, evidence: Evidence) -> int:
    """How many numbers of `text` the evidence never mentions (conversions of a found
    figure in brackets after it count as found)."""
    missing = 0
    for m in _NUMBER.finditer(text):
        if evidence.number_present(m.group()):
            continue
        bracket = text.rfind("(", max(0, m.start() - 20), m.start()) + 1  # 0: none
        if bracket and ")" not in text[bracket : m.start()]:
            conv = _CONVERSION.search(text, max(0, bracket - 30), bracket)
            if (
                conv is not None
                and conv.end() == bracket
                and evidence.number_present(conv.group(1))
            ):
                continue
        missing += 1
    return missing


def _defined_acronym(text: str, start: int) -> bool:
    """A capitalised word at `start` is an acronym in brackets spelled by the words before."""
    m = _ACRONYM.match(text, start)
    if m is None or start == 0 or text[start - 1] != "(":
        return False
    letters = m.group(1).lower()
    words = _WORD.findall(text[: start - 1])[-len(letters) :]
    return len(words) == len(letters) and "".join(w[0].lower() for w in words) == letters


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # "1,000" -> "1000"; "1,2,3" stays


def _norm_number(num: str) -> str:
    return _THOUSANDS.sub("", num).rstrip(".")


class Evidence:
    """What the sentences of one answer are checked against; built once per answer."""

    def __init__(self, sources: Sequence[str], question: str = ""):
        self.sources = list(sources)
        windows: list[Window] = []
        texts = [(0, question)] if question.strip() else []
        texts += [(i, s) for i, s in enumerate(self.sources, 1)]
        for n, text in texts:
            spans = [(s.start, s.end) for s in split_sentences(text)]
            size = min(WINDOW_SENTENCES, len(spans))
            for i in range(max(1, len(spans) - size + 1)):
                if not spans:
                    break
                start, end = spans[i][0], spans[min(i + size, len(spans)) - 1][1]
                terms = content_terms(text[start:end])
                windows.append(
                    Window(n, start, end, text[start:end], frozenset(terms), _pairs(terms))
                )
        self.windows = windows
        everything = "\n".join(t for _, t in texts)
        folded = _fold(everything)
        self.words = frozenset(_WORD.findall(folded))
        self.stems = frozenset(stem(w) for w in self.words)
        self.terms = frozenset(content_terms(everything))
        self.number_text = _THOUSANDS.sub("", folded)
        self.negates = any(w in NEGATIONS for w in _NEG_WORD.findall(folded))
        self.word_text = " ".join(_WORD.findall(folded))  # quoted phrases are looked up here
        self._bm25 = BM25Index([tokenize(w.text) for w in windows]) if windows else None

    def number_present(self, num: str) -> bool:
        n = re.escape(_norm_number(num))
        return re.search(rf"(?<![\d.]){n}(?![\d]|\.\d)", self.number_text) is not None

    def word_present(self, word: str) -> bool:
        parts = _WORD.findall(_fold(word))
        return all(p in self.words or stem(p) in self.stems for p in parts)

    def best_window(self, terms: Sequence[str], query: str) -> tuple[int, float]:
        """Index of the window sharing most of `terms` (BM25 breaks ties) and that share."""
        if not self.windows:
            return -1, 0.0
        want = set(terms)
        bm25 = self._bm25.scores(tokenize(query)) if self._bm25 is not None else None
        best, best_key = -1, (-1.0, -1.0)
        for i, w in enumerate(self.windows):
            share = len(want & w.terms) / len(want) if want else 0.0
            key = (share, float(bm25[i]) if bm25 is not None else 0.0)
            if key > best_key:
                best, best_key = i, key
        return best, max(best_key[0], 0.0)


def features(sentence: str, evidence: Evidence) -> tuple[list[float], int]:
    """FEATURES of one sentence and the index of its best evidence window (-1: none)."""
    text = body(sentence)
    terms = content_terms(text)
    want = set(terms)
    best, share = evidence.best_window(terms, text)
    pairs = _pairs(terms)
    if pairs:
        found = set()
        for w in evidence.windows:
            found |= pairs & w.pairs
            if len(found) == len(pairs):
                break
        miss_pairs = 1 - len(found) / len(pairs)
    else:
        miss_pairs = 0.0
    miss_all = 1 - len(want & evidence.terms) / len(want) if want else 0.0
    numbers = missing_numbers(text, evidence)
    names = 0
    # a capital after the opening, a colon or an opening quote starts a phrase, not a name
    openings = {re.match(r"\W*", text).end()} | {m.end() for m in _PHRASE_START.finditer(text)}
    spelled = set()  # starts of words spelled by an acronym the evidence mentions
    for m in _EXPANSION.finditer(text):
        acronym = m.group(2)
        words = list(re.finditer(r"\S+", m.group(1)))[-len(acronym) :]
        if "".join(w.group()[0] for w in words) == acronym and evidence.word_present(acronym):
            spelled |= {m.start(1) + w.start() for w in words}
    for m in _CAPWORD.finditer(text):
        word = re.sub(r"['’]s$", "", m.group()).strip("'’-")
        if m.start() in openings or len(word) < 2 or word.lower() in _CAP_SKIP:
            continue
        if _defined_acronym(text, m.start()) or m.start() in spelled:
            continue
        if not evidence.word_present(word):
            names += 1
    quotes = sum(
        " ".join(_WORD.findall(_fold(q))) not in evidence.word_text for q in _QUOTED.findall(text)
    )
    negates = any(w in NEGATIONS for w in _NEG_WORD.findall(_fold(text)))
    return [
        1 - share if want else 0.0,
        miss_pairs,
        miss_all,
        float(min(numbers, CAP_NUMBERS)),
        float(min(names, CAP_NAMES)),
        float(min(quotes, 1)),
        1.0 if negates and not evidence.negates else 0.0,
        math.log1p(len(want)),
    ], best


# Where a sentence splits into parts a reader can judge on their own.
_CLAUSE = re.compile(
    r",\s+|;\s+|:\s+|\s+-\s+|\s+\(|\s+(?:and|but|which|while|as well as|including)\s+"
)
PART_MISSING = 0.2  # a part with more than this share of its content words unfound is flagged


def unsupported_parts(sentence: str, evidence: Evidence) -> list[tuple[int, int]]:
    """The clauses of an unsupported sentence that hold its unfound words or numbers, as
    offsets into the sentence; the whole sentence when no clause stands out. (Measured on
    the RAGTruth QA dev set: token F1 +0.02 over flagging whole sentences.)"""
    parts, pos = [], 0
    for m in _CLAUSE.finditer(sentence):
        parts.append((pos, m.start()))
        pos = m.end()
    parts.append((pos, len(sentence)))
    keep = []
    for a, b in parts:
        piece = sentence[a:b]
        terms = content_terms(piece)
        missing = sum(t not in evidence.terms for t in terms)
        numbers = missing_numbers(piece, evidence) > 0
        if numbers or missing / max(1, len(terms)) > PART_MISSING or (missing and len(terms) <= 2):
            keep.append((a, b))
    return keep or [(0, len(sentence))]

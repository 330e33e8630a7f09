"""Ranking passages for a question: BM25, an optional dense re-ranker, fusion and diversity.

    chunks ─► BM25 ──────────┬─► blend (scores scaled to the best = 1, each blended with its
                             │    page's best; + a small prior for the search engine's rank)
    top candidates ─► dense ─┘    ─► + priors: a page's lead passage, passages naming the
    (optional MiniLM re-ranker)       question's entities ─► near-duplicates out ─► spread:
                                      per-source cap and decay

Scores are blended rather than rank-fused: reciprocal-rank fusion flattens the gap between a
strong and a weak match, and the per-source decay then spreads picks onto pages that do not
answer (bench retrieval measured the difference). Everything is deterministic for a fixed
input: ties break on (page rank, url, position).
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import Stemmer  # PyStemmer: the Snowball stemmers in C

from ..types import Chunk

# BM25's usual constants; b=0.75 normalises for chunk length, which varies by 3x here.
BM25_K1 = 1.2
BM25_B = 0.75
# Weight of the search engine's own rank (1/(1+rank), so 0.05 for the first hit): a
# tie-breaker, not a vote.
RANK_PRIOR_WEIGHT = 0.05
# Share of a chunk's score that comes from its page's best chunk (see _with_page_evidence).
PAGE_WEIGHT = 0.3
# Share of the dense similarity in the fused score when the re-ranker is on.
DENSE_WEIGHT = 0.5
KEEP_UNREAD_LEXICAL = True  # see rank_chunks: passages the dense model did not read
DENSE_CANDIDATES = 24  # chunks the dense model re-scores (the best by BM25; see dense.py)
# Lead prior: a page's opening passage (an encyclopedia's or news page's first paragraph, where
# most factual answers are stated: "Jaws is a 1975 American thriller film directed by Steven
# Spielberg") scores at least LEAD_FLOOR of its page's best passage (plus LEAD_WEIGHT of it),
# so a relevant page's lead is packed right after that page's best match. bench retrieval,
# dense off, project set / 200 SQuAD dev questions, with the entity prior: recall unchanged
# on both (@1,000 and @2,000), +17 / +13 tokens; an additive 0.15-0.3 was as neutral but left
# the lead behind weaker pages. Kept for the opening-paragraph questions neither set asks much.
LEAD_WEIGHT = 0.0
LEAD_FLOOR = 0.9
# Entity prior: a passage naming the question's entities (capitalised names, quoted phrases,
# numbers) in its own text or its page's title gains up to this much, in proportion to the
# entities it names. bench retrieval (dense off): SQuAD dev recall @1,000 0.940 -> 0.945,
# tokens @2,000 -24 on SQuAD and -49 on the project set, recall @2,000 unchanged on both.
# The title counts because a page about Genghis Khan is about him in every paragraph, also
# those that call him Temüjin or "he"; without it the prior pushed such a paragraph, the
# answer to "Who was Genghis Khan's father?", from 9th to 30th (lexical SQuAD @1,000
# 0.942 -> 0.943, nothing lost on either set).
ENTITY_WEIGHT = 0.1
# A factual question is usually answered by one page: let it give up to 16 passages (most
# of the budget), each worth a little less, so a second page still gets in when it matches
# well. bench retrieval, dense on, @2,000: cap 4 / decay 0.8 lost 3-4 points of recall
# against 8 / 0.95; 8 -> 16 took SQuAD dev 0.970 -> 0.977 (a long article's answer passage
# was ranked 9th-16th on its page) and the project set 0.994 -> 1.000; then, with whole
# pinned passages, decay 0.95 -> 0.97 took SQuAD 0.982 -> 0.987 (0.985: 0.988) and the
# project set @1,000 0.967 -> 0.972 (@2,000 1.000 both). 0.97 keeps a second page in reach
# for web questions, which these single-article sets do not measure.
MAX_PER_SOURCE = 16
SOURCE_DECAY = 0.97
SNIPPET_IN_PASSAGE = 0.5  # share of a snippet's 4-grams found in the passage it came from
NEAR_DUP_JACCARD = 0.7  # word-shingle overlap above which two chunks say the same thing
SHINGLE = 4
SKETCH = 12  # shingles looked up per chunk when searching for its duplicates
# Ranked chunks handed to packing: a 2,000-token budget holds ~15 passages; the rest is
# slack for passages that do not fit and for larger budgets.
RANK_LIMIT = 80

_WORD = re.compile(r"\w+", re.UNICODE)

# Function words carry no evidence about a topic; dropping them keeps postings short.
_STOPWORD_TEXT = (
    "a about above after again against all am an and any are as at be because been before "
    "being below between both but by can could did do does doing down during each few for "
    "from further had has have having he her here hers herself him himself his how i if in "
    "into is it its itself just me more most my myself no nor not now of off on once only or "
    "other our ours ourselves out over own same she should so some such than that the their "
    "theirs them themselves then there these they this those through to too under until up "
    "very was we were what when where which while who whom why will with would you your yours "
    "yourself yourselves"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


_stemmers = threading.local()  # a PyStemmer object must not be shared between threads


STEM_CACHE_ENTRIES = 300_000  # distinct words remembered (a few corpora's vocabulary)
# Longer "words" (base64, hashes, hostile pages) are stemmed without being remembered, so the
# cache holds at most STEM_CACHE_ENTRIES x ~(2 x 40 chars + overhead) ~ 60 MB.
STEM_CACHE_WORD_CHARS = 40


def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem of a word, so "named" meets "name" and
    "popularized" meets "popular"; both the index and the query go through it."""
    if len(word) > STEM_CACHE_WORD_CHARS:
        return _stem.__wrapped__(word)
    return _stem(word)


@lru_cache(maxsize=STEM_CACHE_ENTRIES)
def _stem(word: str) -> str:
    if len(word) <= 3 or not word.isalpha():
        return word
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = Stemmer.Stemmer("english")
    return stemmer.stemWord(word)


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _fold(text: str) -> str:
    """Lower case without accents, so "São" matches "Sao"."""
    text = text.lower()
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def tokenize(text: str) -> list[str]:
    """Index terms of a text: folded, stemmed words without stopwords."""
    return [
        stem(w)
        for w in _WORD.findall(_fold(text))
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


class BM25Index:
    """Okapi BM25 over a fixed list of documents, postings held in numpy arrays.

    Built once; `scores(query)` costs one array update per query term, so a query over
    tens of thousands of passages takes milliseconds.
    """

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = BM25_K1, b: float = BM25_B):
        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        tfs: list[int] = []
        lengths = np.zeros(self.n_docs, dtype=np.float32)
        for d, terms in enumerate(docs):
            lengths[d] = len(terms)
            for term, tf in Counter(terms).items():
                tid = vocab.setdefault(term, len(vocab))
                term_ids.append(tid)
                doc_ids.append(d)
                tfs.append(tf)
        self.vocab = vocab
        tid_arr = np.asarray(term_ids, dtype=np.int64)
        order = np.argsort(tid_arr, kind="stable")
        self._docs = np.asarray(doc_ids, dtype=np.int32)[order]
        self._tfs = np.asarray(tfs, dtype=np.float32)[order]
        counts = np.bincount(tid_arr, minlength=len(vocab))
        self._starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        df = counts.astype(np.float64)
        # BM25+-style idf floor: never negative, so a very common term cannot hurt a match
        self._idf = np.log1p((self.n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(lengths.mean()) if self.n_docs else 0.0
        self._norm = (k1 * (1 - b + b * lengths / avg)).astype(np.float32) if avg else lengths

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query terms (repeats count once)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in dict.fromkeys(query_terms):
            tid = self.vocab.get(term)
            if tid is None:
                continue
            lo, hi = self._starts[tid], self._starts[tid + 1]
            docs = self._docs[lo:hi]
            tf = self._tfs[lo:hi]
            out[docs] += self._idf[tid] * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return out


def chunk_terms(chunk: Chunk) -> list[str]:
    """What BM25 indexes for a chunk: its title and heading, then its text."""
    return tokenize(f"{chunk.title}\n{chunk.heading}\n{chunk.text}")


@dataclass(frozen=True)
class Ranked:
    """A chunk with the scores that placed it."""

    chunk: Chunk
    score: float  # fused score (higher is better)
    bm25: float
    dense: float | None = None


def shingles(text: str) -> frozenset[int]:
    """Hashes of the text's overlapping word 4-grams (a stable hash: runs must agree)."""
    words = _WORD.findall(_fold(text))
    grams = [" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))]
    return frozenset(zlib.crc32(g.encode()) for g in grams)


def near_duplicate(a: frozenset, b: frozenset, threshold: float = NEAR_DUP_JACCARD) -> bool:
    """True when two shingle sets mostly overlap, or one is mostly inside the other."""
    if not a or not b:
        return False
    inter = len(a & b)
    if inter == 0:
        return False
    return inter / len(a | b) >= threshold or inter / min(len(a), len(b)) >= 0.9


def rank_chunks(
    question: str,
    chunks: Sequence[Chunk],
    *,
    dense: bool = False,
    max_per_source: int = MAX_PER_SOURCE,
    source_decay: float = SOURCE_DECAY,
    prior_weight: float = RANK_PRIOR_WEIGHT,
    limit: int = RANK_LIMIT,
    timings: dict[str, float] | None = None,
) -> list[Ranked]:
    """Chunks in the order they should be packed, duplicates and over-quota chunks removed.

    BM25 scores (and, with `dense`, the MiniLM similarities of the best candidates), each
    scaled so the best is 1 and blended with the page's best, plus `prior_weight / (1 +
    page rank)`, order the chunks. Near-duplicates keep their best copy (a page's own text
    beats a snippet of it).
    Then picks are spread: each further chunk of a page counts `source_decay` times less,
    and a page gives at most `max_per_source` chunks. At most `limit` chunks come back.
    `timings` (when given) receives the milliseconds of the BM25 and dense stages.
    """
    timings = timings if timings is not None else {}
    if not chunks:
        return []
    t0 = time.perf_counter()
    q_terms = tokenize(question)
    terms = [chunk_terms(c) for c in chunks]
    index = BM25Index(terms, k1=BM25_K1, b=BM25_B)
    bm25 = index.scores(q_terms).astype(np.float64)
    fused = _with_page_evidence(_unit(bm25), chunks)
    timings["bm25"] = (time.perf_counter() - t0) * 1000
    dense_scores: np.ndarray | None = None
    if dense:
        t1 = time.perf_counter()
        from .dense import pinned, similarities  # lazy: loads a model

        # Re-rank only the lexical front-runners: the model costs ~10 ms a passage on a CPU.
        # A snippet of a page we also read is not one of them: its score moves onto the
        # page's own passage (_credit_snippets) and it leaves the race, so reading it would
        # be a forward pass for nothing (and an offline corpus's passages are pinned ahead,
        # snippets are not).
        read_pages = {c.url for c in chunks if not c.from_snippet}
        eligible = [i for i, c in enumerate(chunks) if not (c.from_snippet and c.url in read_pages)]
        top = sorted(eligible, key=lambda i: (-fused[i], i))[:DENSE_CANDIDATES]
        texts = {i: dense_text(chunks[i]) for i in eligible}
        # An offline corpus's passages are pinned (embedded at warm-up): scoring them all
        # costs dot products only, and the model finds answers BM25 ranks far down (SQuAD
        # dev misses: the answer passage 0-20th by the model, 40-160th by BM25). Alone this
        # moved no recall (the page cap then held the answer out), with the cap of 16 and
        # whole pinned passages (dense.PIN_TOKENS) it is part of SQuAD dev 0.970 -> 0.982.
        chosen = set(top)
        known = pinned([texts[i] for i in eligible])
        top += [i for i, k in zip(eligible, known, strict=True) if k and i not in chosen]
        sims = similarities(question, [texts[i] for i in top])
        dense_scores = np.zeros(len(chunks), dtype=np.float64)
        dense_scores[top] = sims
        # Cosine similarities of related passages crowd into a narrow band (0.3-0.6):
        # stretch the candidates' range to 0..1 so the model's preference can count.
        spread = np.zeros(len(chunks), dtype=np.float64)
        lo, hi = float(np.min(sims)), float(np.max(sims))
        spread[top] = (sims - lo) / (hi - lo) if hi > lo else 1.0
        blended = (1 - DENSE_WEIGHT) * fused + DENSE_WEIGHT * _with_page_evidence(spread, chunks)
        # Passages the model did not read keep their lexical score, capped just under the
        # weakest candidate, rather than being scored as if the model had given them 0: with
        # 16 candidates that pushed them under packing's relative cut (bench retrieval:
        # project set 1,409 tokens and SQuAD dev 1,452, below the lexical ranking's 1,503 /
        # 1,730). With 24 candidates both ways measured 0.978 on the project set.
        read = np.zeros(len(chunks), dtype=bool)
        read[top] = True
        floor = float(blended[top].min())
        unread = np.minimum(fused, floor) if KEEP_UNREAD_LEXICAL else blended
        fused = np.where(read, blended, unread)
        timings["dense"] = (time.perf_counter() - t1) * 1000
    fused = fused + _priors(question, chunks, fused)
    # each chunk's shingles are computed once per call: snippets compare against every
    # passage of their page, and duplicates against every kept chunk
    memo: dict[int, frozenset[int]] = {}

    def shingles_of(i: int) -> frozenset[int]:
        sh = memo.get(i)
        if sh is None:
            sh = memo[i] = shingles(chunks[i].text)
        return sh

    fused, dropped = _credit_snippets(fused, chunks, shingles_of, terms)
    page_ranks = np.asarray([max(c.page_rank, 0) for c in chunks], dtype=np.float64)
    fused = fused + prior_weight / (1 + page_ranks)
    # chunks with no query term at all never beat one that matches
    fused = np.where(bm25 > 0, fused, fused * 0.5)

    order = sorted(
        (i for i in range(len(chunks)) if i not in dropped),
        key=lambda i: (-fused[i], chunks[i].page_rank, chunks[i].url, chunks[i].position),
    )
    # a page's quota can skip over candidates: look a few times deeper than `limit`
    kept = _drop_near_duplicates(order, chunks, enough=3 * limit, shingles_of=shingles_of)

    # Greedy spread over sources: recompute each candidate's worth as its page fills up.
    per_source: Counter[str] = Counter()
    remaining = list(kept)
    result: list[Ranked] = []
    while remaining and len(result) < limit:
        best_pos, best_val = -1, -math.inf
        for pos, i in enumerate(remaining):
            url = chunks[i].url
            if per_source[url] >= max_per_source:
                continue
            val = fused[i] * source_decay ** per_source[url]
            if val > best_val:
                best_pos, best_val = pos, val
        if best_pos < 0:
            break
        i = remaining.pop(best_pos)
        per_source[chunks[i].url] += 1
        result.append(
            Ranked(
                chunk=chunks[i],
                score=float(best_val),
                bm25=float(bm25[i]),
                dense=None if dense_scores is None else float(dense_scores[i]),
            )
        )
    return result


_ENTITY = re.compile(
    r"\"([^\"]{2,80})\"|“([^”]{2,80})”"  # quoted phrases
    r"|((?:[A-Z][\w'’.-]*|\d[\w.,]*)(?:\s+(?:of|the|de|du|von|van|and|&)?\s*"
    r"(?:[A-Z][\w'’.-]*|\d[\w.,]*))*)"  # runs of capitalised words and numbers
)


def question_entities(question: str) -> list[frozenset[str]]:
    """The question's named things, each as its set of index terms: quoted phrases, runs of
    capitalised words and numbers ("Steven Spielberg", "Super Bowl 50", "1975"). A capital
    that only starts the sentence ("Who", "Which") is not a name."""
    text = question.strip()
    out: list[frozenset[str]] = []
    for m in _ENTITY.finditer(text):
        phrase = next(g for g in m.groups() if g)
        words = phrase.split()
        if m.start() == 0 and m.group(3) and words and words[0].lower() in _OPENERS:
            words = words[1:]
        terms = frozenset(tokenize(" ".join(words)))
        if terms and terms not in out:
            out.append(terms)
    return out


# words that open a question with a capital without naming anything
_OPENERS = STOPWORDS | {"name", "list", "give", "tell", "define", "describe", "explain"}


def _priors(question: str, chunks: Sequence[Chunk], fused: np.ndarray) -> np.ndarray:
    """The lead and entity priors for every chunk (see LEAD_FLOOR, ENTITY_WEIGHT)."""
    bonus = np.zeros(len(chunks), dtype=np.float64)
    if LEAD_WEIGHT or LEAD_FLOOR:
        first: dict[str, int] = {}
        best: dict[str, float] = {}
        for i, c in enumerate(chunks):
            if c.from_snippet:
                continue
            best[c.url] = max(best.get(c.url, 0.0), float(fused[i]))
            if c.url not in first or c.position < chunks[first[c.url]].position:
                first[c.url] = i
        for url, i in first.items():
            bonus[i] += LEAD_WEIGHT * best[url]
            bonus[i] = max(bonus[i], LEAD_FLOOR * best[url] - float(fused[i]))
    entities = question_entities(question) if ENTITY_WEIGHT else []
    if entities:
        for i, c in enumerate(chunks):
            terms = set(tokenize(f"{c.title}\n{c.text}"))
            named = sum(e <= terms for e in entities)
            bonus[i] += ENTITY_WEIGHT * named / len(entities)
    return bonus


def _drop_near_duplicates(
    order: Sequence[int],
    chunks: Sequence[Chunk],
    enough: int,
    shingles_of: Callable[[int], frozenset[int]] | None = None,
) -> list[int]:
    """Keep the first of each group of near-duplicates (a page's text beats a snippet),
    stopping once `enough` are kept."""
    shingles_of = shingles_of or (lambda i: shingles(chunks[i].text))
    kept: list[int] = []
    kept_shingles: list[frozenset] = []
    owners: dict[int, list[int]] = {}  # shingle -> slots in `kept` holding it
    for i in order:
        if len(kept) >= enough:
            break
        sh = shingles_of(i)
        # A chunk mostly inside another shares some of its few smallest-hashed shingles with
        # it (a bottom-k sketch), so those few lookups find every candidate duplicate.
        sketch = sorted(sh)[:SKETCH]
        candidates = sorted({slot for s in sketch for slot in owners.get(s, ())})
        dup = next((slot for slot in candidates if near_duplicate(sh, kept_shingles[slot])), None)
        if dup is None:
            for s in sh:
                owners.setdefault(s, []).append(len(kept))
            kept.append(i)
            kept_shingles.append(sh)
        elif chunks[kept[dup]].from_snippet and not chunks[i].from_snippet:
            # the page's own passage replaces a snippet of it, at the snippet's place
            for s in sh:
                owners.setdefault(s, []).append(dup)
            kept[dup] = i
            kept_shingles[dup] = sh
    return kept


def _credit_snippets(
    scores: np.ndarray,
    chunks: Sequence[Chunk],
    shingles_of: Callable[[int], frozenset[int]] | None = None,
    terms: Sequence[Sequence[str]] | None = None,
) -> tuple[np.ndarray, set[int]]:
    """Move each snippet's score onto the passage of its page that it was cut from.

    The search engine chose the snippet as the page's best match for the query; the page's
    own passage holding it says the same with its context around it, so it inherits the
    snippet's score (if higher) and the snippet itself leaves the race.
    """
    shingles_of = shingles_of or (lambda i: shingles(chunks[i].text))
    by_url: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        if not c.from_snippet:
            by_url.setdefault(c.url, []).append(i)
    scores = scores.copy()
    dropped: set[int] = set()
    for i, c in enumerate(chunks):
        if not c.from_snippet or c.url not in by_url:
            continue
        candidates = by_url[c.url]
        if terms is not None:
            # only passages holding most of the snippet's words can hold its 4-grams: a set
            # test on the index terms spares hashing every passage of a long page
            want = set(terms[i])
            need = SNIPPET_IN_PASSAGE * len(want)
            candidates = [j for j in candidates if len(want.intersection(terms[j])) >= need]
            if not candidates:
                continue
        have = shingles_of(i)
        overlap, j = max((len(have & shingles_of(j)), -j) for j in candidates)
        if overlap >= SNIPPET_IN_PASSAGE * len(have):
            scores[-j] = max(scores[-j], scores[i])
            dropped.add(i)
    return scores, dropped


def _unit(scores: np.ndarray) -> np.ndarray:
    """Scores scaled so the best is 1 (all zeros stay zeros)."""
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)


def _with_page_evidence(scores: np.ndarray, chunks: Sequence[Chunk]) -> np.ndarray:
    """Blend each chunk's score with its page's best chunk score.

    A passage of the page that matches the question best often answers it without naming
    the subject again ("It opened in 1889"); the page's evidence carries it.
    """
    best: dict[str, float] = {}
    for c, v in zip(chunks, scores, strict=True):
        best[c.url] = max(best.get(c.url, 0.0), float(v))
    page = np.asarray([best[c.url] for c in chunks], dtype=np.float64)
    return (1 - PAGE_WEIGHT) * scores + PAGE_WEIGHT * page


def dense_text(chunk: Chunk) -> str:
    """What the dense model reads of a chunk (also what an offline corpus pins ahead)."""
    head = " - ".join(x for x in (chunk.title, chunk.heading) if x)
    return f"{head}\n{chunk.text}" if head else chunk.text

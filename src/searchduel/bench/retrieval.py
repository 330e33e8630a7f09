"""`bench retrieval`: does the packed context hold the answer, and at what token cost?

For every question of a QA file (`{"id", "question", "answers": [aliases], "doc"}` per line)
over a corpus folder, the search column's real pipeline runs (local provider -> pages ->
chunk -> rank -> pack) and we check whether a gold answer string is in the packed context
(answer-in-context recall), next to baselines measured in the same run on the same corpus
with the same token budget:

    head        the first N tokens of the top document by whole-document BM25
    bm25-120w   BM25 over fixed 120-word chunks of the whole corpus, packed best first
    snippets    the provider's hit snippets alone
    oracle      the gold document's smallest passage that holds an answer

Also: index build time, query time, pipeline time, and the same build/query times on a
generated corpus of `--scale-docs` documents (~37 KB each, 15 MB for 400) for scale.
Tokens are counted with the real Phi-3 tokenizer when ../shared/data/phi3-tokenizer exists
(or --tokenizer), else with the documented over-estimate.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ASSETS_DIR, DEFAULT_CONTEXT_WINDOW, Settings
from ..rag.chunk import chunk_pages, chunk_text
from ..rag.pack import build_context
from ..rag.rank import BM25Index, rank_chunks, tokenize
from ..search.local import LocalCorpus, LocalCorpusProvider, embed_ahead, url_for
from ..types import Hit
from . import Result, check

SUITE = "retrieval"
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
PHI3_TOKENIZER = SHARED_DATA / "phi3-tokenizer"
# SQuAD v1.1 dev, 600 questions over their 48 Wikipedia articles (SOURCE.txt beside it says
# how it was built): questions nobody here wrote, so it checks what the project set cannot.
SQUAD_DEV = SHARED_DATA / "retrieval" / "squad-dev"
DEFAULT_QUESTIONS = ASSETS_DIR / "qa.jsonl"
TARGET_RECALL = ">= 0.99"  # the project's own set: written beside the corpus, nearly all found
# SQuAD dev (questions nobody here wrote): issue 20 asks >= 0.985 within 2,200 tokens, and at
# least every baseline measured in the same run
SQUAD_TARGET = ">= 0.985"
SQUAD_SMALL_BUDGET = 1000  # recall is also reported at half the default budget
TARGET_TOKENS = "<= 2200"  # ... within 2,200 tokens of context
TARGET_BUILD_S = "<= 30"  # 400 documents, 15 MB: "seconds" on a laptop, with slack for CI
TARGET_QUERY_S = "<= 0.25"  # "well under a second"
BASELINE_WORDS = 120
HITS = 10  # what the engine asks a provider for


@dataclass(frozen=True)
class QA:
    id: str
    question: str
    answers: tuple[str, ...]
    doc: str = ""


def load_questions(path: str | Path) -> list[QA]:
    """QA items from a JSON-lines file; blank lines and lines starting with # are skipped."""
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        obj = json.loads(line)
        answers = obj.get("answers") or obj.get("answer") or []
        if isinstance(answers, str):
            answers = [answers]
        items.append(
            QA(str(obj.get("id", n)), obj["question"], tuple(answers), str(obj.get("doc", "")))
        )
    return items


def load_squad(folder: str | Path = SQUAD_DEV) -> tuple[Path, list[QA]] | str:
    """(corpus folder, questions) of the SQuAD dev retrieval set, or why it is not there.

    questions.json holds {"id", "question", "match": [aliases], "gold_doc"}; the corpus is
    one .txt per article beside it.
    """
    folder = Path(folder)
    qfile, corpus = folder / "questions.json", folder / "corpus"
    if not qfile.is_file() or not corpus.is_dir():
        return f"no SQuAD dev set at {folder} (needs questions.json and corpus/)"
    try:
        raw = json.loads(qfile.read_text(encoding="utf-8"))
        items = [
            QA(str(o["id"]), o["question"], tuple(o["match"]), str(o.get("gold_doc", "")))
            for o in raw
        ]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable SQuAD dev questions in {qfile}: {exc}"
    return corpus, items


def normalize(text: str) -> str:
    """Case, accents and punctuation folded away, so "2,850 km" matches "2850 km"-style
    aliases only when the digits agree, and "São" matches "Sao"."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " " + " ".join(re.findall(r"\w+", text)) + " "


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """True when any alias appears in the text as whole words (after `normalize`)."""
    hay = normalize(text)
    return any(normalize(a).strip() and normalize(a) in hay for a in answers)


def make_counter(settings: Settings) -> tuple[Any, str]:
    """The real Phi-3 token counter when available, else the over-estimate."""
    from ..llm.tokens import ChatTokenCounter, EstimateTokenCounter, load_tokenizer

    name = settings.tokenizer or (str(PHI3_TOKENIZER) if PHI3_TOKENIZER.is_dir() else "")
    if name:
        return ChatTokenCounter(load_tokenizer(name)), f"tokenizer {Path(name).name}"
    return EstimateTokenCounter(), "estimated tokens (no tokenizer found)"


def truncate_tokens(text: str, n: int, count: Callable[[str], int]) -> str:
    """The longest prefix of text with at most n tokens (binary search on characters)."""
    if count(text) <= n:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= n:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _greedy(passages: Sequence[str], budget: int, count: Callable[[str], int]) -> str:
    out: list[str] = []
    used = 0
    for p in passages:
        cost = count(p) + 2
        if used + cost <= budget:
            out.append(p)
            used += cost
        if budget - used < 20:
            break
    return "\n\n".join(out)


@dataclass
class _System:
    name: str
    found: int = 0
    tokens: float = 0.0
    ms: float = 0.0
    n: int = 0

    def add(self, text: str, answers: Sequence[str], count: Callable[[str], int], ms: float):
        self.n += 1
        self.found += contains_answer(text, answers)
        self.tokens += count(text) if text else 0
        self.ms += ms

    def add_hit(self, found: bool) -> None:
        self.n += 1
        self.found += found

    @property
    def recall(self) -> float:
        return self.found / self.n if self.n else 0.0

    @property
    def mean_tokens(self) -> float:
        return self.tokens / self.n if self.n else 0.0


class _Baselines:
    """The comparison systems, built over the same documents as the provider."""

    def __init__(self, corpus: LocalCorpus):
        self.corpus = corpus
        self.doc_index = BM25Index([tokenize(f"{d.title}\n{d.text}") for d in corpus.docs])
        self.windows: list[str] = []
        for d in corpus.docs:
            words = d.text.split()
            for i in range(0, max(len(words), 1), BASELINE_WORDS):
                self.windows.append(" ".join(words[i : i + BASELINE_WORDS]))
        self.window_index = BM25Index([tokenize(w) for w in self.windows])

    def head(self, question: str, budget: int, count: Callable[[str], int]) -> str:
        scores = self.doc_index.scores(tokenize(question))
        if not len(scores) or scores.max() <= 0:
            return ""
        doc = self.corpus.docs[int(np.argmax(scores))]
        return truncate_tokens(f"{doc.title}\n{doc.text}", budget, count)

    def fixed_chunks(self, question: str, budget: int, count: Callable[[str], int]) -> str:
        scores = self.window_index.scores(tokenize(question))
        order = [i for i in np.argsort(-scores, kind="stable")[:60] if scores[i] > 0]
        return _greedy([self.windows[i] for i in order], budget, count)

    def oracle(self, qa: QA, count: Callable[[str], int]) -> str:
        doc = _gold_doc(self.corpus, qa.doc)
        if doc is None:
            return ""
        holding = [
            c.text
            for c in chunk_text(doc.text, url="", title=doc.title)
            if contains_answer(c.text, qa.answers)
        ]
        if not holding:  # the answer spans a chunk boundary, or is only in the title
            words = doc.text.split()
            holding = [
                w
                for i in range(0, len(words), BASELINE_WORDS // 2)
                for w in [" ".join(words[i : i + BASELINE_WORDS])]
                if contains_answer(w, qa.answers)
            ]
        return min(holding, key=count) if holding else ""


def _gold_doc(corpus: LocalCorpus, name: str) -> Any:
    if not name:
        return None
    if name in corpus.by_path:
        return corpus.docs[corpus.by_path[name]]
    stem = Path(name).stem
    for d in corpus.docs:
        if Path(d.path).stem == stem or Path(d.path).name == name:
            return d
    return None


def evaluate(
    corpus: LocalCorpus,
    questions: Sequence[QA],
    counter: Any,
    settings: Settings,
    *,
    budgets: Sequence[int],
    dense: bool = False,
    window: int = DEFAULT_CONTEXT_WINDOW,
    misses: list[dict] | None = None,
    stages: dict[str, list[float]] | None = None,
) -> dict[str, _System]:
    """Run every system on every question; returns them by name. `stages` (when given)
    receives each question's milliseconds per stage of the configured pipeline (search,
    chunk, bm25, dense, pack). With `dense`, the corpus is embedded ahead first, as the
    engine's warm-up does, so the dense runs measure what a question over it gets."""
    if dense:
        embed_ahead(corpus)
    provider = LocalCorpusProvider(corpus)
    base = _Baselines(corpus)
    count = counter.count_text_tokens
    main_budget = settings.context_tokens
    systems: dict[str, _System] = {}

    def sys_(name: str) -> _System:
        return systems.setdefault(name, _System(name))

    baselines: list[tuple[str, Callable[[QA, list[Hit]], str]]] = [
        ("head", lambda qa, hits: base.head(qa.question, main_budget, count)),
        ("bm25-120w", lambda qa, hits: base.fixed_chunks(qa.question, main_budget, count)),
        ("snippets", lambda qa, hits: "\n\n".join(h.snippet for h in hits)),
        ("oracle", lambda qa, hits: base.oracle(qa, count)),
    ]
    search_times: list[float] = []
    variants = [(b, False) for b in budgets] + ([(main_budget, True)] if dense else [])
    for qa in questions:
        t0 = time.perf_counter()
        hits = provider.search(qa.question, k=HITS)
        search_ms = (time.perf_counter() - t0) * 1000
        search_times.append(search_ms)
        pages = [provider.page(h.url) for h in hits[: settings.pages]]
        gold = _gold_doc(corpus, qa.doc)
        if gold is not None:
            sys_("gold doc in pages").add_hit(any(p.url == url_for(gold.path) for p in pages))
        usable = [p for p in pages if p.ok]
        rankings: dict[bool, tuple[list, float, dict[str, float]]] = {}
        for budget, use_dense in variants:
            name = f"ours@{budget}" + ("+dense" if use_dense else "")
            s = settings.replace(context_tokens=budget, dense=use_dense)
            first = budget == main_budget and use_dense == settings.dense  # the configured one
            t1 = time.perf_counter()
            if use_dense not in rankings:  # rank once per question, pack at every budget
                rank_timings: dict[str, float] = {}
                chunks = chunk_pages(usable, hits)
                rank_timings["chunk"] = (time.perf_counter() - t1) * 1000
                ranked = rank_chunks(qa.question, chunks, dense=use_dense, timings=rank_timings)
                rankings[use_dense] = (ranked, (time.perf_counter() - t1) * 1000, rank_timings)
            ranked, rank_ms, rank_timings = rankings[use_dense]
            timings = {"search": search_ms, **rank_timings}
            t1 = time.perf_counter()
            ctx = build_context(
                qa.question,
                pages,
                hits,
                counter=counter,
                settings=s,
                window=window,
                ranked=ranked,
                timings=timings,
            )
            ms = search_ms + rank_ms + (time.perf_counter() - t1) * 1000
            sys_(name).add(ctx.text, qa.answers, count, ms)
            if first and stages is not None:
                for stage, stage_ms in timings.items():
                    stages.setdefault(stage, []).append(stage_ms)
            if first and misses is not None and not contains_answer(ctx.text, qa.answers):
                misses.append(
                    {
                        "id": qa.id,
                        "question": qa.question,
                        "answers": qa.answers,
                        "doc": qa.doc,
                        "hits": [h.url for h in hits[:5]],
                        "sources": [x.url for x in ctx.sources],
                    }
                )
        for name, fn in baselines:
            t1 = time.perf_counter()
            text = fn(qa, hits)
            sys_(name).add(text, qa.answers, count, (time.perf_counter() - t1) * 1000)
    if search_times:
        sys_("query").ms = statistics.mean(search_times)
    return systems


# --- scale --------------------------------------------------------------------------------


def generate_corpus(folder: Path, n_docs: int, *, doc_chars: int = 37_500, seed: int = 0) -> int:
    """Write n_docs synthetic articles (Zipf-distributed pseudo-words, headings, lists) and
    return the bytes written. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    syll = ["ka", "to", "ri", "men", "sa", "lo", "ver", "an", "di", "po", "ul", "ze", "ba", "gen"]
    picks = rng.integers(0, len(syll), size=(30_000, 3))
    lengths = rng.integers(1, 4, size=30_000)
    vocab = sorted(
        {"".join(syll[j] for j in row[:n]) for row, n in zip(picks, lengths, strict=True)}
    )
    vocab_arr = np.asarray(vocab)
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    total = 0
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(n_docs):
        words = vocab_arr[rng.choice(len(vocab), size=doc_chars // 6, p=weights)]
        parts, i, section = [f"# Article {d} {words[0]} {words[1]}"], 0, 0
        while i < len(words):
            if section % 5 == 0:
                parts.append(f"## Section {section // 5} {words[i]}")
            n = int(rng.integers(40, 140))
            para = " ".join(words[i : i + n])
            if section % 7 == 3:
                para = "\n".join(f"- {' '.join(words[j : j + 8])}." for j in range(i, i + n, 8))
            parts.append(para.capitalize() + ".")
            i += n
            section += 1
        text = "\n\n".join(parts)
        suffix = (".md", ".txt")[d % 2]
        (folder / f"doc{d:04d}{suffix}").write_text(text, encoding="utf-8")
        total += len(text.encode())
    return total


def measure_scale(n_docs: int, *, queries: int = 20) -> tuple[float, float, float, int]:
    """(build seconds, mean query seconds, p95 query seconds, bytes) on a generated corpus."""
    with tempfile.TemporaryDirectory(prefix="searchduel-scale-") as tmp:
        size = generate_corpus(Path(tmp), n_docs)
        t0 = time.perf_counter()
        corpus = LocalCorpus.load(tmp, cache_dir=False)
        build = time.perf_counter() - t0
        provider = LocalCorpusProvider(corpus)
        rng = np.random.default_rng(1)
        vocab = list(corpus._index.vocab)
        times = []
        for _ in range(queries):
            q = " ".join(rng.choice(vocab, size=6))
            t1 = time.perf_counter()
            provider.search(q, k=HITS)
            times.append(time.perf_counter() - t1)
        LocalCorpus._cache.pop(Path(tmp).resolve(), None)
    times.sort()
    return build, statistics.mean(times), times[int(0.95 * (len(times) - 1))], size


# --- the suite ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench retrieval` (the corpus is the common --corpus setting)."""
    g = parser.add_argument_group("bench retrieval")
    g.add_argument(
        "--questions",
        dest="retrieval_questions",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"QA JSON lines over --corpus (default {DEFAULT_QUESTIONS})",
    )
    g.add_argument(
        "--budgets",
        dest="retrieval_budgets",
        default="",
        metavar="N,N",
        help="extra context budgets to measure besides --context-tokens",
    )
    g.add_argument(
        "--compare-dense",
        dest="retrieval_dense",
        action="store_true",
        help="also measure with the dense re-ranker",
    )
    g.add_argument(
        "--scale-docs",
        dest="retrieval_scale",
        type=int,
        default=400,
        metavar="N",
        help="generated documents for the scale timing (0 skips it)",
    )
    g.add_argument(
        "--squad",
        dest="retrieval_squad",
        type=lambda v: Path(v) if v.strip() else None,
        default=SQUAD_DEV,
        metavar="DIR",
        help="SQuAD dev retrieval set (questions.json, corpus/); '' skips it "
        "(default ../shared/data/retrieval/squad-dev, skipped with a note when absent)",
    )
    g.add_argument(
        "--misses",
        dest="retrieval_misses",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the questions whose context lacks the answer (JSON lines)",
    )


def run(args: argparse.Namespace, settings: Settings | None = None) -> list[Result]:
    """Measure recall and context tokens against the baselines, on the project's set and on
    the SQuAD dev set, per-stage timings, and index/query times."""
    settings = settings or Settings()
    questions_path = getattr(args, "retrieval_questions", None) or DEFAULT_QUESTIONS
    questions = load_questions(questions_path)
    counter, counter_name = make_counter(settings)
    window = (
        settings.context_window or getattr(counter, "context_window", 0) or (DEFAULT_CONTEXT_WINDOW)
    )
    budgets = sorted({settings.context_tokens, *_ints(getattr(args, "retrieval_budgets", ""))})
    compare_dense = getattr(args, "retrieval_dense", False) or settings.dense

    LocalCorpus._cache.pop(Path(settings.corpus).expanduser().resolve(), None)
    t0 = time.perf_counter()
    corpus = LocalCorpus.load(settings.corpus, cache_dir=False)
    build_s = time.perf_counter() - t0

    misses: list[dict] = []
    stages: dict[str, list[float]] = {}
    systems = evaluate(
        corpus,
        questions,
        counter,
        settings,
        budgets=budgets,
        dense=compare_dense,
        window=window,
        misses=misses,
        stages=stages,
    )
    for m in misses[:10]:
        print(f"miss {m['id']}: {m['question']} -> {m['answers'][:2]}", file=sys.stderr)

    where = (
        f"{len(questions)} questions over {len(corpus.docs)} documents "
        f"({Path(settings.corpus).name}), {counter_name}"
    )
    results = _set_results("", systems, settings, where, TARGET_RECALL)
    results += _stage_results("", stages)

    squad = getattr(args, "retrieval_squad", SQUAD_DEV)
    if squad:
        loaded = load_squad(squad)
        if isinstance(loaded, str):
            results.append(Result(SUITE, "squad-dev", 0.0, note=f"skipped: {loaded}"))
        else:
            folder, squad_qs = loaded
            squad_corpus = LocalCorpus.load(folder, cache_dir=False)
            squad_misses: list[dict] = []
            squad_stages: dict[str, list[float]] = {}
            squad_systems = evaluate(
                squad_corpus,
                squad_qs,
                counter,
                settings,
                budgets=sorted({SQUAD_SMALL_BUDGET, *budgets}),
                dense=compare_dense,
                window=window,
                misses=squad_misses,
                stages=squad_stages,
            )
            LocalCorpus._cache.pop(Path(folder).resolve(), None)
            for m in squad_misses:
                m["set"] = "squad-dev"
            misses += squad_misses
            where = (
                f"SQuAD v1.1 dev: {len(squad_qs)} questions over {len(squad_corpus.docs)} "
                f"Wikipedia articles, {counter_name}"
            )
            results += _set_results("squad-dev ", squad_systems, settings, where, SQUAD_TARGET)
            results += _stage_results("squad-dev ", squad_stages)
    if getattr(args, "retrieval_misses", None):
        Path(args.retrieval_misses).write_text(
            "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in misses), encoding="utf-8"
        )

    results.append(
        Result(
            SUITE,
            "index build",
            build_s,
            "s",
            note=f"{len(corpus.docs)} docs, {len(corpus.chunks)} chunks",
        )
    )
    n_scale = getattr(args, "retrieval_scale", 400)
    if n_scale:
        build, q_mean, q_p95, size = measure_scale(n_scale)
        note = f"{n_scale} generated docs, {size / 1e6:.1f} MB"
        results.append(
            Result(
                SUITE,
                "scale index build",
                build,
                "s",
                target=TARGET_BUILD_S,
                passed=check(build, TARGET_BUILD_S),
                note=note,
            )
        )
        results.append(
            Result(
                SUITE,
                "scale query p95",
                q_p95,
                "s",
                target=TARGET_QUERY_S,
                passed=check(q_p95, TARGET_QUERY_S),
                note=f"mean {q_mean * 1000:.1f} ms",
            )
        )
    return results


BASELINES = ("head", "bm25-120w", "snippets")


def _set_results(
    prefix: str, systems: dict[str, _System], settings: Settings, where: str, target: str
) -> list[Result]:
    """Recall and tokens of every system on one question set; the headline is the configured
    pipeline (dense re-ranking included when it is on), held to `target` and, for the
    independent set, to the best baseline measured in the same run."""
    ours = systems[f"ours@{settings.context_tokens}" + ("+dense" if settings.dense else "")]
    fixed = systems["bm25-120w"]
    results = [
        Result(
            SUITE,
            f"{prefix}recall (ours)",
            ours.recall,
            "",
            fixed.recall,
            target,
            check(ours.recall, target),
            where,
        ),
        Result(
            SUITE,
            f"{prefix}context tokens (ours)",
            ours.mean_tokens,
            "tokens",
            fixed.mean_tokens,
            TARGET_TOKENS,
            check(ours.mean_tokens, TARGET_TOKENS),
            f"mean; budget {settings.context_tokens}; dense {'on' if settings.dense else 'off'}",
        ),
    ]
    if prefix:
        name, best = max(((n, systems[n].recall) for n in BASELINES), key=lambda x: x[1])
        margin = ours.recall - best
        results.append(
            Result(
                SUITE,
                f"{prefix}recall over the best baseline",
                margin,
                "",
                best,
                ">= 0",
                check(margin, ">= 0"),
                f"best baseline: {name}",
            )
        )
    for name, s in systems.items():
        if name == "query":
            continue
        if name == "gold doc in pages":  # a diagnostic: did the search find the page at all?
            results.append(Result(SUITE, f"{prefix}{name}", s.recall, note=f"{s.found}/{s.n}"))
            continue
        results.append(Result(SUITE, f"{prefix}recall {name}", s.recall, note=f"{s.found}/{s.n}"))
        results.append(Result(SUITE, f"{prefix}tokens {name}", s.mean_tokens, "tokens"))
    results.append(
        Result(
            SUITE,
            f"{prefix}pipeline time (ours)",
            ours.ms / max(ours.n, 1),
            "ms",
            note="search + chunk + rank + pack, per question",
        )
    )
    if "query" in systems:
        results.append(
            Result(
                SUITE,
                f"{prefix}query time",
                systems["query"].ms,
                "ms",
                note="mean LocalCorpusProvider.search",
            )
        )
    return results


def _stage_results(prefix: str, stages: dict[str, list[float]]) -> list[Result]:
    """Mean and 95th-percentile milliseconds of each stage of the configured pipeline."""
    out = []
    for stage in ("search", "chunk", "bm25", "dense", "pack"):
        times = sorted(stages.get(stage, ()))
        if times:
            p95 = times[int(0.95 * (len(times) - 1))]
            out.append(
                Result(
                    SUITE,
                    f"{prefix}stage {stage}",
                    statistics.mean(times),
                    "ms",
                    note=f"mean per question; p95 {p95:.1f} ms",
                )
            )
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in re.split(r"[,\s]+", text or "") if x.strip()]

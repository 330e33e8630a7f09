"""`bench extraction`: main-text quality and speed against trafilatura, on real pages.

Two dataset formats are read, each scored with its own published metric (see the
SOURCE.txt in each folder of ../shared/data/extraction):

- WCXB (``<dir>/html/<id>.html.gz`` + ``<dir>/ground-truth/<id>.json``, page types in the
  ``metadata.json`` beside or above it): mean per-page F1 over bags of lowercase ``\\w+`` tokens.
- ScrapingHub article-extraction-benchmark (``html/<id>.html.gz`` + ``ground-truth.json``):
  word 4-gram shingles, tp/fp/fn normalised per page, F1 of mean precision and mean recall.

trafilatura's plain ``extract()`` runs on the same pages in the same process as the baseline,
so the speed ratio holds on any machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import Result, check

SUITE = "extraction"
DATA_ROOT = Path(__file__).resolve().parents[4] / "shared" / "data" / "extraction"
DEFAULT_SETS = ("wcxb-dev/dev", "scrapinghub-aeb")
# The targets: beat trafilatura's quality without spending more time per page.
TARGET_F1 = {"wcxb": 0.87, "scrapinghub": 0.96}

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Sample:
    """One benchmark page: raw HTML bytes and the reference main text."""

    id: str
    html: bytes
    truth: str
    url: str = ""
    page_type: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str  # "wcxb" or "scrapinghub"
    path: Path
    samples: list[Sample]
    total: int = 0  # pages in the whole set; more than len(samples) when --limit took a sample

    @property
    def is_sample(self) -> bool:
        return self.total > len(self.samples)


# --- metrics ------------------------------------------------------------------------------


def word_f1(pred: str, truth: str) -> float:
    """WCXB's per-page F1: bags (multisets) of lowercase \\w+ tokens."""
    p = Counter(_WORD.findall(pred.lower()))
    t = Counter(_WORD.findall(truth.lower()))
    if not p and not t:
        return 1.0
    if not p or not t:
        return 0.0
    tp = sum((p & t).values())
    if tp == 0:
        return 0.0
    precision = tp / sum(p.values())
    recall = tp / sum(t.values())
    return 2 * precision * recall / (precision + recall)


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = _WORD.findall(text or "")
    # a text shorter than n words is one (short) shingle, as in the benchmark's own code
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def shingle_counts(pred: str, truth: str) -> tuple[float, float, float]:
    """ScrapingHub's per-page (tp, fp, fn) over word 4-gram shingles, normalised to sum 1."""
    p, t = _shingles(pred), _shingles(truth)
    tp = sum((p & t).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    if total:
        return tp / total, fp / total, fn / total
    return 0.0, 0.0, 0.0


def shingle_prf(counts: Iterable[tuple[float, float, float]]) -> tuple[float, float, float]:
    """ScrapingHub's corpus score: F1 of the mean per-page precision and mean recall."""
    precisions, recalls = [], []
    for tp, fp, fn in counts:
        if fp == 0 and fn == 0:
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        precisions.append(0.0 if tp == 0 and fp == 0 else tp / (tp + fp))
        recalls.append(0.0 if tp == 0 and fn == 0 else tp / (tp + fn))
    if not precisions:
        return 0.0, 0.0, 0.0
    p, r = statistics.mean(precisions), statistics.mean(recalls)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# --- datasets -----------------------------------------------------------------------------


def _find_metadata(folder: Path) -> dict:
    for d in (folder, *folder.parents[:2]):
        meta = d / "metadata.json"
        if meta.is_file():
            return json.loads(meta.read_text(encoding="utf-8")).get("files", {})
    return {}


def _page_type(gt: dict) -> str:
    """The page type as WCXB's own evaluate.py reads it ("category" is a collection)."""
    kind = (gt.get("_internal") or {}).get("page_type") or ""
    if isinstance(kind, dict):
        kind = kind.get("primary") or ""
    return "collection" if kind == "category" else str(kind)


def load_dataset(folder: str | Path, limit: int | None = None) -> Dataset:
    """Read a WCXB or ScrapingHub folder; `limit` keeps an even spread of its pages."""
    folder = Path(folder)
    samples: list[Sample] = []
    if (folder / "ground-truth.json").is_file():
        name = "scrapinghub"
        truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
        ids = sorted(truth)
        total = len(ids)
        for i in _spread(ids, limit):
            html = gzip.decompress((folder / "html" / f"{i}.html.gz").read_bytes())
            item = truth[i]
            samples.append(Sample(i, html, item.get("articleBody") or "", item.get("url") or ""))
    elif (folder / "ground-truth").is_dir():
        name = "wcxb"
        meta = _find_metadata(folder)
        ids = sorted(p.name.split(".")[0] for p in (folder / "ground-truth").glob("*.json"))
        total = len(ids)
        for i in _spread(ids, limit):
            gt = json.loads((folder / "ground-truth" / f"{i}.json").read_text(encoding="utf-8"))
            html_path = folder / "html" / f"{i}.html.gz"
            if not html_path.is_file():
                continue
            html = gzip.decompress(html_path.read_bytes())
            page_type = _page_type(gt) or (meta.get(i) or {}).get("page_type", "")
            main = gt.get("ground_truth", {}).get("main_content") or ""
            samples.append(Sample(i, html, main, gt.get("url") or "", page_type))
    else:
        raise FileNotFoundError(
            f"{folder}: neither a WCXB folder (ground-truth/ + html/) "
            "nor a ScrapingHub one (ground-truth.json + html/)"
        )
    return Dataset(name, folder, samples, total)


def _spread(ids: list[str], limit: int | None) -> list[str]:
    """Every k-th id, so a small run still covers all page types (WCXB groups them by id)."""
    if not limit or limit >= len(ids):
        return ids
    step = len(ids) / limit
    return [ids[int(k * step)] for k in range(limit)]


# --- running ------------------------------------------------------------------------------

Extractor = Callable[[bytes, str], str]


def _ours(html: bytes, url: str) -> str:
    from ..web.extract import extract_html

    return extract_html(html, url).text


def _trafilatura(html: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url or None) or ""


def timed_outputs(
    samples: list[Sample], extractors: dict[str, Extractor]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Each extractor's text for every page, and its mean seconds per page.

    The extractors take turns page by page, in alternating order, so a machine shared
    with other work slows them alike and the ratio of their times stays fair.
    """
    names = list(extractors)
    outputs: dict[str, list[str]] = {name: [] for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for i, s in enumerate(samples):
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            text = extractors[name](s.html, s.url)
            seconds[name] += time.perf_counter() - start
            outputs[name].append(text)
    n = max(1, len(samples))
    return outputs, {name: total / n for name, total in seconds.items()}


def score(dataset: Dataset, outputs: list[str]) -> dict[str, float]:
    """F1 overall (key "all") and per page type (WCXB), with the dataset's own metric."""
    if dataset.name == "scrapinghub":
        counts = [shingle_counts(o, s.truth) for o, s in zip(outputs, dataset.samples, strict=True)]
        return {"all": shingle_prf(counts)[2]}
    by_type: dict[str, list[float]] = {}
    for o, s in zip(outputs, dataset.samples, strict=True):
        f1 = word_f1(o, s.truth)
        by_type.setdefault("all", []).append(f1)
        if s.page_type:
            by_type.setdefault(s.page_type, []).append(f1)
    return {k: statistics.mean(v) for k, v in by_type.items()}


def evaluate(dataset: Dataset) -> list[Result]:
    """Score our extractor and trafilatura on one dataset; one Result per measure."""
    # warm both once so imports and lazy caches are not billed to the first page
    if dataset.samples:
        s = dataset.samples[0]
        _ours(s.html, s.url)
        _trafilatura(s.html, s.url)
    outputs, seconds = timed_outputs(dataset.samples, {"ours": _ours, "trafilatura": _trafilatura})
    ours_s, base_s = seconds["ours"], seconds["trafilatura"]
    ours_f1, base_f1 = score(dataset, outputs["ours"]), score(dataset, outputs["trafilatura"])
    n = len(dataset.samples)
    name = dataset.name
    # The F1 targets are set on the whole set: a --limit sample is reported without a verdict.
    target = "" if dataset.is_sample else f">= {TARGET_F1[name]}"
    sample = f"sample of {n} of {dataset.total} pages: target n/a" if dataset.is_sample else ""
    results = [
        Result(
            SUITE,
            f"{name} F1",
            ours_f1["all"],
            baseline=base_f1["all"],
            target=target,
            passed=check(ours_f1["all"], target),
            note=sample or f"{n} pages, {dataset.path}",
        )
    ]
    counts = Counter(s.page_type for s in dataset.samples if s.page_type)
    for page_type in sorted(counts):
        results.append(
            Result(
                SUITE,
                f"{name} F1 {page_type}",
                ours_f1[page_type],
                baseline=base_f1[page_type],
                note=f"{counts[page_type]} pages",
            )
        )
    ratio = ours_s / base_s if base_s else 0.0
    results.append(
        Result(
            SUITE,
            f"{name} s/page",
            ours_s,
            unit="s",
            baseline=base_s,
            note=f"{ratio:.2f}x trafilatura",
        )
    )
    results.append(
        Result(
            SUITE,
            f"{name} time vs trafilatura",
            ratio,
            unit="x",
            baseline=1.0,
            target="<= 1.0",
            passed=check(ratio, "<= 1.0"),
        )
    )
    return results


def _default_dirs() -> list[Path]:
    return [DATA_ROOT / d for d in DEFAULT_SETS if (DATA_ROOT / d).is_dir()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench extraction`."""
    parser.add_argument(
        "--data",
        action="append",
        metavar="DIR",
        help="WCXB or ScrapingHub folder (repeatable or a comma list); "
        "default: the two sets under ../shared/data/extraction",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="at most N pages per dataset"
    )


def run(args: argparse.Namespace, settings: object = None) -> list[Result]:
    """Run the suite on every dataset named by --data (or the defaults that exist)."""
    dirs: list[Path] = []
    for item in getattr(args, "data", None) or []:
        dirs.extend(Path(p.strip()) for p in item.split(",") if p.strip())
    if not dirs:
        dirs = _default_dirs()
    if not dirs:
        raise FileNotFoundError(
            f"no extraction data: pass --data DIR (looked for {', '.join(DEFAULT_SETS)} "
            f"under {DATA_ROOT})"
        )
    results: list[Result] = []
    for d in dirs:
        results.extend(evaluate(load_dataset(d, getattr(args, "limit", None))))
    return results

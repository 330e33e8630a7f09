"""Batch evaluation: both columns over a question set, judged, with a report folder.

    FILE (.txt a question a line | .csv / .jsonl: question, optional id, optional answers)
    -> load_items (a bad line names its line; ids must be unique)
    -> for each item not yet in OUT/results.jsonl (resume):
         Engine.run (greedy, seeded) -> both answers, latencies, the search column's sources
         -> snapshot the packed sources (OUT/sources/<id>.json)
         -> both answers judged against those same sources (the engine's grounding events)
         -> reference match of both answers (normalised containment, token F1)
         -> append one line to results.jsonl (a finished question is never run again)
    -> results.csv, report.md, charts/*.png from every line of results.jsonl

Decisions, in one place:

- Greedy decoding (temperature 0) and the settings' seed: a rerun of the same question with
  the same sources gives the same answers. The sources of every question are snapshotted,
  so the judging of a finished run can be recomputed and checked without searching again
  (`regrade`); a rerun that searches the live web again may find other pages.
- Resume: results.jsonl is appended one line per finished question and flushed; a stop
  (Ctrl-C) mid-question drops only that question, and the next run starts from it.
- The plain column is judged against the search column's sources ("agrees with the
  sources"); when the search column has no sources, neither answer is judged (share None).
- Overall: the mean grounded share with search minus without, over questions where both
  were judged, with a paired bootstrap 95% interval (BOOTSTRAP resamples, seeded); "search
  turned a miss into a hit" counts questions with references where only the search answer
  contains one (normalised containment), and the reverse.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

BOOTSTRAP = 2000  # resamples for the paired 95% interval (stable to ~0.005 at 20 questions)
BOOTSTRAP_SEED = 17
PERCENTILES = (50, 90, 95)
CSV_FIELDS = (
    "id",
    "question",
    "plain_answer",
    "search_answer",
    "plain_grounded_share",
    "search_grounded_share",
    "plain_contains",
    "search_contains",
    "plain_f1",
    "search_f1",
    "plain_ttft_s",
    "search_ttft_s",
    "plain_total_s",
    "search_total_s",
    "sources",
    "error",
)


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answers: tuple[str, ...] = ()


def load_items(path: str | Path) -> list[Item]:
    """Questions from a .txt, .csv or .jsonl file; a bad line raises ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    text = path.read_text("utf-8")
    suffix = path.suffix.lower()
    items: list[Item] = []
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{n}: not JSON ({exc})") from exc
            items.append(_item(obj, n, path))
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "question" not in reader.fieldnames:
            raise ConfigError(f"{path}: the first row must name a 'question' column")
        for n, row in enumerate(reader, 2):
            answers = row.get("answers") or ""
            obj = {
                "id": row.get("id") or "",
                "question": row.get("question") or "",
                "answers": [a.strip() for a in answers.split("|") if a.strip()],
            }
            items.append(_item(obj, n, path))
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                items.append(Item(f"q{n:03d}", line.strip()))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ConfigError(f"{path}: the id {item.id!r} is used twice")
        seen.add(item.id)
    if not items:
        raise ConfigError(f"{path}: no questions")
    return items


def _item(obj: Any, n: int, path: Path) -> Item:
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}:{n}: not an object")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{path}:{n}: no question")
    answers = obj.get("answers") or obj.get("answer") or []
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ConfigError(f"{path}:{n}: answers must be a string or a list of strings")
    return Item(str(obj.get("id") or f"q{n:03d}"), question.strip(), tuple(answers))


# --- reference match ------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Case, accents, punctuation and articles folded away (SQuAD-style)."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = [w for w in re.findall(r"\w+", text) if w not in ("a", "an", "the")]
    return " ".join(words)


def contains(answer: str, references: Sequence[str]) -> bool | None:
    if not references:
        return None
    hay = f" {normalize(answer)} "
    return any(normalize(r) and f" {normalize(r)} " in hay for r in references)


def token_f1(answer: str, references: Sequence[str]) -> float | None:
    """The best token F1 of the answer against any reference (bag of normalised words)."""
    if not references:
        return None
    got = normalize(answer).split()
    best = 0.0
    for ref in references:
        want = normalize(ref).split()
        common = sum(min(got.count(w), want.count(w)) for w in set(want))
        if common:
            p, r = common / len(got), common / len(want)
            best = max(best, 2 * p * r / (p + r))
    return best


# --- running --------------------------------------------------------------------------------


def judge_pair(
    question: str, plain: str, search: str, texts: Sequence[str]
) -> dict[str, dict[str, Any] | None]:
    """Both answers grounded against the same sources (None when there are none)."""
    from .judge import ground

    if not texts:
        return {"plain": None, "search": None}
    return {
        "plain": ground(plain, texts, question=question).as_dict(),
        "search": ground(search, texts, question=question, citations=True).as_dict(),
    }


def run_item(engine: Any, item: Item, stop: threading.Event | None = None) -> dict[str, Any]:
    """Both columns for one question, judged; one results.jsonl record."""
    from .engine import summarize

    events = []
    texts: list[str] = []
    sources: list[dict[str, Any]] = []
    # the engine sets the stop event it is given when a run ends, so each question gets its
    # own; the caller's `stop` ends the run by closing it
    run = engine.run(item.question, stop=threading.Event())
    try:
        for event in run:
            if stop is not None and stop.is_set():
                break
            if event.kind == "sources":
                texts = list(event.data.get("texts") or [])
                sources = [asdict(s) for s in event.data["sources"]]
            events.append(event)
    finally:
        run.close()
    result = summarize(item.question, events)
    plain, search = result["plain"], result["search"]
    # the engine's own grounding events (None without sources), as regrade recomputes them
    judged = {"plain": plain.get("grounding"), "search": search.get("grounding")}
    errors = [f"{name}: {col['error']}" for name, col in result.items() if _is_col(col)]
    return {
        "id": item.id,
        "question": item.question,
        "answers": list(item.answers),
        "plain": _column(plain, judged["plain"], item.answers),
        "search": _column(search, judged["search"], item.answers),
        "sources": [{**s, "text": t} for s, t in zip(sources, texts, strict=False)],
        "provider": search.get("provider", ""),
        "error": "; ".join(errors),
    }


def _is_col(col: Any) -> bool:
    return isinstance(col, dict) and bool(col.get("error"))


def _column(col: dict[str, Any], judged: dict | None, refs: Sequence[str]) -> dict[str, Any]:
    return {
        "answer": col["answer"],
        "ttft_s": col["ttft_s"],
        "total_s": col["total_s"],
        "tokens": col["tokens"],
        "error": col.get("error"),
        "grounded_share": judged["summary"]["grounded_share"] if judged else None,
        "summary": judged["summary"] if judged else None,
        "citation": judged.get("citation") if judged else None,
        "sentences": judged["sentences"] if judged else [],
        "contains": contains(col["answer"], refs),
        "f1": token_f1(col["answer"], refs),
    }


def finished(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text("utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # a line cut by a hard kill: that question runs again
            continue
    return records


def evaluate(
    items: Sequence[Item],
    engine: Any,
    out: str | Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run every unfinished item, append its record, then write the report; returns the
    overall figures. KeyboardInterrupt stops after writing the report of what finished."""
    out = Path(out)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    done = {r["id"] for r in finished(out)}
    todo = [i for i in items if i.id not in done]
    interrupted = False
    try:
        with (out / "results.jsonl").open("a", encoding="utf-8") as f:
            for k, item in enumerate(todo):
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                if progress:
                    progress(len(done) + k, len(items), item.id)
                record = run_item(engine, item, stop)
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                snapshot = {"id": item.id, "question": item.question, "sources": record["sources"]}
                (out / "sources" / f"{_safe(item.id)}.json").write_text(
                    json.dumps(snapshot, ensure_ascii=False, indent=1), "utf-8"
                )
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
    except KeyboardInterrupt:
        interrupted = True
    records = [r for r in finished(out) if r["id"] in {i.id for i in items}]
    if progress:
        progress(len(records), len(items), "")
    overall = write_report(records, out)
    overall["interrupted"] = interrupted
    overall["total"] = len(items)
    return overall


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)[:100] or "item"


def regrade(out: str | Path) -> list[dict[str, Any]]:
    """The judging of every finished question recomputed from its snapshot of the sources."""
    records = finished(Path(out))
    for r in records:
        texts = [s["text"] for s in r["sources"]]
        judged = judge_pair(r["question"], r["plain"]["answer"], r["search"]["answer"], texts)
        for name in ("plain", "search"):
            r[name] = _column(r[name], judged[name], r["answers"])
    return records


# --- the report -----------------------------------------------------------------------------


def paired_bootstrap(diffs: Sequence[float], seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The 95% interval of the mean of paired differences (percentile bootstrap)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(BOOTSTRAP, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def overall(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    pairs = [
        (r["plain"]["grounded_share"], r["search"]["grounded_share"])
        for r in records
        if r["plain"]["grounded_share"] is not None and r["search"]["grounded_share"] is not None
    ]
    diffs = [s - p for p, s in pairs]
    lo, hi = paired_bootstrap(diffs)
    with_refs = [r for r in records if r["answers"]]
    gained = sum(bool(r["search"]["contains"]) and not r["plain"]["contains"] for r in with_refs)
    lost = sum(bool(r["plain"]["contains"]) and not r["search"]["contains"] for r in with_refs)

    def pct(name: str, key: str) -> dict[str, float | None]:
        vals = [r[name][key] for r in records if r[name][key] is not None]
        return {f"p{q}": (float(np.percentile(vals, q)) if vals else None) for q in PERCENTILES}

    def mean(name: str, key: str) -> float | None:
        vals = [float(r[name][key]) for r in records if r[name][key] is not None]
        return float(np.mean(vals)) if vals else None

    return {
        "questions": len(records),
        "judged_pairs": len(pairs),
        "plain_grounded_mean": float(np.mean([p for p, _ in pairs])) if pairs else None,
        "search_grounded_mean": float(np.mean([s for _, s in pairs])) if pairs else None,
        "difference": float(np.mean(diffs)) if diffs else None,
        "difference_ci95": [lo, hi] if diffs else None,
        "with_references": len(with_refs),
        "miss_to_hit": gained / len(with_refs) if with_refs else None,
        "hit_to_miss": lost / len(with_refs) if with_refs else None,
        "plain_contains": mean("plain", "contains"),
        "search_contains": mean("search", "contains"),
        "plain_f1": mean("plain", "f1"),
        "search_f1": mean("search", "f1"),
        "latency_s": {
            f"{name}_{key}": pct(name, key)
            for name in ("plain", "search")
            for key in ("ttft_s", "total_s")
        },
        "errors": sum(bool(r.get("error")) for r in records),
    }


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def write_report(records: Sequence[dict[str, Any]], out: Path) -> dict[str, Any]:
    figures = overall(records)
    with (out / "results.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in records:
            w.writerow(
                {
                    "id": r["id"],
                    "question": r["question"],
                    "plain_answer": r["plain"]["answer"],
                    "search_answer": r["search"]["answer"],
                    **{
                        f"{name}_{key}": r[name][key]
                        for name in ("plain", "search")
                        for key in ("grounded_share", "contains", "f1", "ttft_s", "total_s")
                    },
                    "sources": len(r["sources"]),
                    "error": r.get("error", ""),
                }
            )
    charts = _charts(records, out / "charts")
    (out / "report.md").write_text(_markdown(records, figures, charts), "utf-8")
    (out / "overall.json").write_text(json.dumps(figures, indent=1) + "\n", "utf-8")
    return figures


def _markdown(records: Sequence[dict[str, Any]], o: dict[str, Any], charts: list[str]) -> str:
    ci = o["difference_ci95"]
    lines = [
        "# Search on vs off",
        "",
        f"{o['questions']} questions; {o['judged_pairs']} with both answers judged against "
        "the search column's sources; "
        f"{o['with_references']} with reference answers; {o['errors']} with an error.",
        "",
        "| measure | search off | search on |",
        "|---|---|---|",
        f"| mean grounded share | {_fmt(o['plain_grounded_mean'])} | "
        f"{_fmt(o['search_grounded_mean'])} |",
        f"| contains a reference | {_fmt(o['plain_contains'])} | {_fmt(o['search_contains'])} |",
        f"| token F1 vs references | {_fmt(o['plain_f1'])} | {_fmt(o['search_f1'])} |",
    ]
    for key in ("ttft_s", "total_s"):
        p, s = o["latency_s"][f"plain_{key}"], o["latency_s"][f"search_{key}"]
        for q in PERCENTILES:
            lines.append(f"| {key} p{q} | {_fmt(p[f'p{q}'], 2)} | {_fmt(s[f'p{q}'], 2)} |")
    lines += [
        "",
        f"Grounded share, search on minus off: {_fmt(o['difference'])} "
        + (f"(paired bootstrap 95% interval {_fmt(ci[0])} to {_fmt(ci[1])})" if ci else ""),
        "",
        f"Search turned a miss into a hit: {_fmt(o['miss_to_hit'])} of questions with "
        f"references; a hit into a miss: {_fmt(o['hit_to_miss'])}.",
        "",
    ]
    lines += [f"![{Path(c).stem}]({c})" for c in charts]
    lines += [
        "",
        "## Per question",
        "",
        "| id | grounded off | grounded on | ref off | ref on | total s off | total s on |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        p, s = r["plain"], r["search"]
        lines.append(
            f"| {r['id']} | {_fmt(p['grounded_share'])} | {_fmt(s['grounded_share'])} | "
            f"{_fmt(p['contains'])} | {_fmt(s['contains'])} | {_fmt(p['total_s'], 2)} | "
            f"{_fmt(s['total_s'], 2)} |"
        )
    for r in records:
        lines += ["", f"### {r['id']}: {r['question']}", ""]
        for name, title in (("plain", "Search off"), ("search", "Search on")):
            answer = (r[name]["answer"] or "").strip().replace("\n", "\n> ")
            lines += [f"**{title}**", "", f"> {answer}" if answer else "> (no answer)", ""]
        if r.get("error"):
            lines += [f"Error: {r['error']}", ""]
    return "\n".join(lines) + "\n"


def _charts(records: Sequence[dict[str, Any]], folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    pairs = [
        (r["plain"]["grounded_share"], r["search"]["grounded_share"])
        for r in records
        if r["plain"]["grounded_share"] is not None and r["search"]["grounded_share"] is not None
    ]
    fig, ax = plt.subplots(figsize=(5, 5))
    if pairs:
        ax.scatter([p for p, _ in pairs], [s for _, s in pairs], alpha=0.7)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="grounded share, search off", ylabel="grounded share, search on")
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), title="Sentences the sources back")
    fig.tight_layout()
    fig.savefig(folder / "grounded.png", dpi=100)
    plt.close(fig)
    made.append("charts/grounded.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    data = [
        [r[name]["total_s"] for r in records if r[name]["total_s"] is not None]
        for name in ("plain", "search")
    ]
    if any(data):
        ax.boxplot([d or [0.0] for d in data], tick_labels=["search off", "search on"])
    ax.set(ylabel="seconds to the whole answer", title="Latency")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=100)
    plt.close(fig)
    made.append("charts/latency.png")
    return made


def progress_bar(stream: Any = None) -> Callable[[int, int, str], None]:
    """A one-line progress bar on stderr."""
    stream = stream or sys.stderr
    t0 = time.perf_counter()

    def show(done: int, total: int, current: str) -> None:
        width = 30
        fill = int(width * done / total) if total else width
        bar = "#" * fill + "-" * (width - fill)
        tail = f" {current}" if current else "\n"
        stream.write(f"\r[{bar}] {done}/{total} {time.perf_counter() - t0:6.1f}s{tail}")
        stream.flush()

    return show


def default_out(path: Path) -> Path:
    return Path(f"eval-{path.stem}")

"""Batch evaluation: both columns over a question set, judged, with a report folder.

    FILE (.txt a question a line | .csv / .jsonl: question, optional id, optional answers)
    -> read_items, line by line (a bad file or line named with its line; ids unique;
       at most `limit` questions, and no more of the file read than they need)
    -> for each item not yet in OUT/results.jsonl (resume):
         too long for the server? skipped, with a note and a line in the report
         before(item) (the page charges the client's rate limit there)
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
- A question file is decoded line by line, so a byte that is not UTF-8 is named with its
  line; a CSV is read strictly (a quote never closed is an error at the line it opens on,
  not a field that swallows the rest of the file); json's own "line 1 column 5" is dropped
  (each line is parsed alone) for the file's line and a plain reason. A file over
  `max_bytes` is refused from its size alone.
- A question longer than `max_prompt_chars` is skipped (told to `note`, listed under
  "Skipped" in report.md and overall.json), never a failed run: the server would refuse it
  anyway (inputs.py), and the other questions still answer. It is not written to
  results.jsonl, so a rerun with a higher limit runs it.
- A batch's stop (`Stop`) reaches the running question's engine run at once, so a page's
  cancelled batch ends within moments; a plain Event ends it at its next event.
- The plain column is judged against the search column's sources ("agrees with the
  sources"); when the search column has no sources, neither answer is judged (share None).
- Overall: the mean grounded share with search minus without, over questions where both
  were judged, with a paired bootstrap 95% interval (BOOTSTRAP resamples, seeded); "search
  turned a miss into a hit" counts questions with references where only the search answer
  contains one (normalised containment), and the reverse.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .render.words import plural

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


def load_items(path: str | Path, **kwargs: Any) -> list[Item]:
    """Every question of a .txt, .csv or .jsonl file (see read_items for the keywords)."""
    return read_items(path, **kwargs).items


@dataclass(frozen=True)
class Loaded:
    """What read_items found: the questions, and whether the file holds more than it read."""

    items: list[Item]
    more: bool = False


def read_items(
    path: str | Path,
    *,
    limit: int | None = None,
    max_bytes: int | None = None,
    name: str = "",
    then: str = "run it again",
) -> Loaded:
    """The first `limit` questions of a .txt, .csv or .jsonl file (all without a limit), read
    line by line: a file is never read further than the questions it needs, plus one to tell
    whether there are more. A file over `max_bytes` is refused before anything is read. A bad
    file or line raises ConfigError naming it (`name`, default the path) and its line in plain
    words; `then` ends the advice for a file that is not UTF-8 ("upload it" on the page)."""
    path = Path(path)
    name = name or str(path)
    if not path.is_file():
        raise ConfigError(f"no such file: {name}")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise ConfigError(
            f"{name} is {_megabytes(size)}; question files may be at most "
            f"{_megabytes(max_bytes)} here. Split it, or run it with `python -m searchduel eval`."
        )
    items: list[Item] = []
    seen: set[str] = set()
    more = False
    with path.open("rb") as f, closing(_parse(f, path.suffix.lower(), name, then)) as parsed:
        while limit is None or len(items) < limit:
            item = next(parsed, None)
            if item is None:
                break
            if item.id in seen:
                raise ConfigError(f"{name}: the id {item.id!r} is used twice")
            seen.add(item.id)
            items.append(item)
        else:
            try:  # one more, to tell whether the file goes on (a bad line past the cap counts)
                more = next(parsed, None) is not None
            except ConfigError:
                more = True
    if not items:
        raise ConfigError(f"{name}: no questions")
    return Loaded(items, more)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _parse(f: Any, suffix: str, name: str, then: str) -> Iterator[Item]:
    lines = _lines(f, name, then)
    if suffix == ".csv":
        yield from _csv_items(lines, name)
        return
    for n, line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if suffix == ".jsonl":
            yield _item(_json_line(text, n, name), n, name)
        else:
            yield Item(f"q{n:03d}", text)


def _lines(f: Any, name: str, then: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a binary file, each line decoded on its own, so a byte that is
    not UTF-8 is named with its line; a leading byte-order mark (Excel's CSV) is dropped."""
    for n, raw in enumerate(f, 1):
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield n, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{name} line {n}: not UTF-8 text (save it as UTF-8, then {then})"
            ) from None


def _csv_items(lines: Iterator[tuple[int, str]], name: str) -> Iterator[Item]:
    consumed = [0]  # lines the csv reader has taken so far: a row starts on the next one

    def texts() -> Iterator[str]:
        for n, line in lines:
            consumed[0] = n
            yield line

    # strict: a quote that is never closed is an error, not a field that eats the file
    reader = csv.reader(texts(), strict=True)
    start = 1
    try:
        header = [h.strip() for h in next(reader, [])]
        if "question" not in header:
            raise ConfigError(f"{name}: the first row must name a 'question' column")
        while True:
            start = consumed[0] + 1
            row = next(reader, None)
            if row is None:
                return
            if not any(field.strip() for field in row):
                continue  # a blank line
            rec = dict(zip(header, row, strict=False))
            answers = rec.get("answers") or ""
            obj = {
                "id": rec.get("id") or "",
                "question": rec.get("question") or "",
                "answers": [a.strip() for a in answers.split("|") if a.strip()],
            }
            yield _item(obj, start, name)
    except csv.Error as exc:
        raise ConfigError(f"{name} line {start}: {_csv_problem(exc)}") from None


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return 'a quoted field opens here and is never closed (a " is missing)'
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters"
    if "expected after" in text:
        return 'text follows a closing quote (a " inside a quoted field is written "")'
    return f"not readable as CSV ({text})"


# json's messages, without its line and column (each line of the file is parsed alone, so
# its "line 1" would contradict the file's line number)
_JSON_PROBLEMS = {
    "Expecting value": "a value is missing or is not JSON",
    "Expecting property name enclosed in double quotes": "a key is not in double quotes",
    "Expecting ',' delimiter": "a comma is missing",
    "Expecting ':' delimiter": "a colon is missing after a key",
    "Unterminated string starting at": "a string is never closed",
    "Invalid control character at": "a string holds a raw control character",
    "Extra data": "there is more than one JSON value on the line",
}


def _json_line(text: str, n: int, name: str) -> Any:
    value, problem = parse_json_line(text)
    if problem:
        raise ConfigError(f"{name} line {n}: not a JSON object ({problem})")
    return value


def parse_json_line(text: str) -> tuple[Any, str]:
    """(the value, "") of one line of JSON, or (None, what is wrong with it in plain words)."""
    try:
        return json.loads(text), ""
    except RecursionError:
        return None, "nested too deeply"
    except json.JSONDecodeError as exc:
        return None, _JSON_PROBLEMS.get(exc.msg, exc.msg)
    except ValueError as exc:  # e.g. an integer too long to convert
        return None, str(exc)


def _item(obj: Any, n: int, name: str) -> Item:
    if not isinstance(obj, dict):
        kind = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}
        got = kind.get(type(obj), "a number")
        raise ConfigError(f"{name} line {n}: not a JSON object (it is {got})")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{name} line {n}: no question")
    answers = obj.get("answers") or obj.get("answer") or []
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ConfigError(f"{name} line {n}: answers must be a string or a list of strings")
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


class Stop(threading.Event):
    """A batch's stop. Setting it also sets the stop of the question running now, so that
    question's engine run ends at once (its columns stop generating, a wait for the model
    ends), not at its next event."""

    def __init__(self) -> None:
        super().__init__()
        self._runs: set[threading.Event] = set()
        self._guard = threading.Lock()

    def set(self) -> None:
        with self._guard:
            super().set()
            runs = list(self._runs)
        for run in runs:
            run.set()

    @contextmanager
    def linked(self, run: threading.Event) -> Iterator[None]:
        """While inside, setting this stop sets `run` too."""
        with self._guard:
            self._runs.add(run)
            already = self.is_set()
        if already:
            run.set()
        try:
            yield
        finally:
            with self._guard:
                self._runs.discard(run)


def run_item(engine: Any, item: Item, stop: threading.Event | None = None) -> dict[str, Any]:
    """Both columns for one question, judged; one results.jsonl record."""
    from .engine import summarize

    events = []
    texts: list[str] = []
    sources: list[dict[str, Any]] = []
    # the engine sets the stop event it is given when a run ends, so each question gets its
    # own; the caller's `stop` ends the run through it (a Stop at once, a plain Event at the
    # run's next event)
    own = threading.Event()
    with stop.linked(own) if isinstance(stop, Stop) else nullcontext():
        run = engine.run(item.question, stop=own)
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
    before: Callable[[Item], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every unfinished item, append its record, then write the report; returns the
    overall figures. `before(item)` is called as each question is about to start (it may
    wait: the page charges the client's rate limit there); a question the server will not
    take (too long, see inputs.py) is skipped, told to `note` and listed in the report.
    KeyboardInterrupt or `stop` ends it after writing the report of what finished."""
    out = Path(out)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    done = {r["id"] for r in finished(out)}
    todo = [i for i in items if i.id not in done]
    skipped: list[dict[str, str]] = []
    interrupted = False
    try:
        with (out / "results.jsonl").open("a", encoding="utf-8") as f:
            for k, item in enumerate(todo):
                if progress:
                    progress(len(done) + k, len(items), item.id)
                record = _run_one(engine, item, stop, before, skipped)
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                if record is None:
                    if note:
                        note(f"{item.id} was skipped: {skipped[-1]['reason']}")
                    continue
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
        progress(len(records) + len(skipped), len(items), "")
    overall = write_report(records, out, skipped)
    overall["interrupted"] = interrupted
    overall["total"] = len(items)
    return overall


def _run_one(
    engine: Any,
    item: Item,
    stop: threading.Event | None,
    before: Callable[[Item], None] | None,
    skipped: list[dict[str, str]],
) -> dict[str, Any] | None:
    """One question's record; None when it was skipped (added to `skipped`) or stopped
    before it started."""
    from .errors import InvalidInput
    from .inputs import clean_prompt

    settings = getattr(engine, "settings", None)
    try:
        if settings is not None:  # before `before`: a question that cannot run costs nothing
            clean_prompt(item.question, settings.max_prompt_chars)
        if stop is not None and stop.is_set():
            return None
        if before:
            before(item)
        if stop is not None and stop.is_set():
            return None
        return run_item(engine, item, stop)
    except InvalidInput as exc:
        skipped.append({"id": item.id, "reason": str(exc)})
        return None


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


def write_report(
    records: Sequence[dict[str, Any]], out: Path, skipped: Sequence[dict[str, str]] = ()
) -> dict[str, Any]:
    figures = overall(records)
    figures["skipped"] = list(skipped)
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
    skipped = o.get("skipped") or []
    lines = [
        "# Search on vs off",
        "",
        f"{plural(o['questions'], 'question')}; {o['judged_pairs']} with both answers judged "
        "against the search column's sources; "
        f"{o['with_references']} with reference answers; {o['errors']} with an error"
        + (f"; {len(skipped)} skipped (listed below)." if skipped else "."),
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
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- {s['id']}: {s['reason']}" for s in skipped]
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
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
    # titles on the left: the page's image buttons sit in the top right corner
    ax.set_title("Sentences the sources back", loc="left")
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
    ax.set_ylabel("seconds to the whole answer")
    ax.set_title("Latency", loc="left")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=100)
    plt.close(fig)
    made.append("charts/latency.png")
    return made


class ProgressBar:
    """A one-line progress bar on stderr (call it as evaluate's `progress`); `note` prints a
    line of its own above the bar (evaluate's `note`)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.drawn = False  # the bar is on the current line

    def __call__(self, done: int, total: int, current: str) -> None:
        width = 30
        fill = int(width * done / total) if total else width
        bar = "#" * fill + "-" * (width - fill)
        tail = f" {current}" if current else "\n"
        self.stream.write(f"\r[{bar}] {done}/{total} {time.perf_counter() - self.t0:6.1f}s{tail}")
        self.stream.flush()
        self.drawn = bool(current)

    def note(self, text: str) -> None:
        self.stream.write(("\n" if self.drawn else "") + text + "\n")
        self.stream.flush()
        self.drawn = False


def default_out(path: Path) -> Path:
    return Path(f"eval-{path.stem}")

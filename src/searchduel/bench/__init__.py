"""The performance suite: `python -m searchduel bench [SUITE ...] [--json]`.

Each suite is a module here with `add_arguments(parser)` (optional) and
`run(args, settings) -> list[Result]`. Targets are ratios measured in one run, so they hold
on any machine; absolute numbers are reported with the machine they came from.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass

# suite name -> module under searchduel.bench
SUITES: dict[str, str] = {
    "extraction": "searchduel.bench.extraction",
    "retrieval": "searchduel.bench.retrieval",
    "search": "searchduel.bench.search",
    "fetch": "searchduel.bench.fetch",
    "engine": "searchduel.bench.engine",
    "serve": "searchduel.bench.serve",
    "store": "searchduel.bench.store",
    "load": "searchduel.bench.load",
    "grounding": "searchduel.bench.grounding",
    "page": "searchduel.bench.page",
}


@dataclass(frozen=True)
class Result:
    """One measured number, with what it is compared against."""

    suite: str
    name: str
    value: float
    unit: str = ""
    baseline: float | None = None  # the reference measured in the same run, if any
    target: str = ""  # e.g. ">= 0.95", "<= 1.10"
    passed: bool | None = None  # None when there is no target
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def check(value: float, target: str) -> bool | None:
    """Evaluate a target like '>= 0.95' or '<= 1.1' against value."""
    if not target:
        return None
    op, num = target.split()
    bound = float(num)
    return value >= bound if op == ">=" else value <= bound


def machine() -> str:
    """A one-line description of the machine the numbers came from."""
    import os

    cpu = platform.processor() or platform.machine()
    desc = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"
    try:
        import torch

        if torch.cuda.is_available():
            desc += f", {torch.cuda.get_device_name(0)}"
        else:
            desc += ", no GPU"
    except ImportError:  # pragma: no cover
        pass
    return desc


def format_table(results: list[Result]) -> str:
    """A plain-text table: suite, measure, value, baseline, target, pass."""
    rows = [("suite", "measure", "value", "baseline", "target", "ok")]
    for r in results:
        ok = "" if r.passed is None else ("yes" if r.passed else "NO")
        base = "" if r.baseline is None else f"{r.baseline:.4g}"
        rows.append((r.suite, r.name, f"{r.value:.4g} {r.unit}".strip(), base, r.target, ok))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

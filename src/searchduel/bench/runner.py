"""Runs the bench suites named on the command line and prints one table."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ..config import Settings
from . import SUITES, Result, format_table, machine


def run_suites(args: argparse.Namespace, settings: Settings) -> int:
    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"unknown bench suite {', '.join(unknown)}; valid: {', '.join(SUITES)}")
    results: list[Result] = []
    for name in names:
        module = importlib.import_module(SUITES[name])
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.extend(module.run(args, settings))
    if args.json:
        print(json.dumps({"machine": machine(), "results": [r.as_dict() for r in results]}))
    else:
        print(f"machine: {machine()}")
        print(format_table(results))
    return 0 if all(r.passed is not False for r in results) else 1

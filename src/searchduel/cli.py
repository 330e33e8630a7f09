"""python -m searchduel ask|search|fetch|extract|context|ground|eval|results|export|bench|
tiny-model ...

The same engine as the app, without a browser. Errors become messages and exit codes here
and nowhere else: 0 ok, 1 the work failed (blocked search, refused page, failed column),
2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .config import Settings, add_flags
from .errors import ConfigError, InvalidInput, SearchDuelError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line on stderr (exit 2), not the usage of
    forty settings flags above it; --help still prints everything."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m searchduel", description=__doc__.split("\n")[2])
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="both answers, sources and timings for one prompt")
    p.add_argument("prompt")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument(
        "--save", action="store_true", help="keep the comparison in the store; prints its id"
    )
    add_flags(p)

    p = sub.add_parser("search", help="hits from the provider chain")
    p.add_argument("query")
    p.add_argument("--json", action="store_true")
    add_flags(p)

    p = sub.add_parser("fetch", help="safe fetch and extraction of one page")
    p.add_argument("url")
    p.add_argument("--json", action="store_true")
    add_flags(p)

    p = sub.add_parser("extract", help="main text of saved HTML files (.html or .html.gz)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per file")
    add_flags(p)

    p = sub.add_parser("context", help="the exact context the search column's model gets")
    p.add_argument("question", nargs="?")
    p.add_argument("--questions", type=Path, help="a file with one question per line")
    p.add_argument("--json", action="store_true")
    p.add_argument("--jsonl", action="store_true", help="with --questions: one object per line")
    add_flags(p)

    p = sub.add_parser("bench", help="the performance suite (see searchduel.bench)")
    from .bench import SUITES

    p.add_argument(
        "suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)} (default: all)"
    )
    p.add_argument("--json", action="store_true")
    add_flags(p)
    _add_bench_arguments(p)

    p = sub.add_parser("results", help="vote statistics from the store (see judge/stats.py)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--blind-only", action="store_true", help="only votes cast in blind mode")
    add_flags(p)

    p = sub.add_parser("export", help="every stored comparison and vote (no session hashes)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    add_flags(p)

    p = sub.add_parser(
        "ground", help="unsupported spans of responses: {id, question, sources, response} lines"
    )
    p.add_argument("file", type=Path, help="JSON lines; - reads standard input")
    p.add_argument(
        "--fit", action="store_true", help="FILE holds gold spans: fit the weights on it instead"
    )
    p.add_argument("--weights", type=Path, help="weights file to use (or write, with --fit)")

    p = sub.add_parser("eval", help="both columns over a question set, judged; a report folder")
    p.add_argument("file", type=Path, help=".txt (a question a line), .csv or .jsonl")
    p.add_argument("--out", type=Path, help="report folder (default: eval-<file stem>)")
    add_flags(p)

    p = sub.add_parser("tiny-model", help="write a tiny random Phi-3 (for offline demos/tests)")
    p.add_argument("folder", type=Path)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument(
        "--gguf", action="store_true", help="also write it as FOLDER/NAME.gguf (llama.cpp)"
    )
    for command in sub.choices.values():
        command.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="also write the log to stderr (a JSON line per comparison, warnings)",
        )
    return parser


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    import importlib

    from .bench import SUITES

    for module in SUITES.values():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger, level = logging.getLogger("searchduel"), logging.getLogger("searchduel").level
    handler = _log_to_stderr(args.verbose)
    try:
        no_settings = args.command in ("tiny-model", "ground")
        settings = None if no_settings else Settings.load(args)
        return COMMANDS[args.command](args, settings)
    except (ConfigError, InvalidInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SearchDuelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return EXIT_OK
    finally:  # as it was: main() may be called again in one process (tests, embedding)
        logger.removeHandler(handler)
        logger.setLevel(level)


def _log_to_stderr(verbose: bool) -> logging.Handler:
    """The CLI's stderr carries its own messages and progress: the log (the JSON line of each
    comparison, warnings whose gist the output states already) only with --verbose; errors
    nobody foresaw always. Set here, so logs.ensure_handler leaves it as it is."""
    logger = logging.getLogger("searchduel")
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return handler


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=_jsonable))


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return str(obj)


def _engine(settings: Settings) -> Any:
    from .engine import Engine
    from .llm import make_backend, resolve

    settings = resolve(settings)  # `auto` becomes the backend that runs (and is recorded)
    _hub_first(settings)
    return _ready(Engine(settings, make_backend(settings)))


def _hub_first(settings: Settings) -> None:
    """A model or tokenizer named by hub id with no copy here needs the hub: asked before
    the model libraries are imported, so an offline machine hears it in a second."""
    from .llm.hub import require_hub

    if settings.backend == "transformers":
        require_hub(settings.tokenizer or settings.model)
    elif settings.tokenizer:
        require_hub(settings.tokenizer)


def _ready(engine: Any) -> Any:
    """The engine after the app's warm-up (the offline corpus indexed and, with dense on, its
    passages embedded: read back from disk after the first time), so the CLI ranks what the
    page ranks. A failure there is reported by the question that meets it. Nothing to do
    when the search column is off."""
    if engine.settings.providers:
        engine.warm_up().join()
    return engine


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import summarize
    from .inputs import check_request

    prompt = check_request(args.prompt, None, settings).prompt  # before the model loads
    engine = _engine(settings)
    events = []
    for event in engine.run(prompt):
        events.append(event)
        if not args.json and event.kind == "token":
            pass  # printed per column below: two interleaved streams are unreadable
    result = summarize(prompt, events)
    if args.save:
        from .store import Store, comparison_from_events

        with Store.from_settings(settings) as store:
            if not store.enabled:
                raise ConfigError("--save needs storing on (--store true / SEARCHDUEL_STORE)")
            result["id"] = store.save(comparison_from_events(prompt, events, engine.settings))
        if not args.json:
            print(f"stored as {result['id']} in {settings.store_path}", file=sys.stderr)
    if args.json:
        _print_json(result)
    else:
        from .render.events import provider_label

        for name, title in (("plain", "Search off"), ("search", "Search on")):
            col = result[name]
            print(f"== {title} ==")
            print(col["answer"] or "")
            if col.get("note"):
                print(col["note"])
            if col.get("error"):
                print(f"[error] {col['error']}")
                if col.get("error_detail"):
                    print(f"[detail] {col['error_detail']}")
            if col.get("ttft_s") is not None:
                print(
                    f"-- first token {col['ttft_s']:.2f}s, {col['tokens']} tokens, "
                    f"total {col['total_s']:.2f}s"
                )
        s = result["search"]
        print(f"== Sources ({provider_label(s['provider'], s['offline'])}) ==")
        for src in s["sources"]:
            print(f"[{src['n']}] {src['title']} <{src['url']}>")
        for notice in s["notices"]:
            print(f"notice: {notice}")
    failed = result["plain"].get("error") or result["search"].get("error")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from .search.registry import search_cli

    result = search_cli(args.query, settings)
    if args.json:
        _print_json(result)
    else:
        for notice in result.get("notices", []):
            print(f"notice: {notice}", file=sys.stderr)
        for i, hit in enumerate(result["hits"], 1):
            print(f"{i}. {hit['title']}\n   {hit['url']}\n   {hit['snippet']}")
    return EXIT_OK


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import page_record
    from .web.fetch import fetch_one

    page = fetch_one(args.url, settings)
    record = {**page_record(page), "text": page.text}
    if args.json:
        _print_json(record)
    else:
        print(
            f"{page.status} {page.http_status or ''} {page.ms:.0f} ms {page.bytes} bytes "
            f"{page.final_url or page.url}"
        )
        if page.reason:
            print(f"reason: {page.reason}")
        print(f"\n# {page.title}\n\n{page.text}")
    return EXIT_OK if page.status == "ok" else EXIT_FAILED


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from .web.extract import iter_extract_files

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise ConfigError(f"no such file: {', '.join(missing)}")
    for record in iter_extract_files(args.files):
        if args.jsonl:
            _print_json(record)
        else:
            print(f"==> {record['path']}: {record['title']}\n{record['text']}\n")
    return EXIT_OK


def cmd_context(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import Engine, SearchTrace

    if bool(args.question) == bool(args.questions):
        raise ConfigError("give one QUESTION or --questions FILE")
    if args.questions:  # read (and a bad file refused) before the tokenizer loads
        from .evaluate import load_items

        questions = [item.question for item in load_items(args.questions)]
    else:
        questions = [args.question]
    _hub_first(settings)
    engine = _ready(Engine(settings, _counter_backend(settings)))
    status = EXIT_OK
    for question in questions:
        trace = SearchTrace()
        try:
            ctx = engine.context(question, trace=trace)
        except SearchDuelError as exc:
            if not args.questions:
                raise
            _print_json({"question": question, "error": str(exc)})
            status = EXIT_FAILED
            continue
        record = {
            "question": question,
            "provider": trace.provider,
            "offline": trace.offline,
            "notices": trace.notices or [],
            "sources": [asdict(s) for s in ctx.sources],
            "context": ctx.text,
            "messages": list(ctx.messages),
            "context_tokens": ctx.context_tokens,
            "prompt_tokens": ctx.prompt_tokens,
            "budget_tokens": ctx.budget_tokens,
        }
        if args.json or args.jsonl:
            _print_json(record)
        else:
            print(ctx.text)
            print(f"\n-- {ctx.context_tokens} context tokens, {ctx.prompt_tokens} prompt tokens")
    return status


def _counter_backend(settings: Settings) -> Any:
    """What `context` needs of a backend: the window and exact token counts, not the weights
    (for llama.cpp: the GGUF's vocabulary alone)."""
    from .llm import resolve
    from .llm.tokens import ChatTokenCounter, EstimateTokenCounter, load_tokenizer

    settings = resolve(settings)
    if settings.backend == "demo":
        from .llm.demo import DemoBackend

        return DemoBackend()
    if settings.backend == "llamacpp":
        from .llm.llamacpp import load_counter

        return load_counter(settings)

    class _Counter:
        def __init__(self) -> None:
            name = settings.tokenizer or settings.model
            if settings.backend == "openai" and not settings.tokenizer:
                self.counter: Any = EstimateTokenCounter()
            else:
                self.counter = ChatTokenCounter(load_tokenizer(name))
            self.context_window = settings.context_window or _window(settings)

        def count_tokens(self, messages: Any) -> int:
            return self.counter.count_tokens(messages)

        def count_text_tokens(self, text: str) -> int:
            return self.counter.count_text_tokens(text)

    return _Counter()


def _window(settings: Settings) -> int:
    from .config import DEFAULT_CONTEXT_WINDOW

    if settings.backend == "transformers":
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(settings.model)
            return int(getattr(config, "max_position_embeddings", 0) or DEFAULT_CONTEXT_WINDOW)
        except Exception:  # no config reachable: the documented default window
            pass
    return DEFAULT_CONTEXT_WINDOW


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench.runner import run_suites

    return run_suites(args, settings)


def _read_store(settings: Settings) -> Any:
    from .errors import StoreDisabled
    from .store import Store

    if not settings.store:
        raise StoreDisabled("storing is turned off (--store false / SEARCHDUEL_STORE): no votes")
    return Store.from_settings(settings, create=False)


def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    from .render.results import refusals_markdown, results_view
    from .render.words import plural

    with _read_store(settings) as store:
        view = results_view(store, blind_only=args.blind_only, charts=False)
        refused = store.refusals()
    if args.json:
        _print_json({"store": str(settings.store_path), **view.summary, "refused": refused})
    else:
        print(view.markdown)
        if refused:
            print(refusals_markdown(refused))
        for title, key in (("model", "by_model"), ("provider", "by_provider")):
            for g in view.summary[key]:
                share = g["search_win_share"]
                shown = "–" if share is None else f"{100 * share:.1f}%"
                votes = plural(g["votes"], "vote")
                print(f"  {title} {g['name']}: {votes}, search-on share {shown}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with _read_store(settings) as store:
        if args.out:
            with args.out.open("w", encoding="utf-8", newline="") as f:
                n = store.export(args.format, f)
            print(f"{n} comparisons written to {args.out}", file=sys.stderr)
        else:
            store.export(args.format, sys.stdout)
    return EXIT_OK


def cmd_ground(args: argparse.Namespace, settings: Settings | None) -> int:
    from .judge.fit import fit
    from .judge.ground import WEIGHTS, ground_record, load_model

    if args.fit:
        if not args.file.is_file():
            raise ConfigError(f"no such file: {args.file}")
        report = fit(args.file, args.weights or WEIGHTS)
        print(json.dumps({k: report[k] for k in ("weights", "bias", "unsupported_at", "response")}))
        cv = report["cross_validated"]
        print(
            f"cross-validated ({cv['folds']} question-disjoint folds): response F1 "
            f"{cv['response_f1']:.3f}, token F1 {cv['token_f1']:.3f}",
            file=sys.stderr,
        )
        return EXIT_OK
    model = load_model(args.weights or WEIGHTS)
    if str(args.file) == "-":
        lines = sys.stdin.read().splitlines()
    elif args.file.is_file():
        lines = args.file.read_text("utf-8").splitlines()
    else:
        raise ConfigError(f"no such file: {args.file}")
    bad = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem = _ground_line_problem(line)
        if isinstance(problem, str):
            print(f"error: {args.file} line {n}: {problem}", file=sys.stderr)
            bad += 1
            continue
        _print_json(ground_record(problem, model))
    return EXIT_USAGE if bad else EXIT_OK


def _ground_line_problem(line: str) -> dict[str, Any] | str:
    """The record of one `ground` input line, or what is wrong with it."""
    from .evaluate import parse_json_line

    rec, problem = parse_json_line(line)
    if problem:
        return f"not a JSON object ({problem})"
    if not isinstance(rec, dict):
        return "not a JSON object"
    if "id" not in rec:
        return 'no "id"'
    if not isinstance(rec.get("response"), str):
        return '"response" must be a string'
    sources = rec.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        return '"sources" must be a list of strings'
    if not isinstance(rec.get("question", ""), str):
        return '"question" must be a string'
    return rec


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .engine import Engine
    from .evaluate import ProgressBar, default_out, evaluate, load_items
    from .llm import make_backend, resolve

    items = load_items(args.file)
    out = args.out or default_out(args.file)
    settings = resolve(settings.replace(temperature=0.0))
    _hub_first(settings)
    engine = _ready(Engine(settings, make_backend(settings)))
    bar = ProgressBar()
    figures = evaluate(items, engine, out, progress=bar, note=bar.note)
    skipped = f", {len(figures['skipped'])} skipped" if figures["skipped"] else ""
    print(
        f"report: {out / 'report.md'} ({figures['questions']} of {figures['total']} done{skipped})"
    )
    if figures["interrupted"]:
        print("stopped: run the same command again to go on", file=sys.stderr)
        return 130
    return EXIT_FAILED if figures["errors"] or figures["skipped"] else EXIT_OK


def cmd_tiny_model(args: argparse.Namespace, settings: Settings | None) -> int:
    from .llm.tiny import build_tiny_model

    path = build_tiny_model(args.folder, hidden_size=args.hidden_size, layers=args.layers)
    print(f"tiny random Phi-3 written to {path} (its answers are noise; for demos and tests)")
    if args.gguf:
        from .llm.gguf_export import write_gguf

        print(f"the same model as a GGUF for llama.cpp: {write_gguf(path)}")
    return EXIT_OK


COMMANDS = {
    "ask": cmd_ask,
    "search": cmd_search,
    "fetch": cmd_fetch,
    "extract": cmd_extract,
    "context": cmd_context,
    "bench": cmd_bench,
    "results": cmd_results,
    "export": cmd_export,
    "ground": cmd_ground,
    "eval": cmd_eval,
    "tiny-model": cmd_tiny_model,
}

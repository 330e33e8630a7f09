"""`bench page`: how long the page takes to show a finished comparison, against the engine.

    app.py (tiny model, offline corpus, temp data dir) ──► log line "searchduel.comparison":
        ▲                                                   each column's total_s (the engine)
        │ Ask clicked in Chromium (Playwright) at t0
        └── MutationObserver: the first moment Ask reads "Ask" again, both stats lines are
            there and the grounding line is shown ─► the page's time
            Chromium's own metrics (CDP): main-thread time; answer updates rendered

The page's time over the engine's is the ratio reported, the median of --page-runs runs at
each of --page-lengths max-new-tokens (the app is launched with each as its default, so the
page is used as a visitor finds it). Stop is timed at the longest length: from the click on
Stop, taken once the plain answer shows STOP_AFTER_CHARS characters, until the columns stop
changing (nothing but Gradio's own timers moves for QUIET_S) and Ask is back.

Decisions, in one place:

- The engine's total is the later column's own total in the app's log line (what the stats
  lines say), so the page is held to what the server says; a comparison the server never
  logged fails the run instead of guessing. The line's overall total_s is reported beside
  it but not used: it ends when the reader has taken every event, so a reader that lags
  (the page's stream) would lengthen the yardstick it is measured by.
- The page's share counts everything a visitor waits for that the columns do not: the click
  reaching the server, the judge, storing, the last updates and the run's release.
- One comparison before timing warms the app (the first search, the first generate).
- Gradio's status trackers (a timer that ticks while an event is pending) and its
  screen-reader-only announcements are not the page changing: mutations in them are ignored.
- Stop is pressed only once this run's own answer streams (its first update empties the stats
  lines): the answer before it is still on screen when Ask is clicked.
- `--page-busy` also runs everything with two busy-loop processes, one per core of the
  2-core machine the README numbers come from.
- No Playwright or no Chromium: one row that says so, never an error; the rest of
  `bench` still runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MAX_NEW_TOKENS, Settings
from . import Result, check
from .serve import LaunchedApp

SUITE = "page"
RUNS = 3
LENGTHS = (384, 1024)  # the default max-new-tokens and the cap (config.MAX_NEW_TOKENS_CAP)
TARGET = "<= 1.20"  # the page at most 20% behind the engine, at the default length, idle
PROMPT = "Plan a one-day trip to Skagway, Alaska"  # the offline corpus has sources for it
FINISH_TIMEOUT_S = 300.0  # one comparison on the tiny model takes seconds; a lag, tens
STOP_AFTER_CHARS = 1000  # about half the plain answer at 384 tokens: well into the stream
QUIET_S = 2.0  # nothing changed for this long after Stop: the page has stopped
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
BUSY_LOOP = "while True: pass"

# Installed before each Ask: records the click, the last change outside Gradio's trackers,
# and the first moment the finished comparison is on screen.
WATCH_JS = """() => {
    const W = window.__bench = {t0: 0, running: 0, done: 0, last: 0, stopAt: 0, askBack: 0,
                                updates: 0};
    const text = (sel) => (document.querySelector(sel) || {}).textContent || '';
    const tracked = (node) => {
        const el = node.nodeType === 1 ? node : node.parentElement;
        return !!(el && el.closest(
            '[data-testid="status-tracker"], .progress-text, .eta-bar, .sr-only'));
    };
    const answer = (node) => {
        const el = node.nodeType === 1 ? node : node.parentElement;
        return !!(el && el.closest('#answer-plain .prose, #answer-search .prose'));
    };
    const finished = () => {
        const ask = document.querySelector('#ask');
        return !!ask && !ask.disabled && ask.textContent.trim() === 'Ask'
            && text('#stats-plain').includes('total') && text('#stats-search').includes('total')
            && text('#grounding .prose').trim().length > 0;
    };
    if (window.__benchWatcher) window.__benchWatcher.disconnect();
    window.__benchWatcher = new MutationObserver((records) => {
        if (!W.t0) return;
        const now = performance.now();
        if (records.some((r) => !tracked(r.target))) W.last = now;
        const ask = document.querySelector('#ask');
        if (!W.running && ask && ask.textContent.includes('Running')) W.running = now;
        if (!W.running) return;  // the comparison before this one is still on screen
        if (!W.done && records.some((r) => answer(r.target))) W.updates += 1;
        if (W.stopAt && !W.askBack && ask && !ask.disabled && ask.textContent.trim() === 'Ask')
            W.askBack = now;
        if (!W.done && finished()) W.done = now;
    });
    window.__benchWatcher.observe(document.body, {subtree: true, childList: true,
                                                  characterData: true, attributes: true});
}"""
CLICK_ASK_JS = """() => { window.__bench.t0 = performance.now();
                          document.querySelector('#ask').click(); }"""
CLICK_STOP_JS = """() => { window.__bench.stopAt = performance.now();
                           document.querySelector('#stop').click(); }"""
ANSWER_CHARS_JS = """() => ['#answer-plain', '#answer-search'].map((s) => {
    const el = document.querySelector(s + ' .prose');
    return el ? el.innerText.trim().length : 0; })"""
# This run's answer is streaming (its first update emptied the stats lines) and has n characters,
# or the run has ended.
STREAMING_JS = """() => { const W = window.__bench, q = (s) => document.querySelector(s) || {};
    return W.done > 0 || (W.running > 0 && !(q('#stats-plain').textContent || '').includes('total')
                          && (q('#answer-plain .prose').textContent || '').length > %d); }"""
READY_JS = """() => { const b = document.querySelector('#ask');
                      return !!b && !b.disabled && b.textContent.trim() === 'Ask'; }"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page-runs", type=int, default=RUNS, help="page bench: timed comparisons per length"
    )
    parser.add_argument(
        "--page-lengths",
        default=",".join(map(str, LENGTHS)),
        help=f"page bench: max-new-tokens to time, comma-separated ({MAX_NEW_TOKENS}, the"
        " default, has the target)",
    )
    parser.add_argument(
        "--page-busy",
        action="store_true",
        help="page bench: also time it with two busy-loop processes loading the CPU",
    )
    parser.add_argument(
        "--page-no-stop", action="store_true", help="page bench: skip the Stop timing"
    )


@dataclass
class Timing:
    """One timed comparison: the page's seconds, the engine's, and the answers' sizes."""

    page_s: float
    engine_s: float  # the later column's own total (what the stats lines say)
    logged_s: float  # the log line's total: ends when the reader has taken every event
    tokens: tuple[int, int]
    chars: tuple[int, int]
    updates: int = 0  # times the answers were re-rendered
    browser_s: float = 0.0  # Chromium's main thread busy (CDP TaskDuration)

    @property
    def ratio(self) -> float:
        return self.page_s / self.engine_s if self.engine_s > 0 else 0.0


@dataclass
class Stopped:
    """The Stop timing: seconds until the page was still, None when the answer ended before
    it was long enough to press Stop."""

    seconds: float | None


def missing() -> str:
    """Why the suite cannot run here ('' when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(chromium()).exists():
        return f"Chromium is not installed at {chromium()} (apt-get install -y chromium)"
    return ""


def chromium() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


def comparison_lines(log: str) -> list[dict[str, Any]]:
    """The app's comparison log lines (logs.ComparisonLog), oldest first."""
    out = []
    for line in log.splitlines():
        start = line.find('{"event": "comparison"')
        if start >= 0:
            try:
                out.append(json.loads(line[start:]))
            except ValueError:
                continue
    return out


def busy_s(cdp: Any) -> float:
    """Seconds Chromium's main thread has been busy in this page so far."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next((m["value"] for m in metrics if m["name"] == "TaskDuration"), 0.0)


def timed_ask(page: Any, app: LaunchedApp, cdp: Any) -> Timing:
    """Click Ask, wait for the finished comparison on screen, read the engine's log line."""
    from ..errors import SearchDuelError

    logged = len(comparison_lines(app.log_text()))
    page.evaluate(WATCH_JS)
    busy = busy_s(cdp)
    page.evaluate(CLICK_ASK_JS)
    page.wait_for_function("() => window.__bench.done > 0", timeout=FINISH_TIMEOUT_S * 1000)
    busy = busy_s(cdp) - busy
    w = page.evaluate("() => window.__bench")
    chars = page.evaluate(ANSWER_CHARS_JS)
    lines = comparison_lines(app.log_text())
    if len(lines) <= logged:
        raise SearchDuelError(f"the app logged no comparison line:\n{app.log_tail()}")
    plain, search = lines[-1]["plain"], lines[-1]["search_column"]
    engine_s = max(plain.get("total_s", 0.0), search.get("total_s", 0.0))
    tokens = (plain.get("tokens", 0), search.get("tokens", 0))
    page_s = (w["done"] - w["t0"]) / 1000
    return Timing(page_s, engine_s, lines[-1]["total_s"], tokens, tuple(chars), w["updates"], busy)


def timed_stop(page: Any) -> Stopped:
    """From the click on Stop until the columns stopped changing and Ask is back."""
    page.evaluate(WATCH_JS)
    page.evaluate(CLICK_ASK_JS)
    page.wait_for_function(STREAMING_JS % STOP_AFTER_CHARS, timeout=FINISH_TIMEOUT_S * 1000)
    if page.evaluate("() => window.__bench.done > 0"):
        return Stopped(None)
    page.evaluate(CLICK_STOP_JS)
    page.wait_for_function(
        f"() => window.__bench.askBack > 0 && performance.now() - window.__bench.last"
        f" > {QUIET_S * 1000}",
        timeout=FINISH_TIMEOUT_S * 1000,
    )
    w = page.evaluate("() => window.__bench")
    return Stopped((max(w["last"], w["askBack"]) - w["stopAt"]) / 1000)


def measure(
    settings: Settings, length: int, runs: int, data_dir: str, *, stop: bool
) -> tuple[list[Timing], Stopped | None]:
    """Launch the app at `length` max-new-tokens and time `runs` comparisons (and Stop)."""
    from playwright.sync_api import sync_playwright

    env = {"SEARCHDUEL_DATA_DIR": data_dir}
    with (
        LaunchedApp(settings.replace(max_new_tokens=length), settings.queue_size, env=env) as app,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(app.url, wait_until="load")
            page.wait_for_function(READY_JS, timeout=FINISH_TIMEOUT_S * 1000)
            page.fill("#prompt textarea", PROMPT)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            timed_ask(page, app, cdp)  # warm-up, not counted
            timings = [timed_ask(page, app, cdp) for _ in range(runs)]
            stopped = timed_stop(page) if stop else None
        finally:
            browser.close()
    return timings, stopped


def rows(
    timings: list[Timing], length: int, *, target: str, load: str, stopped: Stopped | None
) -> list[Result]:
    """The ratio row (median run) for one length, and the Stop row when Stop was tried."""
    ratio = statistics.median(t.ratio for t in timings)
    mid = min(timings, key=lambda t: abs(t.ratio - ratio))
    all_ratios = ", ".join(f"{t.ratio:.2f}" for t in timings)
    out = [
        Result(
            SUITE,
            f"page / engine, {length} max new tokens{load}",
            ratio,
            "x",
            baseline=mid.engine_s,
            target=target,
            passed=check(ratio, target),
            note=(
                f"median of {len(timings)}: page {mid.page_s:.2f} s, engine {mid.engine_s:.2f} s"
                f" (page's share {mid.page_s - mid.engine_s:+.2f} s, log line"
                f" {mid.logged_s:.2f} s); answers {mid.tokens[0]}+{mid.tokens[1]} tokens,"
                f" {mid.chars[0]:,}+{mid.chars[1]:,} chars; browser busy {mid.browser_s:.2f} s"
                f" over {mid.updates} answer updates; all ratios {all_ratios}"
            ),
        )
    ]
    if stopped is not None:
        note = f"Stop pressed once the plain answer had {STOP_AFTER_CHARS} characters"
        out.append(
            Result(
                SUITE,
                f"Stop until the page is still, {length} max new tokens{load}",
                stopped.seconds or 0.0,
                "s",
                note=note if stopped.seconds is not None else "not timed: the answer ended first",
            )
        )
    return out


def parse_lengths(spec: str) -> list[int]:
    """--page-lengths as whole numbers ("" gives LENGTHS); a ConfigError says what is wrong."""
    from ..errors import ConfigError

    try:
        lengths = [int(x) for x in spec.split(",") if x.strip()] if spec else list(LENGTHS)
    except ValueError:
        raise ConfigError(
            f"--page-lengths takes whole numbers separated by commas, e.g. 384,1024; got {spec!r}"
        ) from None
    if not lengths or min(lengths) < 1:
        raise ConfigError(f"--page-lengths needs one or more lengths of 1 or more; got {spec!r}")
    return lengths


def busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """Time the page against the engine at each length (idle, then busy with --page-busy)."""
    why = missing()
    if why:
        return [Result(SUITE, "skipped", 0, note=why)]
    runs = max(1, getattr(args, "page_runs", RUNS) or RUNS)
    lengths = parse_lengths(getattr(args, "page_lengths", None) or "")
    stop = not getattr(args, "page_no_stop", False)
    if settings.search not in ("local", "off"):
        settings = settings.replace(search="local")  # a bench must not hit a real engine
    loads = [("", 0)] + ([(", 2 busy loops", 2)] if getattr(args, "page_busy", False) else [])
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="searchduel-page-") as tmp:
        if settings.model == Settings().model:  # no model named: the tiny one, built here
            from ..llm.tiny import build_tiny_model

            settings = settings.replace(model=str(build_tiny_model(Path(tmp) / "tiny")))
        for label, loops in loads:
            procs = busy_loops(loops)
            try:
                for length in lengths:
                    timings, stopped = measure(
                        settings, length, runs, str(Path(tmp) / f"data-{loops}-{length}"),
                        stop=stop and length == max(lengths),
                    )  # fmt: skip
                    target = TARGET if length == MAX_NEW_TOKENS and not loops else ""
                    results += rows(timings, length, target=target, load=label, stopped=stopped)
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
    return results

"""A real Chromium on the Batch tab and the Results tab of tests/batch_app.py: the batch's
progress shows in one place, its charts keep their own titles, closing the tab stops the
batch, and a Results tab with too few votes says so instead of drawing empty charts.

Each browser context sends its own X-Forwarded-For address, so each is its own visitor
with its own rate budget (the app allows three questions a minute per address).
"""

from __future__ import annotations

import json
import time

import pytest

from searchduel.store import Comparison, Store
from test_browser import ARTIFACTS, open_page, upload

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def batch_tab(browser, url: str, address: str, width: int = 1280):
    """The Batch tab in a fresh browser context that is its own visitor (its address given
    in X-Forwarded-For, which the app trusts from its one proxy)."""
    context = browser.new_context(
        viewport={"width": width, "height": 1000},
        extra_http_headers={"X-Forwarded-For": address},
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Batch").click()
    page.wait_for_selector("#batch-run")
    return page


def watch_progress(page) -> None:
    """From now on, record which parts of the Batch tab show a run's progress (Gradio's
    pending or generating status) on every change: window.__progress (ids, "chart")."""
    page.evaluate(
        """() => {
            window.__progress = new Set();
            const tab = document.querySelector('#batch-run').closest('[role=tabpanel]');
            const snap = () => {
                for (const e of tab.querySelectorAll(
                        '.wrap.pending, .wrap.generating, .progress-text, .eta-bar')) {
                    if (!e.checkVisibility()) continue;
                    const owner = e.closest('.batch-chart, [id]');
                    window.__progress.add(owner.id || 'chart');
                }
            };
            new MutationObserver(snap).observe(document.body, {subtree: true,
                childList: true, attributes: true, characterData: true});
        }"""
    )


def comparison_outcomes(log, after: int) -> list[str]:
    text = log.read_bytes()[after:].decode("utf-8", "replace")
    marker = '{"event": "comparison"'
    lines = [json.loads(x[x.index(marker) :]) for x in text.splitlines() if marker in x]
    return [line["outcome"] for line in lines if "outcome" in line]


def test_the_progress_shows_once_and_the_charts_keep_their_titles(browser, batch_app, tmp_path):
    url, _hold, _data, _log = batch_app
    path = tmp_path / "two.txt"
    path.write_text("Plan a day in Skagway\nWhat is there to see in Juneau?\n", "utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    page = batch_tab(browser, url, "10.1.0.1")
    try:
        assert not page.locator("#batch-zip").is_visible(), "no empty zip before a run"
        upload(page, "#batch-file", path)
        watch_progress(page)
        page.click("#batch-run")
        page.wait_for_selector("#batch-report h1")
        shown = page.evaluate("() => [...window.__progress]")
        assert shown == ["batch-report"], f"the progress showed in {shown}"
        charts = page.locator(".batch-chart")
        charts.first.wait_for(state="visible")
        assert charts.count() == 2 and page.locator("#batch-zip").is_visible()
        # no label badge over the figure's own title and top tick; the title is the alt text
        assert page.locator(".batch-chart [data-testid='block-label']:visible").count() == 0
        alts = page.eval_on_selector_all(".batch-chart img", "els => els.map(e => e.alt)")
        assert alts == ["Sentences the sources back", "Latency"]
        page.screenshot(path=str(ARTIFACTS / "batch-1280.png"), full_page=True)
    finally:
        page.context.close()
    narrow = batch_tab(browser, url, "10.1.0.2", 420)
    try:
        upload(narrow, "#batch-file", path)
        narrow.click("#batch-run")
        narrow.wait_for_selector("#batch-report h1")
        narrow.locator(".batch-chart").first.wait_for(state="visible")
        box = narrow.locator(".batch-chart").first.bounding_box()
        assert box and box["width"] <= 420, "the charts fit a phone's width"
        narrow.screenshot(path=str(ARTIFACTS / "batch-420.png"), full_page=True)
    finally:
        narrow.context.close()


def test_closing_the_tab_stops_its_batch_within_2_s(browser, batch_app, tmp_path):
    url, hold, _data, log = batch_app
    path = tmp_path / "three.txt"
    path.write_text("Plan a day in Skagway\nAnd Juneau?\nAnd Sitka?\n", "utf-8")
    page = batch_tab(browser, url, "10.1.0.3")
    hold.touch()
    try:
        upload(page, "#batch-file", path)
        offset = log.stat().st_size
        page.click("#batch-run")
        page.wait_for_function(
            "() => document.querySelector('#batch-report').innerText.includes('question 1 of 3')",
        )
        page.context.close()
        closed = time.monotonic()
        while not comparison_outcomes(log, offset) and time.monotonic() - closed < 10:
            time.sleep(0.02)
        stopped_after = time.monotonic() - closed
        print(f"tab closed -> question ended: {stopped_after:.2f} s")
        assert comparison_outcomes(log, offset) == ["stopped"]
        assert stopped_after < 2.0, f"the batch's question ended {stopped_after:.2f} s later"
    finally:
        hold.unlink(missing_ok=True)
    time.sleep(1.5)  # settle: a question started now would finish (nothing holds it) and log
    assert comparison_outcomes(log, offset) == ["stopped"], "no further question started"


def vote(data, n: int, start: int = 0) -> None:
    with Store(data / "searchduel.sqlite3") as store:
        for i in range(start, start + n):
            cid = store.save(Comparison(f"q{i}", "plain " * (i * 40), "search " * 90))
            store.vote(cid, session=f"s{i}", choice="search" if i % 3 else "plain", blind=False)


def results(page) -> str:
    page.get_by_role("tab", name="Duel").click()
    page.get_by_role("tab", name="Results").click()
    page.wait_for_function(
        "() => !document.querySelector('#results-summary').innerText.includes('Open this tab')"
        " && document.querySelector('#results-summary').innerText.includes('vote')",
    )
    return page.inner_text("#results-summary")


def test_results_with_one_vote_say_so_instead_of_empty_charts(browser, batch_app):
    url, _hold, data, _log = batch_app
    vote(data, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 420):
        page = open_page(browser, url, width)
        try:
            summary = results(page)
            assert "1 vote on 1 prompt" in summary and "1 votes" not in summary
            assert "appear from 5 decisive votes" in summary and "1 so far" in summary
            page.locator("#chart-shares").wait_for(state="visible")
            assert not page.locator("#chart-over-time").is_visible()
            assert not page.locator("#chart-length-bias").is_visible()
            page.screenshot(path=str(ARTIFACTS / f"results-one-vote-{width}.png"), full_page=True)
        finally:
            page.context.close()
    vote(data, 5, start=1)
    page = open_page(browser, url, 420)
    try:
        summary = results(page)
        assert "6 votes" in summary and "appear from" not in summary
        page.locator("#chart-over-time").wait_for(state="visible")
        page.locator("#chart-length-bias").wait_for(state="visible")
        page.screenshot(path=str(ARTIFACTS / "results-six-votes-420.png"), full_page=True)
    finally:
        page.context.close()

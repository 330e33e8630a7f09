"""A real Chromium drives the page: both columns must grow during the same time window."""

from __future__ import annotations

import os
import shutil
import time
from itertools import pairwise
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        reason = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("SEARCHDUEL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url, wait_until="networkidle")
        yield page
        browser.close()


def lengths(page) -> tuple[int, int]:
    return page.evaluate(
        """() => [document.querySelector('#answer-plain'), document.querySelector('#answer-search')]
                 .map(el => el ? el.innerText.length : -1)"""
    )


def test_both_columns_stream_at_the_same_time(page):
    page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
    page.click("#ask")
    samples: list[tuple[float, int, int]] = []
    start = time.monotonic()
    stable = 0
    while time.monotonic() - start < 90:
        plain, search = lengths(page)
        samples.append((time.monotonic() - start, plain, search))
        if len(samples) > 1 and samples[-1][1:] == samples[-2][1:] and plain > 0 and search > 0:
            stable += 1
            if stable > 40:  # 2 s without change: both done
                break
        else:
            stable = 0
        time.sleep(0.05)

    def growth_times(col: int) -> list[float]:
        return [b[0] for a, b in pairwise(samples) if b[col] > a[col]]

    plain_t, search_t = growth_times(1), growth_times(2)
    assert len(plain_t) >= 3 and len(search_t) >= 3, f"columns did not stream: {samples[-1]}"
    overlap_start = max(plain_t[0], search_t[0])
    overlap_end = min(plain_t[-1], search_t[-1])
    assert overlap_end > overlap_start, (
        f"plain grew {plain_t[0]:.2f}-{plain_t[-1]:.2f} s, search {search_t[0]:.2f}-"
        f"{search_t[-1]:.2f} s: one after the other, not together"
    )
    in_window = [t for t in plain_t if overlap_start <= t <= overlap_end]
    assert in_window, "the plain column grew while the search column grew"
    assert page.inner_text("#sources").strip(), "sources are listed"
    page.click("#trace")
    page.wait_for_timeout(300)
    assert "offline corpus" in page.inner_text("#trace")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshot.png"), full_page=True)


def test_empty_prompt_warns_and_loses_nothing(page):
    before = lengths(page)
    page.fill("#prompt textarea", "   ")
    page.click("#ask")
    page.wait_for_selector("text=Type a question first", timeout=10000)
    assert lengths(page) == before


def test_stop_halts_both_columns(page):
    page.fill("#prompt textarea", "Plan a one-day trip to Belize from a cruise ship")
    page.click("#ask")
    deadline = time.monotonic() + 60
    while min(lengths(page)) <= 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    page.click("#stop")
    page.wait_for_timeout(1500)
    after_stop = lengths(page)
    page.wait_for_timeout(1500)
    assert lengths(page) == after_stop, "nothing grows after Stop"
    assert page.input_value("#prompt textarea").startswith("Plan a one-day trip to Belize")

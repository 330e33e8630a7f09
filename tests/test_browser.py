"""A real Chromium drives the page: streaming, input rules, progress, links, layout, start-up.

Three apps: `app_url` (app.py on the tiny test model and the offline corpus), `slow_app`
(a backend double that "downloads" until the test releases it, then answers with citations)
and `held_app` (the same double, loaded, whose answers wait while the test holds them: a
running comparison that lasts as long as a test needs it, on a machine however busy).
Tests wait for conditions, never for fixed times, except to show that something did NOT
happen (then a short settle). A run too quick to be seen between two reads is still seen:
`watch_runs` records the controls on every change of the page while Ask reads "Running…".
"""

from __future__ import annotations

import shutil
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


def open_page(browser, url: str, width: int = 1280):
    context = browser.new_context(
        viewport={"width": width, "height": 1000},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#prompt textarea")
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = open_page(browser, app_url)
    ready(page)
    yield page
    page.context.close()


def ready(page, timeout: float = 120000) -> None:
    """Wait until Ask is enabled and reads "Ask" (the model is loaded, no run is going)."""
    page.wait_for_function(
        """() => { const b = document.querySelector('#ask');
                   return b && !b.disabled && b.innerText.trim() === 'Ask'; }""",
        timeout=timeout,
    )


def running(page, timeout: float = 120000) -> None:
    page.wait_for_function(
        """() => { const b = document.querySelector('#ask');
                   return b && b.disabled && b.innerText.includes('Running'); }""",
        timeout=timeout,
    )


def open_fold(page, fold: str, inside: str, tries: int = 5) -> None:
    """Open the accordion `fold` until `inside` shows: a click during a re-render (a tab
    refreshing its outputs) can be lost, so the state is checked, not the click."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    target = page.locator(inside)
    for _ in range(tries):
        if target.is_visible():
            return
        page.locator(f"{fold} > button, {fold} .label-wrap").first.click()
        try:
            target.wait_for(state="visible", timeout=20000)
            return
        except PlaywrightTimeoutError:
            continue
    target.wait_for(state="visible")


def wait_enabled(page, selector: str, timeout: float = 120000) -> None:
    """Wait until the element is on the page and enabled (it may appear late)."""
    page.wait_for_function(
        "(s) => { const b = document.querySelector(s); return b && !b.disabled; }",
        arg=selector,
        timeout=timeout,
    )


def upload(page, component: str, path: Path) -> None:
    """Give a File component (`component`: its element's selector) a file and wait until the
    server holds it: its download link is shown. Not the name alone: while uploading, the
    name is one text ("two.txt"), once uploaded it is a stem and an extension apart."""
    page.set_input_files(f"{component} input[type=file]", str(path))
    page.wait_for_function(
        "([c, name]) => !!document.querySelector(`${c} a[download]`)"
        " && document.querySelector(`${c} a[download]`).getAttribute('download') === name",
        arg=[component, path.name],
    )


def disabled(page, selector: str) -> bool:
    """Whether the element is disabled, waiting for it to be there (a re-render replaces it)."""
    return page.locator(selector).is_disabled()


def watch_runs(page) -> None:
    """From now on, record the controls' state on every change of the page while Ask reads
    "Running…" (window.__during): a run that ends before a test could look is still seen."""
    page.evaluate(
        """() => {
            window.__during = [];
            const dis = (s) => {
                const e = document.querySelector(s);
                return e ? e.disabled : null;
            };
            const snap = () => {
                const ask = document.querySelector('#ask');
                // the running state: a re-render may change the text and the attribute apart
                if (!ask || !ask.disabled || !ask.innerText.includes('Running')) return;
                if (window.__during.length > 5000) return;
                window.__during.push({ask: ask.disabled, stop: dis('#stop'),
                    votes: ['#vote-left', '#vote-right', '#vote-tie', '#vote-bad'].map(dis)});
            };
            if (window.__watcher) window.__watcher.disconnect();
            window.__watcher = new MutationObserver(snap);
            window.__watcher.observe(document.body, {subtree: true, childList: true,
                                                     characterData: true, attributes: true});
        }"""
    )


def ask_and_finish(page, timeout: float = 120000) -> list[dict]:
    """Click Ask and wait until that run has been seen and has ended; the controls' states
    seen while it ran."""
    watch_runs(page)
    page.click("#ask")
    page.wait_for_function("() => window.__during.length > 0", timeout=timeout)
    ready(page, timeout=timeout)
    return page.evaluate("() => window.__during")


@pytest.fixture(scope="module")
def held_page(browser, held_app):
    """A page of `held_app` (answers wait while its hold file exists), and the hold file."""
    url, hold = held_app
    page = open_page(browser, url)
    ready(page)
    yield page, hold
    hold.unlink(missing_ok=True)
    page.context.close()


def record_search_column(page) -> None:
    """Keep every text the search column shows (its stage words are brief)."""
    page.evaluate(
        """() => { window.__seen = new Set();
                   const el = document.querySelector('#answer-search');
                   const note = () => window.__seen.add(el.innerText.trim());
                   new MutationObserver(note).observe(el, {subtree: true, childList: true,
                                                           characterData: true}); }"""
    )


def test_model_line_and_test_banner_before_any_ask(page):
    line = page.inner_text("#model-line")
    assert "fp32 on CPU" in line and "4,096-token window" in line
    assert "local" in line and "offline corpus" in line
    banner = page.locator("#test-model-banner")
    banner.wait_for(state="visible")
    assert "noise" in banner.inner_text() and "Phi-3-mini" in banner.inner_text()


def test_stop_is_disabled_while_idle(page):
    assert not disabled(page, "#ask")
    assert disabled(page, "#stop")


LENGTHS_JS = """() => ['#answer-plain', '#answer-search'].map(s => document.querySelector(s))
    .map(el => el ? el.innerText.length - [...el.querySelectorAll(
        '[data-testid="status-tracker"]')].reduce((n, t) => n + t.innerText.length, 0) : -1)"""


def lengths(page) -> tuple[int, int]:
    """The answers' lengths, without the text of Gradio's status tracker ("0.4s", a queue
    position), which any pending event writes over its outputs, the page's own load included."""
    return page.evaluate(LENGTHS_JS)


def watch_lengths(page) -> None:
    """From now on, record (seconds, plain length, search length) on every change of the page
    that changes a length (window.__lengths): each update the page shows is seen, however
    briefly, so a test reads how the answers grew once the run is over, without sampling."""
    page.evaluate(
        """() => {
            const read = LENGTHS;
            window.__lengths = [];
            const snap = () => {
                const [plain, search] = read();
                const last = window.__lengths[window.__lengths.length - 1];
                if (last && last[1] === plain && last[2] === search) return;
                if (window.__lengths.length < 20000)
                    window.__lengths.push([performance.now() / 1000, plain, search]);
            };
            if (window.__lengthWatcher) window.__lengthWatcher.disconnect();
            window.__lengthWatcher = new MutationObserver(snap);
            window.__lengthWatcher.observe(document.body, {subtree: true, childList: true,
                                                           characterData: true});
        }""".replace("LENGTHS", LENGTHS_JS)
    )


def ask_and_record_lengths(page) -> list[tuple[float, int, int]]:
    """Ask, wait until the run was seen and is over (Ask is back), and return every
    (seconds, plain length, search length) the page showed on the way."""
    watch_runs(page)
    watch_lengths(page)
    page.click("#ask")
    page.wait_for_function("() => window.__during.length > 0")  # the run was taken
    ready(page)
    return [tuple(x) for x in page.evaluate("() => window.__lengths")]


def test_both_columns_stream_at_the_same_time(page):
    page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
    record_search_column(page)
    samples = ask_and_record_lengths(page)

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
    seen = page.evaluate("() => [...window.__seen]")
    assert any("Searching the offline corpus" in t for t in seen), seen
    assert not any("web" in t for t in seen if t.endswith("…")), seen
    ready(page)
    page.click("#trace")
    page.wait_for_selector("#trace-body table")
    assert "offline corpus" in page.inner_text("#trace")
    assert "prefill and first token" in page.inner_text("#trace")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshot.png"), full_page=True)


def test_copy_button_copies_the_answer(page):
    page.click("#copy-plain")
    expected = page.inner_text("#answer-plain").strip()
    page.wait_for_function(
        "(want) => navigator.clipboard.readText().then(t => t === want)", arg=expected
    )


def test_enter_asks_and_shift_enter_makes_a_new_line(held_page):
    page, hold = held_page
    ready(page)
    box = page.locator("#prompt textarea")
    box.fill("Plan a one-day trip to Skagway")
    box.press("Shift+Enter")
    box.type("and Juneau")
    assert box.input_value() == "Plan a one-day trip to Skagway\nand Juneau"
    page.wait_for_timeout(500)  # settle: nothing may start
    assert page.inner_text("#ask").strip() == "Ask"
    hold.touch()
    box.press("Enter")
    running(page)
    assert box.input_value() == "Plan a one-day trip to Skagway\nand Juneau", "no newline added"
    page.click("#stop")
    ready(page)
    hold.unlink()
    assert box.input_value().startswith("Plan a one-day trip to Skagway"), "the prompt stays"


def test_a_second_ask_while_running_is_refused_and_the_first_goes_on(held_page):
    page, hold = held_page
    ready(page)
    box = page.locator("#prompt textarea")
    box.fill("Plan a one-day trip to Belize from a cruise ship")
    hold.touch()
    page.click("#ask")
    running(page)
    assert disabled(page, "#ask") and not disabled(page, "#stop")
    page.wait_for_function("() => document.querySelector('#answer-plain').innerText.length > 20")
    box.fill("A different question")
    box.press("Enter")  # Ask is disabled: nothing starts, the first run goes on
    page.wait_for_timeout(500)  # settle: a second run would have started by now
    assert page.inner_text("#ask").strip().startswith("Running")
    hold.unlink()  # the first run finishes on its own
    ready(page)
    assert "stopped" not in page.inner_text("#stats-plain"), "the first run went to its end"
    assert disabled(page, "#stop"), "Stop is disabled again once nothing runs"
    assert box.input_value() == "A different question"


def test_an_example_click_runs_it(held_page):
    page, hold = held_page
    ready(page)
    page.fill("#prompt textarea", "")
    page.locator("#duel").scroll_into_view_if_needed()
    example = page.locator("button", has_text="Plan a one-day trip to Skagway, Alaska").first
    hold.touch()
    example.click()
    running(page)
    assert page.input_value("#prompt textarea") == "Plan a one-day trip to Skagway, Alaska"
    page.click("#stop")
    ready(page)
    hold.unlink()


def test_columns_stack_on_a_narrow_screen(browser, app_url):
    page = open_page(browser, app_url, width=420)
    try:
        boxes = page.evaluate(
            """() => ['#column-plain', '#column-search'].map(s => {
                   const r = document.querySelector(s).getBoundingClientRect();
                   return [r.top, r.bottom, r.left, r.width]; })"""
        )
        (_, plain_bottom, _, plain_w), (search_top, _, _, search_w) = boxes
        assert search_top >= plain_bottom - 1, f"search column beside, not below: {boxes}"
        assert plain_w > 300 and search_w > 300
    finally:
        page.context.close()


def test_page_serves_while_the_model_loads_and_asks_once_ready(browser, slow_app):
    url, gate = slow_app
    page = open_page(browser, url)
    try:
        page.wait_for_selector("#load-status:has-text('Downloading the model')")
        assert " of 7.60 GB" in page.inner_text("#load-status")
        assert disabled(page, "#ask"), "Ask waits for the model"
        assert "huggingface.co/microsoft/Phi-3-mini-4k-instruct" in page.inner_html("#model-line")
        gate.touch()
        ready(page)
        page.wait_for_function("() => !document.querySelector('#load-status').innerText.trim()")
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        ask_and_finish(page)
        link = page.locator("#answer-search a", has_text="[1]").first
        href = link.get_attribute("href")
        first_source = page.locator("#sources a").first
        assert href == first_source.get_attribute("href"), "[1] points at source 1"
        assert link.get_attribute("target") == "_blank"
        assert "noopener" in link.get_attribute("rel") and "noreferrer" in link.get_attribute("rel")
        title = link.get_attribute("title")
        assert first_source.inner_text() in title and "corpus://" in title
        assert page.locator("#answer-search img").count() == 0, "model HTML stays inert"
        assert "<b>bold</b>" in page.inner_text("#answer-search"), "HTML is shown as text"
        assert page.locator("#answer-search b").count() == 0
        served = page.request.get(url.rstrip("/") + href)
        assert served.ok and "Skagway" in served.text()
    finally:
        page.context.close()


def answer_texts(page) -> list[str]:
    """Both answers' text, whitespace left out and the status tracker's text too: what a
    refused question must leave as it was (a re-render may lay the same text out with other
    line breaks)."""
    return page.evaluate(
        """() => ['#answer-plain', '#answer-search'].map(sel => {
               const el = document.querySelector(sel);
               if (!el) return null;
               const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
               let out = '', node;
               while ((node = walk.nextNode())) {
                   if (!node.parentElement.closest('[data-testid="status-tracker"]')) {
                       out += node.textContent;
                   }
               }
               return out.replace(/\\s+/g, '');
           })"""
    )


# Reads 250 ms apart with nothing changing before the page counts as settled: 2 were too few
# on a loaded CI machine, where the last marks of a run once landed after half a second.
QUIET_READS = 6


def settled_lengths(page) -> tuple[int, int]:
    """The columns' lengths once the page has drawn its last update (a page left in the
    background may draw a late batch when it comes back, and the judge's marks arrive after
    both answers end): the run before has ended, then QUIET_READS quiet reads in a row."""
    page.wait_for_function(
        "() => !document.querySelector('#ask').disabled && "
        "document.querySelector('#ask').innerText.trim() === 'Ask'",
        timeout=120000,
    )
    last, quiet = lengths(page), 0
    for _ in range(80):
        page.wait_for_timeout(250)
        now = lengths(page)
        quiet = quiet + 1 if now == last else 0
        if quiet >= QUIET_READS:
            return now
        last = now
    return last


def test_empty_prompt_warns_and_loses_nothing(page):
    page.bring_to_front()
    settled_lengths(page)
    before = answer_texts(page)
    page.fill("#prompt textarea", "   ")
    page.click("#ask")
    page.wait_for_selector("text=Type a question first")
    assert answer_texts(page) == before


def test_an_over_long_prompt_is_refused_and_the_page_stays_usable(page):
    """The server's input limit says so in plain words; the prompt stays in the box and Ask
    comes back (it must not stay on "Running…")."""
    page.bring_to_front()
    settled_lengths(page)
    before = answer_texts(page)
    long_prompt = "x" * 2_500
    page.fill("#prompt textarea", long_prompt)
    page.click("#ask")
    page.wait_for_selector("text=the limit is 2,000")
    page.wait_for_function(
        "() => !document.querySelector('#ask').disabled && "
        "document.querySelector('#ask').innerText.trim() === 'Ask'",
    )
    assert page.input_value("#prompt textarea") == long_prompt
    assert answer_texts(page) == before


def test_stop_halts_both_columns(held_page):
    page, hold = held_page
    ready(page)
    page.fill("#prompt textarea", "Plan a one-day trip to Belize from a cruise ship")
    hold.touch()
    page.click("#ask")
    running(page)
    page.wait_for_function(
        "() => ['#answer-plain', '#answer-search'].every(s => "
        "document.querySelector(s).innerText.includes('More words'))",
    )
    page.click("#stop")
    ready(page)  # both columns ended: Stop reached the engine while the answers were held
    for column in ("plain", "search"):
        page.wait_for_selector(f"#stats-{column}:has-text('stopped')")
    after_stop = lengths(page)
    hold.unlink()
    page.wait_for_timeout(1500)  # settle: a column still writing would have grown by now
    assert lengths(page) == after_stop, "nothing grows after Stop"
    assert page.input_value("#prompt textarea").startswith("Plan a one-day trip to Belize")


def test_a_finished_comparison_shows_tinted_sentences_and_their_evidence(browser, judge_app):
    """tests/judge_app.py answers with a sentence copied from the corpus and a made-up one:
    both columns come back tinted, marked by line style too, and a click shows the passage."""
    page = open_page(browser, judge_app)
    try:
        ready(page)
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        page.click("#ask")
        page.wait_for_selector("#answer-search .gs.gs-supported")
        page.wait_for_selector("#answer-plain .gs.gs-supported")
        ready(page)
        for column in ("plain", "search"):
            box = f"#answer-{column}"
            assert page.locator(f"{box} .gs.gs-unsupported").count() == 1
            assert page.locator(f"{box} .gs.gs-not-checked").count() == 0
            summary = page.inner_text(f"{box} .gs-summary")
            verb = "backed by its sources" if column == "search" else "agree with the sources"
            assert summary.startswith(f"1 of 2 claims {verb} · 1 unsupported"), summary
            assert "not checked" in page.inner_text(f"{box} .gs-legend")
            styles = page.evaluate(
                """(box) => [".gs.gs-supported", ".gs.gs-unsupported"].map(s => getComputedStyle(
                       document.querySelector(box + ' ' + s)).textDecorationStyle)""",
                box,
            )
            assert styles == ["solid", "wavy"], "told apart without colour"
            assert page.locator(f"{box} b").count() == 0, "model HTML stays inert"
        assert "1 of 1 citations back their sentence" in page.inner_text("#answer-search")
        assert page.locator("#answer-search .gs.gs-supported a", has_text="[1]").count() == 1
        supported = page.locator("#answer-search .gs.gs-supported").first
        title = supported.get_attribute("title")
        assert title.startswith("supported · source [1] · A One-Day Trip to Skagway"), title
        assert "Taiya Inlet" in title, "hover shows the evidence"
        supported.click(position={"x": 4, "y": 4})
        panel = page.locator("#answer-search .evidence-panel")
        page.wait_for_function(
            "() => document.querySelector('#answer-search .evidence-panel blockquote')"
        )
        text = panel.inner_text()
        assert text.startswith("supported · source [1]") and "Taiya Inlet" in text, text
        made_up = page.locator("#answer-plain .gs.gs-unsupported").first
        made_up.focus()
        made_up.press("Enter")
        page.wait_for_function(
            """() => document.querySelector('#answer-plain .evidence-panel')
                         .innerText.startsWith('unsupported')"""
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "grounding.png"), full_page=True)
        page.click("#copy-search")
        page.wait_for_function(
            """() => navigator.clipboard.readText().then(t =>
                       t.startsWith('Skagway is a small town') && !t.includes('✓')
                       && !t.includes('claims'))"""
        )
    finally:
        page.context.close()

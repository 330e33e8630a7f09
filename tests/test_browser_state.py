"""The page keeps its state: what is on screen is one comparison, and everything shown with it
(marks, summaries, votes, tools, notes) belongs to it until another replaces it; a refused
action changes nothing but a notice. Real Chromium, real apps (see conftest.py)."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import REPO, _serve, free_port
from test_browser import ARTIFACTS, ask_and_finish, open_page, ready, wait_enabled

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def marks(page) -> list[list[tuple[str, str]]]:
    """Each column's marked sentences: (text, label) in order."""
    return page.evaluate(
        """() => ['#answer-plain', '#answer-search'].map(sel =>
               [...document.querySelectorAll(sel + ' .gs')].map(s =>
                   [s.innerText.trim(), [...s.classList].find(c => c.startsWith('gs-'))]))"""
    )


def vote_state(page) -> dict:
    """The vote line's words (without Gradio's progress text), the buttons, Share."""
    return page.evaluate(
        """() => ({status: [...document.querySelector('#vote-status .prose, #vote-status')
                               .querySelectorAll('p')].map(p => p.innerText.trim()).join(' '),
                   disabled: ['#vote-left', '#vote-right', '#vote-tie', '#vote-bad'].map(
                       s => { const b = document.querySelector(s); return !b || b.disabled; }),
                   share: !!document.querySelector('#share') &&
                          document.querySelector('#share').offsetParent !== null})"""
    )


def unlabelled_visible_fields(page) -> list[str]:
    """Visible text fields whose label is Gradio's default ("Textbox") or missing."""
    return page.evaluate(
        """() => [...document.querySelectorAll('textarea, input[type=text]')]
               .filter(e => e.offsetParent !== null)
               .map(e => { const box = e.closest('.block, label');
                           const label = box && box.querySelector('[data-testid="block-info"]');
                           return [e.closest('[id]') ? e.closest('[id]').id : '',
                                   label ? label.innerText.trim() : '']; })
               .filter(([id, label]) => !label || label === 'Textbox')
               .map(([id]) => id)"""
    )


def test_a_vote_keeps_the_judges_marks_and_adds_no_stray_field(browser, judge_app):
    page = open_page(browser, judge_app)
    try:
        ready(page)
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        ask_and_finish(page)
        page.wait_for_selector("#answer-search .gs.gs-supported")
        before = marks(page)
        assert all(before), "both columns are marked"
        summaries = [page.inner_text(f"#answer-{c} .gs-summary") for c in ("plain", "search")]
        page.click("#vote-tie")
        page.wait_for_selector("#vote-status:has-text('your vote is in')")
        assert marks(page) == before, "the same sentences with the same labels"
        after = [page.inner_text(f"#answer-{c} .gs-summary") for c in ("plain", "search")]
        assert after == summaries and page.locator(".gs-legend").count() == 2
        assert unlabelled_visible_fields(page) == [], "no field without a label"
        cid = page.evaluate("() => document.querySelector('#comparison-id textarea').value")
        link = page.context.new_page()
        link.goto(f"{judge_app}?c={cid}")
        link.wait_for_selector("#record-note:has-text('stored comparison')")
        assert marks(link) == before, "a permalink shows the same marks"
        link.close()
    finally:
        page.context.close()


def test_a_refused_ask_leaves_the_comparison_on_screen_as_it_was(browser, judge_app):
    page = open_page(browser, judge_app)
    try:
        ready(page)
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        ask_and_finish(page)
        wait_enabled(page, "#vote-tie")
        page.wait_for_selector("#share", state="visible")
        before, shown = vote_state(page), marks(page)
        for prompt, notice in (("   ", "Type a question first"), ("x" * 30_000, "the limit is")):
            page.fill("#prompt textarea", prompt)
            page.click("#ask")
            page.wait_for_selector(f"text={notice}")
            ready(page)
            assert vote_state(page) == before, f"{notice}: the vote line and buttons stay"
            assert marks(page) == shown
            assert page.input_value("#prompt textarea") == prompt, "the prompt stays"
    finally:
        page.context.close()


def test_the_settings_offer_no_more_than_the_server_gives(page_1280):
    page = page_1280
    page.click("#settings")
    box = page.locator("#max-new-tokens input[type=range]")
    box.wait_for(state="attached")
    assert box.get_attribute("max") == "1024", "the server's --max-new-tokens-cap"
    assert page.locator("#pages input[type=range]").get_attribute("max") == "10"


def test_copy_says_it_copied(page_1280):
    page = page_1280
    ready(page)
    page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
    ask_and_finish(page)
    page.click("#copy-plain")
    page.wait_for_selector("#copy-plain:has-text('Copied')")
    page.wait_for_selector("#copy-plain:has-text('Copy')")
    page.wait_for_selector("#copy-markdown", state="visible")
    page.click("#copy-markdown")
    page.wait_for_selector("#copy-markdown:has-text('Copied')")
    markdown = page.evaluate("() => navigator.clipboard.readText()")
    assert markdown.startswith("# Search Duel:")


def test_with_search_off_there_is_nothing_to_vote_on(page_1280):
    page = page_1280
    ready(page)
    if not page.locator("#provider").is_visible():
        page.click("#settings")
    page.locator("#provider input").click()
    page.get_by_role("option", name="off", exact=True).click()
    page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
    ask_and_finish(page)
    page.wait_for_selector("#vote-status:has-text('nothing to vote on')")
    assert not page.locator("#vote-right").is_visible(), "no 'Search on better'"


def test_before_the_first_question_the_columns_line_up_and_no_vote_bar_shows(page_1280):
    fresh = open_page(page_1280.context.browser, page_1280.url)
    try:
        ready(fresh)
        tops = fresh.evaluate(
            "() => ['#copy-plain', '#copy-search'].map(s => "
            "document.querySelector(s).getBoundingClientRect().top)"
        )
        assert abs(tops[0] - tops[1]) < 2, tops
        assert not fresh.locator("#vote-row").is_visible()
        assert not fresh.locator("#vote-reason").is_visible()
    finally:
        fresh.context.close()


def test_on_a_phone_the_prompt_takes_the_whole_width(browser, app_url):
    page = open_page(browser, app_url, width=420)
    try:
        widths = page.evaluate(
            "() => ['#prompt', '#ask-row'].map(s => "
            "document.querySelector(s).getBoundingClientRect().width)"
        )
        assert widths[0] >= widths[1] - 40, widths
        page.screenshot(path=str(ARTIFACTS / "narrow-start.png"), full_page=True)
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def page_1280(browser, app_url):
    page = open_page(browser, app_url)
    ready(page)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def missing_model_app():
    """app.py started on a model folder that does not exist: it serves and says why."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(REPO / "app.py"), "--model", "./models/tinyy", "--search", "local",
           "--port", str(port)]  # fmt: skip
    yield from _serve(cmd, env, ".missing_app.log", port)


def test_a_missing_model_is_explained_on_the_page_and_an_example_only_says_so(
    browser, missing_model_app
):
    page = open_page(browser, missing_model_app)
    try:
        page.wait_for_selector("#load-status:has-text('There is no folder ./models/tinyy')")
        assert "tiny-model" in page.inner_text("#load-status"), "with the fix"
        assert page.locator("#ask").is_disabled()
        page.locator("button", has_text="Plan a one-day trip to Skagway, Alaska").first.click()
        page.wait_for_selector("text=There is no folder ./models/tinyy")
        page.wait_for_timeout(1000)  # settle: an error badge would have appeared by now
        columns = page.inner_text("#duel")
        assert "Error" not in columns and page.locator("#duel .error").count() == 0
        assert page.inner_text("#ask").strip() == "Ask"
    finally:
        page.context.close()

"""A real Chromium votes: blind mode, the reveal, one vote each, Results, history, permalinks.

One comparison (blind, on the tiny model) is run once for the module; the tests then look at
it from several pages of one browser (one localStorage: the same visitor). The store is the
real SQLite file of the launched app (`app_data_dir`).
"""

from __future__ import annotations

import json
from urllib.parse import urljoin

import pytest

from conftest import ADMIN_TOKEN
from searchduel.store import Store
from test_browser import ARTIFACTS, ask_and_finish, open_fold, open_page, ready, wait_enabled

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VOTES = ("#vote-left", "#vote-right", "#vote-tie", "#vote-bad")
PROMPT = "Who flew on Apollo 11, and when did they land on the Moon?"


def votes_disabled(page) -> list[bool]:
    """Each button disabled (a button not on the page cannot be clicked either)."""
    js = "(ids) => ids.map(s => { const b = document.querySelector(s); return !b || b.disabled; })"
    return page.evaluate(js, list(VOTES))


def results_summary(page) -> str:
    page.get_by_role("tab", name="Results").click()
    page.wait_for_function(
        "() => !document.querySelector('#results-summary').innerText.includes('Open this tab')",
    )
    return page.inner_text("#results-summary")


def refreshed_summary(page, before: str) -> str:
    page.get_by_role("tab", name="Duel").click()
    page.get_by_role("tab", name="Results").click()
    page.wait_for_function(
        "(b) => document.querySelector('#results-summary').innerText !== b",
        arg=before,
    )
    return page.inner_text("#results-summary")


@pytest.fixture(scope="module")
def blind_run(browser, app_url, app_data_dir):
    """A finished blind comparison on one page: (page, comparison id, Results text before)."""
    page = open_page(browser, app_url)
    ready(page)
    before = results_summary(page)
    page.get_by_role("tab", name="Duel").click()
    page.check("#blind input")
    # short answers: the module's run stays quick on a busy machine
    box = page.locator("#max-new-tokens input[type=number]")
    if not box.is_visible():
        page.click("#settings")
    box.wait_for(state="visible")
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    # On a loaded machine a late update of the page (its load event) can put the default back
    # over what was typed: type again until the value holds.
    for _ in range(5):
        box.fill("48")
        box.press("Enter")
        box.blur()
        try:
            page.wait_for_function(
                "() => document.querySelector('#max-new-tokens input[type=number]').value === '48'",
                timeout=6000,
            )
            break
        except PlaywrightTimeoutError:
            continue
    else:
        pytest.fail("the max-new-tokens box never kept the value 48")
    page.wait_for_timeout(300)  # the slider hands its value to the app on change
    page.fill("#prompt textarea", PROMPT)
    seen = ask_and_finish(page)
    # a button not there yet (the bar appears with the run) cannot be clicked either
    during = [all(s["votes"][i] is not False for s in seen) for i in range(len(VOTES))]
    wait_enabled(page, "#vote-left")
    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        newest = store.recent(1)[0]
    assert newest["prompt"] == PROMPT
    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        assert store.get(newest["id"]).tokens["plain"] <= 48
    yield page, newest["id"], before, during
    page.context.close()


def test_votes_are_disabled_while_the_answers_stream(blind_run):
    _page, _cid, _before, during = blind_run
    assert during == [True] * 4, "no vote on half-finished answers"


def test_blind_mode_shows_a_and_b_without_sources_until_the_vote(blind_run, app_url, app_data_dir):
    page, cid, before, _during = blind_run
    assert page.inner_text("#title-left").strip() == "A"
    assert page.inner_text("#title-right").strip() == "B"
    assert page.inner_text("#vote-left").strip() == "A is better"
    for hidden in ("#sources", "#stats-plain", "#stats-search", "#search-notice"):
        text = page.evaluate(
            "(s) => { const e = document.querySelector(s); return e ? e.innerText.trim() : ''; }",
            hidden,
        )
        assert not text, f"{hidden} would tell which side searched: {text!r}"
    for fold in ("#trace", "#prompt-plain", "#prompt-search"):
        assert not page.locator(fold).is_visible(), f"{fold} would tell which side searched"
    assert not page.locator("#share").is_visible(), "no link before the vote"
    held = page.evaluate("() => document.querySelector('#comparison-id textarea')?.value || ''")
    assert held == "", "no id before the vote"
    assert cid not in page.content(), "nothing on the page names the comparison yet"
    assert PROMPT[:30] not in page.inner_text("#history"), "not in the history before the vote"
    assert (
        page.locator("#answer-plain a").count() == 0
        and page.locator("#answer-search a").count() == 0
    )
    assert page.inner_text("#answer-plain").strip() and page.inner_text("#answer-search").strip()

    # a second page of the same browser opens the link before the vote is cast (the id reached
    # the test through the store, as a leaked link would): the sides are then known, so the
    # vote that follows is not stored as blind
    other = page.context.new_page()
    other.goto(f"{app_url}?c={cid}", wait_until="load")
    other.wait_for_function(
        "() => { const n = document.querySelector('#record-note');"
        " return n && n.innerText.includes('stored comparison'); }",
    )
    wait_enabled(other, "#vote-tie")

    page.fill("#vote-reason textarea, #vote-reason input", "clearer  and\nshorter")
    page.click("#vote-right")
    page.wait_for_function("() => document.querySelector('#title-left').innerText.includes('·')")
    left = page.inner_text("#title-left")
    right = page.inner_text("#title-right")
    assert {left.split("·")[1].strip(), right.split("·")[1].strip()} == {"Search off", "Search on"}
    assert left.startswith("A") and right.startswith("B")
    searched, other_side = ("-left", "") if "Search on" in left else ("", "-left")
    assert page.inner_text(f"#sources{searched}").strip(), "sources revealed"
    assert page.locator(f"#trace{searched}").is_visible(), "under the column that searched"
    assert not page.locator(f"#sources{other_side}").is_visible()
    assert not page.locator(f"#trace{other_side}").is_visible()
    assert "Thanks, your vote is in" in page.inner_text("#vote-status")
    assert votes_disabled(page) == [True] * 4, "one vote each"
    assert page.locator("#share").is_visible()

    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        (vote,) = store.votes(cid)
    left_column = "search" if "Search on" in left else "plain"
    assert vote.left_column == left_column, "the side shown is recorded"
    assert not vote.blind, "the sides were shown in the other page before the vote"
    assert vote.reason == "clearer and shorter"
    assert vote.choice == ("plain" if left_column == "search" else "search"), "right = B"

    after = refreshed_summary(page, before)
    assert "vote" in after and after != before

    # the other page still offers the buttons: the second vote is refused
    other.click("#vote-tie")
    other.wait_for_selector("text=already voted")
    assert all(votes_disabled(other))
    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        assert len(store.votes(cid)) == 1
    other.close()
    page.get_by_role("tab", name="Duel").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "blind-after-vote.png"), full_page=True)


def test_share_copies_a_permalink_that_round_trips(blind_run, app_data_dir):
    page, cid, _before, _during = blind_run
    page.wait_for_selector("#share", state="visible")
    page.click("#share")
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert link.endswith(f"?c={cid}")
    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        store.set_grounding(cid, {"supported": 0.5, "sentences": 4})  # as the judge would
        record = store.get(cid)
    view = page.context.new_page()
    try:
        view.goto(link, wait_until="load")
        view.wait_for_function(
            "() => { const n = document.querySelector('#record-note');"
            " return n && n.innerText.includes('stored comparison'); }",
        )
        assert view.input_value("#prompt textarea") == record.prompt
        assert view.inner_text("#title-left").strip() == "Search off"
        shown = view.inner_text("#answer-plain").split()
        assert shown and shown[:3] == record.plain_answer.split()[:3]
        assert view.locator("#sources a").count() == len(record.sources) > 0
        assert "You have voted" in view.inner_text("#vote-status")
        assert view.inner_text("#grounding").strip() == "Grounding: supported 50% · sentences 4"
        assert all(votes_disabled(view)), "this browser has voted already"
        view.click("#copy-markdown")
        md = view.evaluate("() => navigator.clipboard.readText()")
        assert "## Search off" in md and "## Search on" in md and f"?c={cid}" in md
        with view.expect_download() as info:
            view.click("#download-json")
        data = json.loads(info.value.path().read_text("utf-8"))
        assert data["id"] == cid and data["prompt"] == record.prompt
        assert "session_hash" not in data
    finally:
        view.close()


def test_history_lists_the_comparison_and_shows_it_again(blind_run):
    page, cid, _before, _during = blind_run
    page.reload(wait_until="load")
    page.wait_for_selector("#prompt textarea")
    page.locator("#history-panel .toggle-button").click()
    item = page.locator("#history label", has_text=PROMPT[:40]).first
    item.wait_for(state="visible")
    item.click()
    page.wait_for_function(
        "() => document.querySelector('#record-note').innerText.includes('comparison of yours')",
    )
    assert page.input_value("#comparison-id textarea") == cid


def test_an_unknown_link_gets_a_friendly_message_and_the_page_works(browser, app_url):
    for wanted in ("nope", "A" * 22):
        page = open_page(browser, f"{app_url}?c={wanted}")
        try:
            page.wait_for_function(
                "() => document.querySelector('#record-note').innerText.includes('does not open')",
            )
            ready(page)
            assert "Traceback" not in page.inner_text("body")
        finally:
            page.context.close()


def test_results_exports_download_without_session_hashes(blind_run):
    """The operator's exports (the app runs with --admin-token): the token unlocks them."""
    page, cid, _before, _during = blind_run
    page.get_by_role("tab", name="Results").click()
    open_fold(page, "#operator", "#admin-token input")
    page.fill("#admin-token input", ADMIN_TOKEN)
    for fmt in ("jsonl", "csv"):
        page.click(f"#export-{fmt}")
        link = page.locator(f"#export-file a[href*='.{fmt}']").first
        link.wait_for(state="attached")
        body = page.request.get(urljoin(page.url, link.get_attribute("href"))).text()
        assert cid in body and "session_hash" not in body, fmt
        if fmt == "jsonl":
            (mine,) = [json.loads(x) for x in body.splitlines() if cid in x]
            assert mine["votes"][0]["blind"] is False, "its sides were shown before the vote"
    page.get_by_role("tab", name="Duel").click()

"""Hostile markup written by a model or an uploaded file reaches a real Chromium as text.

tests/markup_app.py answers, in both columns, with markup aimed at a recording HTTP server
on 127.0.0.1 (an image inside a code span closed by a longer backtick run, a password form,
autoplaying video and audio, an iframe, an SVG image, LaTeX, images in Markdown); a question
file carries the same in its id and question. The test asks, opens the comparison's
permalink in a second page and runs the file in the Batch tab; it checks that every element
in the answers and the report is one the render path allows (tests/safe_html.py), that no
element that loads, asks or plays exists at any moment, even half-written, and that the
recorder got no request.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import REPO, _serve, free_port
from safe_html import ELEMENTS
from test_browser import ARTIFACTS, open_page, ready, upload
from test_browser_exfil import Recorder

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FORBIDDEN = (
    "img, image, picture, source, video, audio, track, iframe, frame, object, embed, form, "
    "input, button, textarea, select, svg, math, script, style, link, meta, base, .katex, "
    ".mermaid"
)
# every rendered Markdown block inside `box`: our HTML, as the browser built it
CHECK = """([box, allowed, forbidden, port]) => {
    const el = document.querySelector(box);
    if (!el) return {roots: 0, problems: ['no ' + box], text: ''};
    const roots = [...el.querySelectorAll('[data-testid="markdown"] span.md > *')];
    const problems = [];
    for (const root of roots) {
        for (const node of [root, ...root.querySelectorAll('*')]) {
            if (!allowed.includes(node.localName)) problems.push(node.outerHTML.slice(0, 80));
            if (node.localName === 'a') {
                const href = node.getAttribute('href') || '';
                const ok = /^https?:\\/\\/[^/]/.test(href) || href.startsWith('/corpus/');
                if (!ok || node.target !== '_blank' || node.rel !== 'noopener noreferrer')
                    problems.push(node.outerHTML.slice(0, 120));
            }
        }
    }
    for (const node of el.querySelectorAll('[data-testid="markdown"] :is(' + forbidden + ')'))
        problems.push('forbidden ' + node.outerHTML.slice(0, 80));
    return {roots: roots.length, problems, text: el.innerText};
}"""
# keeps, from now on, any forbidden element that ever appears in the page's Markdown
WATCH = """(forbidden) => {
    window.__seen = [];
    const look = () => {
        for (const node of document.querySelectorAll(
                '[data-testid="markdown"] :is(' + forbidden + ')'))
            if (window.__seen.length < 50) window.__seen.push(node.outerHTML.slice(0, 80));
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                       attributes: true});
}"""


@pytest.fixture(scope="module")
def markup_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile-data")
    with Recorder() as recorder:
        port = free_port()
        env = {
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONUNBUFFERED": "1",
            "SEARCHDUEL_RATE_LIMIT": "0",
        }
        cmd = [
            sys.executable,
            str(REPO / "tests" / "markup_app.py"),
            str(port),
            str(recorder.port),
            str(data),
        ]
        for url in _serve(cmd, env, ".markup_app.log", port):
            yield url, recorder


def check(page, box: str, port: int) -> str:
    """Assert that `box` shows only allowed elements and safe links; its text."""
    found = page.evaluate(CHECK, [box, sorted(ELEMENTS), FORBIDDEN, str(port)])
    assert found["roots"] >= 1, f"{box}: nothing rendered"
    assert found["problems"] == [], f"{box}: {found['problems']}"
    return found["text"]


def test_hostile_markup_is_text_in_answers_permalinks_and_the_batch_report(
    browser, markup_app, tmp_path
):
    url, recorder = markup_app
    spy = f"http://127.0.0.1:{recorder.port}"
    page = open_page(browser, url)
    try:
        page.evaluate(WATCH, FORBIDDEN)
        ready(page)
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        page.click("#ask")
        for column in ("plain", "search"):  # the judge's verdict ends the comparison
            page.wait_for_selector(f"#answer-{column} .grounding")
        ready(page)
        for column in ("plain", "search"):
            text = check(page, f"#answer-{column}", recorder.port)
            assert f"``<img src={spy}/code-span>```" in text, "shown as written"
            assert "<input type=password name=p>" in text and "$$\\href{" in text
            assert page.locator(f"#answer-{column} .gs.gs-supported").count() >= 1, "tinted"
        assert page.locator("#answer-search a", has_text="[1]").count() == 1
        page.screenshot(path=str(ARTIFACTS / "hostile-answers.png"), full_page=True)

        page.wait_for_function("() => document.querySelector('#comparison-id textarea').value")
        cid = page.input_value("#comparison-id textarea")
        stored = open_page(browser, f"{url}?c={cid}", width=420)
        try:
            stored.evaluate(WATCH, FORBIDDEN)
            stored.wait_for_selector("#answer-search :text('code-span')")
            stored.wait_for_selector("#answer-plain :text('code-span')")
            for column in ("plain", "search"):
                text = check(stored, f"#answer-{column}", recorder.port)
                assert f"<audio autoplay src={spy}/audio></audio>" in text
            stored.screenshot(path=str(ARTIFACTS / "hostile-permalink-420.png"), full_page=True)
            assert stored.evaluate("() => window.__seen") == []
        finally:
            stored.context.close()

        questions = tmp_path / "hostile.jsonl"
        hostile_id = f"``<img src={spy}/id>``` <video autoplay src={spy}/id-video>"
        item = {"id": hostile_id, "question": f"Skagway? ``<img src={spy}/question>```"}
        questions.write_text(json.dumps(item) + "\n", "utf-8")
        page.get_by_role("tab", name="Batch").click()
        upload(page, "#batch-file", questions)
        page.click("#batch-run")
        page.wait_for_selector("#batch-report h1", timeout=120000)
        text = check(page, "#batch-report", recorder.port)
        for shown in (f"<img src={spy}/id>", f"<video autoplay src={spy}/id-video>"):
            assert shown in text, "the id's markup is shown as written"
        assert f"<img src={spy}/question>" in text
        page.screenshot(path=str(ARTIFACTS / "hostile-batch.png"), full_page=True)
        page.wait_for_timeout(1500)  # settle: a load or a request would have started by now
        seen = page.evaluate("() => window.__seen")
    finally:
        page.context.close()
    assert seen == [], f"forbidden elements appeared while the answers streamed: {seen}"
    assert recorder.paths == [], f"the page made requests: {recorder.paths}"

"""The demo writer (--backend demo): no model, answers copied from the sources with their
[n] and one sentence made up, so the judge's marks show without a GPU; labelled as such."""

from __future__ import annotations

import json
import os
import sys
import threading

import pytest

from conftest import REPO, _serve, free_port
from searchduel.cli import main
from searchduel.llm.demo import MADE_UP, DemoBackend, write
from searchduel.rag.prompts import new_nonce, search_prompt, source_block

SOURCES = {
    1: "Skagway is a small town at the head of Taiya Inlet in Alaska. It is busy in summer.",
    2: "The White Pass railway climbs from Skagway to the summit of the pass in two hours.",
}


def prompt(question: str = "What is there to do in Skagway, Alaska?") -> str:
    nonce = new_nonce()
    blocks = [source_block(n, f"Source {n}", body, nonce) for n, body in SOURCES.items()]
    return search_prompt(question, "\n\n".join(blocks), nonce)


def test_the_search_answer_copies_source_sentences_with_their_number_and_makes_one_up():
    answer = write(prompt())
    assert write(prompt()) == answer, "the same sources give the same answer"
    assert "[1]" in answer and "[2]" in answer
    for sentence in (
        "Skagway is a small town at the head of Taiya Inlet in Alaska [1].",
        "The White Pass railway climbs from Skagway to the summit of the pass in two hours [2].",
    ):
        assert sentence in answer
    assert any(answer.endswith(made_up) for made_up in MADE_UP)


def test_the_plain_answer_cites_nothing_and_the_backend_streams_and_stops():
    plain = write("What is there to do in Skagway?")
    assert "[" not in plain and "Skagway" in plain
    backend = DemoBackend(word_delay=0)
    messages = [{"role": "user", "content": prompt()}]
    pieces = list(backend.stream(messages, max_new_tokens=5))
    assert len(pieces) == 5 and all(p.tokens == 1 for p in pieces)
    stop = threading.Event()
    stop.set()
    assert list(backend.stream(messages, max_new_tokens=50, stop=stop)) == []
    assert backend.count_tokens(messages) > backend.count_text_tokens(messages[0]["content"])


def test_ask_with_the_demo_writer_shows_the_judge_at_work(capsys):
    code = main(
        ["ask", "Plan a one-day trip to Skagway, Alaska", "--backend", "demo", "--search",
         "local", "--dense", "false", "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    labels = [s["label"] for s in out["search"]["grounding"]["sentences"]]
    assert "supported" in labels and labels[-1] == "unsupported", labels
    assert "[1]" in out["search"]["answer"]


@pytest.fixture(scope="module")
def demo_app():
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "SEARCHDUEL_STORE": "false"}  # fmt: skip
    cmd = [sys.executable, str(REPO / "app.py"), "--backend", "demo", "--search", "local",
           "--dense", "false", "--port", str(port)]  # fmt: skip
    yield from _serve(cmd, env, ".demo_app.log", port)


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_says_it_is_no_model_and_shows_citations_and_marks(browser, demo_app):
    from test_browser import ARTIFACTS, ask_and_finish, open_page, ready

    page = open_page(browser, demo_app)
    try:
        ready(page)
        banner = page.locator("#test-model-banner")
        banner.wait_for(state="visible")
        assert "no language model" in banner.inner_text()
        assert "demo writer" in page.inner_text("#model-line")
        page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
        ask_and_finish(page)
        page.wait_for_selector("#answer-search .gs.gs-supported a:has-text('[1]')")
        assert page.locator("#answer-search .gs.gs-unsupported").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    finally:
        page.context.close()

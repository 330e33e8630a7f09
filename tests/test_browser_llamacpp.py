"""The page on llama.cpp: `python app.py --backend llamacpp --model tiny.gguf` in Chromium.

The tiny GGUF (written at test time from the tiny random Phi-3) runs in-process; the page
names it, both columns stream from it, and Stop halts them. Tests wait for conditions,
except to show that something did NOT happen (then a short settle).
"""

from __future__ import annotations

import os
import sys
from itertools import pairwise

import pytest

from conftest import REPO, _serve, free_port, require_llama_cpp
from test_browser import ask_and_record_lengths, lengths, open_page, ready, watch_runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def llama_app_url(tiny_gguf, tmp_path_factory):
    """app.py on the tiny GGUF through llama.cpp and the offline corpus."""
    require_llama_cpp()
    port = free_port()
    env = {
        **os.environ,
        # llama.cpp writes the tiny model's 320 tokens in ~0.1 s: longer answers give the
        # page several updates to show
        "SEARCHDUEL_MAX_NEW_TOKENS": "1024",
        "SEARCHDUEL_DENSE": "false",
        "SEARCHDUEL_DATA_DIR": str(tmp_path_factory.mktemp("llama-app-data")),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "SEARCHDUEL_RATE_LIMIT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, str(REPO / "app.py"), "--backend", "llamacpp"]
    cmd += ["--model", str(tiny_gguf), "--search", "local", "--port", str(port)]
    yield from _serve(cmd, env, ".llama_app.log", port)


@pytest.fixture(scope="module")
def page(browser, llama_app_url):
    page = open_page(browser, llama_app_url)
    ready(page)
    yield page
    page.context.close()


def test_the_model_line_names_the_gguf_and_llama_cpp(page):
    line = page.inner_text("#model-line")
    assert "tiny.gguf" in line and "F32 GGUF on CPU (llama.cpp)" in line
    assert "4,096-token window" in line and "local" in line
    page.locator("#test-model-banner").wait_for(state="visible")


def test_both_columns_stream_from_the_gguf(page):
    page.fill("#prompt textarea", "Plan a one-day trip to Skagway, Alaska")
    samples = ask_and_record_lengths(page)
    grew = [
        sum(1 for a, b in pairwise(samples) if b[col] > a[col] and a[col] > 0) for col in (1, 2)
    ]
    assert min(samples[-1][1:]) > 0, f"both columns answered: {samples[-1]}"
    assert grew[0] >= 1 and grew[1] >= 1, f"each column grew after its first text: {grew}"
    page.click("#trace")
    page.wait_for_selector("#trace-body table")
    assert "prefill and first token" in page.inner_text("#trace")


def test_stop_halts_both_columns(page):
    ready(page)
    page.fill("#prompt textarea", "Plan a one-day trip to Belize from a cruise ship")
    watch_runs(page)
    page.click("#ask")
    page.wait_for_function("() => window.__during.length > 0")  # the run was taken
    # Stop, pressed from the page's own script while it is enabled: on a fast machine the
    # whole run may be over by then, and Playwright's click would wait for it in vain
    page.evaluate(
        "() => { const b = document.querySelector('#stop'); if (!b.disabled) b.click(); }"
    )
    ready(page)
    after_stop = lengths(page)
    page.wait_for_timeout(1500)  # settle: nothing may grow
    assert lengths(page) == after_stop

"""A hostile document never makes the page load a remote resource, in a real Chromium.

The app runs on its own offline corpus (a folder written here) that holds a Markdown and an
HTML document carrying every image form this project knows of, each aimed at a recording
HTTP server on 127.0.0.1. A question that retrieves them runs to the end; the sources, the
trace and both "what the model was given" fold-outs are opened; the recorder must have seen
no request.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REPO, _serve, free_port
from test_browser import ask_and_finish, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Recorder:
    """An HTTP server on 127.0.0.1 that notes every request it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def hostile_corpus(folder, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    (folder / "skagway-tides.md").write_text(
        f"---\ntitle: Skagway tide tables ![t]({base}/exfil-title?q=secret)\n---\n\n"
        f"# Skagway tide tables <img src={base}/exfil-heading>\n\n"
        "Skagway tide tables: high water in Skagway harbour comes twice a day, and the tide "
        "tables for Skagway list each high and low water for the cruise ship docks.\n\n"
        f"![x]({base}/exfil?q=secret) <img src={base}/exfil2> ![r][ref] ![short]\n\n"
        f'[ref]: {base}/exfil-ref\n[short]: {base}/exfil-short\n\n<svg><image href="{base}'
        '/exfil-svg"/></svg>\n\nThe Skagway tide tables matter for the White Pass railway '
        "and the harbour walks at low tide in Skagway.\n",
        "utf-8",
    )
    (folder / "skagway-harbour.html").write_text(
        "<html><head><title>Skagway harbour tides</title></head><body><article>"
        "<h1>Skagway harbour tides</h1><p>Skagway tide tables for the harbour: the tide in "
        f"Skagway rises about five metres. <img src='{base}/exfil-html'> "
        f"![y]({base}/exfil-html-md?q=secret) &lt;img src={base}/exfil-entity&gt;</p>"
        "<p>Skagway tide tables also list the low water for the beach walk.</p>"
        "</article></body></html>",
        "utf-8",
    )


@pytest.fixture(scope="module")
def hostile_app(tiny_model_dir, tmp_path_factory):
    import os

    corpus = tmp_path_factory.mktemp("hostile-corpus")
    with Recorder() as recorder:
        hostile_corpus(corpus, recorder.port)
        port = free_port()
        env = {
            **os.environ,
            "SEARCHDUEL_MAX_NEW_TOKENS": "16",
            "SEARCHDUEL_DENSE": "false",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "SEARCHDUEL_RATE_LIMIT": "0",  # the tests ask far more than a visitor would
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable,
            str(REPO / "app.py"),
            "--model",
            str(tiny_model_dir),
            "--search",
            "local",
            "--corpus",
            str(corpus),
            "--port",
            str(port),
        ]
        yield from ((url, recorder) for url in _serve(cmd, env, ".app-exfil.log", port))


def test_a_hostile_document_makes_the_browser_load_nothing(hostile_app, browser):
    url, recorder = hostile_app
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#prompt textarea")
        ready(page)
        page.fill("#prompt textarea", "Skagway tide tables")
        ask_and_finish(page)  # the comparison has finished
        for fold in ("#prompt-plain", "#prompt-search", "#trace"):
            page.click(fold)
        page.wait_for_selector("#trace-body table")
        page.wait_for_selector("#given-search :text('exfil')")
        sources = page.inner_text("#sources")
        assert "Skagway tide tables" in sources, "the hostile document was retrieved"
        assert "skagway-harbour.html" in page.inner_text("#trace-body")
        page.wait_for_timeout(1500)  # settle: a load would have started by now
        loaded = page.evaluate(
            """(port) => [...document.querySelectorAll('img, image, svg image, source')]
                   .map(e => e.getAttribute('src') || e.getAttribute('href') || '')
                   .filter(s => s.includes(':' + port))""",
            str(recorder.port),
        )
        anchors = page.evaluate(
            """(port) => [...document.querySelectorAll('a')]
                   .filter(a => a.href.includes(':' + port))
                   .map(a => [a.target, a.rel])""",
            str(recorder.port),
        )
    finally:
        page.close()
    assert recorder.paths == [], f"the page made requests: {recorder.paths}"
    assert loaded == [], f"image elements aimed at the recorder: {loaded}"
    for target, rel in anchors:
        assert target == "_blank" and "noopener" in rel and "noreferrer" in rel

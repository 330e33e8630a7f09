"""`bench search`: what the provider chain costs on top of the provider, and what it saves.

A local server plays html.duckduckgo.com: it answers POST /html/ after a fixed latency
(`--search-latency`, default 50 ms; the real service takes several times that, so the
overhead ratio measured here is a pessimistic bound) with a saved real results page when
../shared/data/serp is present, else a generated page of the same shape. Measured, each a
median over `--search-rounds` rounds, provider and chain interleaved so drift hits both:

- provider alone: DuckDuckGoHtml.search (request + parse)
- through the chain: SearchChain.search with a fresh query each round (no cache hits) and
  spacing 0: the spacing is a deliberate pause between requests, not overhead
- cached repeat: the same query again through the chain
- block reported: the time until SearchBlocked when html and lite both answer the bot
  challenge, with the default chain settings

Targets: chain / provider <= 1.10, cached / provider <= 0.05, block reported <= 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from ..errors import SearchBlocked
from . import Result, check

SUITE = "search"
SERP_PAGE = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "serp"
    / "ddg_html_caffeine__desimoose-celina.html"
)
TARGET_OVERHEAD = "<= 1.10"
TARGET_CACHED = "<= 0.05"
TARGET_BLOCK_S = "<= 3"

_CHALLENGE = (
    "<html><body><form id='challenge-form' action='//duckduckgo.com/anomaly.js?sv=html'>"
    "<div class='anomaly-modal__title'>Unfortunately, bots use DuckDuckGo too.</div>"
    "</form></body></html>"
)


def _synthetic_page(n: int = 10) -> str:
    """A results page in the html endpoint's shape, for machines without ../shared."""
    blocks = []
    for i in range(n):
        target = f"https%3A%2F%2Fsite{i}.example%2Farticle%2F{i}"
        link = f"//duckduckgo.com/l/?uddg={target}&amp;rut={i:064x}"
        blocks.append(
            f'<div class="result results_links results_links_deep web-result">'
            f'<div class="links_main links_deep result__body"><h2 class="result__title">'
            f'<a rel="nofollow" class="result__a" href="{link}">Result {i} about '
            f"<b>caffeine</b></a></h2><div class='result__extras'>"
            f"<div class='result__extras__url'><a class='result__url' href='{link}'>"
            f"site{i}.example/article/{i}</a><span>2025-01-0{i % 9 + 1}T00:00:00</span>"
            f"</div></div><a class='result__snippet' href='{link}'>How <b>caffeine</b> "
            f"affects <b>sleep</b>, part {i} &amp; more.</a></div></div>"
        )
    return f"<html><body><div id='links'>{''.join(blocks)}</div></body></html>"


class _FakeDuckDuckGo:
    """POST /html/ and /lite/ on 127.0.0.1, after `latency` seconds."""

    def __init__(self, page: str, latency: float) -> None:
        self.page = page.encode("utf-8")
        self.latency = latency
        self.challenge = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                time.sleep(outer.latency)
                body = _CHALLENGE.encode() if outer.challenge else outer.page
                self.send_response(202 if outer.challenge and self.path == "/lite/" else 200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> _FakeDuckDuckGo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench search`."""
    parser.add_argument(
        "--search-rounds", type=int, default=20, metavar="N", help="bench search: rounds"
    )
    parser.add_argument(
        "--search-latency",
        type=float,
        default=0.05,
        metavar="S",
        help="bench search: seconds the fake DuckDuckGo waits before answering",
    )


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(args: argparse.Namespace, settings: object = None) -> list[Result]:
    """Measure provider vs chain vs cached repeat, and how fast a block is reported."""
    from ..search.chain import SearchChain
    from ..search.duckduckgo import DuckDuckGoHtml, DuckDuckGoLite

    rounds = max(3, int(getattr(args, "search_rounds", 20) or 20))
    latency = float(getattr(args, "search_latency", 0.05) or 0.0)
    if SERP_PAGE.exists():
        page, source = SERP_PAGE.read_text(encoding="utf-8"), "a saved real DuckDuckGo page"
    else:
        page, source = _synthetic_page(), "a generated page (../shared absent)"

    with _FakeDuckDuckGo(page, latency) as server, httpx.Client(trust_env=False) as client:
        provider = DuckDuckGoHtml(client, base_url=server.url)
        chain = SearchChain([provider], spacing_s=0.0)
        provider.search("warm up")  # connection set-up and imports out of the numbers
        alone, chained, cached = [], [], []
        n_hits = 0
        for i in range(rounds):
            query = f"does caffeine affect sleep {i}"
            alone.append(_timed(lambda q=query: provider.search(q)))
            chained.append(_timed(lambda q=query: chain.search(q)))
            cached.append(_timed(lambda q=query: chain.search(q)))
            n_hits = len(chain.search(query).hits)

        server.challenge = True
        endpoints = {"base_url": server.url}
        blocked_chain = SearchChain(
            [DuckDuckGoHtml(client, **endpoints), DuckDuckGoLite(client, **endpoints)]
        )
        t0 = time.perf_counter()
        try:
            blocked_chain.search("does caffeine affect sleep")
            block_s, block_note = time.perf_counter() - t0, "NOT reported as a block"
        except SearchBlocked:
            block_s, block_note = time.perf_counter() - t0, "SearchBlocked from html and lite"

    p_ms = statistics.median(alone) * 1000
    c_ms = statistics.median(chained) * 1000
    r_ms = statistics.median(cached) * 1000
    overhead = c_ms / p_ms
    cached_ratio = r_ms / p_ms
    note = f"{rounds} rounds, {latency * 1000:.0f} ms server latency, {source}, {n_hits} hits"
    return [
        Result(SUITE, "provider alone", p_ms, "ms", note=note),
        Result(SUITE, "through the chain", c_ms, "ms", baseline=p_ms),
        Result(
            SUITE,
            "chain / provider",
            overhead,
            baseline=1.0,
            target=TARGET_OVERHEAD,
            passed=check(overhead, TARGET_OVERHEAD),
        ),
        Result(SUITE, "cached repeat", r_ms, "ms", baseline=p_ms),
        Result(
            SUITE,
            "cached / provider",
            cached_ratio,
            target=TARGET_CACHED,
            passed=check(cached_ratio, TARGET_CACHED),
        ),
        Result(
            SUITE,
            "block reported",
            block_s,
            "s",
            target=TARGET_BLOCK_S,
            passed=check(block_s, TARGET_BLOCK_S) and block_note.startswith("SearchBlocked"),
            note=block_note,
        ),
    ]

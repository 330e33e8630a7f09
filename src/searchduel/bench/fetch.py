"""`bench fetch`: how soon the search column has its pages, against the ideal fetcher.

A simulated web on loopback addresses, one per site: article pages (~20 KB of HTML,
gzip-compressed) that each answer after a fixed latency, one page that accepts the request
and never answers, and one that drips a byte every half second. The ideal fetcher knows
every latency in advance and is done the moment the `enough`-th usable page is in, or,
when fewer than `enough` pages can arrive, when the deadline passes: min(page deadline,
phase deadline), because nobody can know that a silent page will stay silent. The measured
time is the wall time of `fetch_pages` (thread start, address guard, download, extraction
and hygiene included).

Scenarios: "enough" (the default settings' deadlines; 6 articles, 4 needed) and "deadline"
(2 articles, 4 needed, short deadlines so the suite stays quick). Target: measured / ideal
<= 1.2 for both, medians over `--fetch-rounds` rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import http.server
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..config import Settings
from ..types import Hit
from . import Result, check

SUITE = "fetch"
TARGET_RATIO = "<= 1.2"
# Realistic first-page latencies of result sites (0.3-2 s); ideal = the 4th = 0.9 s.
ARTICLE_LATENCIES_S = (0.3, 0.5, 0.7, 0.9, 1.4, 2.0)
DRIP_INTERVAL_S = 0.5
# Short deadlines for the "deadline" scenario: it always runs to the deadline.
DEADLINE_SCENARIO = {"page_deadline": 1.5, "phase_deadline": 2.5}


# --- a small scripted web server (also used by the tests) ----------------------------------


@dataclass
class Route:
    """One scripted answer. `body` may be bytes or a callable yielding the body's pieces."""

    status: int = 200
    body: bytes | Callable[[], Iterable[bytes]] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between single bytes of the body
    hang: bool = False  # read the request, never answer


class LocalWeb:
    """A threaded HTTP server on a loopback address that serves scripted routes.

    Counts connections and requests (per path), so a test can prove that a refused URL never
    reached it. `with LocalWeb("127.0.0.2") as web: web.add("/a", Route(...)); web.url("/a")`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, ssl_context=None) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.request_headers: list[dict[str, str]] = []
        self.connections = 0
        self.closing = threading.Event()
        self._lock = threading.Lock()
        web = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):  # one call per accepted connection
                request = super().get_request()
                with web._lock:
                    web.connections += 1
                return request

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                web._serve(self)

        self._server = Server((host, port), Handler)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.host = host
        self.port = self._server.server_address[1]
        self.scheme = "https" if ssl_context is not None else "http"
        # a short poll so close() (which waits for the serve loop) is quick
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def add(self, path: str, route: Route | None = None, **kwargs: object) -> str:
        """Serve `route` (or Route(**kwargs)) at path; return its URL."""
        self.routes[path] = route or Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    @property
    def requests(self) -> int:
        return sum(self.hits.values())

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
            self.request_headers.append(dict(h.headers.items()))
        route = self.routes.get(path) or Route(404, b"not found", {"Content-Type": "text/plain"})
        if route.hang:
            self.closing.wait(60)
            return
        if route.delay and self.closing.wait(route.delay):
            return
        body = route.body
        headers = dict(route.headers)
        if isinstance(body, bytes) and not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(body))
        chunked = not isinstance(body, bytes) and not any(
            k.lower() == "content-length" for k in headers
        )
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        try:
            h.send_response(route.status)
            for name, value in headers.items():
                h.send_header(name, value)
            h.end_headers()
            pieces: Iterable[bytes] = [body] if isinstance(body, bytes) else body()
            for piece in pieces:
                if self.closing.is_set():
                    return
                if route.drip:
                    for i in range(len(piece)):
                        if self.closing.wait(route.drip):
                            return
                        self._write(h, piece[i : i + 1], chunked)
                else:
                    self._write(h, piece, chunked)
            if chunked:
                h.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, OSError):
            pass  # the client went away: that is what the limits are for

    @staticmethod
    def _write(h: http.server.BaseHTTPRequestHandler, data: bytes, chunked: bool) -> None:
        if not data:
            return
        if chunked:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            h.wfile.write(data)
        h.wfile.flush()

    def start(self) -> LocalWeb:
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LocalWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class SilentServer:
    """Accepts TCP connections (the kernel completes the handshake) and never answers."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()[:2]

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


# --- the simulated web ---------------------------------------------------------------------

_WORDS = (
    "river",
    "valley",
    "harbour",
    "season",
    "climate",
    "granite",
    "forest",
    "glacier",
    "village",
    "market",
    "festival",
    "history",
    "museum",
    "bridge",
    "railway",
    "coast",
    "island",
    "summit",
    "trail",
    "lake",
    "reef",
    "cathedral",
    "population",
    "economy",
    "fishing",
    "tourism",
    "winter",
    "summer",
    "monsoon",
    "rainfall",
    "temperature",
)


def article(n: int, paragraphs: int = 40) -> bytes:
    """A deterministic ~20 KB article page with navigation boilerplate around it."""
    words = len(_WORDS)
    paras = []
    for p in range(paragraphs):
        sentence = " ".join(_WORDS[(n * 7 + p * 3 + i) % words] for i in range(60))
        paras.append(f"<p>{sentence.capitalize()}. Page {n}, paragraph {p}.</p>")
    nav = "".join(f'<li><a href="/s{i}">Section {i}</a></li>' for i in range(40))
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Article {n}</title></head>"
        f"<body><nav><ul>{nav}</ul></nav><main><article><h1>Article {n}</h1>"
        f"{''.join(paras)}</article></main><footer>Contact, privacy, terms</footer></body></html>"
    )
    return html.encode()


def _drip_body() -> Iterator[bytes]:
    yield b"<!doctype html><html><body>" + b"." * 4096


class SimulatedWeb:
    """One LocalWeb per page, each on its own loopback address (127.0.0.10, .11, ...), so
    the fetcher's per-host limit sees different sites, as it would on the real web."""

    def __init__(self, latencies: Iterable[float]) -> None:
        self.latencies = list(latencies)
        self.servers: list[LocalWeb] = []
        self.hits: list[Hit] = []

    def _server(self) -> LocalWeb:
        web = LocalWeb(f"127.0.0.{10 + len(self.servers)}").start()
        self.servers.append(web)
        return web

    def __enter__(self) -> SimulatedWeb:
        for i, latency in enumerate(self.latencies):
            body = gzip.compress(article(i), 6)
            headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
            url = self._server().add(f"/article{i}", Route(200, body, headers, delay=latency))
            self.hits.append(Hit(title=f"Article {i}", url=url))
        silent = self._server().add("/silent", Route(hang=True))
        drip = self._server().add(
            "/drip", Route(200, _drip_body, {"Content-Type": "text/html"}, drip=DRIP_INTERVAL_S)
        )
        # the slow ones are not last: a fetcher that waits in hit order would be caught
        self.hits.insert(1, Hit(title="Silent", url=silent))
        self.hits.insert(3, Hit(title="Drip", url=drip))
        self.hits = [dataclasses.replace(h, rank=i) for i, h in enumerate(self.hits)]
        return self

    def __exit__(self, *exc: object) -> None:
        for web in self.servers:
            web.close()


def ideal_seconds(latencies: list[float], settings: Settings) -> float:
    """When an all-knowing fetcher would be done (see the module docstring)."""
    if len(latencies) >= settings.enough_pages:
        return min(sorted(latencies)[settings.enough_pages - 1], settings.phase_deadline)
    return min(settings.page_deadline, settings.phase_deadline)


def _round(settings: Settings, latencies: tuple[float, ...]) -> tuple[float, float, float, int]:
    """One fetch against a fresh simulated web: (measured s, ideal s, first page s, usable)."""
    from ..web.cache import PageCache
    from ..web.fetch import fetch_pages

    first: list[float] = []
    with SimulatedWeb(latencies) as web:
        t0 = time.perf_counter()
        pages = fetch_pages(
            web.hits,
            settings,
            cache=PageCache(),
            on_page=lambda p: first.append(time.perf_counter() - t0) if p.ok else None,
        )
        measured = time.perf_counter() - t0
    usable = sum(p.ok for p in pages)
    return (
        measured,
        ideal_seconds(list(latencies), settings),
        first[0] if first else measured,
        usable,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fetch-rounds", type=int, default=5, help="fetch bench: rounds per scenario (median)"
    )


def run(args: argparse.Namespace, settings: Settings) -> list[Result]:
    """Context-ready latency against the ideal, for the two scenarios."""
    rounds = max(1, getattr(args, "fetch_rounds", 5) or 5)
    from ..web.extract import extract_html

    extract_html(article(0))  # imports and first-call set-up are not what is measured here
    base = settings.replace(allow_address=("127.0.0.0/24",), pages=8, enough_pages=4)
    scenarios = {
        "enough": (base, ARTICLE_LATENCIES_S),
        "deadline": (base.replace(**DEADLINE_SCENARIO), ARTICLE_LATENCIES_S[:2]),
    }
    results: list[Result] = []
    for name, (s, latencies) in scenarios.items():
        runs = [_round(s, latencies) for _ in range(rounds)]
        measured = statistics.median(r[0] for r in runs)
        ideal = runs[0][1]
        ratio = statistics.median(r[0] / r[1] for r in runs)
        note = (
            f"{len(latencies)} articles (latency {min(latencies):g}-{max(latencies):g} s), "
            f"1 silent, 1 drip; enough={s.enough_pages}, page deadline {s.page_deadline:g} s, "
            f"phase {s.phase_deadline:g} s; usable pages {min(r[3] for r in runs)}"
        )
        results.append(Result(SUITE, f"{name}: context ready", measured, "s", ideal, note=note))
        results.append(
            Result(
                SUITE,
                f"{name}: measured / ideal",
                ratio,
                "x",
                1.0,
                TARGET_RATIO,
                check(ratio, TARGET_RATIO),
                note=f"median of {rounds} rounds",
            )
        )
        if name == "enough":
            first = statistics.median(r[2] for r in runs)
            results.append(
                Result(
                    SUITE,
                    "enough: first usable page",
                    first,
                    "s",
                    min(latencies),
                    note="baseline: the fastest page's latency",
                )
            )
    return results

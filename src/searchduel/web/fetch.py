"""Fetch the top hits' pages in parallel, each within a deadline, through the address guard.

`fetch_pages` is synchronous (the engine runs in threads): it runs one asyncio loop in a
worker thread with one ``httpx.AsyncClient`` over a `GuardedTransport`, and hands pages to
`on_page` in the calling thread as they finish. Deadlines are enforced around the whole
request with ``asyncio.wait_for``; httpx's own timeouts only measure inactivity, so a server
dripping one byte a second would never trip them.

Per page, in order: the page cache; the URL check (scheme, user-info, IP literals in any
spelling); up to `MAX_REDIRECTS` redirects followed by hand, each hop re-checked; the
status code; the Content-Type (HTML and plain text only); an early refusal of a
Content-Length over the cap; the body streamed through a bounded gzip/deflate decoder;
charset from the header, then a BOM or ``<meta>``, then UTF-8, then windows-1252; then
extraction and text hygiene in a worker thread. Every failure becomes a Page with a status
from ``types.PAGE_STATUSES`` and a reason: one bad page never costs the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import re
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from .. import __version__
from ..config import MAX_REDIRECTS, PER_HOST_CONNECTIONS, Settings
from ..errors import FetchError
from ..types import Hit, Page
from .cache import PAGE_CACHE, PageCache
from .guard import AddressPolicy, GuardedTransport, check_url
from .sanitize import decode_with_codec

log = logging.getLogger(__name__)

# Honest: names the project and where to read about it, so a site owner can find us.
USER_AGENT = f"SearchDuel/{__version__} (+https://github.com/searchduel/searchduel)"
ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8"
# Only what we can decompress with a bound; brotli and zstd decoders cannot be capped here.
ACCEPT_ENCODING = "gzip, deflate"
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = (*HTML_TYPES, "text/plain")
REDIRECT_CODES = (301, 302, 303, 307, 308)
_POLL_S = 0.05  # how often the loop looks at the cancel event
_JOIN_S = 0.5  # how long the caller waits for connections to close after the result is in

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)

# Extraction is CPU work: off the event loop so it cannot stall other pages' timers, and
# not in the loop's default executor, which asyncio.run would wait for on exit.
_EXTRACT_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="searchduel-extract")
_DONE = object()

try:  # text hygiene (invisible Unicode, chat control tokens)
    from .hygiene import clean_text as _clean
except ImportError:  # pragma: no cover - only while the module is absent

    def _clean(text: str) -> str:
        return text


class _TooLarge(FetchError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over the {limit:,}-byte cap", status="too-large")


class BoundedDecoder:
    """Content-Encoding decoding that never holds more than `limit` decoded bytes.

    zlib's ``max_length`` bounds each call's output, so a gzip bomb costs at most `limit`
    bytes of memory before it is refused. Supports identity, gzip (also multi-member) and
    deflate (zlib-wrapped or, as some servers send it, raw).
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"unsupported Content-Encoding {content_encoding!r}")
        self.mode = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else ""
        self.limit = limit
        self.data = bytearray()
        self.raw = 0
        self._fresh = True
        self._z = self._new(raw_deflate=False)

    def _new(self, *, raw_deflate: bool) -> zlib._Decompress:
        if self.mode == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> None:
        """Decode one piece of the body; raises FetchError("too-large") past the cap."""
        self.raw += len(chunk)
        if self.raw > self.limit:  # compressed input bigger than the cap: never worth it
            raise _TooLarge(self.limit)
        if not self.mode:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._z.decompress(data, self.limit - len(self.data) + 1)
            except zlib.error as exc:
                if self.mode == "deflate" and self._fresh:
                    self._fresh = False
                    self._z = self._new(raw_deflate=True)
                    continue
                raise FetchError(f"corrupt {self.mode} body: {exc}") from None
            self._fresh = False
            self._keep(out)
            data = self._z.unconsumed_tail
            if not data and self._z.eof:
                data = self._z.unused_data
                if not data or self.mode != "gzip":
                    break  # bytes after a deflate stream's end are ignored, like browsers do
                self._z = self._new(raw_deflate=False)  # the next gzip member

    def _keep(self, out: bytes) -> None:
        if len(self.data) + len(out) > self.limit:
            raise _TooLarge(self.limit)
        self.data += out


def decode_body(data: bytes, content_type: str = "") -> tuple[str, str]:
    """Text of a body and the codec used: the Content-Type charset, then the document's own
    declaration (BOM, ``<meta>``, XML), then UTF-8, then windows-1252 (never fails)."""
    header = _HEADER_CHARSET.search(content_type)
    return decode_with_codec(data, header.group(1) if header else None)


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))


@dataclass(frozen=True)
class _Body:
    final_url: str
    http_status: int
    mime: str
    content_type: str
    data: bytes
    cache_control: str | None


@dataclass
class _Progress:
    """What is known about a page so far, so a timeout still reports it."""

    final_url: str = ""
    http_status: int | None = None
    bytes: int = 0


def _as_page(item: object) -> Page:
    assert isinstance(item, Page)
    return item


def _site(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def _page_from_body(url: str, body: _Body, hit: Hit | None) -> Page:
    """Decode, extract and clean one downloaded body (runs in a worker thread)."""
    from .extract import extract_html

    text, _codec_used = decode_body(body.data, body.content_type)
    common = {
        "url": url,
        "final_url": body.final_url,
        "http_status": body.http_status,
        "bytes": len(body.data),
        "hit": hit,
    }
    hit_title = hit.title if hit else ""
    if body.mime == "text/plain":
        plain = _clean(text)
        if not plain:
            return Page(status="error", reason="the page is empty", **common)
        return Page(status="ok", title=hit_title, text=plain, site=_site(body.final_url), **common)
    try:
        ex = extract_html(text, body.final_url)
    except Exception as exc:  # an extractor bug costs this page only
        log.exception("extraction failed for %s", body.final_url)
        return Page(status="error", reason=f"extraction failed: {type(exc).__name__}", **common)
    title = _clean(ex.title) or hit_title
    site = ex.site or _site(body.final_url)
    if ex.js_only:
        snippet = _clean(hit.snippet) if hit else ""
        reason = "the page needs JavaScript (an app shell or a bot challenge)"
        if snippet:
            reason += "; the search result's snippet stands in for it"
        return Page(
            status="js-only",
            reason=reason,
            title=title,
            text=snippet,
            site=site,
            published=ex.published,
            from_snippet=bool(snippet),
            **common,
        )
    main = _clean(ex.text)
    if not main:
        return Page(
            status="error",
            reason="no main text found in the page",
            title=title,
            site=site,
            published=ex.published,
            **common,
        )
    return Page(status="ok", title=title, text=main, site=site, published=ex.published, **common)


class _Batch:
    """One fetch phase: an event loop in a worker thread, results through a queue."""

    def __init__(
        self,
        targets: Sequence[tuple[str, Hit | None]],
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        cache: PageCache | None,
    ) -> None:
        self.targets = list(targets)
        self.settings = settings
        self.transport = transport
        self.cache = cache
        self.policy = AddressPolicy(settings.allow_address)
        self.results: list[Page | None] = [None] * len(self.targets)
        self.progress = [_Progress(final_url=url) for url, _ in self.targets]
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.stop = threading.Event()  # set by the calling thread: cancel, or on_page raised
        self.cancel: threading.Event | None = None
        self.failure: BaseException | None = None

    def run(
        self, on_page: Callable[[Page], None] | None, cancel: threading.Event | None
    ) -> list[Page]:
        if not self.targets:
            return []
        self.cancel = cancel
        worker = threading.Thread(target=self._thread, name="searchduel-fetch", daemon=True)
        worker.start()
        try:
            while True:
                item = self.queue.get()
                if item is _DONE:
                    break
                if on_page is not None:
                    on_page(_as_page(item))
        except BaseException:
            self.stop.set()
            raise
        finally:
            worker.join(_JOIN_S)
        if self.failure is not None:
            raise self.failure
        return [_as_page(p) for p in self.results]

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # a bug: hand it to the caller instead of hanging it
            if any(p is None for p in self.results):
                self.failure = exc
            else:
                log.exception("fetch clean-up failed")
        finally:
            self.queue.put(_DONE)

    def _stopping(self) -> bool:
        return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _deliver(self, index: int, page: Page) -> None:
        self.results[index] = page
        self.queue.put(page)

    async def _main(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        phase_end = started + s.phase_deadline
        transport = self.transport or GuardedTransport(
            s.allow_address,
            limits=httpx.Limits(max_connections=2 * s.pages + 4, max_keepalive_connections=s.pages),
        )
        client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,  # a proxy variable must not route around the guard
            follow_redirects=False,  # by hand below, so every hop is checked
            # a backstop only: the real deadlines are the wait_for calls
            timeout=httpx.Timeout(s.page_deadline + 1.0),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )
        slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(PER_HOST_CONNECTIONS)
        )
        tasks = {
            asyncio.create_task(self._page(client, i, url, hit, slots)): i
            for i, (url, hit) in enumerate(self.targets)
        }
        pending = set(tasks)
        usable = 0
        ending = ("cancelled", "")
        try:
            while pending:
                if self._stopping():
                    ending = ("cancelled", "the fetch was stopped")
                    break
                left = phase_end - loop.time()
                if left <= 0:
                    ending = (
                        "timeout",
                        f"the fetch phase deadline ({s.phase_deadline:g} s) passed",
                    )
                    break
                done, pending = await asyncio.wait(
                    pending, timeout=min(left, _POLL_S), return_when=asyncio.FIRST_COMPLETED
                )
                for task in sorted(done, key=lambda t: t.result().ms):
                    page = task.result()  # _page turns every failure into a Page
                    self._deliver(tasks[task], page)
                    usable += page.ok
                if pending and usable >= s.enough_pages:
                    ending = ("cancelled", f"{usable} usable pages were already in")
                    break
            for task in pending:
                task.cancel()
            elapsed = (loop.time() - started) * 1000
            for task in sorted(pending, key=tasks.__getitem__):
                i = tasks[task]
                url, hit = self.targets[i]
                prog = self.progress[i]
                self._deliver(
                    i,
                    Page(
                        url=url,
                        status=ending[0],
                        reason=ending[1],
                        final_url=prog.final_url,
                        http_status=prog.http_status,
                        ms=elapsed,
                        bytes=prog.bytes,
                        hit=hit,
                    ),
                )
            self.queue.put(_DONE)  # the caller has its answer; what follows is clean-up
            if pending:
                await asyncio.wait(pending, timeout=_JOIN_S)
        finally:
            await client.aclose()

    async def _page(
        self,
        client: httpx.AsyncClient,
        index: int,
        url: str,
        hit: Hit | None,
        slots: defaultdict[str, asyncio.Semaphore],
    ) -> Page:
        s = self.settings
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        prog = self.progress[index]

        def failed(status: str, reason: str, http_status: int | None = None) -> Page:
            return Page(
                url=url,
                status=status,
                reason=reason,
                final_url=prog.final_url,
                http_status=http_status or prog.http_status,
                ms=(loop.time() - t0) * 1000,
                bytes=prog.bytes,
                hit=hit,
            )

        try:
            if self.cache is not None:
                cached = self.cache.get(url)
                if cached is not None:
                    return dataclasses.replace(
                        cached, hit=hit, ms=(loop.time() - t0) * 1000, reason="from the page cache"
                    )
            body = await asyncio.wait_for(self._download(client, url, prog, slots), s.page_deadline)
            page = await loop.run_in_executor(_EXTRACT_POOL, _page_from_body, url, body, hit)
            page = dataclasses.replace(page, ms=(loop.time() - t0) * 1000)
            if self.cache is not None:
                self.cache.put(url, dataclasses.replace(page, hit=None), body.cache_control)
            return page
        except asyncio.TimeoutError:
            return failed("timeout", f"no complete answer within {s.page_deadline:g} s")
        except FetchError as exc:
            return failed(exc.status, str(exc), exc.http_status)
        except httpx.TimeoutException as exc:
            return failed("timeout", f"{type(exc).__name__}: {exc}")
        except httpx.InvalidURL as exc:
            return failed("error", f"invalid URL: {exc}")
        except httpx.HTTPError as exc:
            return failed("error", f"{type(exc).__name__}: {exc}".rstrip(": "))
        except Exception as exc:  # one bad page never costs the others
            log.exception("unexpected failure fetching %s", url)
            return failed("error", f"{type(exc).__name__}: {exc}")

    async def _download(
        self,
        client: httpx.AsyncClient,
        url: str,
        prog: _Progress,
        slots: defaultdict[str, asyncio.Semaphore],
    ) -> _Body:
        seen = {url}
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            host = check_url(current, self.policy)
            prog.final_url = current
            async with slots[host], client.stream("GET", current) as response:
                code = prog.http_status = response.status_code
                location = response.headers.get("location", "").strip()
                if code in REDIRECT_CODES and location:
                    target = urljoin(current, location).split("#", 1)[0]
                    if target in seen:
                        raise FetchError(
                            f"redirect loop back to {target}",
                            status="redirect-limit",
                            http_status=code,
                        )
                    if hop == MAX_REDIRECTS:
                        raise FetchError(
                            f"more than {MAX_REDIRECTS} redirects",
                            status="redirect-limit",
                            http_status=code,
                        )
                    seen.add(target)
                    current = target
                    continue
                return await self._read(response, current, prog)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _read(self, response: httpx.Response, url: str, prog: _Progress) -> _Body:
        limit = self.settings.max_page_bytes
        code = response.status_code
        if not 200 <= code < 300:
            raise FetchError(
                f"HTTP {code} {response.reason_phrase}".strip(),
                status="http-error",
                http_status=code,
            )
        content_type = response.headers.get("content-type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime and mime not in TEXT_TYPES:
            raise FetchError(
                f"{mime} is not read (HTML and plain text only)",
                status="bad-type",
                http_status=code,
            )
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            raise FetchError(
                f"Content-Length {int(length):,} is over the {limit:,}-byte cap",
                status="too-large",
                http_status=code,
            )
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""), limit)
        try:
            async for chunk in response.aiter_raw():
                decoder.feed(chunk)
                prog.bytes = len(decoder.data)
        except FetchError as exc:
            exc.http_status = code
            raise
        data = bytes(decoder.data)
        if not mime:
            if not _looks_like_html(data):
                raise FetchError(
                    "no Content-Type, and the body is not HTML",
                    status="bad-type",
                    http_status=code,
                )
            mime = "text/html"
        return _Body(url, code, mime, content_type, data, response.headers.get("cache-control"))


def fetch_pages(
    hits: Sequence[Hit],
    settings: Settings,
    *,
    on_page: Callable[[Page], None] | None = None,
    cancel: threading.Event | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    cache: PageCache | None = PAGE_CACHE,
) -> list[Page]:
    """Fetch the first ``settings.pages`` hits at once; return one Page per hit, in hit order.

    - Each page has ``settings.page_deadline`` seconds from start to last byte, the whole
      call ``settings.phase_deadline``; once ``settings.enough_pages`` pages are usable
      (``Page.ok``) the rest are cancelled. Pages still running at the end come back with
      status "timeout" (phase deadline) or "cancelled" (enough pages, or `cancel` set), and
      a reason.
    - `on_page` is called in the calling thread with every page as it finishes, in
      completion order; the unfinished ones follow, in hit order, once the phase ends. If it
      raises, the fetch stops and the exception propagates.
    - A JS-only page (app shell, bot challenge) has status "js-only"; when its hit has a
      snippet, that Page carries ``from_snippet=True`` and ``text`` = the snippet (after
      hygiene), ``title`` = the page's or the hit's title. It does not count as usable.
    - `transport` replaces the guarded transport (tests); it is closed when the call ends
      and may be reused. `cache` (default: the process-wide cache; None: off) serves and
      stores usable pages by URL.
    """
    targets = [(hit.url, hit) for hit in list(hits)[: settings.pages]]
    return _Batch(targets, settings, transport, cache).run(on_page, cancel)


def fetch_one(
    url: str,
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    cache: PageCache | None = PAGE_CACHE,
) -> Page:
    """Fetch and extract one URL under the same guard and limits (``Page.hit`` is None)."""
    one = settings.replace(pages=1, enough_pages=1)
    return _Batch([(url, None)], one, transport, cache).run(None, None)[0]

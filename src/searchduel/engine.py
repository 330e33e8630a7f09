"""The engine: one prompt, two columns, one interleaved stream of typed events.

    prompt ─┬─► plain messages ───────────────────────────────► backend.stream ─► "plain"
            └─► chain.search ─► pages ─► build_context ─► backend.stream ─► "search"

Both columns run in their own threads from the first instant, so the plain column starts
generating at once and never waits for the search. The search column waits for the plain
column's first token (at most PLAIN_HEAD_START_S) before its own CPU work, so that work never
delays that token. Every column ends with exactly one `done`
or `error` event; a failure in one column is reported in that column and the other goes on.
The UI, the CLI and the benchmarks all consume `Engine.run`'s events and compute nothing else.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .config import PLAIN_HEAD_START_S, SEARCH_HITS, Settings
from .errors import SearchDuelError, SearchError
from .llm.base import Backend
from .types import Column, Context, Event, Hit, Message, Page

CORPUS_SCHEME = "corpus://"
_END = object()

Emit = Callable[[Event], None]


@dataclass(frozen=True)
class RunOptions:
    """What one request may change; None keeps the engine's setting."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    pages: int | None = None
    search: str | None = None

    def apply(self, settings: Settings) -> Settings:
        changes = {k: v for k, v in asdict(self).items() if v is not None}
        return settings.replace(**changes) if changes else settings


@dataclass
class SearchTrace:
    """What the search did, as shown under the search column and in `ask --json`."""

    query: str = ""
    provider: str = ""
    offline: bool = False
    notices: list[str] | None = None
    hits: int = 0
    pages: list[dict[str, Any]] | None = None
    context_tokens: int = 0
    prompt_tokens: int = 0
    budget_tokens: int = 0
    search_ms: float = 0.0
    fetch_ms: float = 0.0
    # milliseconds per stage, in the order they ran: search, fetch, chunk, bm25, dense, pack,
    # wait (for the plain column's head start), first_token, total ...
    timings: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notices"] = list(self.notices or [])
        d["pages"] = list(self.pages or [])
        d["timings"] = dict(self.timings or {})
        return d


def page_record(page: Page) -> dict[str, Any]:
    """The trace row of one page."""
    return {
        "url": page.url,
        "final_url": page.final_url or page.url,
        "status": page.status,
        "reason": page.reason,
        "http_status": page.http_status,
        "ms": round(page.ms, 1),
        "bytes": page.bytes,
        "title": page.title,
        "from_snippet": page.from_snippet,
    }


class Engine:
    """Runs both pipelines for one prompt; holds the shared model, chains and corpus index."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        *,
        http_client: Any = None,
        fetch_transport: Any = None,
        chain: Any = None,
    ):
        """`chain` replaces the provider chain the settings describe (mirrors, tests)."""
        self.settings = settings
        self._fixed_chain = chain
        self.backend = backend
        self._http_client = http_client
        self._fetch_transport = fetch_transport
        self._chains: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> threading.Thread:
        """Load, in the background, what the first question would otherwise wait for: the
        corpus index and the dense re-ranker. A failure here is left for that question to
        report, where the user sees it."""

        def work() -> None:
            try:
                if "local" in self.settings.providers:
                    self.local_provider()
                if self.settings.dense:
                    from .rag.dense import load_model

                    load_model()
            except Exception:  # reported again, with its context, when the question uses it
                pass

        thread = threading.Thread(target=work, name="warm-up", daemon=True)
        thread.start()
        return thread

    # --- the search stages, shared with the CLI's `search` and `context` ---------------------

    def local_provider(self, settings: Settings | None = None) -> Any:
        """The offline corpus provider (LocalCorpus.load indexes each folder once per process)."""
        from .search.local import LocalCorpus, LocalCorpusProvider

        return LocalCorpusProvider(LocalCorpus.load((settings or self.settings).corpus))

    def chain(self, settings: Settings | None = None) -> Any:
        """The provider chain for these settings (kept, so breakers and caches persist)."""
        from .search.registry import make_chain

        if self._fixed_chain is not None:
            return self._fixed_chain
        settings = settings or self.settings
        key = (
            *settings.providers,
            settings.ddg_url,
            settings.searxng_url,
            settings.region,
            settings.corpus,
        )
        with self._lock:
            chain = self._chains.get(key)
        if chain is None:
            local = self.local_provider(settings) if "local" in settings.providers else None
            chain = make_chain(settings, client=self._http_client, local=local)
            with self._lock:
                chain = self._chains.setdefault(key, chain)
        return chain

    def read_pages(
        self,
        hits: Sequence[Hit],
        settings: Settings,
        *,
        on_page: Callable[[Page], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Page]:
        """Pages for the hits: corpus documents read locally, web pages fetched safely."""
        hits = list(hits)[: settings.pages]
        local_hits = [h for h in hits if h.url.startswith(CORPUS_SCHEME)]
        web_hits = [h for h in hits if not h.url.startswith(CORPUS_SCHEME)]
        pages: dict[str, Page] = {}
        if local_hits:
            provider = self.local_provider(settings)
            for hit in local_hits:
                page = provider.page(hit.url)
                pages[hit.url] = page
                if on_page:
                    on_page(page)
        if web_hits:
            from .web.fetch import fetch_pages

            kwargs: dict[str, Any] = {"on_page": on_page, "cancel": cancel}
            if self._fetch_transport is not None:
                kwargs["transport"] = self._fetch_transport
            for page in fetch_pages(web_hits, settings, **kwargs):
                pages[page.hit.url if page.hit else page.url] = page
        return [pages[h.url] for h in hits if h.url in pages]

    def context(
        self,
        question: str,
        settings: Settings | None = None,
        *,
        trace: SearchTrace | None = None,
        on_update: Callable[[SearchTrace], None] | None = None,
        on_stage: Callable[[str, dict[str, Any]], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Context:
        """Search, read and pack: the exact context the search column's model gets.

        `on_stage(stage, info)` hears each stage start: "chunk", "rank", "pack" (see
        build_context); `trace.timings` receives the milliseconds of every stage.
        """
        from .rag.pack import build_context

        settings = settings or self.settings
        trace = trace if trace is not None else SearchTrace()
        trace.query = question
        timings = trace.timings = trace.timings if trace.timings is not None else {}
        notify = on_update or (lambda _t: None)
        t0 = time.perf_counter()
        try:
            outcome = self.chain(settings).search(question, k=SEARCH_HITS)
        finally:
            trace.search_ms = (time.perf_counter() - t0) * 1000
            timings["search"] = round(trace.search_ms, 1)
        trace.query = outcome.query
        trace.provider = outcome.provider
        trace.offline = outcome.offline
        trace.notices = list(outcome.notices)
        trace.hits = len(outcome.hits)
        trace.pages = []
        notify(trace)

        def on_page(page: Page) -> None:
            trace.pages.append(page_record(page))
            notify(trace)

        t1 = time.perf_counter()
        pages = self.read_pages(outcome.hits, settings, on_page=on_page, cancel=cancel)
        trace.fetch_ms = (time.perf_counter() - t1) * 1000
        timings["fetch"] = round(trace.fetch_ms, 1)
        trace.pages = [page_record(p) for p in pages]  # final, in hit order
        stages: dict[str, float] = {}
        ctx = build_context(
            question,
            pages,
            outcome.hits,
            counter=self.backend,
            settings=settings,
            window=self.backend.context_window,
            on_stage=on_stage,
            timings=stages,
        )
        timings.update({name: round(ms, 1) for name, ms in stages.items()})
        trace.context_tokens = ctx.context_tokens
        trace.prompt_tokens = ctx.prompt_tokens
        trace.budget_tokens = ctx.budget_tokens
        notify(trace)
        return ctx

    # --- the two columns ---------------------------------------------------------------------

    def run(
        self,
        prompt: str,
        options: RunOptions | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Both columns for one prompt, interleaved as they happen.

        Closing the iterator (a UI Stop, a dropped client) stops both columns.
        """
        settings = (options or RunOptions()).apply(self.settings)
        stop = stop or threading.Event()
        events: queue.Queue = queue.Queue()
        t0 = time.perf_counter()
        # Set once the plain column's first token (or its end) is handed to the caller; the
        # search column waits for it, at most PLAIN_HEAD_START_S, so that its CPU and GIL work
        # delays neither that token's generation nor its delivery.
        plain_started = threading.Event()

        def emitter(column: Column) -> Emit:
            def emit(event: Event) -> None:
                events.put(
                    Event(column, event.kind, event.text, event.data, t=time.perf_counter() - t0)
                )

            return emit

        workers = [
            threading.Thread(
                target=self._plain,
                args=(prompt, settings, emitter("plain"), stop, t0),
                name="column-plain",
                daemon=True,
            ),
            threading.Thread(
                target=self._search,
                args=(prompt, settings, emitter("search"), stop, t0, plain_started),
                name="column-search",
                daemon=True,
            ),
        ]
        for w in workers:
            w.start()
        finished = 0
        try:
            while finished < len(workers):
                event = events.get()
                if event.kind in ("done", "error"):
                    finished += 1
                if event.column == "plain" and event.kind in ("token", "done", "error"):
                    plain_started.set()
                yield event
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=5)

    def _plain(
        self, prompt: str, settings: Settings, emit: Emit, stop: threading.Event, t0: float
    ) -> None:
        from .rag.prompts import plain_messages

        try:
            self._generate(plain_messages(prompt), settings, emit, stop, t0)
        except BaseException as exc:  # never let one column take down the other
            emit(_error_event(exc))

    def _search(
        self,
        prompt: str,
        settings: Settings,
        emit: Emit,
        stop: threading.Event,
        t0: float,
        plain_started: threading.Event | None = None,
    ) -> None:
        trace = SearchTrace()
        try:
            if not settings.providers:
                emit(
                    Event(
                        "search",
                        "error",
                        "Search is off (--search off): nothing to compare.",
                        {"type": "SearchOff"},
                    )
                )
                return
            emit(
                Event("search", "status", "", {"stage": "search", "message": "Searching the web…"})
            )
            if plain_started is not None:
                plain_started.wait(PLAIN_HEAD_START_S)
            try:
                ctx = self.context(
                    prompt,
                    settings,
                    trace=trace,
                    cancel=stop,
                    on_update=lambda t: emit(Event("search", "trace", "", t.as_dict())),
                )
            except SearchError as exc:
                trace.notices = [*(trace.notices or []), str(exc)]
                emit(Event("search", "trace", "", trace.as_dict()))
                raise
            emit(
                Event(
                    "search",
                    "sources",
                    "",
                    {"sources": list(ctx.sources), "texts": list(ctx.source_texts)},
                )
            )
            emit(Event("search", "trace", "", trace.as_dict()))
            if not ctx.sources:
                emit(
                    Event(
                        "search",
                        "error",
                        "No usable sources: the search found nothing the model could read, so "
                        "there is no search-grounded answer to show.",
                        {"type": "NoSources"},
                    )
                )
                return
            if stop.is_set():
                emit(Event("search", "error", "Stopped.", {"type": "Cancelled"}))
                return
            self._generate(list(ctx.messages), settings, emit, stop, t0, sources=ctx.sources)
        except BaseException as exc:
            emit(_error_event(exc))

    def _generate(
        self,
        messages: list[Message],
        settings: Settings,
        emit: Emit,
        stop: threading.Event,
        t0: float,
        sources: Sequence[Any] | None = None,
    ) -> None:
        # the column name is set by the column's emitter; "plain" here is only a placeholder
        emit(Event("plain", "status", "", {"stage": "generate", "message": "Generating…"}))
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        for piece in self.backend.stream(
            messages,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            stop=stop,
        ):
            if first is None:
                first = time.perf_counter()
            parts.append(piece)
            emit(Event("plain", "token", piece))
        end = time.perf_counter()
        answer = "".join(parts)
        tokens = self.backend.count_text_tokens(answer) if answer else 0
        gen_s = end - (first or end)
        data: dict[str, Any] = {
            "answer": answer,
            "ttft_s": round((first or end) - t0, 4),
            "total_s": round(end - t0, 4),
            "generate_s": round(end - start, 4),
            "tokens": tokens,
            "tokens_per_s": round((tokens - 1) / gen_s, 2) if tokens > 1 and gen_s > 0 else 0.0,
            "stopped": stop.is_set(),
        }
        if sources is not None:
            from .rag.cite import invalid_citations, render_citations

            data["rendered"] = render_citations(answer, sources)
            data["invalid_citations"] = invalid_citations(answer, len(sources))
        emit(Event("plain", "done", "", data))


def _error_event(exc: BaseException) -> Event:
    message = str(exc) if isinstance(exc, SearchDuelError) else f"{type(exc).__name__}: {exc}"
    return Event("plain", "error", message, {"type": type(exc).__name__})


def summarize(prompt: str, events: Sequence[Event] | Iterator[Event]) -> dict[str, Any]:
    """Fold an event stream into the `ask --json` object; with sources, each answer gains
    "grounding" (judge.ground: per-sentence labels with evidence offsets, a summary, and
    for the search column citation precision and recall)."""
    out: dict[str, Any] = {
        "prompt": prompt,
        "plain": _column_summary(),
        "search": {
            **_column_summary(),
            "query": "",
            "provider": "",
            "offline": False,
            "notices": [],
            "sources": [],
            "pages": [],
            "context_tokens": 0,
            "prompt_tokens": 0,
        },
    }
    texts: list[str] = []
    for ev in events:
        col = out[ev.column]
        if ev.kind == "token":
            col["answer"] += ev.text
        elif ev.kind == "done":
            col.update(
                {
                    k: ev.data[k]
                    for k in ("answer", "ttft_s", "total_s", "tokens", "tokens_per_s")
                    if k in ev.data
                }
            )
            if "invalid_citations" in ev.data:
                col["invalid_citations"] = ev.data["invalid_citations"]
        elif ev.kind == "error":
            col["error"] = ev.text
            col["error_type"] = ev.data.get("type", "")
        elif ev.kind == "sources":
            col["sources"] = [
                {"n": s.n, "title": s.title, "url": s.url, "site": s.site, "kind": s.kind}
                for s in ev.data["sources"]
            ]
            texts = list(ev.data.get("texts") or [])
        elif ev.kind == "trace":
            for key in (
                "query",
                "provider",
                "offline",
                "notices",
                "pages",
                "context_tokens",
                "prompt_tokens",
            ):
                col[key] = ev.data.get(key, col.get(key))
    if texts:  # both answers judged against the search column's sources
        from .judge import ground

        for name in ("plain", "search"):
            answer = out[name]["answer"]
            if answer:
                g = ground(answer, texts, question=prompt, citations=name == "search")
                out[name]["grounding"] = g.as_dict()
    return out


def _column_summary() -> dict[str, Any]:
    return {
        "answer": "",
        "ttft_s": None,
        "total_s": None,
        "tokens": 0,
        "tokens_per_s": 0.0,
        "error": None,
    }

"""The engine: one prompt, two columns, one interleaved stream of typed events.

    prompt ─┬─► plain messages ───────────────────────────────► backend.stream ─► "plain"
            └─► chain.search ─► pages ─► build_context ─► backend.stream ─► "search"

Both columns run in their own threads from the first instant, so the plain column starts
generating at once and never waits for the search. The search column waits for the plain
column's first token (at most PLAIN_HEAD_START_S) before its own CPU work, so that work never
delays that token. Every column ends its stream with exactly one `done` or `error` event
(then, with sources, one `grounding` event, after both have ended); a failure in one
column is reported in that column and the other goes on.
The UI, the CLI and the benchmarks all consume `Engine.run`'s events and compute nothing else.

Decisions, in one place:

- Each column first emits a `prompt` event: the exact messages its model gets and their
  token count (for the search column: after search and packing). A prompt that cannot fit
  the window with max_new_tokens is refused in BOTH columns with the same PromptTooLong,
  before any search (the search column would otherwise only say "no sources").
- Progress: the search column emits a `status` event as each stage starts (waiting for the
  plain column's head start, searching with the provider's own name, reading pages "3 of 8
  ready", chunking, ranking, packing, writing) and `trace.timings` collects milliseconds for
  search, fetch, chunk, bm25, dense, pack, wait, first_token (prefill and first token),
  generate and total.
- Search off is not a failure: the search column ends with a `done` whose data has
  `skipped: True` and a neutral note; `ask --search off` exits 0.
- An `error` event's text is `errors.user_message(exc)`, plain words; `data["detail"]` holds
  str(exc) (and the class name) for the trace's fold-out, the log and `ask --json`.
- Grounding: once both columns have ended (after their `done`/`error`, so never on the
  streaming path), each column gets one `grounding` event: its answer judged by judge.ground
  against the search column's packed sources (the same sources judge both answers). No
  sources (or a stopped run), no `grounding` event. `summarize` (ask --json), evaluate
  and the page read it.
- Generated tokens are counted from the backend's Pieces (token ids), never by re-tokenizing
  the answer; only a backend that yields plain str falls back to counting the text.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .config import PLAIN_HEAD_START_S, SEARCH_HITS, Settings
from .errors import PromptTooLong, SearchError, user_message
from .llm.base import Backend
from .logs import ComparisonLog
from .memory import limit_malloc_arenas, trim_heap
from .render.events import stage_message
from .types import Column, Context, Event, Hit, Message, Page, RunOptions

CORPUS_SCHEME = "corpus://"
SEARCH_OFF_NOTE = "Search is off for this comparison: only the answer without search runs."
# Every page of the results failed to load (blocked, timed out, not text, ...).
NO_PAGE_READ = "No page could be read"
SNIPPETS_ONLY_NOTE = (
    f"{NO_PAGE_READ}, so this answer uses only the short snippets the search results showed; "
    "no page is cited."
)
NO_SOURCES_NO_PAGE = (
    f"{NO_PAGE_READ}, and the search results had no snippets to use instead, so there is no "
    "search-grounded answer to show."
)
_END = object()
log = logging.getLogger("searchduel")

Emit = Callable[[Event], None]


@dataclass
class SearchTrace:
    """What the search did, as shown under the search column and in `ask --json`."""

    query: str = ""
    provider: str = ""
    offline: bool = False
    cached: bool = False  # the chain answered from memory; its last notice says how old
    notices: list[str] | None = None
    hits: int = 0
    pages: list[dict[str, Any]] | None = None
    pages_read: int = 0  # pages that loaded and gave text (not counting snippet stand-ins)
    snippets_only: bool = False  # no page loaded: the sources are the results' snippets
    context_tokens: int = 0
    prompt_tokens: int = 0
    budget_tokens: int = 0
    search_ms: float = 0.0
    fetch_ms: float = 0.0
    # milliseconds per stage, in the order they ran: search, fetch, chunk, bm25, dense, pack,
    # wait (for the plain column's head start), first_token, total ...
    timings: dict[str, float] | None = None
    error: str = ""  # the search's failure in full (class and message), for the fold-out

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
        limit_malloc_arenas(settings.malloc_arenas)  # before the threads that allocate start
        # `auto` picks a local backend (llm.pick_backend); the log and the store name it
        kind = getattr(backend, "kind", "")
        if settings.backend == "auto" and kind:
            settings = settings.replace(backend=kind)
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
                    if "local" in self.settings.providers:
                        self.embed_corpus()
            except Exception:  # reported again, with its context, when the question uses it
                pass

        thread = threading.Thread(target=work, name="warm-up", daemon=True)
        thread.start()
        return thread

    def embed_corpus(self, settings: Settings | None = None) -> int:
        """Embed the offline corpus's passages once, as its index is built once (rag/dense.py
        `pin`); a new question over it then costs the dense stage one forward pass."""
        from .search.local import embed_ahead

        return embed_ahead(self.local_provider(settings).corpus)

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

        `on_stage(stage, info)` hears each stage start: "search" {"provider"} as each provider
        is asked, "fetch" {"ready", "pages"} as each page is read, then "chunk", "rank",
        "pack" (see build_context); `trace.timings` receives the milliseconds of every stage.
        """
        from .rag.pack import build_context

        settings = settings or self.settings
        trace = trace if trace is not None else SearchTrace()
        trace.query = question
        timings = trace.timings = trace.timings if trace.timings is not None else {}
        notify = on_update or (lambda _t: None)
        stage = on_stage or (lambda _name, _info: None)
        t0 = time.perf_counter()
        try:
            outcome = _search_with_progress(self.chain(settings), question, stage)
        finally:
            trace.search_ms = (time.perf_counter() - t0) * 1000
            timings["search"] = round(trace.search_ms, 1)
        trace.query = outcome.query
        trace.provider = outcome.provider
        trace.offline = outcome.offline
        trace.cached = outcome.cached
        trace.notices = list(outcome.notices)
        trace.hits = len(outcome.hits)
        trace.pages = []
        notify(trace)

        to_read = min(len(outcome.hits), settings.pages)

        def on_page(page: Page) -> None:
            trace.pages.append(page_record(page))
            stage("fetch", {"ready": len(trace.pages), "pages": to_read})
            notify(trace)

        if to_read:
            stage("fetch", {"ready": 0, "pages": to_read})
        t1 = time.perf_counter()
        pages = self.read_pages(outcome.hits, settings, on_page=on_page, cancel=cancel)
        trace.fetch_ms = (time.perf_counter() - t1) * 1000
        timings["fetch"] = round(trace.fetch_ms, 1)
        trace.pages = [page_record(p) for p in pages]  # final, in hit order
        trace.pages_read = sum(1 for p in pages if p.ok and not p.from_snippet)
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

        Closing the iterator (a UI Stop, a dropped client) stops both columns. A prompt or
        options the server will not take raise InvalidInput before anything starts (inputs.py).
        """
        from .inputs import check_request

        request = check_request(prompt, options, self.settings)
        prompt, settings = request.prompt, request.options.apply(self.settings)
        record = ComparisonLog(prompt, settings, self.backend)
        for note in request.notes:
            yield Event("plain", "status", "", {"stage": "input", "message": note})
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
        answers = {"plain": "", "search": ""}
        texts: list[str] = []
        try:
            while finished < len(workers):
                event = events.get()
                if event.kind in ("done", "error"):
                    finished += 1
                if event.column == "plain" and event.kind in ("token", "done", "error"):
                    plain_started.set()
                if event.kind == "token":
                    answers[event.column] += event.text
                elif event.kind == "done":
                    answers[event.column] = event.data.get("answer", answers[event.column])
                elif event.kind == "sources":
                    texts = list(event.data.get("texts") or [])
                record.see(event)
                yield event
            # --- grounding: after both columns ended, off the streaming path -----------------
            for event in [] if stop.is_set() else grounding_events(prompt, answers, texts, t0):
                record.see(event)
                yield event
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=5)
            record.close()
            trim_heap()  # give back what this comparison's buffers left free (memory.py)

    def _plain(
        self, prompt: str, settings: Settings, emit: Emit, stop: threading.Event, t0: float
    ) -> None:
        from .rag.prompts import plain_messages

        try:
            messages = plain_messages(prompt)
            tokens = self._check_fits(messages, settings)
            emit(Event("plain", "prompt", "", {"messages": messages, "prompt_tokens": tokens}))
            self._generate(messages, settings, emit, stop, t0)
        except BaseException as exc:  # never let one column take down the other
            emit(_error_event(exc, "plain"))

    def _check_fits(self, messages: list[Message], settings: Settings) -> int:
        """The prompt's tokens; PromptTooLong when it and max_new_tokens exceed the window.

        Checked only where counts are exact (a server's estimate over-counts on purpose)."""
        tokens = self.backend.count_tokens(messages)
        window = self.backend.context_window
        if getattr(self.backend, "exact_counts", True) and tokens + settings.max_new_tokens > (
            window
        ):
            raise PromptTooLong(tokens, settings.max_new_tokens, window)
        return tokens

    def _search(
        self,
        prompt: str,
        settings: Settings,
        emit: Emit,
        stop: threading.Event,
        t0: float,
        plain_started: threading.Event | None = None,
    ) -> None:
        from .rag.prompts import plain_messages

        trace = SearchTrace()
        timings = trace.timings = {}

        def status(stage: str, info: dict[str, Any] | None = None) -> None:
            info = info or {}
            emit(
                Event(
                    "search",
                    "status",
                    "",
                    {"stage": stage, **info, "message": stage_message(stage, info)},
                )
            )

        def send_trace() -> None:
            emit(Event("search", "trace", "", trace.as_dict()))

        try:
            if not settings.providers:
                trace.notices = [SEARCH_OFF_NOTE]
                emit(Event("search", "trace", "", {**trace.as_dict(), "off": True}))
                emit(
                    Event(
                        "search",
                        "done",
                        "",
                        {"answer": "", "skipped": True, "note": SEARCH_OFF_NOTE},
                    )
                )
                return
            self._check_fits(plain_messages(prompt), settings)  # the question alone must fit
            status("wait")
            waited = time.perf_counter()
            if plain_started is not None:
                plain_started.wait(PLAIN_HEAD_START_S)
            timings["wait"] = round((time.perf_counter() - waited) * 1000, 1)
            try:
                ctx = self.context(
                    prompt,
                    settings,
                    trace=trace,
                    cancel=stop,
                    on_update=lambda _t: send_trace(),
                    on_stage=status,
                )
            except SearchError as exc:
                trace.error = _detail(exc)
                send_trace()
                raise
            no_page_read = bool(trace.pages) and not trace.pages_read
            if no_page_read and ctx.sources:
                trace.snippets_only = True
                trace.notices = [*(trace.notices or []), SNIPPETS_ONLY_NOTE]
            emit(
                Event(
                    "search",
                    "sources",
                    "",
                    {
                        "sources": list(ctx.sources),
                        "context": ctx.text,
                        "texts": list(ctx.source_texts),
                    },
                )
            )
            send_trace()
            emit(
                Event(
                    "search",
                    "prompt",
                    "",
                    {
                        "messages": list(ctx.messages),
                        "prompt_tokens": ctx.prompt_tokens,
                        "context_tokens": ctx.context_tokens,
                        "budget_tokens": ctx.budget_tokens,
                    },
                )
            )
            if not ctx.sources:
                emit(
                    Event(
                        "search",
                        "error",
                        NO_SOURCES_NO_PAGE
                        if no_page_read
                        else "No usable sources: the search found nothing the model could read, "
                        "so there is no search-grounded answer to show.",
                        {"type": "NoSources", "detail": "; ".join(trace.notices or [])},
                    )
                )
                return
            if stop.is_set():
                emit(Event("search", "error", "Stopped.", {"type": "Cancelled"}))
                return
            status("generate")

            def before_done(done: dict[str, Any]) -> None:  # the trace's last word, then done
                if trace.snippets_only:
                    done["note"] = SNIPPETS_ONLY_NOTE
                timings["first_token"] = round(done["prefill_s"] * 1000, 1)
                timings["generate"] = round(done["generate_s"] * 1000, 1)
                timings["total"] = round(done["total_s"] * 1000, 1)
                send_trace()

            self._generate(
                list(ctx.messages),
                settings,
                emit,
                stop,
                t0,
                sources=ctx.sources,
                before_done=before_done,
            )
        except BaseException as exc:
            emit(_error_event(exc, "search"))

    def _generate(
        self,
        messages: list[Message],
        settings: Settings,
        emit: Emit,
        stop: threading.Event,
        t0: float,
        sources: Sequence[Any] | None = None,
        before_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Stream one answer; emits its tokens and `done`, and returns the `done` data.

        Times: ttft_s and total_s from the run's start (what a visitor waits), prefill_s from
        this call to the first token (reading the prompt), generate_s for the whole call."""
        # the column name is set by the column's emitter; "plain" here is only a placeholder
        emit(
            Event(
                "plain",
                "status",
                "",
                {"stage": "generate", "message": stage_message("generate", {})},
            )
        )
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        counted = 0
        uncounted = False
        for piece in self.backend.stream(
            messages,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            stop=stop,
        ):
            n = getattr(piece, "tokens", None)
            if n is None:
                uncounted = True
            else:
                counted += n
            if not piece:
                continue
            if first is None:
                first = time.perf_counter()
            parts.append(str(piece))
            emit(Event("plain", "token", str(piece)))
        end = time.perf_counter()
        answer = "".join(parts)
        reported = _reported_tokens(self.backend)  # the server's own count, where it sent one
        tokens = reported if reported is not None else counted
        if reported is None and uncounted:  # a backend that yields plain str: count the text
            tokens = self.backend.count_text_tokens(answer) if answer else 0
        gen_s = end - (first or end)
        data: dict[str, Any] = {
            "answer": answer,
            "ttft_s": round((first or end) - t0, 4),
            "prefill_s": round((first or end) - start, 4),
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
        if before_done is not None:
            before_done(data)
        emit(Event("plain", "done", "", data))
        return data


def _search_with_progress(chain: Any, question: str, stage: Callable[..., None]) -> Any:
    """chain.search, telling `stage` which provider it asks (chains without the hook: once)."""
    import inspect

    try:
        params = inspect.signature(chain.search).parameters
    except (TypeError, ValueError):
        params = {}
    if "on_provider" in params:
        return chain.search(
            question, k=SEARCH_HITS, on_provider=lambda name: stage("search", {"provider": name})
        )
    stage("search", {"provider": ""})
    return chain.search(question, k=SEARCH_HITS)


def _reported_tokens(backend: Backend) -> int | None:
    """The answer's tokens as the model server counted them (openai backend), if it said."""
    usage = getattr(backend, "last_usage", None)
    reported = usage() if callable(usage) else None
    return reported.get("completion_tokens") if reported else None


def _detail(exc: BaseException) -> str:
    """The error for the trace's fold-out: class and message, without file paths, tracebacks
    or secret values (logs.public_message); the full traceback is in the log."""
    from .logs import public_message

    return f"{type(exc).__name__}: {public_message(exc)}"


def _error_event(exc: BaseException, column: Column = "plain") -> Event:
    """The column's one error: plain words for people, the detail for the trace and the log."""
    from .logs import log_failure

    log_failure(exc)
    return Event(
        "plain",
        "error",
        user_message(exc),
        {"type": type(exc).__name__, "detail": _detail(exc)},
    )


def grounding_events(
    prompt: str, answers: dict[str, str], texts: Sequence[str], t0: float | None = None
) -> list[Event]:
    """One `grounding` event per column: both answers judged (judge.ground) against the
    search column's packed sources; none when there are no sources (search off, no usable
    sources, a failure before packing). The search column's also scores its citations."""
    if not texts:
        return []
    from .judge import ground

    out = []
    for column in ("plain", "search"):
        g = ground(answers[column], texts, question=prompt, citations=column == "search")
        t = time.perf_counter() - t0 if t0 is not None else 0.0
        out.append(Event(column, "grounding", "", g.as_dict(), t=t))  # type: ignore[arg-type]
    return out


def summarize(prompt: str, events: Sequence[Event] | Iterator[Event]) -> dict[str, Any]:
    """Fold an event stream into the `ask --json` object; with sources, each answer gains
    "grounding", read from the engine's `grounding` event (judge.ground: per-sentence labels
    with evidence offsets, a summary, and for the search column citation precision and
    recall)."""
    out: dict[str, Any] = {
        "prompt": prompt,
        "plain": _column_summary(),
        "search": {
            **_column_summary(),
            "query": "",
            "provider": "",
            "offline": False,
            "cached": False,
            "notices": [],
            "sources": [],
            "pages": [],
            "context_tokens": 0,
            "prompt_tokens": 0,
            "timings": {},
        },
    }
    for ev in events:
        col = out[ev.column]
        if ev.kind == "token":
            col["answer"] += ev.text
        elif ev.kind == "done":
            col.update(
                {
                    k: ev.data[k]
                    for k in ("answer", "ttft_s", "total_s", "tokens", "tokens_per_s", "note")
                    if k in ev.data
                }
            )
            if "invalid_citations" in ev.data:
                col["invalid_citations"] = ev.data["invalid_citations"]
        elif ev.kind == "error":
            col["error"] = ev.text
            col["error_type"] = ev.data.get("type", "")
            col["error_detail"] = ev.data.get("detail", "")
        elif ev.kind == "prompt":
            col["messages"] = ev.data.get("messages", [])
            col["prompt_tokens"] = ev.data.get("prompt_tokens", 0)
        elif ev.kind == "sources":
            col["sources"] = [
                {"n": s.n, "title": s.title, "url": s.url, "site": s.site, "kind": s.kind}
                for s in ev.data["sources"]
            ]
        elif ev.kind == "grounding":  # the engine's own judging (grounding_events)
            col["grounding"] = ev.data
        elif ev.kind == "trace":
            for key in (
                "query",
                "provider",
                "offline",
                "cached",
                "notices",
                "pages",
                "context_tokens",
                "prompt_tokens",
                "timings",
            ):
                col[key] = ev.data.get(key, col.get(key))
    return out


def _column_summary() -> dict[str, Any]:
    return {
        "answer": "",
        "ttft_s": None,
        "total_s": None,
        "tokens": 0,
        "tokens_per_s": 0.0,
        "error": None,
        "messages": [],
        "prompt_tokens": 0,
    }

"""Faults a public Space meets, at the engine: search down, every page dead, one column's
model failing mid-answer. The web is a real HTTP server on 127.0.0.1 (serp_server)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from fakes import ScriptedBackend
from searchduel.config import Settings
from searchduel.engine import NO_PAGE_READ, SNIPPETS_ONLY_NOTE, Engine, summarize
from searchduel.errors import GenerationError, user_message
from searchduel.llm.transformers_local import TransformersBackend
from searchduel.render.events import search_notice, sources_markdown
from searchduel.search.chain import SearchChain
from searchduel.search.duckduckgo import DuckDuckGoHtml, DuckDuckGoLite
from searchduel.types import Event, Hit
from serp_server import Reply


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def column_texts(events: list[Event], column: str) -> list[str]:
    """Every sentence the column shows: status lines, notes and its error."""
    out = []
    for e in events:
        if e.column != column:
            continue
        if e.kind == "error":
            out.append(e.text)
        elif e.kind == "status":
            out.append(e.data.get("message", ""))
        elif e.kind == "done":
            out.append(e.data.get("note", ""))
    return out


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("blocked", "turned this search away"),
        ("timeout", "did not answer in time"),
        ("offline", "could not be reached (this server may be offline)"),
    ],
)
def test_every_provider_failing_still_gives_the_plain_answer_and_says_why_once(
    settings, serp, fault, words
):
    base = serp.url
    if fault == "blocked":
        serp.script("/html/", Reply(403, "forbidden"))
        serp.script("/lite/", Reply(429, "slow down"))
    elif fault == "timeout":
        serp.script("/html/", Reply(200, "late", delay=1.0))
        serp.script("/lite/", Reply(200, "late", delay=1.0))
    else:
        base = f"http://127.0.0.1:{closed_port()}"
    with httpx.Client(trust_env=False) as client:
        providers = [
            DuckDuckGoHtml(client, base_url=base, timeout=0.3),
            DuckDuckGoLite(client, base_url=base, timeout=0.3),
        ]
        chain = SearchChain(providers, spacing_s=0, retry_backoff_s=0.01)
        backend = ScriptedBackend()
        backend.enqueue("plain ", "answer")
        events = list(Engine(settings, backend, chain=chain).run("tide tables in Skagway"))
    result = summarize("q", events)
    assert result["plain"]["answer"] == "plain answer" and result["plain"]["error"] is None
    message = result["search"]["error"]
    assert message.startswith("Web search is unavailable") and words in message
    causes = {"turned this search away", "did not answer in time", "may be offline"}
    for other in causes:
        if other not in words:
            assert other not in message, "each cause is told apart"
    shown = " ".join(column_texts(events, "search"))
    assert shown.count("Web search is unavailable") == 1, "said once, not per provider"
    for jargon in ("Error", "HTTP", "127.0.0.1", "duckduckgo", "--"):
        assert jargon not in message
    assert [e.kind for e in events if e.column == "search"].count("error") == 1
    assert len(backend.history) == 1, "no search answer is generated without sources"


class DeadPagesProvider:
    """A provider whose hits point at pages on the fake web that all fail."""

    name = "duckduckgo"

    def __init__(self, base: str, snippets: bool):
        self.base = base
        self.snippets = snippets

    def search(self, query: str, k: int = 10) -> list[Hit]:
        snippet = "Skagway tide tables list high water at 6:12 in the morning."
        return [
            Hit(
                title=f"Tides {i}",
                url=f"{self.base}/dead/{self.snippets}/{i}",
                snippet=snippet if self.snippets else "",
                rank=i,
                provider="duckduckgo",
            )
            for i in range(3)
        ]


def dead_web_engine(settings: Settings, serp, backend, *, snippets: bool) -> Engine:
    for i in range(3):
        serp.script(f"/dead/{snippets}/{i}", Reply(500 if i else 404, "gone"))
    chain = SearchChain([DeadPagesProvider(serp.url, snippets)], spacing_s=0)
    local = settings.replace(allow_address=("127.0.0.1/32",), page_deadline=3.0, pages=3)
    return Engine(local, backend, chain=chain)


def test_every_page_failing_answers_from_labelled_snippets_without_page_citations(settings, serp):
    backend = ScriptedBackend()
    backend.enqueue("plain")
    backend.enqueue("high water at 6:12 [1]")
    events = list(
        dead_web_engine(settings, serp, backend, snippets=True).run("Skagway tide tables")
    )
    assert serp.count("/dead/True/0") >= 1, "the pages were really asked for"
    result = summarize("q", events)
    search = result["search"]
    assert search["error"] is None and search["answer"] == "high water at 6:12 [1]"
    assert search["sources"] and {s["kind"] for s in search["sources"]} == {"snippet"}
    assert all(p["status"] != "ok" or p["from_snippet"] for p in search["pages"])
    assert search["note"] == SNIPPETS_ONLY_NOTE and NO_PAGE_READ in search["note"]
    trace = [e for e in events if e.column == "search" and e.kind == "trace"][-1].data
    assert trace["snippets_only"] and trace["pages_read"] == 0
    assert "no page could be read" in search_notice(trace)
    sources = next(e for e in events if e.kind == "sources").data["sources"]
    listed = sources_markdown(sources)
    assert listed.count("search snippet only") == len(sources)
    given = backend.history[1][-1]["content"] + backend.history[1][0]["content"]
    assert "6:12" in given, "the model was given the snippet"


def test_every_page_failing_without_snippets_says_no_page_could_be_read(settings, serp):
    backend = ScriptedBackend()
    backend.enqueue("plain")
    events = list(
        dead_web_engine(settings, serp, backend, snippets=False).run("Skagway tide tables")
    )
    result = summarize("q", events)
    assert result["plain"]["answer"] == "plain"
    assert result["search"]["error"].startswith(NO_PAGE_READ)
    assert result["search"]["sources"] == []
    assert len(backend.history) == 1


class FailingColumnBackend(ScriptedBackend):
    """Writes a few tokens in both columns, then fails in one of them only: the search
    column is the one whose messages carry sources."""

    def __init__(self, fail_in: str, **kw):
        super().__init__(**kw)
        self.fail_in = fail_in

    def stream(self, messages, *, max_new_tokens, temperature=0.0, seed=0, stop=None):
        column = "search" if len(messages[-1]["content"]) > 200 else "plain"
        pieces: list[object] = ["one ", "two ", "three "]
        if column == self.fail_in:
            pieces.append(RuntimeError("CUDA error: device-side assert at /srv/model.py"))
        pieces += ["four ", "five"]
        with self._lock:
            self._script.insert(0, pieces)
        yield from super().stream(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop
        )


@pytest.mark.parametrize("fail_in", ["plain", "search"])
def test_an_error_mid_answer_stays_in_its_column_and_the_other_finishes(settings, fail_in):
    backend = FailingColumnBackend(fail_in, delay=0.02)
    events = list(Engine(settings, backend).run("Plan a one-day trip to Skagway, Alaska"))
    result = summarize("q", events)
    other = "search" if fail_in == "plain" else "plain"
    failed = result[fail_in]
    assert failed["error"] == user_message(GenerationError("x"))
    assert failed["answer"] == "one two three ", "what was written before the error stays"
    assert "/srv" not in failed["error"] and "CUDA" not in failed["error"]
    assert result[other]["error"] is None
    assert result[other]["answer"] == "one two three four five"
    ends = [e.kind for e in events if e.column == fail_in and e.kind in ("done", "error")]
    assert ends == ["error"]


# --- a dropped client ---------------------------------------------------------------------


def _wait_free(gate, slots: int, limit: float) -> float:
    """Seconds until `gate` has `slots` free again (gives up after `limit`)."""
    start = time.perf_counter()
    while gate._free < slots and time.perf_counter() - start < limit:
        time.sleep(0.005)
    return time.perf_counter() - start


def test_a_dropped_client_frees_the_model_within_a_second(settings, tiny_backend):
    """Gradio closes the run's generator when a tab goes away: both columns stop, and the
    one slot of the shared model is free for the next person within a second."""
    one_slot = TransformersBackend(
        tiny_backend.model, tiny_backend.tokenizer, name="tiny", max_streams=1, queue_size=4
    )
    engine = Engine(settings.replace(max_new_tokens=2000), one_slot)
    stream = engine.run("Plan a one-day trip to Skagway, Alaska")
    tokens = 0
    for event in stream:
        tokens += event.kind == "token"
        if tokens == 3:
            break
    assert one_slot.gate._free == 0, "a column holds the model"
    start = time.perf_counter()
    stream.close()  # what a dropped tab does to the generator
    freed = time.perf_counter() - start + _wait_free(one_slot.gate, 1, 10)
    assert freed < 1.0, f"the slot came free after {freed:.2f} s"
    assert one_slot.gate.waiting == 0, "the search column is not left waiting for the slot"
    alive = [t.name for t in threading.enumerate() if t.name.startswith("column-")]
    assert alive == [], f"columns still running: {alive}"
    # the next person gets a token at once
    start = time.perf_counter()
    nxt = one_slot.stream([{"role": "user", "content": "Hello"}], max_new_tokens=2)
    next(iter(nxt))
    first = time.perf_counter() - start
    list(nxt)
    assert first < 5.0, f"the next request waited {first:.2f} s for its first token"

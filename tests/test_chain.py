"""The provider chain against a real local server playing DuckDuckGo (html, lite) and SearXNG,
reached through the base-URL settings exactly as a mirror would be."""

from __future__ import annotations

import json
import random
import threading
import time

import httpx
import pytest

from searchduel.config import DEFAULT_CORPUS, Settings
from searchduel.errors import (
    ConfigError,
    SearchBlocked,
    SearchError,
    SearchUnavailable,
    SearchUnparseable,
    SearchUnreachable,
)
from searchduel.search.chain import MAX_QUERY_CHARS, Attempt, SearchChain, clean_query
from searchduel.search.registry import make_chain, search_cli
from searchduel.types import Hit
from serp_server import FakeSerp, Reply, fixture

RESULTS = Reply(200, fixture("ddg_html_results.html"))
LITE = Reply(200, fixture("ddg_lite_results.html"))
CHALLENGE = Reply(200, fixture("ddg_html_challenge.html"))
CHALLENGE_202 = Reply(202, fixture("ddg_html_challenge.html"))
SEARXNG = Reply(200, fixture("searxng_results.json"), content_type="application/json")


class FakeClock:
    """A monotonic clock that only moves when told to (or when the chain sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeLocal:
    """Stands in for the offline corpus: always has one page, counts its calls."""

    name = "local"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls.append(query)
        return [Hit(title="Tides (offline)", url="corpus://tides.md", provider=self.name)]


class Scripted:
    """A provider whose answers are a script of hit lists and exceptions."""

    def __init__(self, name: str, *script: object, clock: FakeClock | None = None, took=0.0):
        self.name = name
        self.label = name.title()
        self.script = list(script)
        self.calls = 0
        self.clock, self.took = clock, took

    def search(self, query: str, k: int = 10) -> list[Hit]:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.took
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, BaseException):
            raise step
        return list(step)  # type: ignore[call-overload]


def hits(name: str, n: int = 2) -> list[Hit]:
    return [
        Hit(title=f"{name} {i}", url=f"https://{name}.example/{i}", provider=name) for i in range(n)
    ]


def chain_for(serp: FakeSerp, order: str, *, local=None, clock: FakeClock | None = None, **kw):
    settings = Settings(ddg_url=serp.url, searxng_url=serp.url, search_order=order)
    options: dict = {"spacing_s": 0.0, "rng": random.Random(7)}
    if clock is not None:
        options.update(clock=clock, sleep=clock.sleep)
    options.update(kw)
    return make_chain(settings, local=local, **options)


def outcomes(outcome) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in outcome.attempts]


# --- query hygiene --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('  "tide   tables"\n', "tide tables"),
        ("“smart quotes”", "smart quotes"),
        ("'single'", "single"),
        ('say "hi" now', 'say "hi" now'),
        ("!w lighthouse", "w lighthouse"),
        ("lighthouse !w", "lighthouse w"),
        ('"!g brest tides"', "g brest tides"),
        ("what does ! mean", "what does ! mean"),
        ("C! language", "C! language"),
        ("!!!", ""),
    ],
)
def test_clean_query(raw, clean):
    assert clean_query(raw) == clean


def test_clean_query_caps_length_on_a_word():
    q = clean_query("lighthouse " * 100)
    assert len(q) <= MAX_QUERY_CHARS and q.endswith("lighthouse")
    assert len(clean_query("x" * 600)) == MAX_QUERY_CHARS


def test_empty_query_is_an_error():
    chain = SearchChain([FakeLocal()])
    with pytest.raises(SearchError, match="nothing to search for"):
        chain.search("  !  ")


# --- fallback ---------------------------------------------------------------------------------


def test_html_answers_first(serp):
    serp.script("/html/", RESULTS)
    with chain_for(serp, "duckduckgo,searxng,local", local=FakeLocal()) as chain:
        out = chain.search("tide tables", 3)
    assert out.provider == "duckduckgo" and len(out.hits) == 3
    assert out.notices == () and not out.offline and not out.cached
    assert outcomes(out) == [("duckduckgo", "ok")]
    assert [r.path for r in serp.log()] == ["/html/"]
    assert out.query == "tide tables"


def test_fallback_order_html_lite_searxng(serp):
    serp.script("/html/", CHALLENGE)
    serp.script("/lite/", CHALLENGE_202)
    serp.script("/search", SEARXNG)
    local = FakeLocal()
    with chain_for(serp, "duckduckgo,searxng,local", local=local) as chain:
        out = chain.search("tide tables")
    assert [r.path for r in serp.log()] == ["/html/", "/lite/", "/search"]
    assert out.provider == "searxng" and not out.offline
    assert out.hits[0].url == "https://tides.example.org/brest"
    assert out.notices == (
        "DuckDuckGo blocked the request (bot challenge)",
        "DuckDuckGo Lite blocked the request (bot challenge, HTTP 202); used SearXNG",
    )
    assert outcomes(out) == [
        ("duckduckgo", "blocked"),
        ("duckduckgo-lite", "blocked"),
        ("searxng", "ok"),
    ]
    assert local.calls == []


def test_offline_corpus_answers_when_the_web_does_not_and_says_so(serp):
    serp.script("/html/", CHALLENGE)
    serp.script("/lite/", Reply(429, "", {"Retry-After": "600"}))
    serp.script("/search", Reply(503, "down"))
    local = FakeLocal()
    with chain_for(serp, "duckduckgo,searxng,local", local=local) as chain:
        out = chain.search("tide tables")
    assert out.offline and out.provider == "local"
    assert out.notices[-1].endswith("; answered from the offline corpus, not the web")
    assert local.calls == ["tide tables"]


def test_every_provider_blocked_raises_blocked_within_seconds(serp):
    serp.script("/html/", CHALLENGE)
    serp.script("/lite/", Reply(429, "slow down"))
    serp.script("/search", Reply(403, "forbidden"))
    t0 = time.monotonic()
    with chain_for(serp, "duckduckgo,searxng") as chain, pytest.raises(SearchBlocked) as info:
        chain.search("tide tables")
    assert time.monotonic() - t0 < 3
    message = str(info.value)
    assert "DuckDuckGo blocked the request (bot challenge)" in message
    assert "DuckDuckGo Lite rate-limited the request (HTTP 429)" in message
    assert "search.formats" in message
    assert info.value.provider == "duckduckgo"


def test_unparseable_outranks_unavailable(serp):
    serp.script("/html/", Reply(200, fixture("unknown_layout.html")))
    serp.script("/lite/", Reply(500, "oops"))
    chain = chain_for(serp, "duckduckgo", retry_backoff_s=0.01)
    with chain, pytest.raises(SearchUnparseable):
        chain.search("tide tables")
    serp.script("/html/", Reply(500, "oops"))
    chain = chain_for(serp, "duckduckgo", retry_backoff_s=0.01)
    with chain, pytest.raises(SearchUnavailable):
        chain.search("tide tables")


def test_no_results_is_noted_and_the_next_provider_asked(serp):
    serp.script("/html/", Reply(200, fixture("ddg_html_no_results.html")))
    serp.script("/lite/", LITE)
    with chain_for(serp, "duckduckgo") as chain:
        out = chain.search("tide tables")
    assert out.provider == "duckduckgo-lite"
    assert out.notices == ("DuckDuckGo found no results; used DuckDuckGo Lite",)


def test_nothing_anywhere_is_an_empty_outcome_not_an_error_and_not_cached(serp):
    serp.script("/html/", Reply(200, fixture("ddg_html_no_results.html")))
    serp.script("/lite/", Reply(200, fixture("ddg_lite_no_results.html")))
    serp.script("/search", Reply(200, json.dumps({"results": []}), content_type="application/json"))
    with chain_for(serp, "duckduckgo,searxng") as chain:
        out = chain.search("qxzvplork wumbat")
        assert out.hits == [] and out.provider == "duckduckgo"
        assert out.notices == (
            "DuckDuckGo found no results",
            "DuckDuckGo Lite found no results",
            "SearXNG found no results",
        )
        chain.search("qxzvplork wumbat")
    assert serp.count("/html/") == 2


# --- breaker ----------------------------------------------------------------------------------


def test_breaker_opens_on_a_block_then_probes_once_and_closes(serp):
    clock = FakeClock()
    serp.script("/html/", CHALLENGE, RESULTS)
    serp.script("/lite/", LITE)
    with chain_for(serp, "duckduckgo", clock=clock, cooldown_s=600) as chain:
        first = chain.search("first")
        assert first.provider == "duckduckgo-lite"
        assert chain.breaker_state("duckduckgo") == "open"

        clock.now += 300
        second = chain.search("second")
        assert serp.count("/html/") == 1  # not asked while open
        assert second.attempts[0] == Attempt("duckduckgo", "skipped", 0.0)
        assert "next try in 5 min" in second.notices[0]
        assert "bot challenge" in second.notices[0]

        clock.now += 301
        third = chain.search("third")
        assert serp.count("/html/") == 2  # exactly one probe
        assert third.provider == "duckduckgo"
        assert chain.breaker_state("duckduckgo") == "closed"


def test_failed_probe_reopens_without_a_retry(serp):
    clock = FakeClock()
    serp.script("/html/", Reply(503, "down"))
    serp.script("/lite/", LITE)
    with chain_for(
        serp, "duckduckgo", clock=clock, failures_to_open=1, failure_cooldown_s=60
    ) as chain:
        chain.search("one")
        assert serp.count("/html/") == 2  # first try and its one retry
        assert chain.breaker_state("duckduckgo") == "open"
        clock.now += 61
        probe = chain.search("two")
        assert serp.count("/html/") == 3  # the probe is a single request
        assert ("duckduckgo", "unavailable") in outcomes(probe)
        assert chain.breaker_state("duckduckgo") == "open"
        chain.search("three")
        assert serp.count("/html/") == 3


def test_failures_open_the_breaker_after_a_streak():
    clock = FakeClock()
    flaky = Scripted("flaky", SearchUnparseable("Flaky: odd page", provider="flaky"))
    backup = Scripted("backup", hits("backup"))
    chain = SearchChain(
        [flaky, backup], clock=clock, sleep=clock.sleep, spacing_s=0, failures_to_open=3
    )
    for q in ("a", "b", "c", "d"):
        assert chain.search(q).provider == "backup"
    assert flaky.calls == 3  # unparseable pages are not retried; the 4th search skips it
    assert chain.breaker_state("flaky") == "open"


# --- Retry-After and the one retry ---------------------------------------------------------


def test_short_retry_after_is_waited_out_and_retried_once(serp):
    clock = FakeClock()
    serp.script("/html/", Reply(429, "", {"Retry-After": "2"}), RESULTS)
    with chain_for(serp, "duckduckgo", clock=clock) as chain:
        out = chain.search("tide tables")
    assert out.provider == "duckduckgo" and serp.count("/html/") == 2
    assert outcomes(out) == [("duckduckgo", "blocked"), ("duckduckgo", "ok")]
    assert any(2.0 <= s <= 2.5 for s in clock.sleeps)  # never earlier than asked
    assert "retrying in 2." in out.notices[0]
    assert serp.count("/lite/") == 0


def test_long_retry_after_keeps_the_provider_away_that_long(serp):
    clock = FakeClock()
    serp.script("/html/", Reply(429, "", {"Retry-After": "100"}), RESULTS)
    serp.script("/lite/", LITE)
    with chain_for(serp, "duckduckgo", clock=clock, cooldown_s=10) as chain:
        assert chain.search("a").provider == "duckduckgo-lite"
        assert serp.count("/html/") == 1  # 100 s does not fit the 20 s budget: no retry
        clock.now += 50  # past the 10 s cool-down, inside Retry-After
        assert chain.search("b").attempts[0].outcome == "skipped"
        clock.now += 51
        assert chain.search("c").provider == "duckduckgo"
    assert serp.count("/html/") == 2


def test_unavailable_is_retried_once_with_jitter(serp):
    clock = FakeClock()
    serp.script("/html/", Reply(503, "busy"), RESULTS)
    with chain_for(serp, "duckduckgo", clock=clock, retry_backoff_s=0.5) as chain:
        out = chain.search("tide tables")
    assert outcomes(out) == [("duckduckgo", "unavailable"), ("duckduckgo", "ok")]
    assert 0.25 <= clock.sleeps[0] <= 0.75
    assert out.notices == (f"DuckDuckGo answered HTTP 503; retrying in {clock.sleeps[0]:.1f} s",)


def test_a_failed_retry_is_one_notice(serp):
    clock = FakeClock()
    serp.script("/html/", Reply(503, "busy"))
    serp.script("/lite/", LITE)
    with chain_for(serp, "duckduckgo", clock=clock) as chain:
        out = chain.search("tide tables")
    assert serp.count("/html/") == 2
    assert out.notices == (
        "DuckDuckGo answered HTTP 503 (again on the one retry); used DuckDuckGo Lite",
    )


def test_time_budget_limits_retries_and_fallbacks():
    clock = FakeClock()
    slow = Scripted(
        "slow", SearchUnavailable("Slow did not answer", provider="slow"), clock=clock, took=15
    )
    other = Scripted("other", hits("other"))
    local = FakeLocal()
    chain = SearchChain(
        [slow, other, local], clock=clock, sleep=clock.sleep, spacing_s=0, budget_s=20
    )
    out = chain.search("x")
    # no retry (15 s + another 15 s would overrun), the next web provider still fits
    assert slow.calls == 1 and out.provider == "other"
    slow.took = 25
    out = chain.search("y")
    assert outcomes(out) == [("slow", "unavailable"), ("other", "over-budget"), ("local", "ok")]
    assert out.offline and "budget is spent" in out.notices[1]


def test_a_provider_crashing_with_a_project_error_degrades():
    broken = Scripted("local", ConfigError("corpus folder not found"))
    broken.label = ""  # unlabelled: the chain names "local" itself
    backup = Scripted("backup", hits("backup"))
    out = SearchChain([broken, backup], spacing_s=0).search("x")
    assert out.provider == "backup" and broken.calls == 1
    assert out.notices[0].startswith("the offline corpus failed (corpus folder not found)")


# --- cache ----------------------------------------------------------------------------------


def test_cache_hit_for_the_same_query(serp):
    clock = FakeClock()
    serp.script("/html/", RESULTS)
    with chain_for(serp, "duckduckgo", clock=clock) as chain:
        first = chain.search("tide tables")
        clock.now += 60
        again = chain.search('  "Tide   TABLES" ')
        assert serp.count("/html/") == 1
        assert again.cached and again.hits == first.hits and again.provider == "duckduckgo"
        assert again.attempts == (Attempt("duckduckgo", "cached", 0.0),)
        assert again.notices == ("from the cache (60 s old)",)
        clock.now += 900
        assert not chain.search("tide tables").cached
    assert serp.count("/html/") == 2


def test_blocks_are_never_cached(serp):
    clock = FakeClock()
    serp.script("/html/", CHALLENGE, RESULTS)
    serp.script("/lite/", CHALLENGE)
    with chain_for(serp, "duckduckgo", clock=clock, cooldown_s=60) as chain:
        with pytest.raises(SearchBlocked):
            chain.search("tide tables")
        clock.now += 61
        out = chain.search("tide tables")
    assert out.provider == "duckduckgo" and not out.cached
    assert serp.count("/html/") == 2


def test_offline_fallback_is_cached_briefly_and_labelled(serp):
    serp.script("/html/", CHALLENGE)
    serp.script("/lite/", CHALLENGE)
    local, clock = FakeLocal(), FakeClock()
    with chain_for(serp, "duckduckgo,local", local=local, clock=clock, fallback_ttl_s=30) as chain:
        first = chain.search("tide tables")
        clock.now += 10
        again = chain.search("tide tables")
        clock.now += 21  # past the fallback's lifetime: the corpus is asked again
        third = chain.search("tide tables")
    assert first.offline and not first.cached
    assert again.cached and again.offline and again.provider == "local"
    assert again.notices[-1] == "from the cache (10 s old)"
    assert again.attempts == (Attempt("local", "cached", 0.0),)
    assert not third.cached and local.calls == ["tide tables", "tide tables"]


def test_offline_fallback_is_not_cached_when_the_web_may_answer_next_time(serp):
    serp.script("/html/", Reply(500, "oops"))
    local = FakeLocal()
    chain = SearchChain(
        [Scripted("web", SearchUnavailable("web answered HTTP 500", provider="web")), local],
        spacing_s=0.0,
        retry_backoff_s=0.0,
    )
    chain.search("tide tables")
    out = chain.search("tide tables")
    assert not out.cached and local.calls == ["tide tables", "tide tables"]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    ["http://searchduel-no-such-host.invalid", "refused"],
    ids=["dns-failure", "connection-refused"],
)
def test_unreachable_provider_rests_at_once_and_is_tried_after_the_cooldown(serp, url):
    if url == "refused":
        url = f"http://127.0.0.1:{_closed_port()}"
    local, clock = FakeLocal(), FakeClock()
    settings = Settings(ddg_url=url, search_order="duckduckgo,local")
    options = dict(spacing_s=0.0, clock=clock, sleep=clock.sleep, rng=random.Random(7))
    with make_chain(
        settings, local=local, unreachable_cooldown_s=30, fallback_ttl_s=300, **options
    ) as chain:
        first = chain.search("tide tables")
        # one request each, no retry, no back-off sleep: both endpoints rest at once
        assert outcomes(first) == [
            ("duckduckgo", "unavailable"),
            ("duckduckgo-lite", "unavailable"),
            ("local", "ok"),
        ]
        assert clock.sleeps == []
        assert "could not be reached" in first.notices[0] and first.offline
        assert chain.breaker_state("duckduckgo") == "open"
        assert chain.breaker_state("duckduckgo-lite") == "open"
        # another question skips the web without a request
        other = chain.search("lighthouse keepers")
        assert [o for _, o in outcomes(other)] == ["skipped", "skipped", "ok"]
        # the same question comes from memory, labelled, within the cool-down
        again = chain.search("tide tables")
        assert again.cached and again.notices[-1].startswith("from the cache")
        # after the cool-down the web is tried again (the fallback never outlives it)
        clock.now += 31
        later = chain.search("tide tables")
    assert not later.cached
    web = [("duckduckgo", "unavailable"), ("duckduckgo-lite", "unavailable")]
    assert outcomes(later)[:2] == web
    assert local.calls == ["tide tables", "lighthouse keepers", "tide tables"]


def test_unreachable_then_reachable_closes_the_breaker(serp):
    clock = FakeClock()
    web = Scripted(
        "web",
        SearchUnreachable("web could not be reached", provider="web"),
        hits("web"),
    )
    chain = SearchChain(
        [web, FakeLocal()],
        spacing_s=0.0,
        clock=clock,
        sleep=clock.sleep,
        unreachable_cooldown_s=30,
    )
    assert chain.search("tides").offline and chain.breaker_state("web") == "open"
    clock.now += 31
    out = chain.search("tides")  # the fallback entry died with the cool-down
    assert out.provider == "web" and not out.cached and chain.breaker_state("web") == "closed"
    assert web.calls == 2


# --- coalescing and spacing (real threads, real clock) ------------------------------------


def test_identical_searches_in_flight_share_one_request(serp):
    serp.script("/html/", Reply(200, fixture("ddg_html_results.html"), delay=0.3))
    results: list = []
    with chain_for(serp, "duckduckgo") as chain:
        barrier = threading.Barrier(6)

        def work() -> None:
            barrier.wait()
            results.append(chain.search("tide tables"))

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert serp.count("/html/") == 1
    assert len(results) == 6 and all(r.hits == results[0].hits for r in results)


def test_coalesced_waiters_get_the_error_too(serp):
    serp.script("/html/", Reply(200, fixture("ddg_html_challenge.html"), delay=0.3))
    serp.script("/lite/", CHALLENGE)
    errors: list = []
    with chain_for(serp, "duckduckgo") as chain:
        barrier = threading.Barrier(4)

        def work() -> None:
            barrier.wait()
            try:
                chain.search("tide tables")
            except SearchBlocked as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(errors) == 4 and len({id(e) for e in errors}) == 4
    assert serp.count("/html/") == 1


def test_requests_to_one_provider_are_spaced(serp):
    """Measured where the chain sends (an httpx request hook), against what spacing
    promises: the k-th request leaves no sooner than k spacings after the searches began.
    (Gaps between sends would not do: on a busy machine a request can leave late, after its
    slot, and the next one on time.)"""
    serp.script("/html/", RESULTS)
    spacing = 0.2
    sent: list[float] = []

    def record(request: httpx.Request) -> None:
        if "/html/" in request.url.path:
            sent.append(time.monotonic())

    with httpx.Client(trust_env=False, event_hooks={"request": [record]}) as http:
        settings = Settings(ddg_url=serp.url, searxng_url=serp.url, search_order="duckduckgo")
        chain = make_chain(settings, client=http, spacing_s=spacing, rng=random.Random(7))
        with chain:
            began = time.monotonic()
            threads = [
                threading.Thread(target=chain.search, args=(f"query {i}",)) for i in range(3)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            chain.search("query 3")
    assert len(serp.log("/html/")) == 4 and len(sent) == 4
    after = [t - began for t in sorted(sent)]
    assert all(t >= k * spacing for k, t in enumerate(after)), after


def test_a_spacing_queue_longer_than_the_budget_skips_the_provider():
    clock = FakeClock()
    web = Scripted("web", hits("web"))
    chain = SearchChain(
        [web, FakeLocal()], clock=clock, sleep=lambda s: None, spacing_s=30, budget_s=20
    )
    assert chain.search("a").provider == "web"
    out = chain.search("b")  # the next slot is 30 s away: do not queue, fall back
    assert outcomes(out) == [("web", "busy"), ("local", "ok")]


# --- registry and the CLI entry -------------------------------------------------------------


def test_registry_builds_the_configured_order():
    local = FakeLocal()
    with make_chain(Settings(), local=local) as chain:
        assert [p.name for p in chain.providers] == ["duckduckgo", "duckduckgo-lite", "local"]
        assert chain.providers[0].endpoint == "https://html.duckduckgo.com/html/"
        assert chain.providers[1].endpoint == "https://lite.duckduckgo.com/lite/"
        assert chain.setup_notes == ("SearXNG is not configured (--searxng-url)",)
    settings = Settings(search_order="searxng,duckduckgo", searxng_url="http://127.0.0.1:9")
    with make_chain(settings) as chain:
        assert [p.name for p in chain.providers] == ["searxng", "duckduckgo", "duckduckgo-lite"]


def test_searxng_alone_needs_its_url_and_off_means_off():
    with pytest.raises(ConfigError, match="SEARCHDUEL_SEARXNG_URL"):
        make_chain(Settings(search="searxng"))
    with (
        make_chain(Settings(search="off")) as chain,
        pytest.raises(SearchUnavailable, match="search is off"),
    ):
        chain.search("anything")


def test_search_cli_json_shape(serp):
    serp.script("/html/", RESULTS)
    data = search_cli('"tide tables"', Settings(search="duckduckgo", ddg_url=serp.url))
    assert data["query"] == "tide tables" and data["provider"] == "duckduckgo"
    assert data["offline"] is False and data["notices"] == []
    assert data["hits"][0] == {
        "title": "Brest tide times & heights",
        "url": "https://tides.example.org/search?port=brest&days=7",
        "snippet": (
            'High and low tide times for Brest, 7\u2011day tables \u2014 "free" & accurate.'
        ),
    }
    json.dumps(data)


def test_search_cli_raises_the_cause(serp):
    serp.script("/html/", CHALLENGE)
    serp.script("/lite/", CHALLENGE_202)
    with pytest.raises(SearchBlocked, match="bot challenge"):
        search_cli("tide tables", Settings(search="duckduckgo", ddg_url=serp.url))


def test_search_cli_offline_corpus_is_labelled():
    data = search_cli("lighthouse", Settings(search="local", corpus=str(DEFAULT_CORPUS)))
    assert data["provider"] == "local" and data["offline"] is True


def test_bench_search_suite_runs():
    import argparse

    from searchduel.bench import search as bench_search

    results = bench_search.run(argparse.Namespace(search_rounds=3, search_latency=0.0))
    by_name = {r.name: r for r in results}
    assert set(by_name) == {
        "provider alone",
        "through the chain",
        "chain / provider",
        "cached repeat",
        "cached / provider",
        "block reported",
    }
    assert by_name["block reported"].passed is True
    assert by_name["cached repeat"].value < by_name["provider alone"].value

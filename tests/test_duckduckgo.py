"""DuckDuckGo parsers on saved real pages and written fixtures; the providers over a real
local server (request shape, and every way DuckDuckGo says no)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from searchduel.errors import ConfigError, SearchBlocked, SearchUnavailable, SearchUnparseable
from searchduel.search.base import SearchProvider
from searchduel.search.duckduckgo import (
    DuckDuckGoHtml,
    DuckDuckGoLite,
    html_endpoint,
    lite_endpoint,
    parse_html_page,
    parse_lite_page,
    unwrap_link,
)
from searchduel.search.http import parse_retry_after
from serp_server import Reply, fixture

SERP = Path(__file__).resolve().parents[2] / "shared" / "data" / "serp"


def real(name: str) -> str:
    path = SERP / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data lives beside the repository)")
    return path.read_text(encoding="utf-8")


# --- real pages -------------------------------------------------------------------------


def test_real_html_page_caffeine():
    hits = parse_html_page(real("ddg_html_caffeine__desimoose-celina.html"), 20)
    assert len(hits) == 9
    first = hits[0]
    assert first.title == "Caffeine and Sleep Problems"
    assert first.url == "https://www.sleepfoundation.org/nutrition/caffeine-and-sleep"
    assert first.display_url == "www.sleepfoundation.org/nutrition/caffeine-and-sleep"
    assert first.date == "2025-07-16"
    assert first.snippet.startswith("Drinking caffeine too close to bedtime")
    assert [h.rank for h in hits] == list(range(9))
    assert sum(h.date is not None for h in hits) == 6
    for h in hits:
        assert h.url.startswith("https://") and "duckduckgo.com" not in h.url
        assert h.title and h.snippet and "<b>" not in h.snippet
        assert h.provider == "duckduckgo"


def test_real_html_page_foo():
    hits = parse_html_page(real("ddg_html_foo__euske-lofi.html"), 20)
    assert len(hits) == 10
    assert hits[0].url == "https://en.wikipedia.org/wiki/Foo_Fighters"
    assert hits[1].title == "foo | Meaning & Origin - Dictionary.com"
    assert hits[4].url == "https://www.youtube.com/watch?v=eBG7P-K-r1Y"
    assert hits[9].snippet.startswith("シルクパジャマ")
    assert len(parse_html_page(real("ddg_html_foo__euske-lofi.html"), 3)) == 3


def test_real_lite_challenge_is_a_block_not_no_results():
    page = real("ddg_lite_captcha_caffeine__desimoose-celina.html")
    with pytest.raises(SearchBlocked, match="bot challenge"):
        parse_lite_page(page)
    # whichever endpoint served it
    with pytest.raises(SearchBlocked):
        parse_html_page(page)


def test_real_page_of_another_engine_is_unparseable():
    with pytest.raises(SearchUnparseable, match="neither results"):
        parse_html_page(real("bing_caffeine__desimoose-celina.html"))


# --- written fixtures: html endpoint ------------------------------------------------------


@pytest.fixture(scope="module")
def results_page() -> list:
    return parse_html_page(fixture("ddg_html_results.html"), 20)


def test_ads_are_skipped(results_page):
    assert all("boats.example" not in h.url and "y.js" not in h.url for h in results_page)
    assert "Buy a Boat Today" not in [h.title for h in results_page]


def test_uddg_link_with_amp_and_its_own_query(results_page):
    assert results_page[0].url == "https://tides.example.org/search?port=brest&days=7"


def test_entities_and_bold_in_text(results_page):
    assert results_page[0].title == "Brest tide times & heights"
    assert results_page[0].snippet == (
        'High and low tide times for Brest, 7\u2011day tables \u2014 "free" & accurate.'
    )
    assert results_page[1].title == "Spring tides explained"
    assert results_page[1].snippet == "Why the Moon's phase makes some tides bigger."


def test_dated_result(results_page):
    assert results_page[1].date == "2024-03-09"
    assert results_page[1].display_url == "www.harbour.example/news/spring-tides"
    assert results_page[0].date is None


def test_result_without_snippet(results_page):
    hit = results_page[2]
    assert (hit.title, hit.url) == ("Sea tables", "https://sea.example.net/tables/")
    assert hit.snippet == ""


def test_duplicates_dropped_and_direct_links_kept(results_page):
    urls = [h.url for h in results_page]
    assert urls == [
        "https://tides.example.org/search?port=brest&days=7",
        "https://www.harbour.example/news/spring-tides",
        "https://sea.example.net/tables/",
        "https://coast.example.com/almanac",
    ]
    assert [h.rank for h in results_page] == [0, 1, 2, 3]


def test_zero_click_is_an_extra_first_hit():
    hits = parse_html_page(fixture("ddg_html_zero_click.html"))
    assert hits[0].url == "https://en.wikipedia.org/wiki/Lighthouse"
    assert hits[0].title == "Lighthouse"
    assert hits[0].snippet.startswith("A lighthouse is a tower")
    assert "lenses & to serve as a beacon." in hits[0].snippet
    assert "More at" not in hits[0].snippet
    # the organic Wikipedia result is the same page: kept once
    assert [h.url for h in hits] == [
        "https://en.wikipedia.org/wiki/Lighthouse",
        "https://lights.example.org/list",
    ]
    plain = parse_html_page(fixture("ddg_html_zero_click.html"), zero_click=False)
    assert [h.url for h in plain] == [
        "https://lights.example.org/list",
        "https://en.wikipedia.org/wiki/Lighthouse",
    ]


def test_no_results_page_is_the_only_empty_list():
    assert parse_html_page(fixture("ddg_html_no_results.html")) == []
    assert parse_lite_page(fixture("ddg_lite_no_results.html")) == []


def test_challenge_fixture_is_blocked():
    with pytest.raises(SearchBlocked, match="DuckDuckGo blocked the request"):
        parse_html_page(fixture("ddg_html_challenge.html"))


def test_unknown_layout_is_unparseable():
    with pytest.raises(SearchUnparseable, match="layout may have changed"):
        parse_html_page(fixture("unknown_layout.html"))
    with pytest.raises(SearchUnparseable):
        parse_lite_page(fixture("unknown_layout.html"))
    with pytest.raises(SearchUnparseable):
        parse_html_page("")


def test_a_snippet_quoting_the_challenge_text_is_not_a_block():
    page = fixture("ddg_html_results.html").replace(
        "Yearly <b>tide</b> predictions.", "He wrote: bots use DuckDuckGo too (anomaly.js)."
    )
    hits = parse_html_page(page)
    assert hits[-1].snippet == "He wrote: bots use DuckDuckGo too (anomaly.js)."


# --- written fixtures: lite endpoint ------------------------------------------------------


def test_lite_results():
    hits = parse_lite_page(fixture("ddg_lite_results.html"))
    assert [h.url for h in hits] == [
        "https://tides.example.org/search?port=brest&days=7",
        "https://www.harbour.example/news/spring-tides",
        "https://sea.example.net/tables/",
    ]
    assert hits[0].title == "Brest tide times & heights"
    assert hits[0].snippet == "High and low tide times for Brest \u2013 7-day tables."
    assert hits[0].display_url == "tides.example.org/search?port=brest"
    assert hits[1].date == "2024-03-09"
    assert hits[2].snippet == "" and hits[2].display_url == "sea.example.net/tables/"
    assert {h.provider for h in hits} == {"duckduckgo-lite"}
    assert len(parse_lite_page(fixture("ddg_lite_results.html"), 2)) == 2


# --- links and endpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "url"),
    [
        (
            "//duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2Fx%3Fy%3D1%26z%3D2&rut=ab",
            "https://a.example/x?y=1&z=2",
        ),
        ("/l/?uddg=https%3A%2F%2Fa.example%2F&rut=ab", "https://a.example/"),
        ("https://duckduckgo.com/l/?uddg=http%3A%2F%2Fb.example%2Fp", "http://b.example/p"),
        ("https://c.example/direct", "https://c.example/direct"),
        ("https://duckduckgo.com/y.js?ad_domain=x.example", None),
        ("//duckduckgo.com/l/?rut=ab", None),
        ("javascript:void(0)", None),
        ("", None),
        (None, None),
    ],
)
def test_unwrap_link(href, url):
    assert unwrap_link(href) == url


def test_endpoints_follow_the_base_url():
    assert html_endpoint() == "https://html.duckduckgo.com/html/"
    assert lite_endpoint() == "https://lite.duckduckgo.com/lite/"
    assert html_endpoint("http://127.0.0.1:9") == "http://127.0.0.1:9/html/"
    assert lite_endpoint("http://127.0.0.1:9/") == "http://127.0.0.1:9/lite/"


def test_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


# --- providers over a real local server ---------------------------------------------------


def test_html_provider_posts_the_browser_form(serp, client):
    serp.script("/html/", Reply(200, fixture("ddg_html_results.html")))
    ddg = DuckDuckGoHtml(client, base_url=serp.url, region="de-de", time_filter="w")
    assert isinstance(ddg, SearchProvider)
    hits = ddg.search("tide tables", 2)
    assert [h.title for h in hits] == ["Brest tide times & heights", "Spring tides explained"]
    (req,) = serp.log("/html/")
    assert req.method == "POST"
    assert req.form == {"q": "tide tables", "b": "", "kl": "de-de", "df": "w"}
    h = req.headers
    assert h["user-agent"].startswith("Mozilla/5.0") and "python" not in h["user-agent"].lower()
    assert h["referer"] == serp.url + "/"
    assert h["accept-language"].startswith("de-DE")
    assert h["sec-fetch-mode"] == "navigate" and h["sec-fetch-site"] == "same-origin"
    assert h["content-type"] == "application/x-www-form-urlencoded"


def test_lite_provider_posts_to_lite(serp, client):
    serp.script("/lite/", Reply(200, fixture("ddg_lite_results.html")))
    lite = DuckDuckGoLite(client, base_url=serp.url)
    assert len(lite.search("tide tables")) == 3
    (req,) = serp.log("/lite/")
    assert req.form["q"] == "tide tables" and req.form["kl"] == "wt-wt"
    assert serp.count("/html/") == 0


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (Reply(202, fixture("ddg_html_challenge.html")), SearchBlocked, "bot challenge, HTTP 202"),
        (Reply(200, fixture("ddg_html_challenge.html")), SearchBlocked, "bot challenge"),
        (Reply(202, ""), SearchBlocked, "HTTP 202"),
        (Reply(403, "no"), SearchBlocked, "refused the request (HTTP 403)"),
        (Reply(418, "teapot"), SearchBlocked, "HTTP 418"),
        (Reply(429, "slow down"), SearchBlocked, "rate-limited"),
        (Reply(301, "", {"Location": "https://duckduckgo.com/"}), SearchBlocked, "redirected"),
        (Reply(500, "oops"), SearchUnavailable, "HTTP 500"),
        (Reply(404, "nope"), SearchUnavailable, "HTTP 404"),
        (Reply(200, fixture("unknown_layout.html")), SearchUnparseable, "neither results"),
    ],
)
def test_every_refusal_is_an_error_not_an_empty_list(serp, client, reply, error, words):
    serp.script("/html/", reply)
    with pytest.raises(error, match=re.escape(words)) as info:
        DuckDuckGoHtml(client, base_url=serp.url).search("tide tables")
    assert info.value.provider == "duckduckgo"


def test_429_carries_retry_after(serp, client):
    serp.script("/lite/", Reply(429, "", {"Retry-After": "30"}))
    with pytest.raises(SearchBlocked) as info:
        DuckDuckGoLite(client, base_url=serp.url).search("x")
    assert info.value.retry_after == 30.0
    assert "retry after 30 s" in str(info.value)


def test_timeout_and_refused_connection_are_unavailable(serp, client):
    serp.script("/html/", Reply(200, fixture("ddg_html_results.html"), delay=0.5))
    with pytest.raises(SearchUnavailable, match=r"did not answer within 0\.1 s"):
        DuckDuckGoHtml(client, base_url=serp.url, timeout=0.1).search("x")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SearchUnavailable, match="could not be reached"):
        DuckDuckGoHtml(client, base_url=f"http://127.0.0.1:{port}").search("x")


def test_bad_time_filter_is_a_config_error():
    with pytest.raises(ConfigError, match="valid values"):
        DuckDuckGoHtml(httpx.Client(trust_env=False), time_filter="decade")

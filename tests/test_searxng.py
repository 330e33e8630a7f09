"""The SearXNG provider against a real local server playing a SearXNG instance."""

from __future__ import annotations

import json

import pytest

from searchduel.errors import ConfigError, SearchBlocked, SearchUnavailable, SearchUnparseable
from searchduel.search.base import SearchProvider
from searchduel.search.searxng import SearxngProvider, parse_json, region_to_language
from serp_server import Reply, fixture

JSON = "application/json"


def _json(data: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(data), content_type=JSON)


def test_results_with_engine_and_date(serp, client):
    serp.script("/search", Reply(200, fixture("searxng_results.json"), content_type=JSON))
    sx = SearxngProvider(client, base_url=serp.url, language="fr-FR", time_range="month")
    assert isinstance(sx, SearchProvider)
    hits = sx.search("tide tables")
    # the duplicate (http, no www, trailing slash) and the magnet link are dropped
    assert [h.url for h in hits] == [
        "https://tides.example.org/brest",
        "https://www.harbour.example/news/spring-tides",
    ]
    assert hits[0].engine == "duckduckgo" and hits[1].engine == "brave"
    assert hits[1].date == "2024-03-09" and hits[0].date is None
    assert hits[1].title == "Spring tides explained"
    assert hits[1].snippet == "Why the Moon's phase makes some tides bigger."
    assert hits[1].display_url == "www.harbour.example/news/spring-tides"
    assert [h.rank for h in hits] == [0, 1] and {h.provider for h in hits} == {"searxng"}
    (req,) = serp.log("/search")
    assert req.method == "GET"
    assert req.query == {
        "q": "tide tables",
        "format": "json",
        "language": "fr-FR",
        "safesearch": "1",
        "pageno": "1",
        "time_range": "month",
    }
    assert len(sx.search("tide tables", 1)) == 1


def test_json_disabled_says_how_to_enable_it(serp, client):
    serp.script("/search", Reply(403, "<html>Forbidden</html>"))
    with pytest.raises(SearchBlocked, match=r"add `json` to `search\.formats`"):
        SearxngProvider(client, base_url=serp.url).search("x")


def test_rate_limit_carries_retry_after(serp, client):
    serp.script("/search", Reply(429, "Too Many Requests", {"Retry-After": "7"}))
    with pytest.raises(SearchBlocked) as info:
        SearxngProvider(client, base_url=serp.url).search("x")
    assert info.value.retry_after == 7.0 and info.value.provider == "searxng"


def test_server_error_is_unavailable(serp, client):
    serp.script("/search", Reply(502, "bad gateway"))
    with pytest.raises(SearchUnavailable, match="HTTP 502"):
        SearxngProvider(client, base_url=serp.url).search("x")


def test_html_instead_of_json_is_unparseable(serp, client):
    serp.script("/search", Reply(200, fixture("unknown_layout.html")))
    with pytest.raises(SearchUnparseable, match="not JSON"):
        SearxngProvider(client, base_url=serp.url).search("x")


def test_json_without_results_is_unparseable():
    with pytest.raises(SearchUnparseable, match="without a results list"):
        parse_json({"query": "x"})
    with pytest.raises(SearchUnparseable):
        parse_json(["not", "a", "dict"])


def test_empty_because_engines_failed_is_not_no_results():
    blocked = {"results": [], "unresponsive_engines": [["google", "CAPTCHA"], ["brave", "timeout"]]}
    with pytest.raises(SearchBlocked, match="google: CAPTCHA"):
        parse_json(blocked)
    down = {"results": [], "unresponsive_engines": [["google", "timeout"]]}
    with pytest.raises(SearchUnavailable, match="google: timeout"):
        parse_json(down)
    assert parse_json({"results": [], "unresponsive_engines": []}) == []


def test_configuration_errors():
    with pytest.raises(ConfigError, match="SEARCHDUEL_SEARXNG_URL"):
        SearxngProvider(base_url="")
    with pytest.raises(ConfigError, match="valid values"):
        SearxngProvider(base_url="http://127.0.0.1:9", time_range="decade")


@pytest.mark.parametrize(
    ("region", "language"), [("wt-wt", "all"), ("us-en", "en-US"), ("de-de", "de-DE"), ("", "all")]
)
def test_region_to_language(region, language):
    assert region_to_language(region) == language

"""What the page shows: inert model text, linked citations, one message, stage words, times."""

from __future__ import annotations

from safe_html import check_html, links_of, text_of
from searchduel.render.events import (
    answer_markdown,
    corpus_href,
    prompt_markdown,
    search_notice,
    sources_markdown,
    stage_message,
    trace_markdown,
)
from searchduel.render.markdown import safe_markdown
from searchduel.types import Source

SOURCES = [
    Source(1, "Skagway guide", "https://example.org/skagway", site="example.org"),
    Source(2, "Juneau", "corpus://juneau-alaska.md", kind="corpus"),
]


def test_model_text_cannot_inject_html_or_images():
    text = (
        'Hi <script>alert(1)</script> <img src="https://evil.test/x.png"> ![x](https://e.t/y.png)'
    )
    out = safe_markdown(text)
    assert "<script>alert(1)</script>" in text_of(out), "HTML is shown as text"
    assert links_of(out) == [("https://e.t/y.png", "image: x")], "no image in any form"
    assert 'href="https://e.t/y.png" target="_blank" rel="noopener noreferrer"' in out
    assert text_of(safe_markdown("use `<b>` here")) == "use <b> here", "code is left as code"


def test_each_citation_links_to_its_source_with_title_and_address():
    out = answer_markdown("Skagway [1] and Juneau [2], not [7].", SOURCES, "/srv/corpus")
    assert links_of(out) == [
        ("https://example.org/skagway", "[1]"),
        ("/corpus/juneau-alaska.md", "[2]"),
    ]
    assert 'title="Skagway guide — https://example.org/skagway"' in out
    assert 'title="Juneau — corpus://juneau-alaska.md"' in out, "the hover names its address"
    assert text_of(out) == "Skagway [1] and Juneau [2], not [7?]."
    assert corpus_href("https://a.b/c", "/srv") == "https://a.b/c"


def test_sources_show_site_and_title():
    out = sources_markdown(SOURCES, "/srv/corpus")
    assert "1. **example.org** · [Skagway guide](https://example.org/skagway" in out
    assert "2. **offline corpus** · [Juneau](/corpus/juneau-alaska.md" in out


def test_stage_words_name_the_real_provider():
    assert stage_message("search", {"provider": "local"}) == "Searching the offline corpus…"
    assert stage_message("search", {"provider": "duckduckgo"}) == "Searching DuckDuckGo…"
    assert stage_message("fetch", {"ready": 3, "pages": 8}) == "Reading pages (3 of 8 ready)…"
    assert stage_message("rank", {"passages": 142}) == "Ranking 142 passages…"
    assert stage_message("generate", {}) == "Writing…"


def test_a_failure_is_said_once_and_its_detail_only_in_the_fold_out():
    trace = {"query": "q", "provider": "", "notices": [], "pages": [], "timings": {"search": 5}}
    detail = "SearchUnavailable: duckduckgo: ConnectError: [Errno -2] Name or service not known"
    assert search_notice(trace) == "", "nothing under the header when the search failed"
    out = trace_markdown(trace, {"search on": detail})
    assert out.count("Errno -2") == 1 and "<details><summary>Error details" in out


def test_the_trace_times_every_stage_without_wrapping_numbers():
    timings = {
        "wait": 250,
        "search": 5,
        "fetch": 12,
        "chunk": 3,
        "bm25": 4,
        "dense": 1500,
        "pack": 2,
        "first_token": 310,
        "generate": 4000,
        "total": 6100,
    }
    out = trace_markdown({"query": "q", "provider": "local", "offline": True, "timings": timings})
    for words in (
        "head start for the plain column",
        "ranking (dense)",
        "prefill and first token",
        "total",
    ):
        assert words in out
    assert "1.50\u00a0s" in out and "250\u00a0ms" in out, "a number and its unit never part"


def test_search_off_and_fallbacks_are_notes_not_errors():
    assert "Search is off" in trace_markdown({"off": True})
    fell_back = {"provider": "local", "offline": True, "notices": ["DuckDuckGo: blocked"]}
    line = search_notice(fell_back)
    assert "offline corpus" in line and "see the trace" in line and "blocked" not in line


def test_an_answer_from_the_cache_is_not_called_a_failure():
    cached = {"provider": "local", "offline": True, "cached": True}
    line = search_notice({**cached, "notices": ["from the cache (2 s old)"]})
    assert "from the cache" in line and "did not answer" not in line
    fell_back = search_notice(
        {**cached, "notices": ["DuckDuckGo: blocked", "from the cache (2 s old)"]}
    )
    assert "did not answer" in fell_back and "from the cache" in fell_back


def test_the_prompt_fold_out_shows_every_message_and_its_tokens():
    data = {
        "messages": [{"role": "user", "content": "Sources ````x```` and question"}],
        "prompt_tokens": 1234,
        "context_tokens": 900,
        "budget_tokens": 1000,
    }
    out = prompt_markdown(data)
    assert "1,234 prompt tokens" in out and "900 of them sources (budget 1,000)" in out
    assert "Sources ````x```` and question" in out and "`````text" in out


EXFIL = "http://127.0.0.1:9/exfil?q=secret"


def _no_image_or_tag(out: str) -> None:
    """Our own Markdown (sources, trace) as gr.Markdown reads it: safe HTML once rendered by
    a CommonMark parser, and no tag but ours in its source."""
    import re

    if not out.startswith("<div"):
        check_html(safe_markdown(out))  # read as Markdown: no image, no unsafe link
    assert "<img" not in out.lower()
    assert "![" not in out and "!\\[" not in out, "no Markdown image"
    for tag in re.findall(r"<([A-Za-z][^>]*)>", out):
        name = tag.split()[0]
        assert name in {"a", "details", "summary", "span", "code", "div", "p"}, f"<{tag}>"


def test_page_derived_fields_on_the_page_are_inert():
    hostile = f"![x]({EXFIL}) <img src={EXFIL}>"
    source = Source(1, hostile, f"https://e.example/x)![y]({EXFIL})", site=hostile)
    listed = sources_markdown([source])
    _no_image_or_tag(listed)
    assert "%29!%5By%5D%28" in listed, "the address cannot close its link early"
    answered = answer_markdown(f"{hostile} [1]", [source])
    check_html(answered)
    assert links_of(answered) == [
        (EXFIL, "image: x"),  # the reader's choice to follow
        (source.url, "[1]"),
    ]
    trace = {
        "query": hostile,
        "provider": "duckduckgo",
        "hits": 1,
        "notices": [f"DuckDuckGo redirected the search (HTTP 302 to ![x]({EXFIL}))"],
        "pages": [
            {"url": f"https://e.example/{hostile}", "status": "error", "reason": hostile, "ms": 1}
        ],
    }
    shown = trace_markdown(trace, {"search on": f"GenerationError: \n\n{hostile}"})
    _no_image_or_tag(shown)
    assert "&#91;x&#93;" in shown, "the notice's brackets are shown, not read"


def test_the_pacer_sends_tokens_at_most_once_an_interval_and_anything_else_at_once():
    from searchduel.render.live import Pacer
    from searchduel.types import Event

    now = [0.0]
    pacer = Pacer(0.1, clock=lambda: now[0])
    token = Event("plain", "token", "word ")

    def at(t: float, event: Event = token) -> bool:
        now[0] = t
        return pacer.due(event)

    assert at(0.0) and not pacer.held, "the first token goes at once"
    assert not at(0.03) and not at(0.06) and pacer.held, "tokens within the interval wait"
    assert at(0.1) and not pacer.held, "a token an interval after the last update goes"
    assert not at(0.15)
    for kind in ("status", "prompt", "sources", "trace", "done", "error", "grounding"):
        assert at(0.16, Event("search", kind, "", {})), kind
        assert not pacer.held, "what was held went with it"
    assert not at(0.2), "the interval counts from the last update, whatever its event"
    assert at(0.26)

"""A stored comparison rendered: Copy as Markdown, blind answers, grounding, trace and stats."""

from __future__ import annotations

from dataclasses import replace

from safe_html import check_html, text_of
from searchduel.config import Settings
from searchduel.render.events import blind_markdown, trace_markdown
from searchduel.render.markdown import safe_markdown
from searchduel.render.record import (
    comparison_markdown,
    grounding_line,
    record_stats,
    record_trace,
)
from searchduel.store import Comparison, Store, comparison_from_summary

SUMMARY = {
    "prompt": "Plan a day in Skagway\nwith kids",
    "plain": {
        "answer": "Walk around town.",
        "ttft_s": 0.2,
        "total_s": 1.5,
        "tokens": 12,
        "tokens_per_s": 8.0,
    },
    "search": {
        "answer": "Ride the White Pass railway [1] and see the museum [2].",
        "ttft_s": 0.9,
        "total_s": 2.5,
        "tokens": 20,
        "tokens_per_s": 8.0,
        "query": "Skagway day trip",
        "provider": "local",
        "offline": True,
        "notices": [],
        "sources": [
            {
                "n": 1,
                "title": "White Pass [railway]",
                "url": "https://example.org/wp",
                "site": "example.org",
                "kind": "web",
            },
            {"n": 2, "title": "Museum", "url": "corpus://museum.md", "site": "", "kind": "corpus"},
        ],
        "pages": [
            {
                "url": "https://example.org/wp",
                "status": "ok",
                "http_status": 200,
                "ms": 12.0,
                "bytes": 900,
            }
        ],
        "context_tokens": 120,
        "prompt_tokens": 300,
    },
}


def record(**changes) -> dict:
    rec = comparison_from_summary(
        SUMMARY,
        Settings(search="local"),
        context="[1] White Pass…",
        stages={"search": 5.0, "total": 2500.0},
    )
    return replace(
        rec, id="AbCdEfGhIjKlMnOpQrStUv", created="2026-12-06T04:00:00+00:00", **changes
    ).as_dict()


def test_copy_as_markdown_holds_prompt_both_answers_sources_and_link():
    md = comparison_markdown(record(), "https://duel.example/?c=AbCdEfGhIjKlMnOpQrStUv")
    assert md.startswith("# Search Duel: Plan a day in Skagway with kids\n")
    assert "> Plan a day in Skagway\n> with kids" in md, "every prompt line quoted"
    assert md.index("## Search off") < md.index("Walk around town.") < md.index("## Search on")
    assert "White Pass railway [1]" in md
    assert "1. [White Pass &#91;railway&#93;](https://example.org/wp)" in md
    assert "2. [Museum](corpus://museum.md)" in md
    assert "<https://duel.example/?c=AbCdEfGhIjKlMnOpQrStUv>" in md
    assert "2026-12-06 04:00:00 UTC" in md
    assert "Grounding" not in md, "nothing about grounding when there is none"


def test_copy_as_markdown_of_a_failed_column_and_search_off():
    rec = record(search_answer="", extra={"errors": {"search": "No usable sources."}})
    md = comparison_markdown(rec)
    assert "*(no answer)*" in md and "> ⚠️ No usable sources." in md
    off = record(search_answer="", sources=[], settings={"search": "off"})
    assert "Search was off" in comparison_markdown(off)
    assert record_trace(off) == {"off": True}


def test_grounding_is_one_plain_line_or_nothing():
    assert grounding_line(None) == "" and grounding_line({}) == ""
    line = grounding_line({"supported": 0.75, "sentences": 8, "labels": [1, 2], "ok": True})
    assert line == "**Grounding:** supported 75% · sentences 8"
    assert "<b>" not in grounding_line("<b>odd</b>"), "the judge's text stays inert"
    md = comparison_markdown(record(grounding={"supported": 0.5}))
    assert md.rstrip().endswith("**Grounding:** supported 50%")


def test_blind_answers_lose_their_citation_markers_and_stay_inert():
    out = blind_markdown("Ride the railway [1] and the museum [2, 3].<b>x</b>")
    assert text_of(out) == "Ride the railway and the museum.<b>x</b>", "HTML shown as text"
    assert [tag for tag, _ in check_html(out)[0]] == ["div", "p"]


def test_a_stored_trace_and_stats_render_like_live_ones():
    rec = record()
    text = trace_markdown(record_trace(rec))
    assert "Skagway day trip" in text and "offline corpus" in text
    assert "hits" not in text, "hit counts are not stored, so none is claimed"
    assert "| ok |" in text and "search <span class='num'>5\u00a0ms</span>" in text
    assert record_stats(rec, "search") == (
        "first token 0.90 s · 20 tokens · 8.0 tok/s · total 2.50 s"
    )
    assert record_stats({"timings": {}}, "plain") == ""


def test_a_record_read_back_from_the_store_renders_the_same(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        rec = record()
        cid = store.save(Comparison(**{k: v for k, v in rec.items() if k not in ("id", "created")}))
        back = store.get(cid).as_dict()
    assert (
        comparison_markdown(back).split("\n", 6)[:5] == comparison_markdown(rec).split("\n", 6)[:5]
    )
    assert trace_markdown(record_trace(back)) == trace_markdown(record_trace(rec))


def test_grounding_line_reads_the_engines_per_column_summaries():
    from searchduel.render.record import grounding_line

    summary = {"checked": 4, "supported": 3, "weak": 1, "unsupported": 0}
    line = grounding_line({"plain": {"summary": summary}, "search": {"summary": summary}})
    assert "Search off: 3 of 4 claims agree with the sources" in line
    assert "Search on: 3 of 4 claims backed by its sources" in line and "recorded" not in line


def test_copy_as_markdown_is_safe_should_the_page_ever_render_it():
    """The document is for pasting elsewhere, so it keeps the answers' Markdown; read by the
    page's one render path it holds no image, raw tag or unsafe link."""
    hostile = "``<img src=http://127.0.0.1:9/x>``` <form><input type=password></form> ![i](x)"
    rec = record(
        prompt=f"{hostile}\n<video autoplay src=http://127.0.0.1:9/v>",
        plain_answer=hostile,
        search_answer=f"{hostile} [1]",
        extra={"errors": {"search": f"<audio autoplay src=http://127.0.0.1:9/a> {hostile}"}},
    )
    md = comparison_markdown(rec, "javascript:alert(1)")
    elements, text = check_html(safe_markdown(md))
    assert "<img src=http://127.0.0.1:9/x>" in text and "<form>" in text
    assert not {tag for tag, _ in elements} - {
        "div",
        "h1",
        "h2",
        "h3",
        "p",
        "blockquote",
        "a",
        "code",
        "strong",
        "em",
        "ol",
        "li",
    }

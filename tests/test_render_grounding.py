"""The judge's marks on the page (render_grounding.py) and the Duel view that uses them."""

from __future__ import annotations

import html
import re
import time

import pytest

from safe_html import check_html, links_of, text_of
from searchduel.judge import ground
from searchduel.render.grounding import NO_SOURCES_NOTE, grounded_markdown
from searchduel.render.live import LiveView as _View
from searchduel.types import Event, Source

SOURCE = 'The harbour lighthouse was first lit in 1874 by the port board. <script>x()</script> "q"'
SOURCES = [Source(1, 'Light "house" <i>', "https://example.org/l")]


def judged(answer: str, citations: bool = True) -> dict:
    return ground(answer, [SOURCE], citations=citations).as_dict()


def test_each_checked_sentence_is_marked_and_everything_untrusted_is_escaped():
    answer = "The harbour lighthouse was first lit in 1874 [1]. It was lit in 1901 <img src=x>."
    out = grounded_markdown(answer, judged(answer), "search", SOURCES)
    spans = re.findall(
        r'<span class="gs gs-([\w-]+)" tabindex="0" role="button" title="([^"]*)">', out
    )
    assert [label for label, _ in spans] == ["supported", "unsupported"]
    title = spans[0][1]
    assert title.startswith("supported · source [1] · Light &quot;house&quot; &lt;i&gt;")
    assert "&lt;script&gt;" in title and "<script>" not in out
    check_html(out)  # no image, no raw tag, only allowed links
    assert "It was lit in 1901 <img src=x>." in text_of(out), "HTML is shown as text"
    assert links_of(out) == [("https://example.org/l", "[1]")], "citations still link"
    assert "1 of 2 claims backed by its sources · 1 unsupported" in out


def test_list_markers_stay_outside_the_marks_and_code_is_not_marked():
    answer = "- The harbour lighthouse was first lit in 1874.\n\n```\nIt was lit in 1901.\n```"
    out = grounded_markdown(answer, judged(answer, False), "plain")
    assert '<li><span class="gs gs-supported"' in out, "the list item stays a list item"
    assert "<pre><code>It was lit in 1901.&#10;</code></pre>" in out
    assert "agree with the sources" in out


@pytest.mark.parametrize(
    "answer",
    [
        "The harbour lighthouse was first lit in 1874.<img src='a. b'> It was lit in 1901.",
        "The harbour lighthouse was first lit in 1874.![a. b](http://x.test/i.png) It was lit.",
        "The harbour lighthouse was first lit in 1874.[a. b](http://x.test/) It was lit in 1901.",
        "The harbour lighthouse was first lit in 1874.`a. b` It was lit in 1901.",
    ],
)
def test_a_sentence_cut_inside_markup_never_breaks_the_html(answer):
    """The splitter may cut inside an image, a link or code; the marks stay balanced, the
    markup stays inert text, and the summary is there (an answer whose marks could not be
    placed falls back to the plain answer with its summary)."""
    g = judged(answer, False)
    assert len(g["sentences"]) == 2
    out = grounded_markdown(answer, g, "plain")
    check_html(out)  # well nested, every element allowed
    assert "<img" not in out and "1874" in out and "claims agree with the sources" in out
    assert out.count('class="gs gs-') >= 1, "what can be tinted is"


def test_the_view_marks_finished_answers_and_says_so_when_there_are_no_sources():
    answer = "The harbour lighthouse was first lit in 1874."
    view = _View()
    view.apply(Event("plain", "done", "", {"answer": answer}))
    view.apply(Event("search", "done", "", {"answer": "", "skipped": True, "note": "off"}))
    assert NO_SOURCES_NOTE in view.outputs()[0] and "<span" not in view.outputs()[0]
    view = _View()
    view.apply(Event("search", "sources", "", {"sources": SOURCES, "texts": [SOURCE]}))
    view.apply(Event("plain", "done", "", {"answer": answer}))
    view.apply(Event("search", "done", "", {"answer": answer + " [1]"}))
    assert NO_SOURCES_NOTE not in view.outputs()[0], "with sources the verdict is coming"
    view.apply(Event("plain", "grounding", "", judged(answer, False)))
    view.apply(Event("search", "grounding", "", judged(answer + " [1]")))
    plain, search = view.outputs()[0], view.outputs()[3]
    assert 'class="gs gs-supported"' in plain and "agree with the sources" in plain
    assert 'class="gs gs-supported"' in search and "backed by its sources" in search


@pytest.mark.parametrize(
    "answer",
    [
        "**The harbour lighthouse was first lit in 1874. It was** lit in 1901 by the board.",
        "The harbour `lighthouse was first lit in 1874. It was` lit in 1901 by the board.",
        "| The harbour lighthouse was first lit in 1874. | It was lit in 1901. |\n|---|---|\n",
        '[The harbour lighthouse was first lit in 1874. It](https://e.example/ "t. T") was lit.',
        "> The harbour lighthouse was first lit in 1874.\n> It was lit in 1901.",
        "The harbour lighthouse was first lit in 1874.\n\n    It was lit in 1901.",
        "The harbour lighthouse \ue000was first lit in 1874.\ue001 It was lit in 1901.",
    ],
)
def test_marks_that_cross_markup_tint_its_text_and_never_break_the_html(answer):
    """A sentence that starts inside one element and ends in another is tinted text run by
    text run; one whose marks land in a link's address or title, or in code, is not tinted;
    the answer's own private-use characters are never taken for marks."""
    out = grounded_markdown(answer, judged(answer, False), "plain")
    check_html(out)
    assert "\ue000" not in out and "\ue001" not in out
    assert "1874" in text_of(out) and "claims agree with the sources" in out


def test_the_evidence_is_the_passages_words_without_markdown():
    """The corpus is Markdown: a quoted window (here one that ends on the next section's
    heading) is shown as its words, without hashes, emphasis or link syntax."""
    answer = "The harbour lighthouse was first lit in 1874."
    g = judged(answer)
    g["sentences"][0]["evidence"]["text"] = (
        "The harbour lighthouse was first lit in **1874** by the [port](http://p.example) "
        "board.\n\n## Crew"
    )
    out = grounded_markdown(answer, g, "search", SOURCES)
    (title,) = re.findall(r'<span class="gs gs-supported"[^>]* title="([^"]*)"', out)
    evidence = html.unescape(title).split("\n", 1)[1]
    assert evidence == "The harbour lighthouse was first lit in 1874 by the port board. Crew"


def test_a_long_answer_renders_quickly():
    sentence = "The harbour lighthouse was first lit in 1874 by the port board [1]. "
    answer = (sentence * 40)[:2000]
    g = judged(answer)
    grounded_markdown(answer, g, "search", SOURCES)  # warm
    start = time.perf_counter()
    for _ in range(5):
        grounded_markdown(answer, g, "search", SOURCES)
    per_answer = (time.perf_counter() - start) / 5
    assert per_answer < 0.1, f"{per_answer * 1000:.1f} ms for a 2,000-character answer"

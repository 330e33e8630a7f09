"""The judge's marks on the page (render_grounding.py) and the Duel view that uses them."""

from __future__ import annotations

import re

import pytest

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
    assert title.startswith("supported · source &#91;1&#93; · Light &quot;house&quot; &lt;i&gt;")
    assert "&lt;script&gt;" in title and "<script>" not in out
    assert "<img" not in out, "images are stripped"
    assert "[[1]](https://example.org/l" in out, "citations still link"
    assert "1 of 2 claims backed by its sources · 1 unsupported" in out


def test_list_markers_stay_outside_the_marks_and_code_is_not_marked():
    answer = "- The harbour lighthouse was first lit in 1874.\n\n```\nIt was lit in 1901.\n```"
    out = grounded_markdown(answer, judged(answer, False), "plain")
    assert '- <span class="gs gs-supported"' in out, "the list item stays a list item"
    assert "```\nIt was lit in 1901.\n```" in out
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
    assert out.count("<span") == out.count("</span>")
    assert "<img" not in out and "1874" in out and "claims agree with the sources" in out


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

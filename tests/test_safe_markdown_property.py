"""Whatever a model, a page or an uploaded file writes, the one render path hands the page
only allowed elements and links (tests/safe_html.py), in every way the page uses it: an
answer, a search answer with citations, a blind answer, a tinted answer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safe_html import check_html
from searchduel.render.grounding import grounded_markdown
from searchduel.render.markdown import markdown_text, safe_markdown
from searchduel.types import Source

SPY = "http://127.0.0.1:9"
PIECES = [
    # raw HTML of every kind that loads, asks or runs something
    f"<img src={SPY}/i>",
    f'<IMG SRC="{SPY}/i" onerror=alert(1)>',
    "<script>alert(1)</script>",
    f"<form action={SPY}/f><input type=password name=p><button>go</button></form>",
    f"<video autoplay src={SPY}/v></video>",
    f"<audio autoplay src={SPY}/a>",
    f"<iframe src={SPY}/fr></iframe>",
    f'<svg><image href="{SPY}/s"/></svg>',
    f"<style>*{{background:url({SPY}/c)}}</style>",
    '<a href="javascript:alert(1)">x</a>',
    "<div>",
    "</div>",
    "<details open>",
    "<!-- ",
    " -->",
    "<![CDATA[",
    # code spans and fences of mixed lengths
    "`",
    "``",
    "```",
    "````",
    "~~~",
    "```html\n",
    # entities
    "&lt;",
    "&#60;",
    "&#x3c;",
    "&gt;",
    "&amp;",
    "&quot;",
    "&#0;",
    # brackets, parentheses, references, citations
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "]:",
    "[1]",
    "[2, 3]",
    "[x]",
    "[x][r]",
    f"[r]: {SPY}/r",
    "[1]: javascript:alert(1)",
    f'[t]: <{SPY}/t> "title"',
    # autolinks
    f"<{SPY}/auto>",
    "<javascript:alert(1)>",
    "<mailto:a@b.example>",
    "<//evil.example/x>",
    "<a@b.example>",
    # images in every form
    f"![a]({SPY}/i1)",
    f'![a]({SPY}/i2 "t")',
    f"![a](<{SPY}/i3>)",
    "![a][r]",
    "![r]",
    "![a][]",
    "![b]",
    f"[![in]({SPY}/i4)](https://ok.example/)",
    "![x](javascript:alert(1))",
    f"![x](data:image/png;base64,AAAA) ![y](//{SPY[7:]}/i5)",
    # emphasis, lists, quotes, headings, tables, breaks
    "*",
    "**",
    "_",
    "__",
    "~~",
    "- ",
    "1. ",
    "> ",
    "# ",
    "    ",
    "\t",
    "|",
    "---",
    "|---|---|",
    "  \n",
    "\\\n",
    # what gr.Markdown's client would read on its own
    "$$",
    "$",
    "%%%LATEX_BLOCK_0%%%",
    "\\(",
    "\\[",
    "```mermaid\n",
    # odd characters
    "\\",
    "\n",
    "\n\n",
    " ",
    "javascript:",
    "\ue000",
    "\ue001",
    "\x00",
    "\r",
    "\u2028",
    "word",
    "Sentence one.",
]
TEXT = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text("ab <>&[]()!`*_$\n", max_size=6)),
    max_size=30,
).map("".join)
CITES = {1: (f"{SPY}/s1", "One — x"), 2: ("/corpus/b.md", 'B "two"')}
CITES[3] = ("corpus://c.md", "C")
SOURCES = [Source(1, "One <b>", f"{SPY}/s1"), Source(2, "Two $$", "javascript:alert(1)")]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(TEXT)
def test_any_text_renders_to_allowed_html_only(text: str) -> None:
    check_html(safe_markdown(text))
    check_html(safe_markdown(text, citations=CITES))
    check_html(safe_markdown(text, strip_citations=True))


@st.composite
def judged(draw: st.DrawFn) -> tuple[str, dict]:
    """An answer and a grounding of it: sentences over any stretches of it, any labels."""
    text = draw(TEXT)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=12)))
    sentences = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        label = draw(st.sampled_from(["supported", "weak", "unsupported", "not checked"]))
        evidence = {"source": draw(st.sampled_from([None, 1, 2, 9])), "text": draw(TEXT)}
        sentences.append({"start": start, "end": end, "label": label, "evidence": evidence})
    summary = {"checked": len(sentences), "supported": 0, "weak": 0, "unsupported": 0}
    return text, {"sentences": sentences, "summary": summary}


@PROPERTY
@given(judged())
def test_any_tinted_answer_is_allowed_html_with_whole_spans(case: tuple[str, dict]) -> None:
    text, grounding = case
    for column, sources in (("plain", None), ("search", SOURCES)):
        out = grounded_markdown(text, grounding, column, sources, "/srv/c")
        elements, _ = check_html(out)  # well nested: every span closes where it opened
        assert not any(0xE000 <= ord(c) <= 0xF8FF for c in out), "no mark left behind"
        spans = [a for tag, a in elements if tag == "span" and a["class"].startswith("gs ")]
        assert all(a["title"] and "\ue000" not in a["title"] for a in spans)


@PROPERTY
@given(TEXT)
def test_evidence_words_are_one_line_of_text(text: str) -> None:
    words = markdown_text(text)
    assert "\n" not in words and words == words.strip()

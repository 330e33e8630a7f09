"""Untrusted text (model answers, page titles, uploaded files) made safe to show: the one
place where it becomes page markup.

    answer / report (Markdown) ─► safe_markdown: markdown-it (CommonMark + tables and
        strikethrough, raw HTML off) ─► tokens: links checked and given target/rel, images
        become links, [n] linked to source n (or dropped, blind) ─► HTML ─► one line,
        <div class="md">…</div> ─► gr.Markdown, which passes it through as one HTML block
    evidence passage (Markdown) ─► markdown_text ─► its words (a title attribute)
    title / url / notice / reason ─► plain_text ─► inside our own Markdown (trace, sources)

Decisions, in one place:
- One parser, on the server: answers are CommonMark, so a CommonMark parser (markdown-it-py)
  reads them; no regex guesses where a code span ends. Raw HTML is off, so `<img …>`,
  `<form>` or `<video>` written by a model or a page is shown as the text it is, and entities
  (`&lt;`, `&#60;`) stay text.
- The browser never reads our answer as Markdown. gr.Markdown runs its own parser (marked)
  and a sanitizer that keeps img, form, input, video and audio. What we hand it is one HTML
  block: a <div> with no line break anywhere (line breaks become `&#10;`, tabs `&#9;`, which
  Gradio's server would expand), so marked takes it whole as raw HTML and never parses any
  part of it (a blank line would end the block and let the rest, code contents included, be
  read as Markdown). Every `$` becomes `&#36;` and `%%` is broken (`%&#37;`): gr.Markdown
  looks for `$$` LaTeX delimiters (and `%%%LATEX_BLOCK_n%%%` placeholders) in the raw value
  before parsing, and would render math there.
- No image is ever rendered: an image in any form (inline, reference, shortcut) becomes a
  link labelled "image: alt", which a reader may choose to follow (inside a link, its text).
  A rendered image is a request to a URL the model or a page chose, which can carry the
  conversation to them; a click is the reader's choice, a render is not.
- Links go only to LINK_PREFIXES (http and https with a host, and the app's corpus route);
  any other link (javascript:, data:, mailto:, protocol-relative //) keeps its text and loses
  the link. Every link opens in a new tab with rel="noopener noreferrer": the opened page
  gets no handle on ours and no Referer. Gradio's sanitizer does the same; we do not count
  on it (a setting or an upgrade could change it).
- Code blocks carry no language class (nothing in the page acts on one; Gradio would run a
  "mermaid" one).
- [n] is a citation, never a link the text defines: a reference definition with a numeric
  label (`[1]: http://…`) is dropped, and with sources each [n] links to source n, an
  unknown one reads [n?]; blind answers lose them (they would say which side searched).
  Citations are found in the parsed text only, so code and link text are left alone.
- Short fields (titles, addresses, notices, page reasons) sit inside Markdown we write
  ourselves (the trace's table, the sources list), which gr.Markdown parses: `plain_text`
  escapes HTML, joins lines, and writes every character Markdown or LaTeX could read as
  syntax (brackets, `!`, `|`, backslash, backtick, `*`, `_`, `~`, `$`) as a numeric entity.
  Entities, not backslashes: Gradio's Markdown was seen rendering `!\\[t\\](url)` inside a
  link's text as an image (test_browser_exfil).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from ..config import CORPUS_ROUTE
from ..rag.cite import split_citations

SAFE_SCHEMES = ("http", "https")
# Where a link may go: the web, and the app's own file route (offline-corpus documents).
LINK_PREFIXES = ("http://", "https://", CORPUS_ROUTE)
LINK_REL = "noopener noreferrer"

# Markdown's syntax characters as numeric entities: the browser shows the character, and no
# Markdown reader takes an entity for syntax. (A backslash escape is not enough: Gradio's
# Markdown renders `[x !\[t\](url)](href)` with an image inside the link.)
_ENTITIES = str.maketrans({c: f"&#{ord(c)};" for c in "[]!|\\`*_~$"})
# What gr.Markdown's client reads before (or instead of) parsing HTML: see the docstring.
_INERT = {"\n": "&#10;", "\t": "&#9;", "\r": "&#13;", "$": "&#36;", "%": "&#37;"}
_TO_INERT = re.compile(r"[\n\t\r$]|%(?=%)")
_BETWEEN_TAGS = re.compile(r">\n+(?=<)")
_CITATION_LABEL = re.compile(r"[\d\s,;\-–]+")
_LINE_END = re.compile(r"\r\n|\r|\n")
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
Citations = Mapping[int, tuple[str, str]]  # n -> (address, title)


def safe_markdown(
    text: str,
    *,
    citations: Citations | None = None,
    strip_citations: bool = False,
    classes: str = "",
) -> str:
    """`text` (Markdown) as one line of safe HTML, `<div class="md">…</div>` ("" for no
    text): see the module docstring. With `citations`, each [n] links to its source; with
    `strip_citations`, each [n] is dropped."""
    if not text or not text.strip():
        return ""
    env = {"citations": citations, "strip": strip_citations}
    body = _MD.renderer.render(_MD.parse(text, env), _MD.options, env).rstrip("\n")
    return f'<div class="{html_attr(" ".join(["md", *classes.split()]))}">{inert(body)}</div>'


def inert(markup: str) -> str:
    """HTML that gr.Markdown passes through untouched: no line break, tab, `$` or `%%`."""
    return _TO_INERT.sub(lambda m: _INERT[m.group()], _BETWEEN_TAGS.sub(">", markup))


def html_attr(value: str) -> str:
    """`value` safe as a double-quoted attribute value in HTML handed to gr.Markdown."""
    return inert(html.escape(value, quote=True))


def literal_markdown(text: str) -> str:
    """Markdown that shows `text` exactly as written: every ASCII punctuation character
    backslash-escaped (CommonMark's escape), so none of it is syntax."""
    return _PUNCTUATION.sub(r"\\\1", text)


@functools.lru_cache(maxsize=512)
def markdown_text(text: str) -> str:
    """The words of `text` (Markdown) without its syntax: headings' hashes, emphasis,
    link and image syntax (their text kept), code fences; on one line."""
    parts = []
    for tok in _PLAIN.parse(text or ""):
        if tok.type == "inline":
            parts.append(_as_text(tok.children or ()))
        elif tok.type in ("fence", "code_block"):
            parts.append(tok.content)
    return " ".join(" ".join(parts).split())


def code_ranges(text: str) -> list[tuple[int, int]]:
    """The character ranges of `text` (Markdown) that are code blocks, fenced or indented,
    fences included, as CommonMark reads them."""
    starts = [0, *(m.end() for m in _LINE_END.finditer(text))]  # as markdown-it splits lines
    if starts[-1] < len(text):
        starts.append(len(text))
    return [
        (starts[tok.map[0]], starts[min(tok.map[1], len(starts) - 1)])
        for tok in _BLOCKS.parse(text)
        if tok.type in ("fence", "code_block") and tok.map
    ]


def plain_text(text: str) -> str:
    """A short untrusted field (a title, an address, a notice) shown as text inside Markdown
    we write: no HTML, no Markdown or LaTeX syntax, no line or table cell break."""
    text = " ".join((text or "").splitlines())
    return html.escape(text, quote=False).translate(_ENTITIES).replace("%%", "%&#37;")


def safe_url(url: str) -> str | None:
    """The URL if it is one we let a reader follow (http, https with a host), else None."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else None


def allowed_href(url: str | None) -> str | None:
    """`url` if a link may go there (LINK_PREFIXES; http and https need a host), else None."""
    url = (url or "").strip()
    prefix = next((p for p in LINK_PREFIXES if url.lower().startswith(p)), None)
    if prefix is None:
        return None
    if prefix.startswith("/"):  # our own route, and no step out of it
        return None if ".." in url or "\\" in url else url
    return safe_url(url)


def markdown_href(url: str) -> str:
    """`url` safe as a Markdown link destination: every character that could end it early
    (and let the rest of the address be read as Markdown, an image included) is escaped,
    and `$` too (LaTeX)."""
    return re.sub(r"[\s()<>\[\]\\\"'`$]", lambda m: f"%{ord(m.group(0)):02X}", url)


def link_title(text: str) -> str:
    """`text` safe inside a Markdown link title ("..."): one line, no quote or backslash
    that could close it, brackets and HTML escaped."""
    text = " ".join(text.split()).replace('"', "'")
    return html.escape(text, quote=False).translate(_ENTITIES)


def link_html(label: str, url: str) -> str:
    """One link as HTML that opens in a new tab without an opener or a referrer."""
    return f'<a href="{html_attr(url)}" target="_blank" rel="{LINK_REL}">{label}</a>'


# --- the parser and its rules ----------------------------------------------------------------


def _as_text(tokens: Sequence[Token]) -> str:
    out = []
    for tok in tokens:
        if tok.type in ("text", "text_special", "code_inline"):
            out.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif tok.type == "image":
            out.append(_as_text(tok.children or ()))
    return "".join(out)


def _text(content: str) -> Token:
    tok = Token("text", "", 0)
    tok.content = content
    return tok


def _anchor(href: str, title: str | None = None) -> list[Token]:
    """An opening and a closing token of a link to `href` (already allowed)."""
    tok = Token("link_open", "a", 1)
    tok.attrSet("href", href)
    if title:
        tok.attrSet("title", title)
    tok.attrSet("target", "_blank")
    tok.attrSet("rel", LINK_REL)
    return [tok, Token("link_close", "a", -1)]


def _image(tok: Token, in_link: bool) -> list[Token]:
    label = "image: " + (_as_text(tok.children or ()).strip() or "untitled")
    href = allowed_href(tok.attrGet("src"))  # type: ignore[arg-type]
    if href is None or in_link:  # no link inside a link
        return [_text(label)]
    title = tok.attrGet("title")
    opening, closing = _anchor(href, str(title) if title else None)
    return [opening, _text(label), closing]


def _citations(tok: Token, cites: Citations | None, strip: bool) -> list[Token]:
    """A text token with its [n] runs linked (cites), dropped (strip) or left alone."""
    parts = split_citations(tok.content) if cites is not None or strip else [tok.content]
    if len(parts) == 1:
        return [tok]
    out: list[Token] = []
    for part in parts:
        if isinstance(part, str):
            out += [_text(part)] if part else []
        elif strip:
            if out and out[-1].content[-1:].isspace():
                out[-1].content = out[-1].content[:-1]  # "railway [1] and" -> "railway and"
        else:
            for n in part:
                href, title = (cites or {}).get(n, ("", ""))
                if allowed_href(href) is None:
                    out.append(_text(f"[{n}]" if href else f"[{n}?]"))
                else:
                    opening, closing = _anchor(href, title)
                    out += [opening, _text(f"[{n}]"), closing]
    return out


def _inline_rule(state: StateCore) -> None:
    """Links checked and given target/rel, images made links, citations handled."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        in_link = dropped = False
        for tok in block.children:
            if tok.type == "link_open":
                href = allowed_href(tok.attrGet("href"))  # type: ignore[arg-type]
                dropped, in_link = href is None, True
                if dropped:
                    continue
                tok.attrSet("href", href)  # type: ignore[arg-type]
                tok.attrSet("target", "_blank")
                tok.attrSet("rel", LINK_REL)
            elif tok.type == "link_close":
                in_link = False
                if dropped:
                    dropped = False
                    continue
            elif tok.type == "image":
                out += _image(tok, in_link)
                continue
            elif tok.type == "text" and not in_link:
                out += _citations(tok, state.env.get("citations"), state.env.get("strip", False))
                continue
            out.append(tok)
        block.children = out


def _no_numbered_definitions(state: StateCore) -> None:
    """A definition never turns a citation into a link of the text's choosing."""
    refs = state.env.get("references") or {}
    for label in [k for k in refs if _CITATION_LABEL.fullmatch(k)]:
        del refs[label]


def _code_block(self, tokens: Sequence[Token], idx: int, options, env) -> str:  # type: ignore[no-untyped-def]
    return f"<pre><code>{escapeHtml(tokens[idx].content)}</code></pre>\n"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # _inline_rule decides, and keeps a refused link's text
    md.core.ruler.before("inline", "no_numbered_definitions", _no_numbered_definitions)
    md.core.ruler.after("text_join", "safe_links", _inline_rule)
    md.add_render_rule("fence", _code_block)
    md.add_render_rule("code_block", _code_block)
    return md


_MD = _parser()
_PLAIN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_BLOCKS = MarkdownIt("commonmark", {"html": False}).enable("table").disable("inline")

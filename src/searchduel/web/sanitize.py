"""Decode and parse HTML, then remove everything a reader of the page would not see.

Hidden text is where prompt injections live ("ignore previous instructions" in a
``display:none`` div, a white-on-white span, an ``aria-hidden`` block). The extractor only
ever sees a tree that went through `remove_hidden`, so no extraction strategy can bring
such text back. lxml does the work: it parses real-world HTML as leniently as
BeautifulSoup's lxml builder at a fraction of the cost, which matters when extraction must
not be slower than trafilatura alone.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree, html

# Elements whose text is never shown. `template` content is inert until a script clones it;
# what sits inside <video>, <audio>, <canvas> and <iframe> is fallback for browsers that
# cannot show the element itself, which no current browser is.
HIDDEN_TAGS = (
    "script", "style", "noscript", "template", "video", "audio", "canvas", "iframe",
)  # fmt: skip
# JSON-LD is data, not display: kept so extractors can read the page's declared type
# (a forum thread, a product); no text extractor here ever emits script content.
DATA_SCRIPT_TYPES = ("application/ld+json",)
# Inline styles that hide an element. Opacity counts only when fully transparent, and
# font-size only when zero, so "opacity: 0.5" and "font-size: 0.9em" stay visible.
_END = r"\s*(?:!important\s*)?(?:;|$)"
_DISPLAY_NONE = re.compile(r"(?:^|;)\s*display\s*:\s*none" + _END, re.IGNORECASE)
_FONT_ZERO = re.compile(r"(?:^|;)\s*font-size\s*:\s*0(?:\.0+)?[a-z%]*" + _END, re.IGNORECASE)
_INVISIBLE = re.compile(
    r"(?:^|;)\s*(?:visibility\s*:\s*(?:hidden|collapse)|opacity\s*:\s*0(?:\.0+)?)" + _END,
    re.IGNORECASE,
)
# Hidden only until a script runs: opacity:0 next to a transform or transition is the
# first frame of an entrance animation (Webflow, Framer Motion, GSAP all render this).
_ANIMATION_START = re.compile(r"transform|transition|translate", re.IGNORECASE)
# A page-level wrapper hidden until load (against a flash of unstyled content) holds
# nearly all of the page: hiding it would leave nothing a visitor ever sees.
REVEAL_WRAPPER_SHARE = 0.6
# <noscript> is the page when it holds at least this much text and the rest of the page
# less than this share of it (see `_settle_noscript`).
NOSCRIPT_PAGE_CHARS = 500
NOSCRIPT_PAGE_SHARE = 0.5
# Classes that frameworks use for "screen readers only" text (Bootstrap, Tailwind,
# WordPress, Drupal, Foundation, HTML5 Boilerplate).
SR_ONLY_CLASSES = frozenset(
    {
        "sr-only",
        "sr-only-focusable",
        "visually-hidden",
        "visuallyhidden",
        "screen-reader-text",
        "screen-reader-only",
        "screenreader-only",
        "element-invisible",
        "show-for-sr",
        "a11y-hidden",
        "hidden-visually",
        "u-visually-hidden",
        "assistive-text",
    }
)
_CONTROLLED_IDS = etree.XPath("//@aria-controls")
# React 18 streams late parts of a page as <div hidden id="S:n"> plus a script that moves
# each into its placeholder (<template id="B:n"> or "P:n"): visible once the page runs.
_REACT_SEGMENT = re.compile(r"S:[0-9a-z]+")
_REACT_PLACEHOLDER = etree.XPath(
    "boolean(//template[starts-with(@id,'B:') or starts-with(@id,'P:')])"
)

# <meta charset="..."> or <meta http-equiv="Content-Type" content="...; charset=...">
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:\-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# A browser puts whatever follows </body> or </html> into the body; libxml2 drops it, and
# some pages close both tags early (a template's footer printed before the article).
_DOCUMENT_END = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)
# Labels that the WHATWG encoding standard maps to windows-1252: browsers decode pages
# declared as latin-1 with the 1252 table, so curly quotes in 0x80-0x9F come out right.
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "l1"}
# How far into the document a <meta charset> is looked for. The HTML spec says 1024 bytes,
# real pages put it after long <script> blocks; 16 KB covers those at no real cost.
SNIFF_BYTES = 16_384


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def sniff_charset(data: bytes) -> str | None:
    """The codec a byte string declares: a BOM, then a <meta> charset or XML declaration."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:SNIFF_BYTES]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    declared = _codec(match.group(1).decode("ascii", "ignore")) if match else None
    # a document cannot truly be UTF-16 if its ASCII <meta> was readable (WHATWG rule)
    return "utf-8" if declared and declared.startswith("utf-16") else declared


def decode_with_codec(data: bytes, charset: str | None = None) -> tuple[str, str]:
    """Text of an HTML or text body and the codec used: `charset` (e.g. from the HTTP
    header), then the document's own declaration, then UTF-8, then windows-1252 (which never
    fails). A declared codec that meets a few bad bytes still decodes, replacing them."""
    for codec in (_codec(charset), sniff_charset(data)):
        if codec:
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                return data.decode(codec, "replace"), codec
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace"), "cp1252"


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Text of an HTML byte string (see `decode_with_codec`)."""
    return decode_with_codec(data, charset)[0]


# Comments and processing instructions never render; dropping them while parsing is free.
_PARSER = html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)


def parse_html(document: str | bytes, charset: str | None = None) -> html.HtmlElement | None:
    """An lxml tree of a whole document, or None when there is nothing to parse."""
    text = decode_html(document, charset) if isinstance(document, bytes) else document
    # lxml refuses str input that carries an XML encoding declaration
    text = _XML_DECLARATION.sub("", text, count=1).replace("\x00", "")
    text = _DOCUMENT_END.sub("", text)
    if not text.strip():
        return None
    try:
        return html.document_fromstring(text, parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None


def _is_hidden(el: etree._Element, revealable: frozenset[str] = frozenset()) -> bool:
    """Whether a visitor can never see `el`.

    Content one click or one script away stays: tab panels, panels that a control on the
    page names in aria-controls (accordions, disclosures), React's streamed segments
    (their ids are passed in `revealable`), and elements whose opacity:0 is the first
    frame of an entrance animation.
    """
    tag = el.tag
    if tag in HIDDEN_TAGS:
        return not (tag == "script" and el.get("type", "").lower() in DATA_SCRIPT_TYPES)
    attrib = el.attrib
    cls = attrib.get("class")
    if cls and not SR_ONLY_CLASSES.isdisjoint(cls.lower().split()):
        return True
    style = attrib.get("style")
    if style and _FONT_ZERO.search(style):
        return True
    hidden = bool(style) and (
        _DISPLAY_NONE.search(style) is not None
        or (_INVISIBLE.search(style) is not None and _ANIMATION_START.search(style) is None)
    )
    hidden = hidden or ("hidden" in attrib and attrib["hidden"] != "until-found")
    hidden = hidden or attrib.get("aria-hidden", "").lower() == "true"
    if not hidden:
        return False
    return attrib.get("role") != "tabpanel" and attrib.get("id") not in revealable


def _candidates(tree: etree._Element) -> list[etree._Element]:
    """Elements that may be hidden, in document order: a cheap filter before `_is_hidden`.

    A Python pass over the tree beats lxml's XPath string functions here by about 3x.
    """
    found = []
    for el in tree.iter(etree.Element):
        if el.tag in HIDDEN_TAGS:
            found.append(el)
            continue
        attrib = el.attrib
        if not attrib:
            continue
        if "hidden" in attrib or "aria-hidden" in attrib:
            found.append(el)
            continue
        style = attrib.get("style")
        if style and (
            "none" in style
            or "hidden" in style
            or "collapse" in style
            or "opacity" in style
            or "font-size" in style
        ):
            found.append(el)
            continue
        cls = attrib.get("class")
        if cls and (
            "sr-" in cls
            or "isually" in cls
            or "creen" in cls
            or "invisible" in cls
            or "a11y" in cls
            or "assistive" in cls
            or "show-for" in cls
        ):
            found.append(el)
    return found


def drop_element(el: etree._Element) -> None:
    """Remove an element but keep its tail text, which belongs to the parent."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _revealable(tree: etree._Element, candidates: list[etree._Element]) -> frozenset[str]:
    ids = set()
    for value in _CONTROLLED_IDS(tree):
        ids.update(str(value).split())
    if _REACT_PLACEHOLDER(tree):
        for el in candidates:
            el_id = el.get("id")
            if el_id and _REACT_SEGMENT.fullmatch(el_id):
                ids.add(el_id)
    return frozenset(ids)


_VISIBLE_TEXT = etree.XPath(".//text()[not(ancestor::script or ancestor::style)]")


def _text_length(el: etree._Element) -> int:
    """Visible characters under `el` (script and style text does not count)."""
    return sum(len(t.strip()) for t in _VISIBLE_TEXT(el))


def remove_hidden(tree: etree._Element) -> int:
    """Delete hidden elements and comments from `tree` in place; returns how many went."""
    removed = 0
    for node in tree.xpath("//comment()|//processing-instruction()"):
        drop_element(node)
        removed += 1
    candidates = _candidates(tree)
    if not candidates:
        return removed
    revealable = _revealable(tree, candidates)
    page_length = -1
    fallbacks = []
    for el in candidates:
        if el.tag == "noscript":
            fallbacks.append(el)
            continue
        # an ancestor may already be gone: its subtree left with it
        if el.getparent() is None or not _is_hidden(el, revealable):
            continue
        style = el.get("style")
        if style and el.tag not in HIDDEN_TAGS and _INVISIBLE.search(style):
            # transparent or invisible wrapper of most of the page: a load-time reveal
            if page_length < 0:
                page_length = _text_length(tree)
            if _text_length(el) >= REVEAL_WRAPPER_SHARE * page_length > 0:
                continue
        drop_element(el)
        removed += 1
    return removed + _settle_noscript(tree, fallbacks)


def _settle_noscript(tree: etree._Element, fallbacks: list[etree._Element]) -> int:
    """Drop <noscript> blocks, unless they are the page.

    Some sites render their whole content only for visitors without JavaScript
    (Discourse forums put each thread in <noscript>): a reader without a browser engine
    sees exactly that, so it stays when the rest of the page has next to no text.
    """
    root = tree.getroottree().getroot()
    # still in the document: not inside a subtree that was removed as hidden
    live = [el for el in fallbacks if el.getroottree().getroot() is root]
    if not live:
        return 0
    inside = [_text_length(el) for el in live]
    # most <noscript> blocks hold a tracking pixel: the page-wide count is rarely needed
    keep = sum(inside) >= NOSCRIPT_PAGE_CHARS and (
        _text_length(tree) - sum(inside) < NOSCRIPT_PAGE_SHARE * sum(inside)
    )
    removed = 0
    for el, length in zip(live, inside, strict=True):
        if keep and length:
            el.tag = "div"  # its content renders as ordinary markup
        else:
            drop_element(el)
            removed += 1
    return removed


def sanitize(document: str | bytes, charset: str | None = None) -> html.HtmlElement | None:
    """Parse a document and remove its hidden content (see `remove_hidden`)."""
    tree = parse_html(document, charset)
    if tree is not None:
        remove_hidden(tree)
    return tree

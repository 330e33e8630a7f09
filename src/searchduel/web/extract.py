"""Main text, title, site name and date of one HTML page.

Two extractors read the same sanitised tree (see `sanitize`: hidden content is already
gone, so neither can bring it back):

- trafilatura, the anchor: precise on articles, but on listings, collections, product and
  service pages it often keeps one fragment and drops the rest of the content.
- `dom_text`, a structural extractor written for those pages: it removes page furniture
  (navigation, headers, footers, comment threads, share bars, "related" rails) by tag,
  ARIA role, class name and shape (blocks of short links), finds the block that holds the
  page's content, and keeps all of its text, minus short lines that repeat like buttons
  ("Add to cart", "Read more") and second copies of a block rendered twice. On a page
  that declares itself a product, rails of other products and customer reviews go too,
  and so does any section opened by a heading such as "Customers also viewed"; on a
  thread, a section such as "Similar threads".

On pages that are not articles, trafilatura reads the tree after the structural pass has
taken its furniture out, so it cannot keep a menu or a rail the structural pass dropped.

`choose` picks one of the two per page from what the page declares about itself
(schema.org types in JSON-LD, microdata or RDFa, og:type; a forum engine's thread
address) and how much each extractor kept: when trafilatura kept a small part of what the
structural extractor found, it has usually lost content, not removed boilerplate. On an
article it also compares the two texts: when the structural text is trafilatura's less
some lines, it wins (those lines were bylines, sign-ups and teasers); when trafilatura's
text is a fragment of the structural one, the stretch of the structural text between the
lines they share wins (it holds the lists and sections trafilatura skipped, and not the
sidebar around them).
`python -m searchduel bench extraction` measures the result.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement

from .hygiene import clean_text
from .sanitize import drop_element, parse_html, remove_hidden


@dataclass(frozen=True)
class Extracted:
    """What a page gives the pipeline: its main text and what the sources list shows."""

    title: str
    text: str
    site: str = ""
    published: str | None = None
    js_only: bool = False
    method: str = ""  # which extractor's text was kept: "trafilatura" | "dom" | ""


# --- the structural extractor -------------------------------------------------------------

# Never text: media, form controls, embedded documents.
_SKIP = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
        "embed", "video", "audio", "picture", "img", "input", "head", "title", "meta",
        "link", "map",
    }
)  # fmt: skip
# Form controls hold labels, not content: dropped while short. Not always: an unclosed
# <button> in broken markup can swallow the rest of the page.
_CONTROLS = frozenset({"button", "select", "option", "textarea", "dialog"})
CONTROL_MAX_CHARS = 200
# Code keeps all its text: inside it, class names are a highlighter's ("hljs-comment",
# "token tag"), not furniture.
_VERBATIM = frozenset({"pre", "code"})
# Page furniture by tag or role. Dropped only while it holds a minority of the page: some
# sites wrap everything in <header> or role="banner".
_FURNITURE_TAGS = frozenset({"nav", "aside", "footer", "header", "menu"})
_FURNITURE_ROLES = frozenset(
    {
        "navigation", "banner", "contentinfo", "complementary", "search", "dialog",
        "alertdialog", "menu", "menubar", "toolbar", "tablist", "alert",
    }
)  # fmt: skip
# A tab list holds tab labels, but Bootstrap's accordion marks its whole group of panels
# role="tablist": past a label's length (CONTROL_MAX_CHARS), it is content.
_TAB_ROLE = "tablist"
# Class or id words of page furniture. "signature", "userDetails", "userExtras": a forum
# post's signature, user card and poster's stats (phpBB, vBulletin, MyBB, Invision,
# XenForo, Stack Exchange's "post-signature"). "legal", "cart", "feedback": a site's legal
# notices, a shop's basket widget, a "Was this page helpful?" box. "login", "signin",
# "register": "Log in to reply" prompts; "reactions", "likes", "permalink", "attribution":
# the bar under a post and the line that dates and links it. "print": what only a printed
# copy shows ("print-only") and the print button.
_FURNITURE_WORDS = (
    "nav|navbar|navigation|menu|menus|megamenu|masthead|footer|banner|sidebar|toolbar|"
    "topbar|breadcrumb|breadcrumbs|skip|cookie|cookies|consent|gdpr|newsletter|subscribe|"
    "share|sharing|social|socials|related|recommended|recommendations|promo|advert|"
    "advertisement|ad|ads|sponsored|popup|popover|modal|overlay|pagination|pager|disclaimer|"
    "comments|comment|respond|disqus|author|tags|tag|signature|signatures|userdetails|"
    "userextras|legal|cart|feedback|login|signin|register|reactions|reaction|likes|permalink|"
    "attribution|print"
)
_FURNITURE_CLASS = re.compile(rf"^(?:{_FURNITURE_WORDS})(?:$|[-_])|[-_](?:{_FURNITURE_WORDS})$")
# "has-sidebar", "with-nav", "no-ads" describe a wrapper, not furniture.
_MODIFIER = re.compile(r"^(?:has|with|no|is|show|hide|enable|disable|js)[-_]")
# Class or id words of a shop's filter and sort controls ("facets-vertical", "sort-by").
# Alone they are not enough: FAQ rows and tab panels carry them too (see _filter_panel).
_FILTER_WORDS = "filter|filters|facet|facets|sort|sorting"
_FILTER_CLASS = re.compile(rf"^(?:{_FILTER_WORDS})(?:$|[-_])|[-_](?:{_FILTER_WORDS})$")
# Any of those words anywhere in the raw class and id: a cheap test before splitting them.
_FILTER_HINT = re.compile(_FILTER_WORDS)
# On a product page, customer reviews and ratings are a widget under the product, not its
# description (a review article declares itself an article and keeps them).
_REVIEW_CLASS = re.compile(
    r"^(?:review|reviews|rating|ratings)(?:$|[-_])|[-_](?:review|reviews|ratings)$"
)
# A comment thread is the content of a forum page.
_COMMENT_CLASS = re.compile(r"comment|respond|disqus|reply|replies")
# Furniture goes only while it holds less than this share of the page's text.
FURNITURE_MAX_SHARE = 0.4
# The block to keep: descend from the page into a child while that child holds at least
# this share of the text (wrappers, grids, single columns).
DESCEND_SHARE = 0.8
# <main> is trusted as the content block when it holds at least this much text.
MAIN_MIN_CHARS = 200
# A list whose text is at least this share link text, with links this short on average and
# at least this many of them, is a menu (a card list has titles and descriptions).
LINK_LIST_SHARE = 0.9
LINK_LIST_MAX_CHARS = 25
LINK_LIST_MIN_LINKS = 3
_LIST_TAGS = frozenset({"ul", "ol", "div", "section", "p", "table", "dl"})
# A line of at most this many words, repeated this often, is a control label.
REPEAT_MAX_WORDS = 4
REPEAT_MIN_COUNT = 3
# A run of lines seen before, holding at least this many words, is the same block rendered
# twice (mobile and desktop layouts, a quoted post, a sticky summary): kept once. Shorter
# runs stay: card texts and coupon terms repeat on the page and in its reference text.
DEDUP_MIN_WORDS = 10
# On a page that declares itself a product, a block this much link text is a rail of
# other products ("You may also like"), not the product's description or specs.
PRODUCT_LINK_LIST_SHARE = 0.75

# A heading that announces other pages, not this one: "You may also like", "Related
# products", "Customers also viewed", "Read next", "Similar threads". The section it opens
# is a rail.
_RAIL_HEADING = re.compile(
    r"\b(?:you (?:may|might|will|'ll) (?:also )?(?:like|love|enjoy|be interested)"
    r"|also (?:viewed|bought|purchased|like|liked|love|read)|similar (?:threads|topics"
    r"|discussions|questions|items|products|posts|articles|stories)|related (?:threads"
    r"|discussions|questions|items|products|posts|articles|stories|content|reading"
    r"|links|videos|searches|topics|categories|collections)|^related$|recently viewed"
    r"|frequently bought|customers who|people who|more (?:stories|articles|posts|news|videos)"
    r"|read next|up next|what to read next|don.t miss|trending(?: now)?$|more from|explore more"
    r"|complete the look|shop the look|sponsored)",
    re.IGNORECASE,
)
# At most this many words: a heading, not a sentence that happens to say "related".
RAIL_HEADING_MAX_WORDS = 8
_HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})

_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "li", "ul", "ol", "h1", "h2", "h3", "h4",
        "h5", "h6", "tr", "table", "br", "dd", "dt", "dl", "blockquote", "pre", "figure",
        "figcaption", "td", "th", "hr", "header", "footer", "address", "details", "summary",
        "form", "fieldset", "legend", "center", "caption", "body", "tbody", "thead", "nav",
        "aside", "label",
    }
)  # fmt: skip
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def _measure(
    root: etree._Element, stats: dict[etree._Element, list[int]], in_link: bool = False
) -> list[int]:
    """[visible chars, chars inside links, links, choices] under each element (post-order,
    one pass). Choices: checkboxes, radio buttons and drop-downs, the controls of a filter.
    """
    in_link = in_link or root.tag == "a"
    chars = len(root.text.strip()) if root.text else 0
    link_chars = chars if in_link else 0
    links = 1 if root.tag == "a" else 0
    choices = 0
    for child in root:
        if isinstance(child.tag, str) and child.tag not in _SKIP:
            c, lc, n, k = _measure(child, stats, in_link)
            chars += c
            link_chars += lc
            links += n
            choices += k
        elif child.tag == "input" and (child.get("type") or "").lower() in ("checkbox", "radio"):
            choices += 1
        if child.tail:
            tail = len(child.tail.strip())
            chars += tail
            if in_link:
                link_chars += tail
    if root.tag == "select":
        choices += 1
    entry = [chars, link_chars, links, choices]
    stats[root] = entry
    return entry


def _class_words(el: etree._Element) -> list[str]:
    tokens = []
    for attr in ("class", "id"):
        value = el.get(attr)
        if value:
            tokens.extend(t for t in value.lower().split() if not _MODIFIER.match(t))
    return tokens


def _furniture(
    el: etree._Element, entry: list[int], keep_comments: bool, product: bool = False
) -> bool:
    tag = el.tag
    if tag in ("body", "main", "article", "html"):
        return False
    if tag in _FURNITURE_TAGS:
        return True
    role = el.get("role")
    if role in _FURNITURE_ROLES:
        return role != _TAB_ROLE or entry[0] < CONTROL_MAX_CHARS
    for token in _class_words(el):
        if _FURNITURE_CLASS.search(token):
            return not (keep_comments and _COMMENT_CLASS.search(token))
        if product and _REVIEW_CLASS.search(token):
            return True
    return False


def _link_list(el: etree._Element, entry: list[int], share: float = LINK_LIST_SHARE) -> bool:
    """Navigation by shape: a block that is nearly all short links (menus, tag clouds)."""
    chars, link_chars, links, _ = entry
    return (
        el.tag in _LIST_TAGS
        and links >= LINK_LIST_MIN_LINKS
        and link_chars >= share * chars
        and link_chars < LINK_LIST_MAX_CHARS * links
    )


def _filter_panel(el: etree._Element, entry: list[int]) -> bool:
    """A listing's filter or sort controls: named so by class, and holding choices to pick
    or no more text than a control label."""
    if not entry[3] and entry[0] >= CONTROL_MAX_CHARS:
        return False
    names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
    if not _FILTER_HINT.search(names):
        return False  # most elements: no need to split their class names
    return any(_FILTER_CLASS.search(token) for token in _class_words(el))


def _rail_sections(
    body: etree._Element, stats: dict[etree._Element, list[int]], limit: float
) -> list[etree._Element]:
    """Sections opened by a rail heading (see _RAIL_HEADING), outermost that fits `limit`.

    A section is the widest ancestor of the heading in which no text comes before it;
    when the heading sits mid-block, it and the siblings after it up to the next heading.
    """
    found: list[etree._Element] = []
    for head in body.iter(*_HEADINGS):
        text = _SPACE.sub(" ", head.text_content()).strip()
        if not text or len(text.split()) > RAIL_HEADING_MAX_WORDS:
            continue
        if not _RAIL_HEADING.search(text):
            continue
        node, section = head, None
        while True:
            parent = node.getparent()
            if parent is None or parent is body or parent not in stats:
                break
            before = (len(parent.text.strip()) if parent.text else 0) + sum(
                stats[s][0] + (len(s.tail.strip()) if s.tail else 0)
                for s in node.itersiblings(preceding=True)
                if s in stats
            )
            if before or stats[parent][0] >= limit:
                break
            node = section = parent
        if section is not None:
            found.append(section)
            continue
        found.append(head)
        for sib in head.itersiblings():
            if sib.tag in _HEADINGS or sib.tag == "h1":
                break
            if sib in stats:
                found.append(sib)
    return found


def content_block(
    tree: etree._Element, keep_comments: bool = False, product: bool = False
) -> tuple[etree._Element | None, set[etree._Element]]:
    """The element that holds the page's content, and the furniture inside it to leave out.

    `product`: the page declares itself a product (and not an article), so link-heavy
    blocks are rails of other products and go at a lower link share, and customer reviews
    go too. Sections opened by a rail heading go on product pages and, with
    `keep_comments`, on threads ("Similar threads").
    """
    link_share = PRODUCT_LINK_LIST_SHARE if product else LINK_LIST_SHARE
    body = tree.find("body")
    if body is None:
        body = tree
    stats: dict[etree._Element, list[int]] = {}
    total = _measure(body, stats)[0]
    if not total:
        return None, set()
    limit = FURNITURE_MAX_SHARE * total
    dropped: set[etree._Element] = set()
    rails = set(_rail_sections(body, stats, limit)) if product or keep_comments else set()
    verbatim: set[etree._Element] = set()
    # iter() is document order, so furniture is found outermost first
    for el in body.iter(etree.Element):
        entry = stats.get(el)
        if entry is None or el is body or el in verbatim:
            continue
        parent = el.getparent()
        if parent in dropped:
            dropped.add(el)
            continue
        small_control = el.tag in _CONTROLS and entry[0] < CONTROL_MAX_CHARS
        if small_control or (
            entry[0] < limit
            and (
                el in rails
                or _furniture(el, entry, keep_comments, product)
                or _link_list(el, entry, link_share)
                or _filter_panel(el, entry)
            )
        ):
            dropped.add(el)
            node = parent
            while node is not None and node in stats:
                stats[node][0] -= entry[0]
                node = node.getparent()
        elif el.tag in _VERBATIM:
            verbatim.update(el.iterdescendants())
    chars = {el: entry[0] for el, entry in stats.items()}
    root = body
    main = next(iter(body.iter("main")), None)
    if main is None:
        main = next(iter(body.iterfind(".//*[@role='main']")), None)
    if main is not None and main not in dropped and chars.get(main, 0) >= MAIN_MIN_CHARS:
        root = main
    while chars.get(root, 0):
        best, best_chars = None, -1
        for child in root:
            if child in chars and child not in dropped and chars[child] > best_chars:
                best, best_chars = child, chars[child]
        if best is None or best_chars < DESCEND_SHARE * chars[root]:
            break
        root = best
    return root, dropped


def dom_text(tree: etree._Element, keep_comments: bool = False, product: bool = False) -> str:
    """Main text by page structure (see the module docstring). Leaves `tree` unchanged."""
    return block_text(*content_block(tree, keep_comments, product))


def block_text(root: etree._Element | None, dropped: set[etree._Element]) -> str:
    """The text of `root` without the `dropped` furniture, as `content_block` found them."""
    if root is None:
        return ""
    parts: list[str] = []
    _collect(root, parts, dropped)
    text = _BOX_GAP.sub(_box_gap, "".join(parts))
    lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    counts = Counter(line.lower() for line in lines if len(line.split()) <= REPEAT_MAX_WORDS)
    lines = [line for line in lines if counts.get(line.lower(), 0) < REPEAT_MIN_COUNT]
    return "\n".join(_drop_repeated_runs(lines))


def _drop_repeated_runs(lines: list[str]) -> list[str]:
    """Lines minus runs of lines already seen, when a run holds DEDUP_MIN_WORDS or more."""
    seen: set[str] = set()
    kept: list[str] = []
    run: list[str] = []
    for line in [*lines, None]:
        key = line.lower() if line is not None else None
        if key is not None and key in seen:
            run.append(line)
            continue
        if run and sum(len(r.split()) for r in run) < DEDUP_MIN_WORDS:
            kept.extend(run)
        run = []
        if line is not None:
            seen.add(key)
            kept.append(line)
    return kept


# Where _collect puts a gap between two flush sibling elements. It becomes a space, except
# next to Chinese or Japanese script (or Korean's syllables inside a word), which is written
# without spaces: `<span>東京</span><span>都</span>` stays one word. parse_html removes
# NULs from every document, so the mark cannot come from the page.
_GAP = "\x00"
_BOX_GAP = re.compile(f"([^{_GAP}]?){_GAP}(?=([^{_GAP}]?))")
_NO_SPACE_SCRIPT = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def _box_gap(match: re.Match[str]) -> str:
    before, after = match.group(1), match.group(2)
    if _NO_SPACE_SCRIPT.match(before) or _NO_SPACE_SCRIPT.match(after):
        return before
    return before + " "


def _visible(parts: list[str], start: int) -> int:
    """How many visible characters parts[start:] hold: 0, 1, or 2 for "two or more"."""
    seen = 0
    for i in range(start, len(parts)):
        seen += len(parts[i].strip())
        if seen > 1:
            return 2
    return seen


def _collect(
    el: etree._Element, parts: list[str], dropped: set[etree._Element], verbatim: bool = False
) -> None:
    """Append the text under `el` to `parts`, a line break around each block element.

    Two sibling elements with nothing between them get a gap (_GAP, a space in the end):
    shops and news fronts lay out `<span>Petzl</span><span>Actik Core</span>` or a count
    and its label as separate boxes, and glued they make words that are on no page
    ("PetzlActik"). Not inside `<pre>`/`<code>`, where a highlighter's spans sit flush,
    nor after a one-letter element (a drop cap). An element that shows nothing (an icon, an
    image's wrapper) neither takes a gap nor ends a flush run.
    """
    block = el.tag in _BLOCK
    verbatim = verbatim or el.tag in _VERBATIM
    if block:
        parts.append("\n")
    if el.text:
        parts.append(el.text)
    flush = False  # the last thing appended closed an element, with no text after it
    for child in el:
        if isinstance(child.tag, str) and child.tag not in _SKIP and child not in dropped:
            gap = len(parts) if flush and not verbatim else -1
            if gap >= 0:
                parts.append(_GAP)
            start = len(parts)
            _collect(child, parts, dropped, verbatim)
            shown = _visible(parts, start)
            if shown:
                flush = shown > 1
            elif gap >= 0:
                del parts[gap]
        if child.tail:
            parts.append(child.tail)
            flush = False
    if block:
        parts.append("\n")


# --- what the page says about itself --------------------------------------------------------

_ARTICLE_TYPES = frozenset(
    {
        "article", "newsarticle", "blogposting", "reportagenewsarticle", "techarticle",
        "scholarlyarticle", "analysisnewsarticle", "opinionnewsarticle", "liveblogposting",
        "backgroundnewsarticle", "reviewnewsarticle",
    }
)  # fmt: skip
_FORUM_TYPES = frozenset({"discussionforumposting", "qapage"})
_PRODUCT_TYPES = frozenset({"product", "productgroup", "individualproduct", "productmodel"})
_PRODUCT_OG = frozenset({"product", "og:product", "product.item", "product.group"})
# A thread's address as the common forum engines write it: XenForo and vBulletin
# (/threads/…, showthread.php), phpBB (viewtopic.php), Invision and NodeBB (/topic/123-…),
# Discourse (/t/slug/123), Reddit (/r/sub/comments/…) and Lemmy (/post/123). Many such
# threads declare nothing in their markup.
_FORUM_URL = re.compile(
    r"/(?:threads?|showthread\.php|viewtopic\.php)[/?]|/topic/\d+[-/]|/r/[^/?#]+/comments/"
    r"|/(?:t/[^/?#]+|post)/\d+(?:[/?#]|$)",
    re.IGNORECASE,
)
# <meta> names that carry a publication date, most specific first.
_DATE_META = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "dcterms.date",
    "sailthru.date",
    "parsely-pub-date",
)
_ISO_DATE = re.compile(r"((?:19|20)\d\d)[-/.](\d{1,2})[-/.](\d{1,2})")


@dataclass
class PageSignals:
    """What a page declares about itself in <head> and JSON-LD, and its address says:
    metadata and its kind."""

    title: str = ""
    site: str = ""
    published: str | None = None
    article: bool = False
    forum: bool = False
    product: bool = False


def _meta_map(tree: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for el in tree.iter("meta"):
        key = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
        value = (el.get("content") or "").strip()
        if key and value and key not in found:
            found[key] = value
    return found


def _json_ld(tree: etree._Element) -> list[dict]:
    """Every JSON-LD object on the page, @graph members flattened."""
    objects: list[dict] = []
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                objects.append(item)
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])
    return objects


def _microdata_types(tree: etree._Element) -> set[str]:
    """schema.org types that the page's microdata (itemtype) or RDFa (typeof) declares once.

    A type on one element describes the page; one repeated over many elements describes
    the cards of a listing (every product of a category page, every post of a blog index).
    """
    counts: Counter[str] = Counter()
    for el in tree.iterfind(".//*[@itemtype]"):
        for kind in el.get("itemtype", "").split():
            counts[kind.rstrip("/").rsplit("/", 1)[-1].lower()] += 1
    for el in tree.iterfind(".//*[@typeof]"):
        for kind in el.get("typeof", "").split():
            counts[kind.rsplit(":", 1)[-1].rsplit("/", 1)[-1].lower()] += 1
    return {kind for kind, n in counts.items() if n == 1}


def _types(obj: dict) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _iso_date(value: object) -> str | None:
    """YYYY-MM-DD of the first plausible date in `value`, or None."""
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.search(value)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def read_signals(tree: etree._Element, url: str = "") -> PageSignals:
    """Title, site, date and page kind from meta tags, JSON-LD, <title> and the URL."""
    meta = _meta_map(tree)
    objects = _json_ld(tree)
    sig = PageSignals()
    headline = published = publisher = ""
    for obj in objects:
        kinds = _types(obj)
        if kinds & _ARTICLE_TYPES:
            sig.article = True
            if not headline and isinstance(obj.get("headline"), str):
                headline = obj["headline"]
        if kinds & _FORUM_TYPES:
            sig.forum = True
        if kinds & _PRODUCT_TYPES:
            sig.product = True
        published = published or (_iso_date(obj.get("datePublished")) or "")
        pub = obj.get("publisher")
        if not publisher and isinstance(pub, dict) and isinstance(pub.get("name"), str):
            publisher = pub["name"]
    declared = _microdata_types(tree)
    sig.article = sig.article or bool(declared & _ARTICLE_TYPES)
    sig.forum = sig.forum or bool(declared & _FORUM_TYPES)
    sig.product = sig.product or bool(declared & _PRODUCT_TYPES)
    og_type = meta.get("og:type", "").lower()
    sig.article = (
        sig.article
        or og_type == "article"
        or "article:published_time" in meta
        or "author" in meta
        or "article:author" in meta
    )
    sig.forum = sig.forum or og_type == "forum" or bool(url and _FORUM_URL.search(url))
    sig.product = sig.product or og_type in _PRODUCT_OG
    title_el = tree.find(".//title")
    page_title = _SPACE.sub(" ", title_el.text_content()).strip() if title_el is not None else ""
    h1 = next(iter(tree.iter("h1")), None)
    sig.title = (
        meta.get("og:title")
        or meta.get("twitter:title")
        or headline
        or page_title
        or (_SPACE.sub(" ", h1.text_content()).strip() if h1 is not None else "")
    )
    host = (urlsplit(url).hostname or "") if url else ""
    sig.site = (
        meta.get("og:site_name")
        or meta.get("application-name")
        or publisher
        or (host[4:] if host.startswith("www.") else host)
    )
    if published:
        sig.published = published
    else:
        sig.published = next(
            (d for name in _DATE_META if (d := _iso_date(meta.get(name)))), None
        ) or next((d for t in tree.iter("time") if (d := _iso_date(t.get("datetime")))), None)
    return sig


# --- JS-only and challenge pages --------------------------------------------------------------

# What a page says when it only works with JavaScript, or when a bot wall answers instead.
_JS_MARKERS = re.compile(
    r"enable javascript|javascript (?:is )?(?:disabled|required|must be enabled|is not enabled)"
    r"|requires? javascript|turn on javascript|activate javascript|enable js\b"
    r"|just a moment\.\.\.|checking (?:if the site connection is secure|your browser)"
    r"|verify(?:ing)? you are (?:a )?human|attention required|ddos protection by"
    r"|please wait while we verify|are you a robot|enable cookies and javascript",
    re.IGNORECASE,
)
# How much of the raw page text is searched for "enable JavaScript" and challenge wording.
JS_SNIFF_CHARS = 5000
# A page with this many words of main text or more is readable whatever else it says.
JS_ONLY_MAX_WORDS = 120
# With no marker at all, an application shell: (almost) no text and a script mount point.
SHELL_MAX_WORDS = 15
_APP_ROOTS = etree.XPath(
    "//*[@id='root' or @id='app' or @id='__next' or @id='__nuxt' or @id='svelte'"
    " or @data-reactroot or @ng-version] | //app-root"
)


def _shows_words(body: etree._Element | None, enough: int) -> bool:
    """Whether `body` shows at least `enough` words; stops reading once it does."""
    if body is None:
        return False
    # what a visitor sees, as _measure and _collect read it: the subtrees of _SKIP
    # elements (an svg's <text>, a video's fallback message) show nothing
    seen = len(_WORD.findall(body.text)) if body.text else 0
    stack = list(reversed(body))
    while stack and seen < enough:
        el = stack.pop()
        if el.tail:
            seen += len(_WORD.findall(el.tail))
        if not isinstance(el.tag, str) or el.tag in _SKIP:  # comments show their tail only
            continue
        if el.text:
            seen += len(_WORD.findall(el.text))
        stack.extend(reversed(el))
    return seen >= enough


def _js_only(
    raw_text: str, title: str, text: str, tree: etree._Element, blank_scripted: bool = False
) -> bool:
    """`blank_scripted`: the page runs scripts and shows (almost) no text without them."""
    words = len(_WORD.findall(text))
    if words >= JS_ONLY_MAX_WORDS:
        return False
    if _JS_MARKERS.search(title) or _JS_MARKERS.search(raw_text):
        return True
    return words <= SHELL_MAX_WORDS and (blank_scripted or bool(_APP_ROOTS(tree)))


# --- choosing ---------------------------------------------------------------------------------

# A page that declares itself an article keeps trafilatura's text unless trafilatura kept
# less than this share of what the structural extractor found: then it lost the body
# (list-style articles, content in <div>s). Measured on both benchmarks: 0.2 keeps
# ScrapingHub's news pages on trafilatura (F1 0.963 vs 0.957 at 0.25) while WCXB gives
# up 0.002; lower values cost WCXB up to 0.006 (0.1) and gain nothing on ScrapingHub.
ARTICLE_KEEP_SHARE = 0.2
# Any other page keeps trafilatura's text only when it is at least as long as the
# structural extractor's: on WCXB's listings, collections, services and forums a shorter
# trafilatura text was a fragment far more often than a cleaner cut.
OTHER_KEEP_SHARE = 1.0
# On an article, trafilatura's text loses to a structural text that is the same text less
# some lines: at least TRIMMED_MIN_SHARE of its words, with TRIMMED_INSIDE of them found in
# trafilatura's. What only trafilatura kept was mostly the headline and standfirst,
# bylines and datelines, newsletter sign-ups and teasers for other stories (ScrapingHub
# 0.9626 -> 0.9653, WCXB +0.0006). Looser, it lets through structural texts that lost part
# of the body: a share of 0.4 or 0.93 of words inside costs ScrapingHub 0.002-0.004.
TRIMMED_MIN_SHARE = 0.5
TRIMMED_INSIDE = 0.97
# The other way round, trafilatura kept a fragment: SPAN_INSIDE of its words are in the
# structural text, which holds at least SPAN_GROWTH times as many between the first and the
# last line the two share (list items, tables, sections in <div>s that trafilatura
# skipped). That stretch of the structural text is the article; what lies outside it
# (tickers, sidebars, comments) stays out. Only lines of SPAN_MIN_WORDS or more words,
# found once in the structural text, mark the stretch: a headline repeated in a ticker, or
# a "Comments" label, does not widen it. WCXB +0.0038, ScrapingHub +0.0011; 1.2 to 1.5
# for the growth all gain on both.
SPAN_INSIDE = 0.9
SPAN_GROWTH = 1.3
SPAN_MIN_WORDS = 3
# Below this many characters, a comment-free structural text may have lost a thread whose
# posts are marked up as comments (forums without schema.org markup).
THREAD_CHECK_CHARS = 1000


def choose(traf: str, dom: str, signals: PageSignals) -> tuple[str, str]:
    """Pick trafilatura's or the structural text for one page; returns (text, method)."""
    if signals.forum:
        return dom, "dom"
    traf_tokens = _WORD.findall(traf)
    dom_tokens = _WORD.findall(dom)
    traf_words, dom_words = len(traf_tokens), len(dom_tokens)
    share = ARTICLE_KEEP_SHARE if signals.article else OTHER_KEEP_SHARE
    if traf_words and traf_words >= share * dom_words:
        if signals.article:
            cut = _article_cut(traf, dom, traf_tokens, dom_tokens)
            if cut:
                return cut, "dom"
        return traf, "trafilatura"
    if dom_words:
        return dom, "dom"
    return traf, "trafilatura" if traf else ""


def _line_key(line: str) -> str:
    return " ".join(_WORD.findall(line.lower()))


def _article_cut(traf: str, dom: str, traf_tokens: list[str], dom_tokens: list[str]) -> str:
    """The structural text, or the stretch of it, that an article's text should be when
    trafilatura's text is a padded copy of it (TRIMMED_*) or a fragment of it (SPAN_*);
    "" when neither. The tokens are each text's words, as choose() found them."""
    traf_words, dom_words = len(traf_tokens), len(dom_tokens)
    trimmed = TRIMMED_MIN_SHARE * traf_words <= dom_words < traf_words
    if not trimmed and dom_words < SPAN_GROWTH * traf_words:
        return ""
    bag = Counter(w.lower() for w in traf_tokens)
    shared = sum((Counter(w.lower() for w in dom_tokens) & bag).values())
    if trimmed:
        return dom if shared >= TRIMMED_INSIDE * dom_words else ""
    if shared < SPAN_INSIDE * traf_words:
        return ""
    lines = dom.split("\n")
    keys = [_line_key(line) for line in lines]
    seen = Counter(keys)
    kept = {_line_key(line) for line in traf.split("\n")}
    marks = [
        i
        for i, key in enumerate(keys)
        if key in kept and seen[key] == 1 and len(key.split()) >= SPAN_MIN_WORDS
    ]
    if not marks:
        return ""
    span = "\n".join(lines[marks[0] : marks[-1] + 1])
    return span if len(_WORD.findall(span)) >= SPAN_GROWTH * traf_words else ""


def _remove(elements: set[etree._Element]) -> None:
    """Take `elements` out of their tree, keeping the text that follows each of them.

    Short form controls stay: a mis-nested <button> or <select> can hold real text.
    """
    for el in elements:
        parent = el.getparent()
        if parent is None or parent in elements or el.tag in _CONTROLS:
            continue
        drop_element(el)


def _trafilatura(tree: HtmlElement, url: str) -> str:
    import trafilatura

    # fast: its readability/justext fallbacks cost a third of its time and add little
    # next to the structural extractor; comments are not the page's content.
    # favor_recall: its precise mode drops list items and short paragraphs that both
    # benchmarks count as content (WCXB +0.003, ScrapingHub +0.001).
    return (
        trafilatura.extract(
            tree,
            url=url or None,
            fast=True,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
        )
        or ""
    )


def extract_html(html: str | bytes, url: str = "") -> Extracted:
    """Title, site, date and main text of one HTML document.

    Bytes are decoded by the document's own declaration (BOM, <meta charset>), then UTF-8,
    then windows-1252. Hidden content is removed before any text is read, and the text
    passes `hygiene.clean_text`. A page that only renders with JavaScript, or a bot
    challenge, comes back with ``js_only=True`` and no text.
    """
    tree = parse_html(html)
    if tree is None:
        return Extracted(title="", text="")
    signals = read_signals(tree, url)
    # what a visitor without JavaScript is told (often inside <noscript>, removed below)
    body = tree.find("body")
    raw_text = body.text_content()[:JS_SNIFF_CHARS] if body is not None else ""
    scripted = tree.find(".//script") is not None
    remove_hidden(tree)
    # a shell with no mount point we know: the body shows nothing until its scripts run
    blank_scripted = scripted and not _shows_words(body, SHELL_MAX_WORDS + 1)
    # a page that declares both (a product review) is an article
    product = signals.product and not signals.article
    block = content_block(tree, keep_comments=signals.forum, product=product)
    dom = block_text(*block)
    # an article's comments are not its content, however short the article
    if not (signals.forum or signals.article) and len(dom) < THREAD_CHECK_CHARS:
        thread = dom_text(tree, keep_comments=True, product=product)
        if len(thread) > 2 * len(dom):
            dom = thread
    if not signals.article:
        # what the structural pass calls furniture, trafilatura does not see either; not on
        # articles, where it is already precise (ScrapingHub 0.963 -> 0.959 if it were)
        _remove(block[1])
    text, method = choose(_trafilatura(tree, url), dom, signals)
    text = clean_text(text)
    title = clean_text(signals.title)
    js_only = _js_only(raw_text, title, text, tree, blank_scripted)
    return Extracted(
        title=title,
        text="" if js_only else text,
        site=clean_text(signals.site),
        published=signals.published,
        js_only=js_only,
        method="" if js_only else method,
    )


def read_html_file(path: str | Path) -> bytes:
    """Bytes of a saved page; `.gz` files are decompressed."""
    data = Path(path).read_bytes()
    return gzip.decompress(data) if str(path).endswith(".gz") else data


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.name.endswith((".html", ".htm", ".html.gz"))
            )
        else:
            yield path


def iter_extract_files(paths: Iterable[str | Path]) -> Iterator[dict]:
    """{path, title, text} for each saved page (.html, .htm or .html.gz; folders expanded).

    One file at a time, so memory stays flat over thousands of files. A file that cannot
    be read yields an entry with an "error" message instead of stopping the run.
    """
    for path in _expand(paths):
        try:
            data = read_html_file(path)
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            yield {"path": str(path), "title": "", "text": "", "error": str(err)}
            continue
        page = extract_html(data)
        yield {"path": str(path), "title": page.title, "text": page.text}

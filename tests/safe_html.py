"""What the one render path may hand the page, checked on the HTML itself (html.parser):
elements and attributes from an allow-list, links only to the web or the app's file route,
each opening in a new tab without opener or referrer, nothing gr.Markdown would re-read."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

BLOCKS = {"p", "pre", "ul", "ol", "li", "blockquote", "hr", "br"}
BLOCKS |= {f"h{i}" for i in range(1, 7)}
INLINE = {"em", "strong", "s", "code", "a", "span", "div"}
TABLE = {"table", "thead", "tbody", "tr", "th", "td"}
ELEMENTS = BLOCKS | INLINE | TABLE
VOID = {"br", "hr"}
ATTRIBUTES = {
    "a": {"href", "title", "target", "rel"},
    "span": {"class", "tabindex", "role", "title"},
    "div": {"class", "data-column", "aria-label", "aria-live"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
DIV_CLASSES = {"md", "answer-text", "grounding", "gs-none", "gs-summary", "gs-legend"}
DIV_CLASSES |= {"evidence-panel"}
SPAN_CLASSES = re.compile(r"(gs|gs-key) gs-(supported|weak|unsupported)|gs-key")
ALIGN = re.compile(r"text-align:(left|right|center)")
APP_ROUTE = "/corpus/"


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        check_element(tag, values)
        self.elements.append((tag, values))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID, f"<{tag} /> is not a void element"
        values = {k: v or "" for k, v in attrs}
        check_element(tag, values)
        self.elements.append((tag, values))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment: {data!r}")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError(f"a declaration: {decl!r}")

    def handle_pi(self, data: str) -> None:
        raise AssertionError(f"a processing instruction: {data!r}")


def allowed_href(href: str) -> bool:
    if href.startswith(APP_ROUTE):
        return True
    parts = urlsplit(href)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_element(tag: str, attrs: dict[str, str]) -> None:
    assert tag in ELEMENTS, f"<{tag}> is not allowed"
    extra = set(attrs) - ATTRIBUTES.get(tag, set())
    assert not extra, f"<{tag}> carries {extra}"
    if tag == "a":
        assert allowed_href(attrs.get("href", "")), f"a link to {attrs.get('href')!r}"
        assert attrs.get("target") == "_blank", attrs
        assert attrs.get("rel") == "noopener noreferrer", attrs
    if tag == "div":
        assert set(attrs.get("class", "").split()) <= DIV_CLASSES, attrs
    if tag == "span":
        assert SPAN_CLASSES.fullmatch(attrs.get("class", "")), attrs
    if "style" in attrs:
        assert ALIGN.fullmatch(attrs["style"]), attrs


def check_html(out: str) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """Assert that `out` is safe HTML for gr.Markdown; its elements and its text."""
    if not out:
        return [], ""
    assert out.startswith('<div class="'), out[:60]  # one HTML block, from its first character
    for raw in ("\n", "\t", "\r", "$", "%%"):
        assert raw not in out, f"{raw!r} would be read by gr.Markdown"
    parser = _Checker()
    parser.feed(out)
    parser.close()
    assert not parser.stack, f"left open: {parser.stack}"
    return parser.elements, "".join(parser.text)


def text_of(out: str) -> str:
    """The text a reader sees (whitespace collapsed)."""
    return " ".join(check_html(out)[1].split())


def links_of(out: str) -> list[tuple[str, str]]:
    """(href, text) of each link, in order (text: the whole text inside it)."""
    elements, _ = check_html(out)
    hrefs = [attrs["href"] for tag, attrs in elements if tag == "a"]
    texts = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<a [^>]*>(.*?)</a>", out)]
    return list(zip(hrefs, [" ".join(unescape(t).split()) for t in texts], strict=True))

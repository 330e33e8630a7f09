"""Extraction: hidden content removed, main text found, metadata, JS-only pages, charsets,
saved files, real benchmark pages, and the `bench extraction` suite."""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
from pathlib import Path

import pytest
from lxml import etree

from searchduel.bench import Result
from searchduel.bench import extraction as bench
from searchduel.web import extract
from searchduel.web.extract import (
    Extracted,
    PageSignals,
    choose,
    dom_text,
    extract_html,
    iter_extract_files,
    read_signals,
)
from searchduel.web.sanitize import decode_html, parse_html, sanitize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WCXB = DATA / "extraction" / "wcxb-dev" / "dev"
SCRAPINGHUB = DATA / "extraction" / "scrapinghub-aeb"

ARTICLE = " ".join(
    f"Sentence {i} of the visible article explains how sourdough starters ferment flour."
    for i in range(12)
)


def page(body: str, head: str = "") -> str:
    return (
        f"<!doctype html><html><head><title>Sourdough basics</title>{head}</head>"
        f"<body><main><article><h1>Sourdough basics</h1><p>{ARTICLE}</p>{body}"
        f"<p>{ARTICLE}</p></article></main></body></html>"
    )


HIDDEN_CASES = {
    "script": "<script>var s = 'SECRETTEXT';</script>",
    "style": "<style>.x::after { content: 'SECRETTEXT'; }</style>",
    "noscript": "<noscript>SECRETTEXT</noscript>",
    "template": "<template><p>SECRETTEXT</p></template>",
    "video fallback": "<video src='/a.mp4'><p>SECRETTEXT</p></video>",
    "audio fallback": "<audio src='/a.mp3'>SECRETTEXT</audio>",
    "canvas fallback": "<canvas>SECRETTEXT</canvas>",
    "iframe fallback": "<iframe src='/frame'>SECRETTEXT</iframe>",
    "hidden attribute": "<div hidden>SECRETTEXT</div>",
    "aria-hidden": '<div aria-hidden="true">SECRETTEXT</div>',
    "display none": '<div style="color: red; display:none">SECRETTEXT</div>',
    "display none important": '<p style="display: none !important">SECRETTEXT</p>',
    "visibility hidden": '<span style="visibility: hidden">SECRETTEXT</span>',
    "font-size zero": '<span style="font-size:0px">SECRETTEXT</span>',
    "opacity zero": '<p style="opacity: 0">SECRETTEXT</p>',
    "sr-only": '<span class="sr-only">SECRETTEXT</span>',
    "visually-hidden": '<span class="card visually-hidden">SECRETTEXT</span>',
    "screen-reader-text": '<span class="screen-reader-text">SECRETTEXT</span>',
    "comment": "<!-- SECRETTEXT -->",
    "nested": '<div style="display:none"><p><b>SECRETTEXT</b></p></div>',
}


@pytest.mark.parametrize("case", sorted(HIDDEN_CASES))
def test_hidden_content_never_reaches_the_text(case: str) -> None:
    html = page(f"<p>Visible middle paragraph.</p>{HIDDEN_CASES[case]}<p>Closing words.</p>")
    tree = sanitize(html)
    assert "SECRETTEXT" not in tree.text_content()
    assert "SECRETTEXT" not in dom_text(tree)
    out = extract_html(html)
    assert "SECRETTEXT" not in out.text
    assert "sourdough starters" in out.text


def test_tail_text_after_a_hidden_element_stays() -> None:
    tree = sanitize("<html><body><p>Before <span hidden>x</span>after.</p></body></html>")
    assert tree.find(".//p").text_content() == "Before after."


def test_small_values_are_not_hidden() -> None:
    html = page(
        '<p style="opacity:0.5">HALFVISIBLE</p><p style="font-size:0.9em">SMALLTEXT</p>'
        '<p class="sr-only-focusable-note">NOTSRONLY</p>'
    )
    text = sanitize(html).text_content()
    assert "HALFVISIBLE" in text and "SMALLTEXT" in text and "NOTSRONLY" in text


def test_content_one_click_away_stays() -> None:
    # tab panels and accordions a control on the page opens are content, not hidden text
    html = page(
        '<button aria-controls="spec" aria-expanded="false">Specs</button>'
        '<div id="spec" hidden>TABPANELTEXT</div>'
        '<div role="tabpanel" style="display:none">SECONDTAB</div>'
        '<div style="opacity:0;transform:translateY(20px)">FADEIN</div>'
    )
    text = sanitize(html).text_content()
    assert "TABPANELTEXT" in text and "SECONDTAB" in text and "FADEIN" in text


def test_page_wrapper_hidden_until_load_stays() -> None:
    html = (
        f'<html><body><div style="opacity:0" class="wrapper"><p>{ARTICLE}</p></div></body></html>'
    )
    assert "sourdough" in extract_html(html).text


def test_react_streamed_segments_stay() -> None:
    html = (
        "<html><body><main><p>Intro line.</p><template id='B:0'></template></main>"
        f"<div hidden id='S:0'><p>{ARTICLE}</p></div></body></html>"
    )
    assert "sourdough" in extract_html(html).text
    # without React's placeholder, a hidden div named S:0 is just hidden
    assert "sourdough" not in sanitize(html.replace("B:0", "X:0")).text_content()


def test_noscript_that_is_the_whole_page_stays() -> None:
    # Discourse serves each thread to visitors without JavaScript inside <noscript>
    html = f"<html><body><div id='app'></div><noscript><p>{ARTICLE}</p></noscript></body></html>"
    assert "sourdough" in extract_html(html).text


METHOD = " ".join(f"Step {i} of the method folds the dough and lets it rest." for i in range(12))


def test_furniture_is_left_out() -> None:
    html = (
        "<html><body><header><nav><a href='/'>Home</a> <a href='/a'>About</a></nav></header>"
        f"<main><h1>Title</h1><p>{ARTICLE}</p>"
        "<div class='share-buttons'><a>Share on Facebook</a></div>"
        "<section class='comments'><p>COMMENTTEXT first comment here.</p></section>"
        f"<p>{METHOD}</p>"
        "<div class='mini-cart'><p>CARTTEXT Your basket holds 2 items, $18.00</p></div>"
        "<div class='product-legal'><p>LEGALTEXT Prices include VAT. Terms apply.</p></div>"
        "<div class='page-feedback'><p>FEEDBACKTEXT Was this page helpful? Yes No</p></div>"
        "<div class='print-only'><p>PRINTTEXT Printed from example.org on 3 May</p></div>"
        "<div class='link-popover'><p>POPOVERTEXT Copy link, email, embed</p></div>"
        "</main><footer><p>FOOTERTEXT Copyright 2025</p></footer></body></html>"
    )
    text = dom_text(sanitize(html))
    assert "sourdough" in text
    junk = ("Home", "Share on Facebook", "COMMENTTEXT", "FOOTERTEXT", "CARTTEXT", "LEGALTEXT")
    for line in (*junk, "FEEDBACKTEXT", "PRINTTEXT", "POPOVERTEXT"):
        assert line not in text


def test_code_keeps_lines_its_highlighter_classes_like_furniture() -> None:
    code = (
        "<pre><code class='language-bash hljs'><span class='hljs-comment'># CODECOMMENT"
        " start a repository</span>\ngit init\n<span class='token tag'>&lt;TAGTEXT&gt;"
        "</span></code></pre>"
    )
    html = (
        f"<html><body><main><h1>Git</h1><p>{ARTICLE}</p>{code}<p>{ARTICLE}</p>"
        "<div class='comment'><p>COMMENTTEXT nice post</p></div></main></body></html>"
    )
    text = dom_text(sanitize(html))
    assert "CODECOMMENT" in text and "git init" in text and "TAGTEXT" in text
    # outside code the same class word is still a comment thread
    assert "COMMENTTEXT" not in text


def test_flush_sibling_elements_do_not_glue_their_words() -> None:
    card = (
        "<div class='card'><span>Petzl</span><span>Actik Core</span></div>"
        "<div class='stats'><span>10.6k</span><span>2 gold badges</span><a href='/u'>Ann</a>"
        "<a href='/v'>Bob</a></div>"
    )
    drop_cap = "<p><strong><span><span>I</span></span></strong><span>f you bake</span>, rest.</p>"
    cjk = "<div><span>東京</span><span>都</span>の<b>天気</b><b>予報</b></div>"
    icons = (
        "<p><a>Sour</a><i class='icon'></i>dough <b>pH</b><span><img src='x'></span><b>4</b></p>"
    )
    code = "<pre><code><span>self</span><span>.total</span> = <span>0</span></code></pre>"
    half = len(ARTICLE) // 2
    html = (
        f"<html><body><main><p>{ARTICLE[:half]}</p>{card}{drop_cap}{code}{cjk}{icons}"
        f"<p>{ARTICLE[half:]}</p></main></body></html>"
    )
    lines = dom_text(sanitize(html)).split("\n")
    assert "Petzl Actik Core" in lines
    assert "10.6k 2 gold badges Ann Bob" in lines
    # a one-letter element is a drop cap, and code keeps its characters as written
    assert "If you bake, rest." in lines
    assert "self.total = 0" in lines
    # Chinese and Japanese are written without spaces between words
    assert "東京都の天気予報" in lines
    # an element that shows nothing neither splits a word nor joins its neighbours
    assert "Sourdough pH 4" in lines


def test_an_accordion_marked_as_a_tab_list_stays() -> None:
    panels = "".join(
        f"<div class='panel'><h4>Question {i}?</h4><p>ACCORDION answer {i}. {ARTICLE[:80]}</p>"
        "</div>"
        for i in range(4)
    )
    tabs = "<ul role='tablist'><li role='tab'>TABLABEL Overview</li><li role='tab'>Specs</li></ul>"
    html = (
        f"<html><body><main><h1>Course</h1><p>{ARTICLE}</p>{tabs}"
        f"<div class='panel-group' role='tablist'>{panels}</div></main></body></html>"
    )
    text = dom_text(sanitize(html))
    assert "ACCORDION answer 3" in text
    assert "TABLABEL" not in text


def test_forum_threads_keep_their_posts() -> None:
    posts = "".join(
        f"<div class='comment'><p>Reply {i}: I feed my starter twice a day with rye.</p>"
        f"<div class='post-signature'>SIGNATURE {i} 10.6k reputation, 2 gold badges</div>"
        f"<dl class='message-userExtras'><dt>USEREXTRAS {i} joined</dt><dd>2019</dd></dl>"
        f"<div class='post-likes'>LIKES {i} people liked this</div></div>"
        for i in range(6)
    )
    similar = "".join(
        f"<li>SIMILAR thread {i} on rye flour, started Mar {i}, 2013</li>" for i in range(4)
    )
    similar = f"<section><h3>Similar threads</h3><ul>{similar}</ul></section>"
    ld = '<script type="application/ld+json">{"@type": "DiscussionForumPosting"}</script>'
    html = (
        f"<html><head>{ld}</head><body><main><h1>Starter help</h1>{posts}{similar}</main>"
        "</body></html>"
    )
    out = extract_html(html)
    assert out.method == "dom"
    assert "Reply 5" in out.text
    # signatures, user cards and the rail of other threads are the forum's furniture
    assert "SIGNATURE" not in out.text and "USEREXTRAS" not in out.text
    assert "SIMILAR" not in out.text and "LIKES" not in out.text


@pytest.mark.parametrize(
    "url",
    [
        "https://forums.example.org/threads/best-rye-flour.97340/",
        "https://example.org/showthread.php?t=1930933",
        "https://example.org/forum/viewtopic.php?t=425337",
        "https://example.org/topic/201820-rye-or-wheat/",
        "https://discuss.example.org/t/rye-or-wheat/3275",
        "https://old.example.com/r/Sourdough/comments/1rku5x9/rye_or_wheat/",
        "https://lemmy.example.org/post/21018364",
    ],
)
def test_a_thread_address_makes_a_page_a_forum(url: str) -> None:
    posts = "".join(
        f"<div class='comment'><p>Reply {i}: I feed my starter twice a day with rye.</p></div>"
        for i in range(6)
    )
    html = f"<html><body><main><h1>Starter help</h1>{posts}</main></body></html>"
    assert read_signals(sanitize(html), url).forum
    out = extract_html(html, url)
    assert "Reply 5" in out.text


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.com/t/pegasus-41-road-running-shoes-LMhfRGdO",
        "https://news.example.edu/topic/software",
        "https://www.example.com/forum/beginning-woodworking",
        "https://example.org/post/23-new-bakeries-open-downtown",
    ],
)
def test_other_addresses_do_not(url: str) -> None:
    assert not read_signals(sanitize("<html><body><p>Shoes</p></body></html>"), url).forum


def test_repeated_control_labels_are_dropped() -> None:
    cards = "".join(
        f"<li><h3>Product {i} sourdough crock</h3><p>A stoneware crock, size {i}.</p>"
        "<span>Add to cart</span></li>"
        for i in range(8)
    )
    text = dom_text(sanitize(f"<html><body><main><ul>{cards}</ul></main></body></html>"))
    assert "Product 7 sourdough crock" in text
    assert "Add to cart" not in text


def test_filter_and_sort_controls_of_a_listing_are_dropped() -> None:
    cards = "".join(
        f"<li><h3>Crock {i}</h3><p>A stoneware crock for starters, size {i}.</p></li>"
        for i in range(6)
    )
    facets = "".join(
        f"<label><input type='checkbox' name='size' value='{s}'> Size {s} FACETTEXT</label>"
        for s in ("small", "medium", "large", "family size with a long label")
    )
    faq = (
        "<div class='facet-row'><h3>Which crock should I buy?</h3>"
        f"<p>FAQTEXT {ARTICLE[:300]}</p></div>"
    )
    html = (
        "<html><body><main><h1>Crocks</h1>"
        f"<div class='facets-vertical'><h2>Filters</h2>{facets}</div>"
        "<div class='sort-by'>Sort by: <select><option>Price</option>"
        "<option>Newest</option></select></div>"
        f"<div class='filter-toggle'>Filter &amp; sort</div><ul>{cards}</ul>{faq}"
        "</main></body></html>"
    )
    text = dom_text(sanitize(html))
    assert "Crock 5" in text
    for junk in ("FACETTEXT", "Sort by", "Filter & sort"):
        assert junk not in text
    # a class word alone is not a filter: a long block with nothing to pick stays
    assert "FAQTEXT" in text


def test_a_block_rendered_twice_is_kept_once() -> None:
    details = (
        "<p>Hand-thrown stoneware crock for sourdough starters.</p>"
        "<p>Holds two litres of starter and keeps it at an even temperature all week.</p>"
    )
    terms = "".join(
        f"<li><h3>Coupon {i}</h3><p>Not valid with other offers.</p></li>" for i in range(3)
    )
    html = (
        f"<html><body><main><div class='mobile'>{details}</div>"
        f"<div class='desktop'>{details}</div><ul>{terms}</ul></main></body></html>"
    )
    text = dom_text(sanitize(html))
    assert text.count("Holds two litres") == 1
    # short repeated lines between distinct ones are the page's own repetition
    assert text.count("Not valid with other offers.") == 3


def test_product_pages_drop_rails_of_other_products() -> None:
    rail = "".join(
        f"<li><a href='/p/{i}'>Oak proofing basket {i}</a> <span>$2{i}</span></li>"
        for i in range(6)
    )
    body = (
        "<main><h1>Stoneware crock</h1>"
        f"<div class='description'><p>{ARTICLE[:300]}</p></div>"
        f"<ul>{rail}</ul></main>"
    )
    ld = '<script type="application/ld+json">{"@type": "Product", "name": "Crock"}</script>'
    product = sanitize(f"<html><head>{ld}</head><body>{body}</body></html>")
    assert read_signals(product).product
    text = dom_text(product, product=True)
    assert "sourdough" in text
    assert "proofing basket" not in text
    # the same cards on a page that is not a product are its content (a collection)
    assert "proofing basket" in dom_text(sanitize(f"<html><body>{body}</body></html>"))


def test_product_pages_drop_sections_opened_by_a_rail_heading() -> None:
    cards = "".join(
        f"<div class='card'><a href='/p/{i}'>Linen banneton liner {i}</a>"
        f"<p>A soft liner that keeps dough from sticking, size {i}.</p></div>"
        for i in range(4)
    )
    body = (
        "<main><h1>Stoneware crock</h1>"
        f"<p>{ARTICLE[:480]}</p><p>{ARTICLE[480:]}</p>"
        f"<div><div><h2>Customers also viewed</h2><div class='grid'>{cards}</div></div></div>"
        "<h3>Care</h3><p>Wash the crock by hand and dry it upside down.</p></main>"
    )
    ld = '<script type="application/ld+json">{"@type": "Product", "name": "Crock"}</script>'
    product = sanitize(f"<html><head>{ld}</head><body>{body}</body></html>")
    text = dom_text(product, product=True)
    assert "sourdough" in text and "upside down" in text
    assert "banneton" not in text and "also viewed" not in text
    # mid-block: the heading and what follows it, up to the next heading
    flat = body.replace("<div><div>", "").replace("</div></div></div>", "</div>")
    text = dom_text(sanitize(f"<html><head>{ld}</head><body>{flat}</body></html>"), product=True)
    assert "banneton" not in text and "upside down" in text
    # a hub page lists other pages on purpose: kept when the page is not a product
    assert "banneton" in dom_text(sanitize(f"<html><body>{body}</body></html>"))


def test_microdata_declared_once_names_the_page_kind() -> None:
    def signals(body: str) -> PageSignals:
        return read_signals(parse_html(f"<html><body>{body}</body></html>"))

    one = "<div itemscope itemtype='https://schema.org/Product'><h1>Crock</h1></div>"
    assert signals(one).product
    # one Product per card: a category page, not a product
    assert not signals(one * 3).product
    thread = "<article itemscope itemtype='http://schema.org/DiscussionForumPosting'>Hi</article>"
    assert signals(thread).forum
    assert signals("<div vocab='https://schema.org/' typeof='BlogPosting'>Post</div>").article
    assert not signals("<div itemscope itemtype='https://schema.org/Person'>Ann</div>").article


def test_product_pages_drop_customer_reviews_but_review_articles_keep_them() -> None:
    reviews = (
        "<div class='product-reviews'><h2>Customer reviews</h2>"
        + "".join(f"<p>REVIEWTEXT {i}: my starter loves this crock.</p>" for i in range(3))
        + "</div>"
    )
    body = f"<main><h1>Stoneware crock</h1><p>{ARTICLE[:300]}</p>{reviews}</main>"
    product = '<script type="application/ld+json">{"@type": "Product"}</script>'
    out = extract_html(f"<html><head>{product}</head><body>{body}</body></html>")
    assert "sourdough" in out.text
    assert "REVIEWTEXT" not in out.text
    review = '<meta property="og:type" content="article">'
    tree = sanitize(f"<html><head>{product}{review}</head><body>{body}</body></html>")
    signals = read_signals(tree)
    assert signals.product and signals.article
    assert "REVIEWTEXT" in dom_text(tree)


def test_trafilatura_does_not_see_furniture_on_pages_other_than_articles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def fake(tree, url: str) -> str:
        seen.append(etree.tostring(tree, encoding="unicode"))
        return ""

    monkeypatch.setattr(extract, "_trafilatura", fake)
    body = (
        f"<main><h1>Crocks</h1><p>{ARTICLE}</p>"
        "<div class='related-posts'><p>RELATEDTEXT other crocks</p></div>tail words"
        "<p><b>stoneware</b><span class='share'>Share</span> <b>crock</b></p></main>"
    )
    extract_html(f"<html><body>{body}</body></html>")
    assert "RELATEDTEXT" not in seen[-1]
    assert "tail words" in seen[-1]
    # a blank tail is kept too: the words on either side of the furniture stay apart
    assert "Share" not in seen[-1]
    assert "stoneware</b> <b>crock" in seen[-1]
    article = '<meta property="og:type" content="article">'
    extract_html(f"<html><head>{article}</head><body>{body}</body></html>")
    assert "RELATEDTEXT" in seen[-1]


def test_choose_prefers_the_structural_text_when_trafilatura_kept_a_fragment() -> None:
    listing = "\n".join(f"Item {i} title and a short description" for i in range(40))
    fragment = "Item 3 title and a short description"
    assert choose(fragment, listing, PageSignals()) == (listing, "dom")
    assert choose(fragment, listing, PageSignals(article=True)) == (listing, "dom")
    body = "\n".join(listing.split("\n")[:20])
    assert choose(body, listing, PageSignals(article=True)) == (body, "trafilatura")
    assert choose(body, listing, PageSignals(forum=True)) == (listing, "dom")
    assert choose("", "", PageSignals()) == ("", "")


def test_choose_takes_the_structural_text_when_it_is_trafilaturas_less_some_lines() -> None:
    body = "\n".join(f"Paragraph {i} of the story about sourdough starters." for i in range(12))
    extras = "Sourdough starters: a story\nSign up for our newsletter\nRead next: bagels"
    traf = f"{extras}\n{body}"
    article = PageSignals(article=True)
    assert choose(traf, body, article) == (body, "dom")
    # not an article: the longer text wins as before
    assert choose(traf, body, PageSignals()) == (traf, "trafilatura")
    # the structural text lost half of the body: trafilatura's stays
    half = "\n".join(body.split("\n")[:5])
    assert choose(traf, half, article) == (traf, "trafilatura")
    # the structural text holds words trafilatura did not keep: not a trimmed copy
    other = body.replace("sourdough starters", "rye crackers and flatbread")
    assert choose(traf, other, article) == (traf, "trafilatura")


def test_choose_widens_a_fragment_to_the_stretch_both_texts_share() -> None:
    title = "Deportees return home from the border"
    paras = [f"Paragraph {i} tells how the flight landed and who was on it." for i in range(4)]
    items = [f"Step {i} of the journey, with its cost and its dates." for i in range(6)]
    # trafilatura kept the paragraphs around a list and a title, but not the list
    traf = "\n".join([title, *paras, "Comments"])
    article = [*paras[:2], *items, *paras[2:]]
    ticker = [title, "Another story from the ticker with a long teaser line"]
    sidebar = ["Comments", *(f"Popular post {i} from the sidebar of the site" for i in range(3))]
    dom = "\n".join([*ticker, title, *article, *sidebar])
    text, method = choose(traf, dom, PageSignals(article=True))
    assert (text, method) == ("\n".join(article), "dom")
    # not an article: the longer text whole, as before
    assert choose(traf, dom, PageSignals()) == (dom, "dom")
    # little between the shared lines: trafilatura's text stays
    thin = "\n".join([*ticker, title, *paras, *sidebar, *items])
    assert choose(traf, thin, PageSignals(article=True)) == (traf, "trafilatura")


def test_metadata_from_head_and_json_ld() -> None:
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "NewsArticle", "headline": "Headline from JSON-LD",
                 "datePublished": "2024-03-05T10:00:00+01:00",
                 "publisher": {"@type": "Organization", "name": "Bread Weekly"}},
            ],
        }
    )  # fmt: skip
    html = page("", head=f'<script type="application/ld+json">{ld}</script>')
    out = extract_html(html, url="https://www.example.org/bread")
    assert out.title == "Headline from JSON-LD"
    assert out.site == "Bread Weekly"
    assert out.published == "2024-03-05"
    og = page(
        "",
        head='<meta property="og:title" content="OG title"><meta property="og:site_name" '
        'content="OG Site"><meta property="article:published_time" content="2023-11-02">',
    )
    out = extract_html(og, url="https://www.example.org/x")
    assert (out.title, out.site, out.published) == ("OG title", "OG Site", "2023-11-02")
    bare = extract_html(page(""), url="https://www.example.org/y")
    assert (bare.title, bare.site, bare.published) == ("Sourdough basics", "example.org", None)


JS_APP = (
    "<html><head><title>Shop</title></head><body>"
    "<noscript>You need to enable JavaScript to run this app.</noscript>"
    "<div id='root'></div></body></html>"
)
CHALLENGE = (
    "<html><head><title>Just a moment...</title></head><body>"
    "<h1>example.com</h1><p>Checking if the site connection is secure</p>"
    "<p>example.com needs to review the security of your connection before proceeding.</p>"
    "</body></html>"
)


# an application shell with no mount point we know and no "enable JavaScript" notice
BLANK_SHELL = (
    "<html><head><title>Forum</title><script src='/app.js'></script></head><body>"
    "<app-shell-x><section id='main'></section></app-shell-x>"
    "<script>start()</script></body></html>"
)


@pytest.mark.parametrize(
    "html", [JS_APP, CHALLENGE, BLANK_SHELL], ids=["enable-js", "challenge", "blank-shell"]
)
def test_js_only_and_challenge_pages_are_marked(html: str) -> None:
    out = extract_html(html)
    assert out.js_only
    assert out.text == ""


def test_a_short_page_without_scripts_is_not_js_only() -> None:
    # saved or static pages with little text are short, not scripted shells
    out = extract_html("<html><body><p>Closed on Mondays.</p></body></html>")
    assert not out.js_only and out.text == "Closed on Mondays."
    scripted = "<html><body><p>Closed on Mondays.</p><script>track()</script></body></html>"
    assert extract_html(scripted).js_only  # a scripted page showing almost nothing


def test_words_inside_media_do_not_make_a_scripted_shell_readable() -> None:
    # a chart's labels and a player's fallback message are not text a visitor reads
    labels = " ".join(f"<text>label {i}</text>" for i in range(12))
    fallback = "Your browser does not support the video tag, please upgrade it. " * 3
    for media in (f"<svg>{labels}</svg>", f"<video src='/a.mp4'>{fallback}</video>"):
        html = f"<html><body>{media}<p>Loading</p><script>boot()</script></body></html>"
        assert extract_html(html).js_only, media[:5]
        # the same page with a paragraph of its own is readable
        prose = "<p>" + "A paragraph a visitor can read without scripts. " * 3 + "</p>"
        assert not extract_html(html.replace("<p>Loading</p>", prose)).js_only


def test_a_real_article_mentioning_javascript_is_not_js_only() -> None:
    html = page("<p>To enable JavaScript in your browser, open the settings page.</p>")
    out = extract_html(html)
    assert not out.js_only
    assert "enable JavaScript" in out.text


def test_empty_and_broken_input() -> None:
    assert extract_html("") == Extracted(title="", text="")
    assert extract_html(b"\x00\x00").text == ""
    assert extract_html("<html><body><p>Only a few words.</p></body></html>").text


def test_content_after_an_early_end_of_document_is_read() -> None:
    # the template printed its header and closed the document; a browser shows the rest
    html = (
        "<html><head><title>Outsourcing</title></head><body><header><a href='/'>Home</a>"
        f"</header></body></html>\n<div class='post'><p>{ARTICLE}</p></div></body></html>"
    )
    out = extract_html(html)
    assert "Sentence 11 of the visible article" in out.text
    assert "Home" not in out.text


CYRILLIC = "Съешь же ещё этих мягких французских булок, да выпей чаю."


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="windows-1251">',
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
    ],
)
def test_bytes_honour_meta_charset(meta: str) -> None:
    html = (
        f"<html><head>{meta}<title>{CYRILLIC[:10]}</title></head><body><article>"
        + (f"<p>{CYRILLIC}</p>" * 6)
        + "</article></body></html>"
    )
    data = html.encode("cp1251")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    out = extract_html(data)
    assert CYRILLIC in out.text
    assert out.title == CYRILLIC[:10]


def test_decode_fallbacks() -> None:
    assert decode_html("café".encode()) == "café"
    assert decode_html("café “quoted”".encode("cp1252")) == "café “quoted”"
    # a latin-1 label is read as windows-1252, as browsers do
    assert decode_html(b'<meta charset="iso-8859-1">\x93x\x94') == '<meta charset="iso-8859-1">“x”'
    assert decode_html("\ufeffhi".encode("utf-8")) == "hi"
    assert decode_html("hé".encode("cp1252"), charset="windows-1252") == "hé"
    tree = parse_html('<?xml version="1.0" encoding="utf-8"?><html><body>x</body></html>')
    assert tree is not None and tree.text_content() == "x"


def test_iter_extract_files(tmp_path: Path) -> None:
    plain = tmp_path / "a.html"
    plain.write_text(page(""), encoding="utf-8")
    packed = tmp_path / "b.html.gz"
    packed.write_bytes(gzip.compress(page("<p>Packed page.</p>").encode("utf-8")))
    broken = tmp_path / "c.html.gz"
    broken.write_bytes(b"not gzip at all")
    rows = list(iter_extract_files([plain, packed, broken, tmp_path / "missing.html"]))
    assert [Path(r["path"]).name for r in rows] == [
        "a.html",
        "b.html.gz",
        "c.html.gz",
        "missing.html",
    ]
    assert rows[0]["title"] == "Sourdough basics" and "sourdough" in rows[0]["text"]
    assert "Packed page." in rows[1]["text"]
    assert rows[2]["error"] and rows[3]["error"]
    assert set(rows[0]) == {"path", "title", "text"}
    # a folder expands to the pages inside it
    assert len(list(iter_extract_files([tmp_path]))) == 3


# --- metrics and the bench suite ----------------------------------------------------------


def test_word_f1() -> None:
    assert bench.word_f1("", "") == 1.0
    assert bench.word_f1("x", "") == 0.0
    assert bench.word_f1("The cat sat", "the cat sat") == 1.0
    assert bench.word_f1("the cat", "the cat sat down") == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_shingle_metric() -> None:
    tp, fp, fn = bench.shingle_counts("a b c d e", "a b c d e")
    assert (tp, fp, fn) == (1.0, 0.0, 0.0)
    assert bench.shingle_prf([(1.0, 0.0, 0.0)]) == (1.0, 1.0, 1.0)
    # shingles (a b c d) and (b c d x) against (a b c d) and (b c d e): one of each kind
    assert bench.shingle_counts("a b c d x", "a b c d e") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # case matters in this metric
    assert bench.shingle_counts("A b c d", "a b c d")[0] == 0


def _needs(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path} (../shared/data absent)")


def test_shingle_metric_reproduces_the_published_scores() -> None:
    _needs(SCRAPINGHUB)
    truth = json.loads((SCRAPINGHUB / "ground-truth.json").read_text(encoding="utf-8"))
    published = {"trafilatura": 0.958, "beautifulsoup": 0.665, "readability_js": 0.947}
    for name, expected in published.items():
        preds = json.loads((SCRAPINGHUB / "baseline_outputs" / f"{name}.json").read_text())
        preds = preds.get("output", preds)
        counts = [
            bench.shingle_counts(preds.get(k, {}).get("articleBody", ""), truth[k]["articleBody"])
            for k in sorted(truth)
        ]
        assert bench.shingle_prf(counts)[2] == pytest.approx(expected, abs=0.001)


def test_extraction_quality_on_real_pages() -> None:
    _needs(WCXB)
    _needs(SCRAPINGHUB)
    wcxb = bench.load_dataset(WCXB, limit=12)
    f1 = [bench.word_f1(extract_html(s.html, s.url).text, s.truth) for s in wcxb.samples]
    assert statistics.mean(f1) >= 0.75
    shub = bench.load_dataset(SCRAPINGHUB, limit=8)
    outputs = [extract_html(s.html, s.url).text for s in shub.samples]
    assert bench.score(shub, outputs)["all"] >= 0.85


def test_bench_suite_on_three_pages() -> None:
    _needs(WCXB)
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--data", str(WCXB), "--limit", "3"])
    results = bench.run(args, None)
    assert all(isinstance(r, Result) and r.suite == "extraction" for r in results)
    by_name = {r.name: r for r in results}
    overall = by_name["wcxb F1"]
    assert 0.0 <= overall.value <= 1.0 and overall.baseline is not None
    # the target is set on the whole set: a 3-page sample gets no verdict, only the number
    assert overall.target == "" and overall.passed is None
    assert "sample of 3 of" in overall.note and "n/a" in overall.note
    assert by_name["wcxb s/page"].value > 0 and by_name["wcxb s/page"].baseline > 0
    assert by_name["wcxb time vs trafilatura"].target == "<= 1.0"
    assert any(name.startswith("wcxb F1 ") for name in by_name)  # per page type


def test_bench_whole_set_keeps_its_target() -> None:
    _needs(SCRAPINGHUB)
    dataset = bench.load_dataset(SCRAPINGHUB, limit=None)
    dataset.samples[:] = dataset.samples[:2]  # scored as a whole set of two pages
    dataset = bench.Dataset(dataset.name, dataset.path, dataset.samples, total=2)
    overall = {r.name: r for r in bench.evaluate(dataset)}["scrapinghub F1"]
    assert overall.target == ">= 0.96" and overall.passed is not None


def test_bench_data_flag_takes_a_comma_list(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--data", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--limit", "1"])
    with pytest.raises(FileNotFoundError, match="neither a WCXB folder"):
        bench.run(args, None)


def test_noscript_inside_hidden_content_does_not_count() -> None:
    hidden = f"<div hidden><noscript><p>{ARTICLE} SECRETTEXT</p></noscript></div>"
    html = f"<html><body><p>Short visible line.</p>{hidden}</body></html>"
    assert "SECRETTEXT" not in sanitize(html).text_content()

"""Packing ranked passages into the search column's prompt, within a computed token budget.

The budget is counted with the model's own tokenizer (or a documented over-estimate), never
guessed:

    prompt_tokens(final messages) + max_new_tokens <= window
    context_tokens(sources block)                  <= settings.context_tokens

Passages are taken greedily in rank order while they fit; then each page's passages are put
back in document order, adjacent ones merged, and each page becomes one fenced, numbered
source. Sources are numbered [1]..[n] in the order the model reads them, and
`Context.sources` lists exactly those. The final prompt is counted again and trimmed until
both inequalities hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..config import DEFAULT_CONTEXT_WINDOW, Settings
from ..types import Chunk, Context, Hit, Message, Page, Source
from .chunk import chunk_pages
from .prompts import new_nonce, sanitize, search_messages, source_block
from .rank import Ranked, rank_chunks

# Passages smaller than this are not worth a source's fence overhead once the budget is
# nearly spent; the greedy fill stops trying below it.
MIN_PASSAGE_TOKENS = 12
# Passages scoring under this share of the best one are left out even when they would fit:
# on the project's QA set this cut a fifth of the context tokens at the same recall
# (bench retrieval: 0.989 recall at 1,546 tokens against 0.989 at 1,908 without it), and a
# small model answers better without unrelated text around the evidence.
MIN_RELATIVE_SCORE = 0.3
GAP = "…"  # shown between two non-adjacent passages of one page


class TokenCounter(Protocol):
    def count_tokens(self, messages: Sequence[Message]) -> int: ...

    def count_text_tokens(self, text: str) -> int: ...


@dataclass
class _Selected:
    ranked: Ranked
    order: int  # pick order: lower was ranked higher


def source_kind(chunk_url: str, from_snippet: bool) -> str:
    """ "corpus" for the offline corpus, "snippet" for a search snippet, else "web"."""
    if chunk_url.startswith("corpus://"):
        return "corpus" if not from_snippet else "snippet"
    return "snippet" if from_snippet else "web"


def _site(url: str, page_site: str) -> str:
    if page_site:
        return page_site
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _render_passages(chunks: Sequence[Chunk], nonce: str) -> str:
    """One page's passages in document order; adjacent ones run on, gaps are marked."""
    parts: list[str] = []
    prev: Chunk | None = None
    heading = ""
    for c in sorted(chunks, key=lambda c: (c.from_snippet, c.position)):
        if prev is not None and not (
            c.position == prev.position + 1 and not c.from_snippet and not prev.from_snippet
        ):
            parts.append(GAP)
        if c.heading and c.heading != heading:
            parts.append(f"## {sanitize(c.heading, nonce)}")
        heading = c.heading or heading
        parts.append(c.text.strip())
        prev = c
    return "\n".join(parts)


def _render(
    selected: Sequence[_Selected], sites: dict[str, str], nonce: str
) -> tuple[str, tuple[Source, ...]]:
    """The sources block and its Source list, numbered in reading order."""
    by_url: dict[str, list[_Selected]] = {}
    for s in sorted(selected, key=lambda s: s.order):
        by_url.setdefault(s.ranked.chunk.url, []).append(s)
    blocks: list[str] = []
    sources: list[Source] = []
    for n, (url, items) in enumerate(by_url.items(), start=1):
        chunks = [s.ranked.chunk for s in items]
        first = chunks[0]
        only_snippets = all(c.from_snippet for c in chunks)
        kind = source_kind(url, only_snippets)
        site = sites.get(url) or _site(url, first.site)
        shown_site = site if kind != "corpus" else ""
        blocks.append(
            source_block(n, first.title, _render_passages(chunks, nonce), nonce, shown_site)
        )
        sources.append(Source(n=n, title=first.title or url, url=url, site=site, kind=kind))
    return "\n\n".join(blocks), tuple(sources)


def _window(window: int | None, counter: Any, settings: Settings) -> int:
    if window:
        return window
    w = getattr(counter, "context_window", None)
    if isinstance(w, int) and w > 0:
        return w
    return settings.context_window or DEFAULT_CONTEXT_WINDOW


def build_context(
    question: str,
    pages: Sequence[Page],
    hits: Sequence[Hit],
    *,
    counter: TokenCounter,
    settings: Settings,
    window: int | None = None,
    nonce: str | None = None,
    ranked: Sequence[Ranked] | None = None,
    on_stage: Callable[[str, dict[str, Any]], None] | None = None,
    timings: dict[str, float] | None = None,
) -> Context:
    """The exact search-column prompt for a question, its numbered sources and token counts.

    Usable pages are chunked (the hits' snippets join as candidates, so with no usable page
    the context falls back to snippets, labelled kind "snippet"), ranked, and packed greedily
    within the budget. With nothing to pack, the context has no sources and `text` is "";
    its messages then tell the model that no source could be read.

    When the instructions and the question alone leave no room (a huge question in a small
    window), nothing is packed and the prompt is returned as is: the caller must shorten
    the answer or refuse; packing never makes it longer than that.

    `window` is the model's context length (default: `counter.context_window`, then
    `settings.context_window`, then 4,096); `nonce` fixes the fence tag (tests); `ranked`
    skips chunking and ranking (the bench packs other rankings with the same code).
    `on_stage(stage, info)` is called as each stage starts ("chunk" {"pages"}, "rank"
    {"passages"}, "pack" {"candidates"}), and `timings` (when given) receives the milliseconds
    of each: chunk, bm25, dense, pack.
    """
    nonce = nonce or new_nonce()
    window = _window(window, counter, settings)
    timings = timings if timings is not None else {}
    stage = on_stage or (lambda _name, _info: None)
    if ranked is None:
        usable = _usable_pages(pages)
        stage("chunk", {"pages": len(usable)})
        t0 = time.perf_counter()
        chunks = chunk_pages(usable, hits)
        timings["chunk"] = (time.perf_counter() - t0) * 1000
        stage("rank", {"passages": len(chunks)})
        ranked = rank_chunks(question, chunks, dense=settings.dense, timings=timings)
    stage("pack", {"candidates": len(ranked)})
    t_pack = time.perf_counter()
    sites = {(p.final_url or p.url): p.site for p in pages if p.ok}

    # Room for the sources: the smaller of the setting and what the window leaves once the
    # instructions, the question, the chat template and the answer are counted.
    overhead = counter.count_tokens(search_messages(question, "x", nonce))
    budget = max(0, min(settings.context_tokens, window - settings.max_new_tokens - overhead))

    selected: list[_Selected] = []
    used = 0
    opened: set[str] = set()
    fence_cost: dict[str, int] = {}
    top_score = ranked[0].score if ranked else 0.0
    for order, r in enumerate(ranked):
        if budget - used < MIN_PASSAGE_TOKENS or r.score < MIN_RELATIVE_SCORE * top_score:
            break
        c = r.chunk
        cost = counter.count_text_tokens(c.text) + 1
        if c.heading:
            cost += counter.count_text_tokens(f"## {c.heading}") + 1
        if c.url not in opened:
            if c.url not in fence_cost:
                site = _site(c.url, sites.get(c.url) or c.site)
                empty = source_block(99, c.title, "", nonce, site)
                fence_cost[c.url] = counter.count_text_tokens(empty) + 2 + 2  # "\n\n", gap
            cost += fence_cost[c.url]
        else:
            cost += 1  # a possible gap marker
        if used + cost > budget:
            continue
        used += cost
        opened.add(c.url)
        selected.append(_Selected(r, order))

    # Count the real thing and trim the least-wanted passage until both limits hold.
    while True:
        text, sources = _render(selected, sites, nonce)
        messages = search_messages(question, text, nonce)
        context_tokens = counter.count_text_tokens(text) if text else 0
        prompt_tokens = counter.count_tokens(messages)
        fits_window = prompt_tokens + settings.max_new_tokens <= window
        if (context_tokens <= budget and fits_window) or not selected:
            break
        selected.remove(max(selected, key=lambda s: s.order))

    timings["pack"] = (time.perf_counter() - t_pack) * 1000
    return Context(
        question=question,
        text=text,
        sources=sources,
        messages=tuple(dict(m) for m in messages),
        context_tokens=context_tokens,
        prompt_tokens=prompt_tokens,
        budget_tokens=budget,
        source_texts=tuple(_source_texts(selected, nonce)),
    )


def _source_texts(selected: Sequence[_Selected], nonce: str) -> list[str]:
    """Each numbered source's passages as packed (no fence): what the judge checks against."""
    by_url: dict[str, list[Chunk]] = {}
    for s in sorted(selected, key=lambda s: s.order):
        by_url.setdefault(s.ranked.chunk.url, []).append(s.ranked.chunk)
    return [_render_passages(chunks, nonce) for chunks in by_url.values()]


def _usable_pages(pages: Sequence[Page]) -> list[Page]:
    """Pages with text, first copy of each URL only."""
    seen: set[str] = set()
    out = []
    for p in pages:
        key = p.final_url or p.url
        if p.ok and key not in seen:
            seen.add(key)
            out.append(p)
    return out

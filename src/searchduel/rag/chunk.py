"""Chunking that follows the document: sections, paragraphs, lists and tables.

A chunk is about CHUNK_TOKENS tokens of consecutive blocks of one section. Blocks are never
cut unless one alone is longer than MAX_CHUNK_TOKENS: then a paragraph is split between
sentences, a list between items and a table between rows (its header row repeated), so every
piece stays readable on its own. Each chunk records its page title and nearest heading, which
ranking indexes with it and packing shows above it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..types import Chunk, Hit, Page

# ~150 tokens: long enough to hold a fact with its subject, short enough that a 2,000-token
# budget holds a dozen passages from several sources (bench retrieval chose it).
CHUNK_TOKENS = 150
MAX_CHUNK_TOKENS = 230  # a chunk may grow past CHUNK_TOKENS to avoid a tiny remainder
MIN_CHUNK_TOKENS = 40  # a section shorter than this joins the next one's chunk
# Phi-3's tokenizer averages ~4 characters a token on English prose. Chunk sizes only need
# to be roughly right: packing counts every packed token with the real tokenizer.
CHARS_PER_TOKEN = 4.0

_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•▪◦‣]|\d{1,3}[.)])\s+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_END_PUNCT = ".!?:;,…)\"'”"


def estimate_tokens(text: str) -> int:
    """A cheap token estimate used only for chunk sizes."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass(frozen=True)
class Block:
    """One paragraph, list, table or heading of a document, in document order."""

    kind: str  # "para" | "list" | "table" | "heading"
    text: str
    heading: str = ""  # nearest heading above the block (for a heading: itself)


def _looks_like_heading(para: str, following: str | None) -> bool:
    """A one-line, short, unpunctuated paragraph followed by prose is a heading.

    Extractors that emit plain text lose the <h2> markup; this recovers most section titles
    without turning short list-like lines into headings (those rarely precede prose).
    """
    if "\n" in para or len(para) > 80 or len(para.split()) > 10 or not following:
        return False
    if para[-1] in _END_PUNCT or _LIST_ITEM.match(para) or _TABLE_ROW.match(para):
        return False
    if not (para[0].isupper() or para[0].isdigit()):
        return False
    return len(following) > 2 * len(para) and following.rstrip()[-1:] in ".!?:;)\"'”"


def _heading_like(line: str) -> bool:
    line = line.strip()
    return (
        0 < len(line) <= 80
        and len(line.split()) <= 10
        and line[-1] not in _END_PUNCT
        and (line[0].isupper() or line[0].isdigit())
        and not _LIST_ITEM.match(line)
        and not _TABLE_ROW.match(line)
    )


def _breaks_paragraph(prev: str, line: str, buffered: int) -> bool:
    """Whether a single line break separates paragraphs.

    Extractors often emit one paragraph per line with no blank lines between; hand-wrapped
    text breaks lines inside paragraphs. A line that ends a sentence, or a lone short
    title-like line before prose, ends a paragraph; a wrapped line ends mid-sentence.
    """
    if line.startswith((" ", "\t")) or (_TABLE_ROW.match(line) and _TABLE_ROW.match(prev)):
        return False  # a list item's continuation, or the next row of a table
    if _TABLE_ROW.match(prev) or _TABLE_ROW.match(line):
        return True
    if buffered == 1 and _heading_like(prev) and not _heading_like(line):
        return True
    return prev.rstrip()[-1:] in '.!?:"”)' and not _LIST_ITEM.match(line)


def split_blocks(text: str) -> list[Block]:
    """Paragraphs, lists, tables and headings of plain or markdown text, in order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Group lines into raw paragraphs (blank-line separated); headings stand alone.
    raw: list[tuple[str, str]] = []  # (kind, text) with kind "heading" or "text"
    buf: list[str] = []

    def flush() -> None:
        if buf:
            raw.append(("text", "\n".join(buf)))
            buf.clear()

    for i, line in enumerate(lines):
        stripped = line.strip()
        m = _MD_HEADING.match(line)
        if m:
            flush()
            raw.append(("heading", m.group(2).strip()))
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if stripped and not buf and _SETEXT.match(nxt) and not _TABLE_ROW.match(line):
            flush()
            raw.append(("heading", stripped))
            continue
        if _SETEXT.match(line) and raw and raw[-1][0] == "heading" and not buf:
            continue  # the underline of a setext heading
        if not stripped:
            flush()
            continue
        if buf and _breaks_paragraph(buf[-1], line, len(buf)):
            flush()
        buf.append(line.rstrip())
    flush()

    blocks: list[Block] = []
    heading = ""
    for idx, (kind, body) in enumerate(raw):
        if kind == "heading":
            heading = _clean_inline(body)
            blocks.append(Block("heading", heading, heading))
            continue
        following = raw[idx + 1][1] if idx + 1 < len(raw) and raw[idx + 1][0] == "text" else None
        single = body.strip()
        if _looks_like_heading(single, following):
            heading = _clean_inline(single)
            blocks.append(Block("heading", heading, heading))
            continue
        for sub_kind, sub in _split_kinds(body):
            blocks.append(Block(sub_kind, sub, heading))
    return blocks


def _split_kinds(body: str) -> list[tuple[str, str]]:
    """Split one paragraph into runs of prose, list items and table rows."""
    out: list[tuple[str, list[str]]] = []
    for line in body.split("\n"):
        if _TABLE_ROW.match(line) or (out and out[-1][0] == "table" and _TABLE_RULE.match(line)):
            kind = "table"
        elif _LIST_ITEM.match(line):
            kind = "list"
        elif out and out[-1][0] == "list" and line.startswith((" ", "\t")):
            kind = "list"  # continuation of a list item
        else:
            kind = "para"
        if out and out[-1][0] == kind:
            out[-1][1].append(line)
        else:
            out.append((kind, [line]))
    result = []
    for kind, lines in out:
        if kind == "para":
            # prose lines of one paragraph are one flow of text
            result.append((kind, " ".join(s.strip() for s in lines if s.strip())))
        else:
            result.append((kind, "\n".join(s.rstrip() for s in lines)))
    return result


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__|`)(.+?)\1")


def _clean_inline(text: str) -> str:
    """Markdown links to their text, emphasis markers off: what a reader sees."""
    text = _MD_LINK.sub(r"\1", text)
    return _MD_EMPH.sub(r"\2", text).strip()


def _split_long(block: Block, limit: int) -> list[str]:
    """Cut one over-long block at sentence, item or row boundaries."""
    if block.kind == "table":
        rows = block.text.split("\n")
        header: list[str] = []
        if len(rows) > 2 and _TABLE_RULE.match(rows[1]):
            header, rows = rows[:2], rows[2:]
        units = rows
        joiner = "\n"
    elif block.kind == "list":
        units = re.split(r"\n(?=\s*(?:[-*+•▪◦‣]|\d{1,3}[.)])\s)", block.text)
        header, joiner = [], "\n"
    else:
        units = _SENTENCE_END.split(block.text)
        header, joiner = [], " "
    pieces: list[str] = []
    cur: list[str] = []
    for unit in units:
        # a single sentence longer than the limit is cut at word boundaries
        for part in _hard_wrap(unit, limit):
            candidate = joiner.join(header + cur + [part])
            if cur and estimate_tokens(candidate) > limit:
                pieces.append(joiner.join(header + cur))
                cur = [part]
            else:
                cur.append(part)
    if cur:
        pieces.append(joiner.join(header + cur))
    return pieces


def _hard_wrap(text: str, limit: int) -> list[str]:
    if estimate_tokens(text) <= limit:
        return [text]
    words = text.split(" ")
    out, cur = [], []
    for w in words:
        cur.append(w)
        if estimate_tokens(" ".join(cur)) >= limit:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def chunk_text(
    text: str,
    *,
    url: str,
    title: str = "",
    site: str = "",
    page_rank: int = 0,
    target_tokens: int = CHUNK_TOKENS,
    max_tokens: int = MAX_CHUNK_TOKENS,
) -> list[Chunk]:
    """Chunks of one document's text, in document order (position 0, 1, ...)."""
    pieces: list[tuple[str, str]] = []  # (heading, text)
    cur: list[Block] = []
    cur_tokens = 0

    def flush() -> None:
        nonlocal cur_tokens
        if cur:
            sep = "\n"
            pieces.append((cur[0].heading, sep.join(b.text for b in cur)))
            cur.clear()
            cur_tokens = 0

    for block in split_blocks(text):
        if block.kind == "heading":
            # a new section starts a new chunk unless the open one is a scrap
            if cur_tokens >= MIN_CHUNK_TOKENS:
                flush()
            continue
        text_block = block.text if block.kind != "para" else _clean_inline(block.text)
        if block.kind != "para":
            text_block = "\n".join(_clean_inline(x) for x in text_block.split("\n"))
        block = Block(block.kind, text_block, block.heading)
        n = estimate_tokens(block.text)
        if cur and cur[0].heading != block.heading and cur_tokens < MIN_CHUNK_TOKENS:
            # a scrap of the previous section joins this one; keep the newer heading
            cur[:] = [Block(b.kind, b.text, block.heading) for b in cur]
        if n > max_tokens:
            flush()
            for part in _split_long(block, target_tokens):
                pieces.append((block.heading, part))
            continue
        if (cur and cur_tokens + n > max_tokens) or (cur and cur_tokens >= target_tokens):
            flush()
        cur.append(block)
        cur_tokens += n
    flush()

    return [
        Chunk(
            url=url,
            title=title,
            text=body,
            heading=heading if heading != title else "",
            position=i,
            page_rank=page_rank,
            site=site,
        )
        for i, (heading, body) in enumerate(pieces)
        if body.strip()
    ]


def chunk_page(page: Page, *, page_rank: int = 0, target_tokens: int = CHUNK_TOKENS) -> list[Chunk]:
    """Chunks of one fetched page (snippet pages give one snippet chunk)."""
    url = page.final_url or page.url
    if page.from_snippet:
        return [
            snippet_chunk(page.text, url=url, title=page.title, site=page.site, page_rank=page_rank)
        ]
    return chunk_text(
        page.text,
        url=url,
        title=page.title,
        site=page.site,
        page_rank=page_rank,
        target_tokens=target_tokens,
    )


def snippet_chunk(text: str, *, url: str, title: str, site: str = "", page_rank: int = 0) -> Chunk:
    """A search snippet as a candidate passage."""
    return Chunk(
        url=url,
        title=title,
        text=" ".join(text.split()),
        position=-1,
        page_rank=page_rank,
        site=site,
        from_snippet=True,
    )


def chunk_pages(
    pages: Sequence[Page],
    hits: Iterable[Hit] = (),
    *,
    target_tokens: int = CHUNK_TOKENS,
) -> list[Chunk]:
    """Chunks of every usable page, plus the hits' snippets as candidates.

    A page's rank is its hit's rank when known, else its position in `pages`.
    """
    out: list[Chunk] = []
    for i, page in enumerate(pages):
        if not page.ok:
            continue
        rank = page.hit.rank if page.hit is not None else i
        out.extend(chunk_page(page, page_rank=rank, target_tokens=target_tokens))
    for hit in hits:
        if hit.snippet.strip():
            out.append(
                snippet_chunk(
                    hit.snippet,
                    url=hit.url,
                    title=hit.title,
                    site=hit.display_url,
                    page_rank=hit.rank,
                )
            )
    return out

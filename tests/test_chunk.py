"""Chunking follows the document: sections, paragraphs, lists and tables."""

from __future__ import annotations

from searchduel.rag.chunk import (
    CHUNK_TOKENS,
    MAX_CHUNK_TOKENS,
    chunk_pages,
    chunk_text,
    estimate_tokens,
    split_blocks,
)
from searchduel.types import Hit, Page

DOC = """# Guide to the Coast

The coast has three towns and one lighthouse.

## Getting there

Trains leave the city every hour. The trip takes ninety minutes.

- **Train:** hourly, 12 dollars
- Bus: twice a day, 8 dollars
- Car: 95 minutes on the coast road

## Tides

| Month | High tide (m) | Low tide (m) |
|---|---|---|
| January | 5.1 | 0.4 |
| July | 6.3 | 0.2 |
"""


def test_blocks_keep_headings_lists_and_tables() -> None:
    blocks = split_blocks(DOC)
    kinds = [(b.kind, b.heading) for b in blocks]
    assert ("heading", "Getting there") in kinds
    assert ("list", "Getting there") in kinds
    assert ("table", "Tides") in kinds
    table = next(b for b in blocks if b.kind == "table")
    assert table.text.splitlines()[0].startswith("| Month")


def test_plain_text_headings_are_recovered() -> None:
    text = (
        "History\n\nThe town was founded in 1820 by fishermen who came from the north "
        "and built the first pier.\n\nA short line\nthat continues."
    )
    blocks = split_blocks(text)
    assert blocks[0].kind == "heading" and blocks[0].text == "History"
    assert blocks[1].heading == "History"


def test_one_paragraph_per_line_text_keeps_its_headings() -> None:
    # what HTML extractors emit: no blank lines, one block per line
    text = (
        "Origins\n"
        "The race was created to sell newspapers. The first Tour ran in July 1903.\n"
        "Sixty riders started and only 21 finished.\n"
        "The jerseys\n"
        "- Yellow jersey: worn by the leader.\n"
        "- Green jersey: the points classification.\n"
        "Records\n"
        "Four riders have won the Tour five times."
    )
    blocks = split_blocks(text)
    assert [b.text for b in blocks if b.kind == "heading"] == ["Origins", "The jerseys", "Records"]
    assert next(b for b in blocks if b.kind == "list").heading == "The jerseys"


def test_hand_wrapped_paragraphs_stay_whole() -> None:
    text = (
        "The harbour lighthouse was first lit in 1874 and its lamp can be seen\n"
        "for twenty-two nautical miles on a clear night, from the cliffs and\n"
        "from the sea.\n"
    )
    blocks = split_blocks(text)
    assert [b.kind for b in blocks] == ["para"]
    assert "seen for twenty-two" in blocks[0].text


def test_chunks_carry_title_heading_and_order() -> None:
    chunks = chunk_text(DOC, url="u", title="Guide to the Coast", site="s", page_rank=3)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.heading for c in chunks} >= {"Getting there", "Tides"}
    assert all(c.title == "Guide to the Coast" and c.page_rank == 3 for c in chunks)
    tides = next(c for c in chunks if c.heading == "Tides")
    assert "| July | 6.3 | 0.2 |" in tides.text  # table rows stay rows
    trip = next(c for c in chunks if c.heading == "Getting there")
    assert "- Train: hourly, 12 dollars\n- Bus:" in trip.text  # list items stay lines
    assert "**" not in trip.text


def test_long_sections_split_at_sentences_near_the_target() -> None:
    sentence = "The keeper climbed the tower at dusk and lit the lamp for the night. "
    text = "## Log\n\n" + sentence * 120
    chunks = chunk_text(text, url="u", title="T")
    assert len(chunks) > 3
    for c in chunks:
        assert estimate_tokens(c.text) <= MAX_CHUNK_TOKENS
        assert c.text.endswith(".")  # cut between sentences, not inside one
        assert c.heading == "Log"
    sizes = [estimate_tokens(c.text) for c in chunks[:-1]]
    assert min(sizes) >= CHUNK_TOKENS * 0.6


def test_long_tables_repeat_their_header() -> None:
    rows = "\n".join(f"| Day {i} | {i * 3} mm | sunny and warm all day |" for i in range(200))
    text = "| Day | Rain | Notes |\n|---|---|---|\n" + rows
    chunks = chunk_text(text, url="u", title="Weather")
    assert len(chunks) > 2
    assert all(c.text.startswith("| Day | Rain | Notes |\n|---|") for c in chunks)


def test_small_paragraphs_are_gathered() -> None:
    text = "\n\n".join(f"Short fact {i} about the harbour." for i in range(40))
    chunks = chunk_text(text, url="u", title="T")
    assert 3 <= len(chunks) <= 12


def test_chunk_pages_adds_snippets_and_skips_failed_pages() -> None:
    hit = Hit(title="A", url="https://a.example/", snippet="Snippet  text here.", rank=2)
    ok = Page(
        url="https://a.example/", status="ok", text="Body text of the page.", title="A", hit=hit
    )
    bad = Page(url="https://b.example/", status="timeout")
    chunks = chunk_pages([ok, bad], [hit])
    assert [c.from_snippet for c in chunks] == [False, True]
    assert chunks[0].page_rank == 2 and chunks[1].text == "Snippet text here."

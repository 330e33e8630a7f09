"""Main-text extraction (placeholder: trafilatura alone; replaced by the tuned extractor)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    site: str = ""
    published: str | None = None
    js_only: bool = False


def extract_html(html: str | bytes, url: str = "") -> Extracted:
    """Title and main text of one HTML document."""
    import trafilatura

    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    text = trafilatura.extract(html, url=url or None) or ""
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta else "") or ""
    return Extracted(title=title, text=text, site=(meta.sitename if meta else "") or "")

"""Plain-text and Markdown renderings of events, shared by the UI and the CLI.

Decisions, in one place:

- Text from the model or from pages is never trusted: answers (and the notes shown in their
  place) become HTML through `markdown.safe_markdown` (CommonMark, no images, HTML shown as
  text, links only to the web or the app with rel="noopener noreferrer"), and every short
  field from a page or a provider (titles, addresses, notices, page reasons) goes into our
  own Markdown (sources, trace) through `markdown.plain_text`; that module is the one place
  for both.
- Every [n] in the search answer links to source n; its hover (the link title) shows the
  source's title and address. Offline-corpus sources link to the document served by the app
  (`corpus_href`), since a corpus:// address opens nothing in a browser.
- Stage words name the real provider ("Searching the offline corpus…"), never "the web".
- Trace numbers sit in table cells styled not to wrap (ui/page.css, `.trace-table`).
- A stored comparison is rendered by record.py with these same functions, so a permalink
  shows what the page showed; blind answers lose their [n] markers (`blind_markdown`), which
  would say which side searched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from ..config import CORPUS_ROUTE
from ..types import Source
from .markdown import (
    allowed_href,
    link_title,
    literal_markdown,
    markdown_href,
    plain_text,
    safe_markdown,
)

PROVIDER_LABELS = {
    "duckduckgo": "DuckDuckGo",
    "duckduckgo-lite": "DuckDuckGo (lite)",
    "searxng": "SearXNG",
    "local": "offline corpus",
}
# what each timing key of SearchTrace.timings means, in the order a run goes through them
TIMING_LABELS = {
    "wait": "head start for the plain column",
    "search": "search",
    "fetch": "reading pages",
    "chunk": "splitting into passages",
    "bm25": "ranking (BM25)",
    "dense": "ranking (dense)",
    "pack": "packing sources",
    "first_token": "prefill and first token",
    "generate": "writing the answer",
    "total": "total",
}


def provider_label(name: str, offline: bool = False) -> str:
    label = PROVIDER_LABELS.get(name, name or "none")
    if offline and "offline" not in label:
        label += " (offline corpus)"
    return label


def stage_message(stage: str, info: dict[str, Any]) -> str:
    """The words for a search-column stage as it starts (see Engine's decisions)."""
    if stage == "wait":
        return "Letting the answer without search start first…"
    if stage == "search":
        name = info.get("provider", "")
        if name == "local":
            return "Searching the offline corpus…"
        return f"Searching {provider_label(name)}…" if name else "Searching…"
    if stage == "fetch":
        return f"Reading pages ({info.get('ready', 0)} of {info.get('pages', 0)} ready)…"
    if stage == "chunk":
        return f"Splitting {info.get('pages', 0)} pages into passages…"
    if stage == "rank":
        return f"Ranking {info.get('passages', 0)} passages…"
    if stage == "pack":
        return "Choosing the passages that fit…"
    return "Writing…"


def site_of(url: str) -> str:
    if url.startswith("corpus://"):
        return "offline corpus"
    return urlsplit(url).hostname or ""


def corpus_href(url: str, corpus_root: str | None) -> str:
    """A browser address for a source: web URLs as they are, corpus:// documents through the
    app's corpus route by their name in the corpus (when the app serves a corpus)."""
    if url.startswith("corpus://") and corpus_root:
        return CORPUS_ROUTE + quote(url[len("corpus://") :].lstrip("/"))
    return url


def answer_markdown(
    answer: str,
    sources: Sequence[Source] | None,
    corpus_root: str | None = None,
    classes: str = "",
) -> str:
    """The answer for the page (safe HTML) and, with sources, each [n] linked to source n,
    its hover the source's title and address."""
    if sources is None:
        return safe_markdown(answer, classes=classes)
    cites = {
        s.n: (corpus_href(s.url, corpus_root), " ".join(f"{s.title or s.url} — {s.url}".split()))
        for s in sources
    }
    return safe_markdown(answer, citations=cites, classes=classes)


def note_markdown(text: str, *, prefix: str = "", emphasis: str = "*") -> str:
    """One line of our words (a status, a note, an error) as safe HTML: `prefix` (Markdown,
    e.g. "> ⚠️ ") and `text` in `emphasis`, shown as written whatever it quotes."""
    text = literal_markdown(" ".join(text.split()))
    return safe_markdown(f"{prefix}{emphasis}{text}{emphasis}")


def search_notice(trace: dict[str, Any] | None) -> str:
    """One visible line under "Search on": where the sources came from (details: the trace)."""
    if not trace or not trace.get("provider"):
        return ""
    line = f"via **{provider_label(trace['provider'], trace.get('offline', False))}**"
    if trace.get("snippets_only"):
        # said where it is seen: the sources below are snippets, not pages
        return line + " · ⚠️ **no page could be read**: the answer uses only the results' snippets"
    failures = list(trace.get("notices") or [])
    if trace.get("cached") and failures:
        failures.pop()  # the chain's own "from the cache (… old)", the last it adds: no failure
    if failures:
        line += " · some providers did not answer (see the trace)"
    if trace.get("cached"):
        line += " · results from the cache"
    return line


def sources_markdown(sources: Sequence[Source], corpus_root: str | None = None) -> str:
    if not sources:
        return ""
    lines = ["**Sources** (exactly what the model was given)", ""]
    for s in sources:
        site = site_of(s.url) if s.url.startswith("corpus://") else s.site or site_of(s.url)
        title = _md_escape(s.title or s.url)
        href = markdown_href(corpus_href(s.url, corpus_root))
        if allowed_href(href):
            link = f'[{title}]({href} "{link_title(s.url)}")'
        else:
            link = f"{title} {_code(s.url)}"
        kind = " — *search snippet only*" if s.kind == "snippet" else ""
        lines.append(f"{s.n}. **{_md_escape(site)}** · {link}{kind}")
    return "\n".join(lines)


def timings_line(timings: dict[str, float] | None) -> str:
    """'search 5 ms · reading pages 12 ms · …' in the order of TIMING_LABELS."""
    if not timings:
        return ""
    parts = [
        f"{label} <span class='num'>{_ms(timings[key])}</span>"
        for key, label in TIMING_LABELS.items()
        if key in timings
    ]
    return " · ".join(parts)


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f}\u00a0s" if ms >= 1000 else f"{ms:.0f}\u00a0ms"


def trace_markdown(trace: dict[str, Any] | None, errors: dict[str, str] | None = None) -> str:
    """The search trace: query, provider, per-stage times, pages, context and error details."""
    details = _error_details(errors)
    if not trace:
        return ("*No search yet.*" + details) if details else "*No search yet.*"
    if trace.get("off"):
        return "*Search is off for this comparison.*" + details
    lines = [
        f"**Query:** {_code(trace.get('query', ''))}  ",
        f"**Provider:** {provider_label(trace.get('provider', ''), trace.get('offline', False))}"
        + (f" · {trace['hits']} hits" if "hits" in trace else ""),
    ]
    timing = timings_line(trace.get("timings"))
    if timing:
        lines.append(f"\n**Time:** {timing}")
    notices = trace.get("notices") or []
    if notices:
        lines.append("\n<details><summary>What the providers said</summary>\n")
        lines += [f"- {plain_text(n)}" for n in notices]
        lines.append("\n</details>")
    pages = trace.get("pages") or []
    if pages:
        lines += [
            "",
            "| # | status | http | ms | bytes | page |",
            "|--:|---|--:|--:|--:|---|",
        ]
        for i, p in enumerate(pages, 1):
            status = p["status"] + (" (snippet)" if p.get("from_snippet") else "")
            reason = f" — {_md_escape(p['reason'])}" if p.get("reason") else ""
            lines.append(
                f"| {i} | {status} | {p.get('http_status') or ''} | {p.get('ms', 0):.0f} | "
                f"{p.get('bytes', 0):,} | {_md_escape(p['url'])}{reason} |"
            )
    if trace.get("budget_tokens"):
        lines.append(
            f"\n**Context:** {trace.get('context_tokens', 0):,} tokens of sources "
            f"(budget {trace['budget_tokens']:,}), prompt {trace.get('prompt_tokens', 0):,} tokens"
        )
    return "\n".join(lines) + details


def _error_details(errors: dict[str, str] | None) -> str:
    if not errors:
        return ""
    body = "\n".join(f"- **{column}:** {_code(detail)}" for column, detail in errors.items())
    return f"\n\n<details><summary>Error details</summary>\n\n{body}\n\n</details>"


def prompt_markdown(data: dict[str, Any] | None, empty: str = "*Not sent yet.*") -> str:
    """The exact messages one column's model received, with their token counts."""
    if not data:
        return empty
    counts = [f"{data.get('prompt_tokens', 0):,} prompt tokens"]
    if data.get("context_tokens"):
        counts.append(
            f"{data['context_tokens']:,} of them sources (budget {data.get('budget_tokens', 0):,})"
        )
    out = [f"**{', '.join(counts)}**"]
    for m in data.get("messages") or []:
        fence = "````"
        while fence in m["content"]:
            fence += "`"
        out += ["", f"**{m['role']}**", "", f"{fence}text\n{m['content']}\n{fence}"]
    return "\n".join(out)


def stats_line(done: dict[str, Any] | None) -> str:
    if not done or done.get("skipped"):
        return ""
    return (
        f"first token {done.get('ttft_s', 0):.2f} s · {done.get('tokens', 0)} tokens · "
        f"{done.get('tokens_per_s', 0):.1f} tok/s · total {done.get('total_s', 0):.2f} s"
        + (" · stopped" if done.get("stopped") else "")
    )


def _code(text: str) -> str:
    """Any text as code inside our Markdown: an HTML code element around `plain_text` (in a
    Markdown code span an entity would show as written, and `$$` would still reach LaTeX),
    with no address that gr.Markdown would make a link."""
    return f"<code>{plain_text(text).translate(_NO_AUTOLINK)}</code>"


# ":", "@" and "." as entities: gr.Markdown's GFM would link an address or a www. in code
_NO_AUTOLINK = str.maketrans({c: f"&#{ord(c)};" for c in ":@."})


def _md_escape(text: str) -> str:
    return plain_text(text)


def blind_markdown(text: str) -> str:
    """An answer for blind mode: safe HTML, and without its [n] markers."""
    return safe_markdown(text, strip_citations=True)

"""A stored comparison (store.Comparison.as_dict(), "a record") rendered for the page, the
permalink and "Copy as Markdown": the same words as a live comparison (events.py), from what
the store keeps.

Decisions, in one place:

- The record keeps no hit count and only the sources block of the search prompt, so the
  trace and the fold-outs say what is kept rather than invent the rest.
- Copy as Markdown quotes the prompt and writes source titles as plain text: the document is
  pasted elsewhere, where our anchors and escapes do not follow it. It keeps the answers'
  Markdown as the model wrote it; the page never shows it but through the one render path
  (markdown.safe_markdown), where nothing in it becomes HTML or an image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import Source
from .events import answer_markdown, note_markdown, provider_label, stats_line
from .grounding import grounded_markdown, no_sources_note
from .markdown import plain_text, safe_markdown


def record_sources(record: Mapping[str, Any]) -> list[Source]:
    """The numbered sources of a stored comparison as Source objects."""
    out = []
    for s in record.get("sources") or []:
        out.append(
            Source(
                n=int(s.get("n", len(out) + 1)),
                title=s.get("title", ""),
                url=s.get("url", ""),
                site=s.get("site", ""),
                kind=s.get("kind", "web"),
            )
        )
    return out


def record_error(record: Mapping[str, Any], column: str) -> str:
    errors = (record.get("extra") or {}).get("errors") or {}
    return errors.get(column) or ""


def record_search_off(record: Mapping[str, Any]) -> bool:
    return (record.get("settings") or {}).get("search") == "off"


def record_trace(record: Mapping[str, Any]) -> dict[str, Any]:
    """The search trace as far as the record keeps it (hit counts are not kept)."""
    if record_search_off(record):
        return {"off": True}
    extra = record.get("extra") or {}
    tokens = record.get("tokens") or {}
    return {
        "query": extra.get("query", ""),
        "provider": record.get("provider", ""),
        "offline": extra.get("offline", False),
        "cached": extra.get("cached", False),
        "timings": (record.get("timings") or {}).get("stages") or {},
        "notices": extra.get("notices") or [],
        "pages": extra.get("pages") or [],
        "context_tokens": tokens.get("context", 0),
        "prompt_tokens": tokens.get("prompt", 0),
    }


def record_stats(record: Mapping[str, Any], column: str) -> str:
    """The stats line of one column of a stored comparison."""
    timing = ((record.get("timings") or {}).get(column)) or {}
    if timing.get("total_s") is None:
        return ""
    done = {k: timing.get(k) or 0 for k in ("ttft_s", "total_s", "tokens_per_s")}
    done["tokens"] = (record.get("tokens") or {}).get(column, 0)
    return stats_line(done)


def record_context_markdown(record: Mapping[str, Any]) -> str:
    """The search column's fold-out for a stored comparison: the sources block, verbatim."""
    context = record.get("context") or ""
    if not context:
        return "*No sources were given to the model.*"
    tokens = (record.get("tokens") or {}).get("context", 0)
    fence = "````"
    while fence in context:
        fence += "`"
    return f"**The sources block, {tokens:,} tokens**\n\n{fence}text\n{context}\n{fence}"


def grounding_line(grounding: Any) -> str:
    """One plain line for the judge's grounding figures; "" when there are none."""
    if grounding is None or grounding == {} or grounding == []:
        return ""
    judged = {
        c: g["summary"]
        for c in ("plain", "search")
        if isinstance(g := (grounding.get(c) if isinstance(grounding, Mapping) else None), Mapping)
        and isinstance(g.get("summary"), Mapping)
        and "checked" in g["summary"]
    }
    if judged:  # the engine's grounding events, one per column (judge.summary_line's words)
        from ..judge.ground import summary_line

        names = {"plain": "Search off", "search": "Search on"}
        parts = [f"{names[c]}: {plain_text(summary_line(dict(v), c))}" for c, v in judged.items()]
        return "**Grounding:** " + " · ".join(parts)
    if isinstance(grounding, Mapping):
        parts = []
        for key, value in grounding.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                continue
            shown = f"{value:.0%}" if isinstance(value, float) and 0 <= value <= 1 else value
            parts.append(f"{str(key).replace('_', ' ')} {shown}")
        text = " · ".join(parts) if parts else "recorded"
    else:
        text = str(grounding)
    if len(text) > 300:
        text = text[:299] + "…"
    return f"**Grounding:** {plain_text(text)}"


def comparison_markdown(record: Mapping[str, Any], link: str = "") -> str:
    """One stored comparison as a Markdown document (the page's "Copy as Markdown")."""
    prompt = record.get("prompt", "")
    meta = [f"model `{record.get('model', '')}`"]
    if record.get("provider"):
        meta.append(f"search {provider_label(record['provider'])}")
    if record.get("created"):
        meta.append(str(record["created"])[:19].replace("T", " ") + " UTC")
    if link:
        meta.append(f"<{link}>")
    out = [
        f"# Search Duel: {' '.join(prompt.split())[:80]}",
        "",
        "**Prompt**",
        "",
        *(f"> {line}" for line in prompt.splitlines() or [""]),
        "",
        " · ".join(meta),
    ]
    for column, title in (("plain", "Search off"), ("search", "Search on")):
        answer = record.get(f"{column}_answer") or ""
        if column == "search" and record_search_off(record):
            answer = answer or "*Search was off for this comparison.*"
        error = record_error(record, column)
        out += ["", f"## {title}", "", answer.strip() or "*(no answer)*"]
        if error:
            out += ["", f"> ⚠️ {error}"]
    sources = record_sources(record)
    if sources:
        out += ["", "### Sources", ""]
        out += [f"{s.n}. [{plain_text(s.title or s.url)}]({s.url})" for s in sources]
    line = grounding_line(record.get("grounding"))
    if line:
        out += ["", line]
    return "\n".join(out) + "\n"


def record_answer_markdown(
    record: Mapping[str, Any], column: str, corpus_root: str | None = None
) -> str:
    """One column of a stored comparison as the live page showed it when both answers had
    ended: tinted by the judge where it was judged, [n] linked in the search column."""
    if column == "search" and record_search_off(record):
        body = note_markdown("Search was off for this comparison.", prefix="ℹ️ ")
    else:
        answer = record.get(f"{column}_answer") or ""
        sources = record_sources(record) if column == "search" else None
        grounding = record.get("grounding")
        judged = grounding.get(column) if isinstance(grounding, Mapping) else None
        if isinstance(judged, Mapping) and "sentences" in judged and "summary" in judged:
            body = grounded_markdown(answer, dict(judged), column, sources, corpus_root)
        elif sources is not None:
            body = answer_markdown(answer, sources, corpus_root)
        else:
            body = safe_markdown(answer)
            if answer and not record.get("sources"):
                body += no_sources_note()
    error = record_error(record, column)
    if error:
        body += note_markdown(error, prefix="> ⚠️ ", emphasis="**")
    return body


def record_given_markdown(record: Mapping[str, Any], column: str) -> str:
    """A column's "What the model was given" fold-out for a stored comparison."""
    if column != "search":
        return "*Stored comparisons keep the sources block, not the whole prompt.*"
    if record_search_off(record):
        return "*Nothing was sent: search is off.*"
    return record_context_markdown(record)

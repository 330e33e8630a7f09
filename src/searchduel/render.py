"""Plain-text and Markdown renderings of events, shared by the UI and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .types import Source

PROVIDER_LABELS = {
    "duckduckgo": "DuckDuckGo",
    "duckduckgo-lite": "DuckDuckGo (lite)",
    "searxng": "SearXNG",
    "local": "offline corpus",
}


def provider_label(name: str, offline: bool = False) -> str:
    label = PROVIDER_LABELS.get(name, name or "none")
    if offline and "offline" not in label:
        label += " (offline corpus)"
    return label


def site_of(url: str) -> str:
    if url.startswith("corpus://"):
        return "offline corpus"
    return urlsplit(url).hostname or ""


def search_notice(trace: dict[str, Any] | None) -> str:
    """One visible line under "Search on": where the sources came from, and any block."""
    if not trace or not (trace.get("provider") or trace.get("notices")):
        return ""
    parts = []
    if trace.get("provider"):
        parts.append(f"via **{provider_label(trace['provider'], trace.get('offline', False))}**")
    parts += [f"⚠️ {n}" for n in trace.get("notices") or []]
    return " · ".join(parts)


def sources_markdown(sources: Sequence[Source]) -> str:
    if not sources:
        return ""
    lines = ["**Sources** (exactly what the model was given)", ""]
    for s in sources:
        site = site_of(s.url) if s.url.startswith("corpus://") else s.site or site_of(s.url)
        title = _md_escape(s.title or s.url)
        if s.url.startswith(("http://", "https://")):
            link = f"[{title}]({s.url})"
        else:
            link = f"{title} `{s.url}`"
        kind = " — *search snippet only*" if s.kind == "snippet" else ""
        lines.append(f"{s.n}. {link} · {site}{kind}")
    return "\n".join(lines)


def trace_markdown(trace: dict[str, Any] | None) -> str:
    if not trace:
        return "*No search yet.*"
    lines = [
        f"**Query:** `{trace.get('query', '')}`  ",
        f"**Provider:** {provider_label(trace.get('provider', ''), trace.get('offline', False))}"
        f" · {trace.get('hits', 0)} hits in {trace.get('search_ms', 0):.0f} ms",
    ]
    for notice in trace.get("notices") or []:
        lines.append(f"\n> ⚠️ {notice}")
    pages = trace.get("pages") or []
    if pages:
        lines += ["", "| # | status | http | ms | bytes | page |", "|---|---|---|---|---|---|"]
        for i, p in enumerate(pages, 1):
            status = p["status"] + (" (snippet)" if p.get("from_snippet") else "")
            reason = f" — {_md_escape(p['reason'])}" if p.get("reason") else ""
            lines.append(
                f"| {i} | {status} | {p.get('http_status') or ''} | {p.get('ms', 0):.0f} | "
                f"{p.get('bytes', 0)} | {_md_escape(p['url'])}{reason} |"
            )
    if trace.get("budget_tokens"):
        lines.append(
            f"\n**Context:** {trace.get('context_tokens', 0)} tokens of sources "
            f"(budget {trace['budget_tokens']}), prompt {trace.get('prompt_tokens', 0)} tokens"
        )
    return "\n".join(lines)


def stats_line(done: dict[str, Any] | None) -> str:
    if not done:
        return ""
    return (
        f"first token {done.get('ttft_s', 0):.2f} s · {done.get('tokens', 0)} tokens · "
        f"{done.get('tokens_per_s', 0):.1f} tok/s · total {done.get('total_s', 0):.2f} s"
        + (" · stopped" if done.get("stopped") else "")
    )


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")

"""Plain data passed between the pipeline stages. All frozen."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .config import Settings

Column = Literal["plain", "search"]
Message = dict[str, str]  # a chat message: {"role": "system"|"user"|"assistant", "content": str}
EventKind = Literal["status", "prompt", "sources", "trace", "token", "done", "error", "grounding"]

# Page.status values; the fetcher, the CLI and the UI all use these names.
PAGE_STATUSES = (
    "ok",
    "timeout",
    "blocked-address",
    "too-large",
    "bad-type",
    "http-error",
    "redirect-limit",
    "js-only",
    "error",
    "cancelled",
)


@dataclass(frozen=True)
class Hit:
    """One search result as the provider gave it."""

    title: str
    url: str
    snippet: str = ""
    rank: int = 0  # 0-based position in the provider's list
    provider: str = ""
    display_url: str = ""
    date: str | None = None
    engine: str = ""  # the upstream engine behind a meta-search provider (SearXNG), if known


@dataclass(frozen=True)
class Page:
    """One fetched (or read) page and what happened while getting it."""

    url: str
    status: str  # one of PAGE_STATUSES
    final_url: str = ""
    reason: str = ""
    http_status: int | None = None
    ms: float = 0.0
    bytes: int = 0
    title: str = ""
    text: str = ""  # main text after extraction and hygiene
    site: str = ""
    published: str | None = None
    from_snippet: bool = False  # text is the search snippet, not the page
    hit: Hit | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.text.strip())


@dataclass(frozen=True)
class Chunk:
    """A passage of a page, the unit that is ranked and packed."""

    url: str
    title: str
    text: str
    heading: str = ""
    position: int = 0  # order within its page
    page_rank: int = 0  # the search engine's rank of the page
    site: str = ""
    from_snippet: bool = False


@dataclass(frozen=True)
class Source:
    """A numbered source as the model saw it: [n] in the prompt."""

    n: int
    title: str
    url: str
    site: str = ""
    kind: str = "web"  # web | corpus | snippet
    published: str | None = None


@dataclass(frozen=True)
class Context:
    """Exactly what goes into the search column's prompt."""

    question: str
    text: str  # the sources block, verbatim as in the prompt
    sources: tuple[Source, ...]
    messages: tuple[dict[str, str], ...]
    context_tokens: int  # tokens of `text` alone
    prompt_tokens: int  # tokens of the whole chat prompt (template included)
    budget_tokens: int  # what the context was allowed to use
    source_texts: tuple[str, ...] = ()  # source n's packed passages at [n - 1] (for the judge)


@dataclass(frozen=True)
class Event:
    """One thing that happened in one column. The UI, CLI and bench only render these.

    kind:
      status   data={"stage": str, "message": str, ...the stage's numbers}
      prompt   data={"messages": [...], "prompt_tokens": int, (search) "context_tokens", ...}
      trace    data={"query":..., "provider":..., "pages": [...], "notice": ...} (search column)
      sources  data={"sources": [Source, ...], "context": the packed sources block, verbatim,
                     "texts": [each source's packed passages]}
      token    text=the new piece of answer text
      done     data={"answer", "ttft_s", "prefill_s", "total_s", "tokens", "tokens_per_s"}, or
               for search off {"answer": "", "skipped": True, "note": str}
      error    text=plain words for people, data={"type": class name, "detail": str(exc)}
      grounding  data=judge.Grounding.as_dict() of this column's answer against the search
               column's sources: {"sentences", "summary", "citation"}; after both columns
               ended, only when there were sources
    """

    column: Column
    kind: EventKind
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0  # seconds since the run started


@dataclass(frozen=True)
class RunOptions:
    """What one request may change; None keeps the engine's setting."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    pages: int | None = None
    search: str | None = None

    def apply(self, settings: Settings) -> Settings:
        changes = {k: v for k, v in asdict(self).items() if v is not None}
        return settings.replace(**changes) if changes else settings

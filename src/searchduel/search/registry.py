"""Provider names -> factories, and the chain that Settings describe.

`settings.providers` lists names (duckduckgo, searxng, local); one name may stand for
several providers: "duckduckgo" is the html endpoint followed by the lite endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from ..config import SEARCH_HITS, Settings
from ..errors import ConfigError, SearchDuelError
from .base import SearchProvider
from .chain import SearchChain
from .duckduckgo import DuckDuckGoHtml, DuckDuckGoLite
from .http import new_client
from .searxng import SearxngProvider, region_to_language

log = logging.getLogger(__name__)

ProviderFactory = Callable[[Settings, httpx.Client], tuple[SearchProvider, ...]]


def _duckduckgo(settings: Settings, client: httpx.Client) -> tuple[SearchProvider, ...]:
    options = {"base_url": settings.ddg_url, "region": settings.region}
    return (DuckDuckGoHtml(client, **options), DuckDuckGoLite(client, **options))


def _searxng(settings: Settings, client: httpx.Client) -> tuple[SearchProvider, ...]:
    return (
        SearxngProvider(
            client,
            base_url=settings.searxng_url,
            language=region_to_language(settings.region),
        ),
    )


# Web providers. "local" is not here: the offline corpus is built by the caller (it is
# shared with the page reader) and handed to make_chain.
FACTORIES: dict[str, ProviderFactory] = {
    "duckduckgo": _duckduckgo,
    "searxng": _searxng,
}


def load_local(settings: Settings) -> SearchProvider:
    """The offline corpus provider for settings.corpus (imported here: it pulls in numpy)."""
    from .local import LocalCorpus, LocalCorpusProvider

    return LocalCorpusProvider(LocalCorpus.load(settings.corpus))


def build_providers(
    settings: Settings,
    client: httpx.Client,
    *,
    local: SearchProvider | None = None,
    notes: list[str] | None = None,
) -> list[SearchProvider]:
    """The providers settings.providers names, in order.

    With --search auto, a provider that is not set up (SearXNG without a URL, a corpus that
    cannot be loaded) is left out and explained in `notes`; named alone, it is an error.
    """
    alone = settings.search != "auto"
    notes = [] if notes is None else notes
    out: list[SearchProvider] = []
    for name in settings.providers:
        if name == "local":
            if local is None:
                try:
                    local = load_local(settings)
                except SearchDuelError as exc:
                    if alone:
                        raise
                    notes.append(f"the offline corpus is not available ({exc})")
                    continue
            out.append(local)
        elif name == "searxng" and not settings.searxng_url:
            if alone:
                raise ConfigError(
                    "--search searxng needs an instance: set --searxng-url or "
                    "SEARCHDUEL_SEARXNG_URL (e.g. http://localhost:8888)"
                )
            notes.append("SearXNG is not configured (--searxng-url)")
        elif name in FACTORIES:
            out.extend(FACTORIES[name](settings, client))
        else:  # Settings validates names; this guards programmatic use
            raise ConfigError(
                f"unknown search provider {name!r}: valid values: "
                + ", ".join([*FACTORIES, "local"])
            )
    return out


def make_chain(
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    local: SearchProvider | None = None,
    **options: Any,
) -> SearchChain:
    """The provider chain for settings. Without `client` the chain owns a new one
    (close the chain to release it); `options` go to SearchChain (spacing_s, ...)."""
    owned = client is None
    http = new_client() if client is None else client
    notes: list[str] = []
    try:
        providers = build_providers(settings, http, local=local, notes=notes)
    except BaseException:
        if owned:
            http.close()
        raise
    for note in notes:
        log.info("search: %s", note)
    options.setdefault("unreachable_cooldown_s", settings.unreachable_cooldown)
    options.setdefault("fallback_ttl_s", settings.fallback_cache)
    return SearchChain(
        providers,
        on_close=http.close if owned else None,
        setup_notes=tuple(notes),
        **options,
    )


def search_cli(query: str, settings: Settings) -> dict[str, Any]:
    """`python -m searchduel search QUERY --json`: {query, provider, offline, hits, notices}.

    SearchError subclasses propagate; the CLI turns them into a message and an exit code.
    """
    with make_chain(settings) as chain:
        outcome = chain.search(query, SEARCH_HITS)
    return {
        "query": outcome.query,
        "provider": outcome.provider,
        "offline": outcome.offline,
        "hits": [{"title": h.title, "url": h.url, "snippet": h.snippet} for h in outcome.hits],
        "notices": list(outcome.notices),
    }

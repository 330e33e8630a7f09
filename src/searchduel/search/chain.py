"""The provider chain: try providers in order and say honestly what happened.

    query -> clean_query -> cache? -> coalesce identical in-flight searches
          -> for each provider: breaker open? -> pace (>= spacing since its last request)
             -> search -> one jittered retry if it may help and fits the time budget
          -> first provider with hits answers; every block, failure and fallback is a notice

Decisions, in one place:

- A block (SearchBlocked) opens that provider's breaker for `cooldown_s` (15 min), or for
  the server's Retry-After when it sent one. After the cool-down exactly one request (the
  probe) goes through; its success closes the breaker, its failure reopens it. Other
  failures open it after `failures_to_open` in a row, for `failure_cooldown_s`.
- A host that does not resolve or refuses the connection (SearchUnreachable: no network, a
  wrong mirror URL) opens the breaker at once for `unreachable_cooldown_s` (a setting, 1 min)
  and is not retried: on an offline machine the next question goes straight to the next
  provider instead of waiting for every web provider to fail twice.
- The one retry: after SearchUnavailable (timeout, 5xx, network), with a jittered back-off;
  after a block only when the server named a Retry-After that fits the budget. A bot
  challenge or an unparseable page is never retried: asking again does not help, and
  hammering a challenge extends the ban.
- Empty results from a provider are a genuine "no results" from it, noted, and the next
  provider is asked: a second engine often finds what the first did not. If every
  provider that answered had nothing, the outcome has no hits (not an error).
- The cache keeps web answers with hits for `cache_ttl_s`; blocks, failures and empty
  answers are never cached. An offline-corpus answer is kept for `fallback_ttl_s` (a
  setting, 1 min), and never past the moment a resting web provider ahead of it may be
  tried again, so a repeated question is answered from memory ("from the cache") and the
  web is still asked once its cool-down is over.
- When no provider answers, the most informative error is raised: SearchBlocked if any
  provider blocked us, else SearchUnparseable, else SearchUnavailable; its message holds
  every notice.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ..config import (
    BLOCK_COOLDOWN_S,
    FALLBACK_CACHE_TTL_S,
    PROVIDER_SPACING_S,
    SEARCH_BUDGET_S,
    SEARCH_CACHE_BYTES,
    SEARCH_CACHE_TTL_S,
    SEARCH_HITS,
    SEARCH_TIMEOUT_S,
    UNREACHABLE_COOLDOWN_S,
)
from ..errors import (
    SearchBlocked,
    SearchDuelError,
    SearchError,
    SearchUnavailable,
    SearchUnparseable,
    SearchUnreachable,
)
from ..types import Hit
from .base import SearchProvider

# DuckDuckGo refuses queries of 500 characters and more.
MAX_QUERY_CHARS = 499
FAILURE_COOLDOWN_S = 60.0  # a provider failing (not blocking) rests briefly
FAILURES_TO_OPEN = 3  # consecutive non-block failures before its breaker opens
RETRY_BACKOFF_S = 0.5  # mean wait before retrying an unavailable provider (jittered x0.5-1.5)
CACHE_ENTRIES = 256  # distinct queries kept; a demo sees far fewer within the TTL
CACHE_BYTES = SEARCH_CACHE_BYTES  # ...and bytes of their hits' text (config.py says why)

_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "„": "“", "‘": "’", "«": "»", "「": "」"}
# A "!" starting a word is a DuckDuckGo bang wherever it stands ("python !w"): it answers
# with a redirect to another site instead of results.
_BANG_RE = re.compile(r"(?<!\S)!+(?=\w)")


def clean_query(query: str) -> str:
    """Trim, collapse whitespace, strip wrapping quotes and bangs, cap at MAX_QUERY_CHARS."""
    q = " ".join(query.split())
    while len(q) >= 2 and q[0] in _QUOTE_PAIRS and q[-1] == _QUOTE_PAIRS[q[0]]:
        q = q[1:-1].strip()
    q = _BANG_RE.sub("", q.lstrip("!")).strip()
    if len(q) > MAX_QUERY_CHARS:
        cut = q[:MAX_QUERY_CHARS]
        space = cut.rfind(" ")
        # end on a whole word unless that would throw away a large part of the query
        q = (cut[:space] if space > MAX_QUERY_CHARS * 0.8 else cut).rstrip()
    return q


class Attempt(NamedTuple):
    """One step the chain took: outcome is ok, empty, blocked, unavailable, unparseable,
    error, skipped (breaker open), busy (spacing queue longer than the budget),
    over-budget, or cached."""

    provider: str
    outcome: str
    ms: float


@dataclass(frozen=True)
class SearchOutcome:
    """What the chain found for one query, and how."""

    query: str  # the cleaned query that was sent
    hits: list[Hit]
    provider: str  # name of the provider that answered; "" if none
    notices: tuple[str, ...] = ()  # each block, failure and fallback, for people to read
    offline: bool = False  # the answer came from the offline corpus, not the web
    attempts: tuple[Attempt, ...] = ()
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (hits as title/url/snippet plus what else is known)."""
        return {
            "query": self.query,
            "provider": self.provider,
            "offline": self.offline,
            "cached": self.cached,
            "notices": list(self.notices),
            "hits": [
                {
                    "title": h.title,
                    "url": h.url,
                    "snippet": h.snippet,
                    "date": h.date,
                    "engine": h.engine,
                }
                for h in self.hits
            ],
            "attempts": [a._asdict() for a in self.attempts],
        }


@dataclass
class _Breaker:
    state: str = "closed"  # closed | open | half-open
    open_until: float = 0.0
    opened_at: float = 0.0
    failures: int = 0
    probing: bool = False
    last_error: SearchError | None = None


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    outcome: SearchOutcome | None = None
    error: BaseException | None = None


def _label(provider: SearchProvider) -> str:
    label = getattr(provider, "label", "")
    if label:
        return str(label)
    return "the offline corpus" if provider.name == "local" else provider.name


def _is_offline(provider: SearchProvider) -> bool:
    return bool(getattr(provider, "offline", False)) or provider.name == "local"


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, SearchBlocked):
        return "blocked"
    if isinstance(exc, SearchUnparseable):
        return "unparseable"
    if isinstance(exc, SearchUnavailable):
        return "unavailable"
    return "error"


def _cause(errors: list[SearchError]) -> str:
    """Why no provider answered, for the page: the cause every provider shared; else "timeout"
    before "unreachable" before "server" (the one a visitor can most hope will pass)."""
    causes = {getattr(e, "cause", "") for e in errors} - {""}
    if len(causes) == 1:
        return causes.pop()
    for cause in ("timeout", "unreachable", "server"):
        if cause in causes:
            return cause
    return ""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _copy_error(exc: BaseException) -> BaseException:
    # each waiting thread raises its own instance: one shared instance would collect
    # every thread's traceback
    if isinstance(exc, SearchUnavailable):
        return type(exc)(
            str(exc), provider=exc.provider, retry_after=exc.retry_after, cause=exc.cause
        )
    if isinstance(exc, SearchError):
        return type(exc)(str(exc), provider=exc.provider, retry_after=exc.retry_after)
    return exc


class SearchChain:
    """Providers tried in order behind breakers, pacing, a cache and request coalescing.

    Safe to share between threads (one chain per process is the intent: the breakers and
    the pacing only protect a provider if every search goes through them).
    """

    def __init__(
        self,
        providers: Sequence[SearchProvider],
        *,
        spacing_s: float = PROVIDER_SPACING_S,
        cooldown_s: float = BLOCK_COOLDOWN_S,
        failure_cooldown_s: float = FAILURE_COOLDOWN_S,
        failures_to_open: int = FAILURES_TO_OPEN,
        cache_ttl_s: float = SEARCH_CACHE_TTL_S,
        unreachable_cooldown_s: float = UNREACHABLE_COOLDOWN_S,
        fallback_ttl_s: float = FALLBACK_CACHE_TTL_S,
        budget_s: float = SEARCH_BUDGET_S,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_close: Callable[[], None] | None = None,
        setup_notes: tuple[str, ...] = (),
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique: {names}")
        self.providers: tuple[SearchProvider, ...] = tuple(providers)
        self.spacing_s = spacing_s
        self.cooldown_s = cooldown_s
        self.failure_cooldown_s = failure_cooldown_s
        self.failures_to_open = failures_to_open
        self.cache_ttl_s = cache_ttl_s
        self.unreachable_cooldown_s = unreachable_cooldown_s
        self.fallback_ttl_s = fallback_ttl_s
        self.budget_s = budget_s
        self.retry_backoff_s = retry_backoff_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_close = on_close
        # why a configured provider is missing from the chain (told when nothing answers)
        self.setup_notes = setup_notes
        self._lock = threading.Lock()
        self._breakers = {name: _Breaker() for name in names}
        self._next_slot: dict[str, float] = {}
        # key -> (stored at, expires at, outcome)
        self._cache: OrderedDict[tuple[str, int], tuple[float, float, SearchOutcome]] = (
            OrderedDict()
        )
        self._cache_bytes = 0  # text held by the cached outcomes (CACHE_BYTES bounds it)
        self._inflight: dict[tuple[str, int], _Flight] = {}

    # --- public -------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = SEARCH_HITS,
        *,
        on_provider: Callable[[str], None] | None = None,
    ) -> SearchOutcome:
        """Hits for query from the first provider that has some.

        Raises SearchError (SearchBlocked if any provider blocked) when no provider
        answered; the message lists what each one did. `on_provider(name)` hears each
        provider's name just before it is asked (not for cached or coalesced answers).
        """
        cleaned = clean_query(query)
        if not cleaned:
            raise SearchError(f"nothing to search for in {query[:80]!r}")
        k = max(1, k)
        key = (cleaned.casefold(), k)
        with self._lock:
            hit = self._cache_get(key)
            if hit is not None:
                return hit
            flight = self._inflight.get(key)
            leader = flight is None
            if flight is None:
                flight = self._inflight[key] = _Flight()
        if not leader:
            return self._await(flight)
        try:
            outcome = self._run(cleaned, k, on_provider)
            flight.outcome = outcome
            if outcome.hits:
                with self._lock:
                    self._cache_put(key, outcome)
            return outcome
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            flight.done.set()

    def breaker_state(self, name: str) -> str:
        """closed, open or half-open ("open" turns into a probe once its time is up)."""
        with self._lock:
            return self._breakers[name].state

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_bytes = 0

    def close(self) -> None:
        """Release the HTTP client the chain was built with (if it owns one)."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> SearchChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one search -----------------------------------------------------------------------

    def _run(
        self, query: str, k: int, on_provider: Callable[[str], None] | None = None
    ) -> SearchOutcome:
        start = self._clock()
        notices: list[str] = []
        attempts: list[Attempt] = []
        errors: list[SearchError] = []
        empty_from: SearchProvider | None = None
        if not self.providers:
            why = "; ".join(self.setup_notes) or "search is off"
            raise SearchUnavailable(f"no search provider is configured ({why})")
        for provider in self.providers:
            name, label, offline = provider.name, _label(provider), _is_offline(provider)
            remaining = self.budget_s - (self._clock() - start)
            if not offline and remaining <= 0:
                attempts.append(Attempt(name, "over-budget", 0.0))
                notices.append(f"{label} skipped: the {self.budget_s:g} s search budget is spent")
                errors.append(SearchUnavailable(notices[-1], provider=name))
                continue
            admitted, why_not = self._admit(name)
            if not admitted:
                attempts.append(Attempt(name, "skipped", 0.0))
                notices.append(f"{label} skipped: {why_not}")
                errors.append(self._skip_error(name, notices[-1]))
                continue
            probe = admitted == "probe"
            if not offline and not self._pace(name, remaining):
                self._release_probe(name, probe)
                attempts.append(Attempt(name, "busy", 0.0))
                notices.append(f"{label} skipped: too many searches are queued for it")
                errors.append(SearchUnavailable(notices[-1], provider=name))
                continue
            if on_provider is not None:
                on_provider(name)
            try:
                hits = self._call(provider, query, k, start, attempts, notices, probe)
            except SearchError as exc:
                errors.append(exc)
                text = str(exc) if label in str(exc) else f"{label}: {exc}"
                if notices and notices[-1].startswith(f"{exc}; retrying in "):
                    notices[-1] = f"{text} (again on the one retry)"
                else:
                    notices.append(text)
                continue
            if not hits:
                notices.append(f"{label} found no results")
                empty_from = empty_from or provider
                continue
            if any(a.provider != name for a in attempts):
                used = (
                    "answered from the offline corpus, not the web"
                    if offline
                    else (f"used {label}")
                )
                notices[-1] = f"{notices[-1]}; {used}"
            return SearchOutcome(
                query=query,
                hits=list(hits[:k]),
                provider=name,
                notices=tuple(notices),
                offline=offline,
                attempts=tuple(attempts),
            )
        if empty_from is not None:
            return SearchOutcome(
                query=query,
                hits=[],
                provider=empty_from.name,
                notices=tuple(notices),
                offline=_is_offline(empty_from),
                attempts=tuple(attempts),
            )
        raise self._final_error(errors, notices)

    def _call(
        self,
        provider: SearchProvider,
        query: str,
        k: int,
        start: float,
        attempts: list[Attempt],
        notices: list[str],
        probe: bool,
    ) -> list[Hit]:
        name, label = provider.name, _label(provider)
        tries = 1 if probe else 2  # a probe is exactly one request
        for n in range(tries):
            t0 = self._clock()
            try:
                hits = provider.search(query, k)
            except SearchError as exc:
                error: SearchError = exc
            except (SearchDuelError, OSError) as exc:
                # e.g. the offline corpus folder is missing: a failure of this provider,
                # not of the search; never retried
                error = SearchUnavailable(f"{label} failed ({exc})", provider=name)
                attempts.append(Attempt(name, "error", self._ms(t0)))
                self._record_failure(name, error)
                raise error from exc
            else:
                attempts.append(Attempt(name, "ok" if hits else "empty", self._ms(t0)))
                self._record_success(name)
                return hits
            took = self._clock() - t0
            attempts.append(Attempt(name, _outcome_of(error), took * 1000))
            wait = self._retry_wait(error) if n + 1 < tries else None
            elapsed = self._clock() - start
            # the retry must fit: the wait plus another try as long as this one took
            if wait is None or elapsed + wait + max(took, 0.05) > self.budget_s:
                self._record_failure(name, error)
                raise error
            notices.append(f"{error}; retrying in {wait:.1f} s")
            self._sleep(wait)
            self._pace(name, self.budget_s - (self._clock() - start), force=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, exc: SearchError) -> float | None:
        if isinstance(exc, SearchUnreachable):
            return None  # a name that does not resolve now will not resolve in a second
        if isinstance(exc, SearchBlocked):
            if exc.retry_after is None:
                return None
            # never earlier than asked; a little later so that clients do not align
            return exc.retry_after * self._rng.uniform(1.0, 1.2) + 0.05
        if isinstance(exc, SearchUnavailable):
            return self.retry_backoff_s * self._rng.uniform(0.5, 1.5)
        return None

    def _final_error(self, errors: list[SearchError], notices: list[str]) -> SearchError:
        message = "no search provider answered: " + "; ".join([*notices, *self.setup_notes])
        for kind in (SearchBlocked, SearchUnparseable):
            chosen = [e for e in errors if isinstance(e, kind)]
            if chosen:
                waits = [e.retry_after for e in chosen if e.retry_after is not None]
                return kind(
                    message,
                    provider=chosen[0].provider,
                    retry_after=min(waits) if waits else None,
                )
        provider = errors[0].provider if errors else ""
        return SearchUnavailable(message, provider=provider, cause=_cause(errors))

    def _await(self, flight: _Flight) -> SearchOutcome:
        # the leader is bounded by the budget plus one request that started inside it
        if not flight.done.wait(self.budget_s + 3 * SEARCH_TIMEOUT_S):
            raise SearchUnavailable("an identical search is still running; try again")
        if flight.error is not None:
            raise _copy_error(flight.error)
        assert flight.outcome is not None
        return flight.outcome

    def _ms(self, t0: float) -> float:
        return (self._clock() - t0) * 1000

    # --- breakers -----------------------------------------------------------------------

    def _admit(self, name: str) -> tuple[str, str]:
        """("go" | "probe", "") to call the provider, ("", why) to skip it."""
        with self._lock:
            b = self._breakers[name]
            if b.state == "closed":
                return "go", ""
            now = self._clock()
            if now >= b.open_until and not b.probing:
                b.state = "half-open"
                b.probing = True
                return "probe", ""
            if b.probing:
                return "", "a probe request is already testing whether it works again"
            last = b.last_error
            what = f" ({last})" if last is not None else ""
            return "", (
                f"it failed {_duration(now - b.opened_at)} ago{what}; "
                f"next try in {_duration(b.open_until - now)}"
            )

    def _skip_error(self, name: str, message: str) -> SearchError:
        with self._lock:
            b = self._breakers[name]
            left = max(0.0, b.open_until - self._clock())
            kind = SearchBlocked if isinstance(b.last_error, SearchBlocked) else SearchUnavailable
        return kind(message, provider=name, retry_after=left)

    def _release_probe(self, name: str, probe: bool) -> None:
        if probe:
            with self._lock:
                b = self._breakers[name]
                b.probing = False
                b.state = "open"

    def _record_success(self, name: str) -> None:
        with self._lock:
            b = self._breakers[name]
            b.state, b.failures, b.probing, b.last_error = "closed", 0, False, None

    def _record_failure(self, name: str, exc: SearchError) -> None:
        with self._lock:
            b = self._breakers[name]
            now = self._clock()
            b.last_error = exc
            b.failures += 1
            if isinstance(exc, SearchBlocked):
                rest = exc.retry_after if exc.retry_after is not None else self.cooldown_s
            elif isinstance(exc, SearchUnreachable):
                rest = self.unreachable_cooldown_s
            elif b.state == "half-open" or b.failures >= self.failures_to_open:
                rest = self.failure_cooldown_s
            else:
                b.probing = False
                return
            b.state, b.opened_at, b.open_until, b.probing = "open", now, now + rest, False

    # --- pacing -------------------------------------------------------------------------

    def _pace(self, name: str, remaining: float, *, force: bool = False) -> bool:
        """Wait until `spacing_s` after this provider's previous request. False (and no
        slot taken) when the wait would not fit in `remaining` seconds."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(name, now))
            wait = slot - now
            if wait > remaining and not force:
                return False
            self._next_slot[name] = slot + self.spacing_s
        if wait > 0:
            self._sleep(wait)
        return True

    # --- cache --------------------------------------------------------------------------

    def _cache_get(self, key: tuple[str, int]) -> SearchOutcome | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        stored, expires, outcome = entry
        now = self._clock()
        age = now - stored
        if now >= expires:
            del self._cache[key]
            self._cache_bytes -= _outcome_bytes(outcome)
            return None
        self._cache.move_to_end(key)
        return replace(
            outcome,
            hits=list(outcome.hits),  # a caller's edits must not reach the cache
            cached=True,
            attempts=(Attempt(outcome.provider, "cached", 0.0),),
            notices=(*outcome.notices, f"from the cache ({_duration(age)} old)"),
        )

    def _cache_put(self, key: tuple[str, int], outcome: SearchOutcome) -> None:
        now = self._clock()
        if not outcome.offline:
            expires = now + self.cache_ttl_s
        else:
            # a fallback: short-lived, and gone when a web provider ahead may be tried again
            expires = now + self.fallback_ttl_s
            for provider in self.providers:
                if provider.name == outcome.provider:
                    break
                b = self._breakers[provider.name]
                if b.state == "closed":
                    # it failed without resting (or had nothing): ask it again next time
                    # unless it only found no results
                    if any(
                        a.provider == provider.name and a.outcome not in ("empty", "skipped")
                        for a in outcome.attempts
                    ):
                        expires = now
                else:
                    expires = min(expires, b.open_until)
            if expires <= now:
                return
        size = _outcome_bytes(outcome)
        if size > CACHE_BYTES:
            return
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= _outcome_bytes(old[2])
        self._cache[key] = (now, expires, outcome)
        self._cache_bytes += size
        while len(self._cache) > CACHE_ENTRIES or self._cache_bytes > CACHE_BYTES:
            self._cache_bytes -= _outcome_bytes(self._cache.popitem(last=False)[1][2])


def _outcome_bytes(outcome: SearchOutcome) -> int:
    """Bytes of text one cached outcome holds (its hits' titles, URLs and snippets)."""
    return len(outcome.query) + sum(
        len(h.title) + len(h.url) + len(h.snippet) for h in outcome.hits
    )

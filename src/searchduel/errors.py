"""One exception tree for the whole project.

    SearchDuelError
    ├── ConfigError            a setting has a bad value (names the variable and valid values)
    ├── InvalidInput           a request's prompt or options are unusable (nothing was started)
    ├── RateLimited            one client asked too often (says when to try again)
    ├── SearchError            the search stage could not produce hits
    │   ├── SearchBlocked      the provider refused us (bot challenge, 403/418/429, ...)
    │   ├── SearchUnavailable  network failure, timeout, 5xx, provider not configured
    │   │   └── SearchUnreachable  the host does not resolve or refuses the connection
    │   └── SearchUnparseable  a page with neither results nor a "no results" marker
    ├── FetchError             one page could not be fetched (carries a Page status)
    │   └── AddressRefused     the URL resolves to an address the guard refuses
    ├── BackendError           the model backend failed
    │   ├── ModelLoadError     weights or tokenizer could not be loaded
    │   │   ├── NotEnoughMemory  the weights would not fit the memory left (said before loading)
    │   │   └── HubUnreachable the model hub cannot be reached to fetch them (hub.py)
    │   ├── GenerationError    generation raised or the server broke the stream
    │   │   └── PromptTooLong  the prompt and the answer do not fit the model's window
    │   └── BackendBusy        the shared model's queue is full
    ├── StoreError             the comparison store cannot read or write (names the file)
    │   ├── StoreDisabled      storing is turned off (--store off): nothing kept, no votes
    │   ├── StoreFull          the store reached its size cap or the disk its reserve
    │   ├── ComparisonNotFound no stored comparison has this id
    │   │   └── MalformedId    the id cannot be one of ours (wrong length or characters)
    │   ├── InvalidVote        a vote's choice, side or reason is not one we accept
    │   │   └── VoteRefused    this voter may not vote on this comparison (not shown it,
    │   │                      search was off, over the address's vote limit)
    │   └── DuplicateVote      this session has already voted on this comparison
    └── Cancelled              a stop request ended the work

Third-party errors (httpx, torch, transformers, sqlite3) are converted at module boundaries.
Only the UI turns these into gr.Error / gr.Warning, and only the CLI turns them into exit codes.

`str(exc)` is the detail for logs, the trace's fold-out and the CLI; `user_message(exc)` is the
one sentence a visitor of the page reads: plain words, no flag names, no exception class
names, no errno text.
"""

from __future__ import annotations


class SearchDuelError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SearchDuelError, ValueError):
    """A setting has a value we cannot use."""


class InvalidInput(SearchDuelError, ValueError):
    """A request's prompt or run options cannot be used; `field` names which. The message
    is written for the asker (no flags or variables): the UI shows it as it is."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


class RateLimited(SearchDuelError):
    """One client started more comparisons than the rate limit allows."""

    def __init__(self, message: str, *, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = retry_after


class SearchError(SearchDuelError):
    """The search stage could not produce hits."""

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after


class SearchBlocked(SearchError):
    """The provider refused the request (bot challenge, rate limit, ban)."""


class SearchUnavailable(SearchError):
    """The provider could not be reached or answered with a server error. `cause` says which,
    for the page's sentence: "timeout" (no answer in time), "unreachable" (no connection:
    offline, DNS, refused), "server" (an HTTP error status) or "" (other, e.g. not set up)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        cause: str = "",
    ):
        super().__init__(message, provider=provider, retry_after=retry_after)
        self.cause = cause


class SearchUnreachable(SearchUnavailable):
    """The provider's host does not resolve, or the network refuses the connection: no
    retry within seconds will help (an offline machine, a typo in --ddg-url). Its cause is
    always "unreachable"."""

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider, retry_after=retry_after, cause="unreachable")


class SearchUnparseable(SearchError):
    """The provider answered with a page we do not understand (never treated as 'no results')."""


class FetchError(SearchDuelError):
    """A page could not be fetched; `status` is one of the Page statuses."""

    def __init__(self, message: str, *, status: str = "error", http_status: int | None = None):
        super().__init__(message)
        self.status = status
        self.http_status = http_status


class AddressRefused(FetchError):
    """The host resolves to an address that is not public (SSRF guard)."""

    def __init__(self, message: str):
        super().__init__(message, status="blocked-address")


class BackendError(SearchDuelError):
    """The model backend failed. `cause` says how, for the page's sentence (a model server
    behind --backend openai): "unreachable" (no connection), "timeout" (it went silent),
    "refused" (it turned this app away: a key), "server" (an HTTP error status), "lost" (the
    stream broke off mid-answer) or ""."""

    def __init__(self, message: str, *, cause: str = ""):
        super().__init__(message)
        self.cause = cause


class ModelLoadError(BackendError):
    """Weights or tokenizer could not be loaded."""


class NotEnoughMemory(ModelLoadError):
    """The weights (and their caches) would not fit the memory this machine has left: said
    before loading, with what to run instead (`advice`), rather than killed mid-load."""

    def __init__(self, message: str, *, need: int = 0, available: int = 0, advice: str = ""):
        super().__init__(message)
        self.need = need
        self.available = available
        self.advice = advice


class HubUnreachable(ModelLoadError):
    """A hub id without a cached copy, and the hub cannot be reached (offline, HF_HUB_OFFLINE):
    said before the libraries spend their retries on it."""


class GenerationError(BackendError):
    """Generation raised, or the server broke the stream."""


class PromptTooLong(GenerationError):
    """The prompt plus the answer's max new tokens exceed the model's context window."""

    def __init__(self, prompt_tokens: int, max_new_tokens: int, window: int):
        super().__init__(
            f"This prompt is too long for the model: it takes {prompt_tokens:,} tokens, and with "
            f"room for an answer of {max_new_tokens:,} that is more than the {window:,} the model "
            "can read. Shorten the prompt or lower max new tokens."
        )
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.window = window


class BackendBusy(BackendError):
    """The shared model's queue is full."""

    def __init__(self, message: str, *, ahead: int = 0):
        super().__init__(message)
        self.ahead = ahead


class StoreError(SearchDuelError):
    """The comparison store cannot read or write."""


class StoreDisabled(StoreError):
    """Storing is turned off by a setting: nothing is kept, so nothing can be voted on."""


class ComparisonNotFound(StoreError, LookupError):
    """No stored comparison has this id."""

    def __init__(self, message: str, *, comparison_id: str = ""):
        super().__init__(message)
        self.comparison_id = comparison_id


class MalformedId(ComparisonNotFound):
    """The id cannot be one the store made (wrong length or characters)."""


class StoreFull(StoreError):
    """The store is at its size cap (--store-max-mb), or the disk at its free-space reserve:
    nothing new is kept until an operator makes room."""


class InvalidVote(StoreError, ValueError):
    """A vote's choice, side shown or reason is not one the store accepts."""


class VoteRefused(InvalidVote):
    """The server's rules refuse this vote; `reason` is the key counted in the store's
    refusals ("not_shown", "search_off", "rate_limited", "duplicate")."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class DuplicateVote(StoreError):
    """This session has already voted on this comparison (one vote each)."""

    def __init__(self, message: str, *, comparison_id: str = ""):
        super().__init__(message)
        self.comparison_id = comparison_id


class Cancelled(SearchDuelError):
    """A stop request ended the work."""


# What a visitor reads about a model server's failure: no address, flag or variable (those
# are in the trace's error details and the log).
_SERVER_CAUSES = {
    "unreachable": "The model server could not be reached, so this column has no answer. "
    "Try again in a minute.",
    "timeout": "The model server stopped answering, so this answer is cut short. Try again.",
    "refused": "The model server turned this app's request away (its access settings need "
    "fixing), so nothing can be answered. The details are in the server log.",
    "server": "The model server failed while answering. Try again.",
    "lost": "The connection to the model server was lost mid-answer, so this answer is cut "
    "short. Try again.",
}

# What a visitor reads about a failure nobody foresaw; the details go to the log.
UNEXPECTED = "Something went wrong in this column; the details are in the server log."


def user_message(exc: BaseException) -> str:
    """The one plain sentence (or two) shown on the page for `exc`; details stay in str(exc)."""
    if isinstance(exc, PromptTooLong | Cancelled):
        return str(exc) if isinstance(exc, PromptTooLong) else "Stopped."
    if isinstance(exc, BackendBusy):
        ahead = f" ({exc.ahead} ahead of you)" if exc.ahead else ""
        return f"The model is busy with other questions{ahead}. Try again in a minute."
    if isinstance(exc, SearchBlocked):
        return (
            "Web search is unavailable for now: the search engine turned this search away "
            "(it limits automated searches), so this column has no sources. Try again in a few "
            "minutes, or choose another search provider."
        )
    if isinstance(exc, SearchUnavailable):
        why = {
            "timeout": "the search engine did not answer in time",
            "unreachable": "the search engine could not be reached (this server may be offline)",
            "server": "the search engine answered with an error",
        }.get(exc.cause, "the search engine could not be reached")
        return (
            f"Web search is unavailable: {why}, so this column has no sources. Try again, or "
            "choose another search provider (the offline corpus needs no network)."
        )
    if isinstance(exc, SearchUnparseable):
        return (
            "The search engine answered with a page this app could not read. Try again "
            "later, or choose another search provider."
        )
    if isinstance(exc, SearchError):
        return "The search found nothing to look up in this prompt. Try other words."
    if isinstance(exc, ModelLoadError):
        return "The model could not be loaded, so nothing can be answered."
    if isinstance(exc, BackendError) and exc.cause in _SERVER_CAUSES:
        return _SERVER_CAUSES[exc.cause]
    if isinstance(exc, GenerationError):
        return "The model stopped with an error while writing this answer. Try again."
    if isinstance(exc, ConfigError):
        return "A setting has a value this app cannot use."
    return UNEXPECTED

"""One exception tree for the whole project.

    SearchDuelError
    ├── ConfigError            a setting has a bad value (names the variable and valid values)
    ├── SearchError            the search stage could not produce hits
    │   ├── SearchBlocked      the provider refused us (bot challenge, 403/418/429, ...)
    │   ├── SearchUnavailable  network failure, timeout, 5xx, provider not configured
    │   │   └── SearchUnreachable  the host does not resolve or refuses the connection
    │   └── SearchUnparseable  a page with neither results nor a "no results" marker
    ├── FetchError             one page could not be fetched (carries a Page status)
    │   └── AddressRefused     the URL resolves to an address the guard refuses
    ├── BackendError           the model backend failed
    │   ├── ModelLoadError     weights or tokenizer could not be loaded
    │   ├── GenerationError    generation raised or the server broke the stream
    │   └── BackendBusy        the shared model's queue is full
    └── Cancelled              a stop request ended the work

Third-party errors (httpx, torch, transformers) are converted at module boundaries. Only the
UI turns these into gr.Error / gr.Warning, and only the CLI turns them into exit codes.
"""

from __future__ import annotations


class SearchDuelError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SearchDuelError, ValueError):
    """A setting has a value we cannot use."""


class SearchError(SearchDuelError):
    """The search stage could not produce hits."""

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after


class SearchBlocked(SearchError):
    """The provider refused the request (bot challenge, rate limit, ban)."""


class SearchUnavailable(SearchError):
    """The provider could not be reached or answered with a server error."""


class SearchUnreachable(SearchUnavailable):
    """The provider's host does not resolve, or the network refuses the connection: no
    retry within seconds will help (an offline machine, a typo in --ddg-url)."""


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
    """The model backend failed."""


class ModelLoadError(BackendError):
    """Weights or tokenizer could not be loaded."""


class GenerationError(BackendError):
    """Generation raised, or the server broke the stream."""


class BackendBusy(BackendError):
    """The shared model's queue is full."""

    def __init__(self, message: str, *, ahead: int = 0):
        super().__init__(message)
        self.ahead = ahead


class Cancelled(SearchDuelError):
    """A stop request ended the work."""

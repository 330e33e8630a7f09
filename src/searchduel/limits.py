"""Per-client rate limit for comparisons, keyed on an address a client cannot forge.

    request (peer address, X-Forwarded-For) ─► client_address ─► RateLimiter.check(key)
                                                                 ├─► ok: the comparison runs
                                                                 └─► RateLimited(retry_after)

Decisions, in one place:
- The key is an address, not a session: a script calling `/compare` gets a new session per
  call but keeps its address.
- Behind `proxy_hops` trusted proxies the client is the address the outermost trusted proxy
  saw: the proxy_hops-th entry of X-Forwarded-For counted from the right. A proxy appends the
  address it saw (or sets the header to it), so entries to the left of that one are whatever
  the client sent and are never used. With no trusted proxy (0) the header is ignored and the
  peer address is the key. On Spaces (SPACE_ID set) the default (-1, "auto") means one proxy,
  the Space's front; elsewhere it means none.
- A sliding window: at most `rate_limit` comparisons started per client in any RATE_WINDOW_S.
  Refusals do not count (a client retrying too early is not punished further), and the
  message says how long to wait.
- The table of clients is bounded (RATE_CLIENTS, least recently seen dropped first), so a
  flood of spoofed peers cannot grow memory.
- Long jobs (the Batch tab's batches) take a Slot: one per client address at a time and at
  most `limit` in all. A job over either is refused at once, never queued: a queued batch
  would hold a worker and a place in the queue for minutes only to start later than the
  visitor expects.
"""

from __future__ import annotations

import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

from .errors import RateLimited

RATE_WINDOW_S = 60.0  # the window `rate_limit` counts in: "comparisons per minute"
RATE_CLIENTS = 10_000  # clients remembered; ~1 KB each at most, ~10 MB in all


def proxy_hops(setting: int, environ: Mapping[str, str] | None = None) -> int:
    """Trusted proxies in front of the app: the setting, or for -1 (auto) one on Spaces."""
    if setting >= 0:
        return setting
    environ = os.environ if environ is None else environ
    return 1 if environ.get("SPACE_ID") else 0


def client_address(headers: Mapping[str, str], peer: str, hops: int) -> str:
    """The address to key on (see the module docstring); `headers` keys in any case."""
    if hops <= 0:
        return peer
    forwarded = ",".join(v for k, v in headers.items() if k.lower() == "x-forwarded-for")
    entries = [e.strip() for e in forwarded.split(",") if e.strip()]
    if len(entries) < hops:
        return peer  # the trusted proxies did not all say: fall back to the peer
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate.split("%")[0]))
    except ValueError:
        return peer


class RateLimiter:
    """At most `limit` starts per key in any `window_s` seconds; 0 turns the limit off."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = RATE_WINDOW_S,
        max_clients: int = RATE_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._starts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str, what: str = "questions") -> None:
        """Record a start for `key`, or raise RateLimited saying how long to wait (`what` is
        counted: "questions", "votes")."""
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            starts = self._starts.get(key)
            if starts is None:
                starts = self._starts[key] = deque()
            self._starts.move_to_end(key)
            while starts and starts[0] <= now - self.window_s:
                starts.popleft()
            if len(starts) >= self.limit:
                wait = math.ceil(starts[0] + self.window_s - now)
                raise RateLimited(
                    f"Too many {what} from your address: at most {self.limit} "
                    f"{_per(self.window_s)}. Try again in {_wait(wait)}.",
                    retry_after=wait,
                )
            starts.append(now)
            while len(self._starts) > self.max_clients:
                self._starts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._starts)


def _per(window_s: float) -> str:
    if window_s == 60:
        return "a minute"
    if window_s == 3600:
        return "an hour"
    return f"in {window_s:g} s"


def _wait(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"


def request_address(request: Any, hops: int) -> str:
    """The client address of a Gradio/Starlette request (see client_address); "local" when
    there is no request (a call from this process)."""
    if request is None:
        return "local"
    client = getattr(request, "client", None)
    peer = getattr(client, "host", None) or "local"
    return client_address(dict(getattr(request, "headers", None) or {}), peer, hops)


class Slots:
    """Running jobs: at most one per key and `limit` in all; taking one never waits."""

    def __init__(self, limit: int):
        self.limit = limit
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def take(self, key: str) -> str:
        """Take a slot for `key`: "" when taken, else why not ("yours": this key holds one
        already, "full": `limit` are running)."""
        with self._lock:
            if key in self._keys:
                return "yours"
            if len(self._keys) >= self.limit:
                return "full"
            self._keys.add(key)
            return ""

    def give_back(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def __len__(self) -> int:
        return len(self._keys)

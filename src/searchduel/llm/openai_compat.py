"""OpenAI-compatible backend: `POST {base_url}/chat/completions` streamed over SSE.

One client serves vLLM, TGI, llama.cpp server, Ollama and hosted routers. Each stream is one
HTTP request with `stream: true`; the server's Server-Sent Events are read line by line and
the text deltas yielded as they come. Temperature 0 is sent as such (every one of those
servers treats it as greedy) together with the seed.

Failures become this project's errors here, at the module boundary, with a message that
says what to change:

    401 / 403            BackendError     the key is wrong or missing (SEARCHDUEL_API_KEY)
    404                  ModelLoadError   unknown model: lists what GET /models says is served
    429 (503 + Retry-After)               waits Retry-After once (if short), then BackendBusy
    3xx, other 4xx, 5xx  GenerationError  with the server's own message
    error in the stream  GenerationError  an `error` event or field (vLLM, llama.cpp)
    connect / timeouts   GenerationError  names the URL and the limit that ran out
    stream cut           GenerationError  after yielding what came (no [DONE], no finish)
    malformed SSE        GenerationError  quotes the offending line

Each request asks for `stream_options: {"include_usage": true}`; when the server reports
`usage` (vLLM, llama.cpp, Ollama, `transformers serve` do), `last_usage()` hands the reading
thread the server's own token counts, which beat our estimate. A server that rejects the field
(HTTP 400/422 naming it) is asked once more without it.

A set `stop` event ends the stream without raising: between lines at once; while the reader
is blocked waiting for the next line a small watcher shuts the socket down, so the server sees
the disconnect and can free its slot; and while the server has not yet sent its headers the
request, running in a helper thread, is abandoned and closed as soon as they come.
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from ..config import DEFAULT_CONTEXT_WINDOW
from ..errors import BackendBusy, BackendError, ConfigError, GenerationError, ModelLoadError
from ..inputs import defang_control_tokens
from .base import Message, Piece
from .tokens import ChatTokenCounter, CountsThroughCounter, EstimateTokenCounter, load_tokenizer

if TYPE_CHECKING:
    from ..config import Settings

# A local or LAN server accepts a connection at once; taking longer means it is not there.
CONNECT_TIMEOUT_S = 5.0
# Longest silence allowed between two lines of a stream (and before the headers). Ollama loads
# the model on the first request (tens of seconds for Phi-3-mini on a CPU) and a 4k-token
# prefill on a CPU server takes a while before the first token; two minutes covers both.
READ_TIMEOUT_S = 120.0
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 30.0
# GET /models is only a courtesy (window size, the list of served names on a 404).
MODELS_TIMEOUT_S = 5.0
# A 429/503 asking for a longer wait fails at once: someone is watching the column.
RETRY_AFTER_MAX_S = 30.0
RETRY_AFTER_DEFAULT_S = 1.0  # a 429 without Retry-After
STOP_POLL_S = 0.05  # how often the stop watcher looks at the event while a read is blocked
ERROR_TEXT_CHARS = 300  # of a server's error body quoted in our message

DEFAULT_TIMEOUT = httpx.Timeout(
    connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
)
_SSE_FIELDS_IGNORED = ("id", "retry")


class OpenAIBackend(CountsThroughCounter):
    """A model served behind an OpenAI-compatible `/chat/completions` endpoint.

    `base_url` includes the API prefix (`http://localhost:8000/v1`); `model` is the served
    name. Pass `client` to share or fake the transport; otherwise one is made with
    `trust_env=False`, so proxy variables never reroute a local server. `counter` counts
    tokens (ChatTokenCounter for exact counts, else the documented EstimateTokenCounter).
    `context_window` 0 means: ask GET /models for `max_model_len` (vLLM reports it) on first
    use, else DEFAULT_CONTEXT_WINDOW.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        counter: ChatTokenCounter | EstimateTokenCounter | None = None,
        context_window: int = 0,
        client: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"bad value {base_url!r} for --base-url / SEARCHDUEL_BASE_URL: expected an "
                "http:// or https:// URL such as http://localhost:8000/v1"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.api_key = api_key
        self.counter = counter if counter is not None else EstimateTokenCounter()
        self.timeout = timeout
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(trust_env=False)
        self._window = context_window
        self._window_lock = threading.Lock()
        self._local = threading.local()  # per reading thread: the last stream's usage

    def last_usage(self) -> dict[str, int] | None:
        """Token counts the server reported for the last stream read by this thread
        (`completion_tokens`, `prompt_tokens`), or None when it sent none."""
        return getattr(self._local, "usage", None)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, client: httpx.Client | None = None
    ) -> OpenAIBackend:
        """The backend for `--backend openai`: base URL, served name, key, tokenizer, window."""
        if settings.tokenizer:
            counter: ChatTokenCounter | EstimateTokenCounter = ChatTokenCounter(
                load_tokenizer(settings.tokenizer)
            )
        else:
            counter = EstimateTokenCounter()
        return cls(
            settings.base_url,
            settings.model,
            api_key=settings.api_key,
            counter=counter,
            context_window=settings.context_window,
            client=client,
        )

    # --- the Backend protocol -----------------------------------------------------------

    @property
    def context_window(self) -> int:
        """The model's window in tokens: the setting, the server's `max_model_len`, or 4096."""
        if not self._window:
            with self._window_lock:
                if not self._window:
                    self._window = self._served_window() or DEFAULT_CONTEXT_WINDOW
        return self._window

    @property
    def exact_counts(self) -> bool:
        """True when token counts come from the model's tokenizer, False for the estimate."""
        return bool(self.counter.exact)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text as the server streams it (see the module docstring)."""
        self._local.usage = None
        if isinstance(self.counter, ChatTokenCounter):
            safe = self.counter.safe_messages(messages)
        else:
            safe = [{**m, "content": defang_control_tokens(m.get("content", ""))} for m in messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": safe,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        url = self.base_url + "/chat/completions"
        waited: float | None = None  # set once we have honoured one Retry-After
        while True:
            if stop is not None and stop.is_set():
                return
            retry_in: float | None = None
            try:
                response = self._open(url, body, stop)
                if response is None:  # stopped before the server answered
                    return
                try:
                    if 200 <= response.status_code < 300:
                        yield from self._read_events(response, stop)
                        return
                    if "stream_options" in body and _rejects_stream_options(response):
                        del body["stream_options"]
                        continue
                    if waited is None and _may_retry(response):
                        retry_in = _retry_after(response)
                    if retry_in is None or retry_in > RETRY_AFTER_MAX_S:
                        raise self._status_error(response, waited=waited, asked=retry_in)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, url) from exc
            # the first response is closed before we wait, so no connection is held meanwhile
            if stop is not None:
                if stop.wait(retry_in):
                    return
            else:
                time.sleep(retry_in)
            waited = retry_in

    # --- helpers ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client if this backend made it."""
        if self._own_client:
            self._client.close()

    def _open(
        self, url: str, body: dict[str, Any], stop: threading.Event | None
    ) -> httpx.Response | None:
        """Send the request and return the streaming response once its headers are in.

        Some servers (Ollama) send no headers until the model is loaded and the prompt read,
        which can take a while; with a `stop` event the request is sent from a helper thread so
        that Stop returns at once (None), and the helper closes the late response itself.
        """
        request = self._client.build_request(
            "POST", url, json=body, headers=self._headers(), timeout=self.timeout
        )
        if stop is None:
            return self._client.send(request, stream=True)
        lock = threading.Lock()
        ready = threading.Event()
        box: dict[str, Any] = {}

        def send() -> None:
            try:
                outcome: Any = self._client.send(request, stream=True)
            except BaseException as exc:  # handed to the caller, never lost in this thread
                outcome = exc
            with lock:
                if box.get("abandoned"):
                    if isinstance(outcome, httpx.Response):
                        outcome.close()
                    return
                box["outcome"] = outcome
            ready.set()

        threading.Thread(target=send, name="openai-request", daemon=True).start()
        while not ready.wait(STOP_POLL_S):
            if stop.is_set():
                with lock:
                    if "outcome" not in box:
                        box["abandoned"] = True
                        return None
                break  # it arrived just now: use it, the reader will see the stop
        outcome = box["outcome"]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def served_models(self) -> list[dict[str, Any]] | None:
        """The entries of GET {base_url}/models, or None when the server will not say."""
        try:
            response = self._client.get(
                self.base_url + "/models",
                headers=self._headers(),
                timeout=httpx.Timeout(MODELS_TIMEOUT_S),
            )
            if response.status_code != 200:
                return None
            data = response.json().get("data")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        if not isinstance(data, list):
            return None
        return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def _served_window(self) -> int:
        for entry in self.served_models() or []:
            window = entry.get("max_model_len")
            if entry["id"] == self.model and isinstance(window, int) and window > 0:
                return window
        return 0

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _read_events(self, response: httpx.Response, stop: threading.Event | None) -> Iterator[str]:
        """Parse the SSE body: data lines form an event, a blank line dispatches it."""
        if "application/json" in response.headers.get("content-type", ""):
            # a server (or proxy) that ignored stream: true and sent the whole answer
            response.read()
            yield from _whole_answer(response)
            return
        state = _StreamState()
        data: list[str] = []
        event = ""
        watcher = _StopWatcher(response, stop) if stop is not None else None
        try:
            try:
                for line in response.iter_lines():
                    if stop is not None and stop.is_set():
                        return
                    if not line:
                        if data:
                            yield from state.dispatch(event, data)
                            if state.done:
                                return
                        data, event = [], ""
                        continue
                    if line.startswith(":"):  # comment: keep-alives such as ": ping"
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field == "event":
                        event = value
                    elif field == "error":  # llama.cpp sends a failed stream as `error: {...}`
                        raise GenerationError(
                            "the model server reported an error mid-stream: "
                            f"{_server_message(value)}"
                        )
                    elif field not in _SSE_FIELDS_IGNORED:
                        raise GenerationError(
                            f"malformed line in the stream from {self.base_url}: "
                            f"{_clip(line)!r} (expected 'data: ...', a ':' comment or a "
                            "blank line)"
                        )
            except httpx.HTTPError as exc:
                if (stop is not None and stop.is_set()) or state.finished:
                    return
                raise GenerationError(
                    f"the stream from {self.base_url} broke after {state.chars} characters of "
                    f"the answer: {type(exc).__name__}: {exc or 'no detail'}",
                    cause="timeout" if isinstance(exc, httpx.TimeoutException) else "lost",
                ) from exc
            if data:  # the last event may lack its blank line before the connection closes
                yield from state.dispatch(event, data)
        finally:
            if watcher is not None:
                watcher.close()
            self._local.usage = state.usage
        if stop is not None and stop.is_set():
            return
        if not state.done and not state.finished:
            raise GenerationError(
                f"the stream from {self.base_url} ended before the answer was finished (no "
                f"[DONE] and no finish_reason) after {state.chars} characters",
                cause="lost",
            )

    def _status_error(
        self, response: httpx.Response, *, waited: float | None, asked: float | None
    ) -> BackendError:
        status = response.status_code
        try:
            response.read()
            text = response.text
        except httpx.HTTPError:
            text = ""
        detail = _server_message(text) or response.reason_phrase
        url = str(response.request.url)
        if status in (401, 403):
            key = (
                "SEARCHDUEL_API_KEY is set but the server did not accept it"
                if self.api_key
                else "SEARCHDUEL_API_KEY is not set"
            )
            return BackendError(
                f"the model server at {self.base_url} refused the request (HTTP {status}: "
                f"{detail}); {key}. Set SEARCHDUEL_API_KEY to the key the server was started with.",
                cause="refused",
            )
        if status == 404:
            return ModelLoadError(self._not_found_message(url, detail))
        if status == 429 or (status == 503 and asked is not None):
            if waited is not None:
                why = f"still busy after waiting {waited:g} s as it asked"
            elif asked is not None:
                why = f"it asks to wait {asked:g} s, more than the {RETRY_AFTER_MAX_S:g} s we allow"
            else:
                why = "busy"
            return BackendBusy(
                f"the model server at {self.base_url} is rate-limiting requests (HTTP {status}: "
                f"{detail}); {why}. Try again shortly."
            )
        if status >= 500:
            return GenerationError(
                f"the model server at {self.base_url} failed (HTTP {status}): {detail}",
                cause="server",
            )
        return GenerationError(
            f"the model server at {self.base_url} rejected the request (HTTP {status}): {detail}"
        )

    def _not_found_message(self, url: str, detail: str) -> str:
        served = self.served_models()
        if served is None:
            return (
                f"HTTP 404 from {url} ({detail}). Check --base-url / SEARCHDUEL_BASE_URL (it "
                "usually ends in /v1) and the served model name in --model / SEARCHDUEL_MODEL."
            )
        names = [m["id"] for m in served]
        if self.model not in names:
            listed = ", ".join(names) if names else "no models at all"
            return (
                f"the server at {self.base_url} does not serve the model {self.model!r} "
                f"({detail}). It serves: {listed}. Set --model / SEARCHDUEL_MODEL to one of them."
            )
        return (
            f"HTTP 404 from {url} ({detail}) although the server lists {self.model!r}. Check "
            "that --base-url / SEARCHDUEL_BASE_URL ends in the API prefix (usually /v1)."
        )

    def _transport_error(self, exc: httpx.HTTPError, url: str) -> GenerationError:
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
            return GenerationError(
                f"cannot reach the model server at {self.base_url} ({type(exc).__name__}: "
                f"{exc}). Is it running? Check --base-url / SEARCHDUEL_BASE_URL.",
                cause="unreachable",
            )
        if isinstance(exc, httpx.ReadTimeout):
            return GenerationError(
                f"the model server at {self.base_url} sent nothing for {self.timeout.read:g} s",
                cause="timeout",
            )
        return GenerationError(f"request to {url} failed: {type(exc).__name__}: {exc}")


class _StreamState:
    """What the SSE events have said so far: text length, [DONE], finish_reason."""

    def __init__(self) -> None:
        self.chars = 0
        self.done = False
        self.finished = False
        self.usage: dict[str, int] | None = None

    def dispatch(self, event: str, data: list[str]) -> Iterator[str]:
        payload = "\n".join(data)
        if payload.strip() == "[DONE]":
            self.done = True
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            raise GenerationError(
                f"malformed data line in the model server's stream: {_clip('data: ' + payload)!r}"
            ) from None
        if not isinstance(obj, dict):
            raise GenerationError(
                f"unexpected data in the model server's stream: {_clip(payload)!r}"
            )
        if event == "error" or obj.get("error"):
            detail = _error_detail(obj) or _clip(payload)
            raise GenerationError(f"the model server reported an error mid-stream: {detail}")
        usage = obj.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.usage = {k: v for k, v in usage.items() if isinstance(v, int)}
        for choice in obj.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                self.chars += len(content)
                yield Piece(content, tokens=1)  # servers stream one token per chunk
            if choice.get("finish_reason"):
                self.finished = True


class _StopWatcher:
    """Shuts the response's socket down when `stop` is set, waking a reader blocked in recv."""

    def __init__(self, response: httpx.Response, stop: threading.Event):
        self._stop = stop
        self._over = False
        self._lock = threading.Lock()
        stream = response.extensions.get("network_stream")
        self._sock = stream.get_extra_info("socket") if stream is not None else None
        self._thread: threading.Thread | None = None
        if self._sock is not None:
            self._thread = threading.Thread(target=self._watch, name="sse-stop", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._over:
            if self._stop.wait(STOP_POLL_S):
                with self._lock:
                    # checked under the lock: once closed, the socket may be back in the pool
                    if not self._over:
                        try:
                            self._sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                return

    def close(self) -> None:
        with self._lock:
            self._over = True


def _rejects_stream_options(response: httpx.Response) -> bool:
    """A 400/422 whose body names stream_options: a server that does not know the field."""
    if response.status_code not in (400, 422):
        return False
    try:
        response.read()
        return "stream_options" in response.text
    except httpx.HTTPError:
        return False


def _may_retry(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    # 503 is retried only when the server says when (llama.cpp while loading, some proxies)
    return response.status_code == 503 and "retry-after" in response.headers


def _retry_after(response: httpx.Response) -> float:
    """Seconds from Retry-After (delta-seconds or an HTTP date); a default when absent."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return RETRY_AFTER_DEFAULT_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _whole_answer(response: httpx.Response) -> Iterator[str]:
    try:
        obj = response.json()
        content = obj["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GenerationError(
            f"the model server answered with JSON that is not a chat completion: "
            f"{_clip(response.text)!r}"
        ) from None
    if isinstance(content, str) and content:
        yield content


def _error_detail(obj: dict[str, Any]) -> str:
    """The message in the error shapes servers use: OpenAI/vLLM/Ollama, old vLLM, TGI."""
    err = obj.get("error")
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str) and err:
        return err
    for key in ("message", "detail"):
        if obj.get(key):
            return str(obj[key])
    return ""


def _server_message(text: str) -> str:
    try:
        obj = json.loads(text)
    except ValueError:
        return _clip(text.strip())
    if isinstance(obj, dict):
        return _clip(_error_detail(obj) or text.strip())
    return _clip(text.strip())


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_CHARS else text[:ERROR_TEXT_CHARS] + "…"

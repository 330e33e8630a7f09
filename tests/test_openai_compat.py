"""The OpenAI-compatible backend against a real local server speaking the protocol.

The server (http.server in a thread) answers by scenario: the first path segment of the base
URL picks it, e.g. http://127.0.0.1:PORT/cut/v1. SSE bodies are written with chunked
transfer encoding, flushed piece by piece, the way vLLM, TGI, llama.cpp and Ollama send them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from searchduel.config import DEFAULT_CONTEXT_WINDOW, Settings
from searchduel.errors import BackendBusy, BackendError, GenerationError, ModelLoadError
from searchduel.llm.base import Backend
from searchduel.llm.openai_compat import OpenAIBackend
from searchduel.llm.tokens import ChatTokenCounter, EstimateTokenCounter

PHI3_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "phi3-tokenizer"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = ["The", " capital", " of", " France", " is", " Paris", "."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def chunk(text: str, finish: str | None = None) -> str:
    delta = {"content": text} if text else {"role": "assistant"}
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return "data: " + json.dumps(payload) + "\n\n"


def answer_events(pieces: list[str] = ANSWER) -> list[str]:
    return [chunk(""), *(chunk(p) for p in pieces), chunk("", "stop"), "data: [DONE]\n\n"]


class FakeServer:
    """Scenario state shared with the handler: recorded requests and per-scenario counters."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hits: dict[str, int] = {}
        self.release = threading.Event()  # ends the silent scenarios at teardown
        self.lock = threading.Lock()


def make_handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        # --- writing helpers -----------------------------------------------------------

        def start_sse(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def write_chunk(self, data: str | bytes) -> None:
            raw = data.encode() if isinstance(data, str) else data
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def end_chunks(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def stream(self, events: list[str], delay: float = 0.0) -> None:
            self.start_sse()
            for event in events:
                self.write_chunk(event)
                if delay:
                    time.sleep(delay)
            self.end_chunks()

        # --- routing ---------------------------------------------------------------------

        def scenario(self) -> tuple[str, str]:
            parts = self.path.strip("/").split("/")
            return parts[0], "/" + "/".join(parts[1:])

        def do_GET(self) -> None:
            name, rest = self.scenario()
            if not rest.endswith("/models") or name == "nomodels":
                self.send_json(404, {"error": "not found"})
                return
            entry: dict[str, Any] = {"id": "phi3:mini", "object": "model"}
            if name == "vllm":
                entry = {"id": "served-phi3", "object": "model", "max_model_len": 2048}
            self.send_json(200, {"object": "list", "data": [entry, {"id": "tinyllama"}]})

        def do_POST(self) -> None:
            name, rest = self.scenario()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(
                    {"scenario": name, "path": rest, "body": body, "headers": dict(self.headers)}
                )
                state.hits[name] = state.hits.get(name, 0) + 1
                hit = state.hits[name]
            if rest != "/v1/chat/completions":
                self.send_json(404, {"error": f"no route {rest}"})
                return
            getattr(self, "s_" + name.replace("-", "_"))(hit)

        # --- scenarios -------------------------------------------------------------------

        def s_ok(self, hit: int) -> None:
            self.stream(answer_events())

        def s_usage(self, hit: int) -> None:  # vLLM's closing chunk: no choices, the usage
            tail = {"id": "chatcmpl-1", "choices": [], "usage": USAGE}
            events = answer_events()
            self.stream([*events[:-1], "data: " + json.dumps(tail) + "\n\n", events[-1]])

        def s_strict(self, hit: int) -> None:  # an older server that rejects unknown fields
            body = state.requests[-1]["body"]
            if "stream_options" in body:
                self.send_json(
                    422, {"detail": [{"loc": ["body", "stream_options"], "msg": "extra field"}]}
                )
                return
            self.stream(answer_events(["plain"]))

        def s_vllm(self, hit: int) -> None:
            self.stream(answer_events())

        def s_keepalive(self, hit: int) -> None:
            self.start_sse()
            self.write_chunk(": ping - 2024-01-01 00:00:00\n\n")  # sse-starlette style
            self.write_chunk("\n\n\n")
            self.write_chunk(":\n")
            self.write_chunk("event: message\r\nid: 7\r\nretry: 3000\r\n")
            self.write_chunk(chunk("Caf").replace("\n\n", "\r\n\r\n"))
            # one event split mid-line and mid-UTF-8 character across two chunks
            raw = chunk("é au lait").encode()
            cut = raw.index(b"\\u00e9") + 3
            self.write_chunk(raw[:cut])
            self.write_chunk(raw[cut:])
            self.write_chunk(": keep-alive\n\n")
            self.write_chunk(chunk("", "stop") + "data: [DONE]\n\n")
            self.end_chunks()

        def s_utf8(self, hit: int) -> None:
            raw = chunk("日本語").encode()
            self.start_sse()
            # a literal multi-byte character split across two chunks
            raw = raw.replace(json.dumps("日本語").encode(), '"日本語"'.encode())
            cut = raw.index("本".encode()) + 1
            self.write_chunk(raw[:cut])
            self.write_chunk(raw[cut:])
            self.write_chunk(chunk("", "stop") + "data: [DONE]\n\n")
            self.end_chunks()

        def s_auth(self, hit: int) -> None:
            if self.headers.get("Authorization") != "Bearer sekrit":
                self.send_json(
                    401,
                    {"error": {"message": "Invalid API key", "type": "authentication_error"}},
                )
                return
            self.stream(answer_events(["ok"]))

        def s_models(self, hit: int) -> None:  # vLLM's shape of an unknown-model 404
            self.send_json(
                404,
                {
                    "object": "error",
                    "message": "The model `nope` does not exist.",
                    "type": "NotFoundError",
                    "code": 404,
                },
            )

        s_nomodels = s_models

        def s_server_error(self, hit: int) -> None:
            self.send_json(500, {"error": {"message": "CUDA out of memory", "code": 500}})

        def s_bad_request(self, hit: int) -> None:
            self.send_json(
                400,
                {
                    "object": "error",
                    "message": "This model's maximum context length is 4096 tokens.",
                    "code": 400,
                },
            )

        def s_html_error(self, hit: int) -> None:
            raw = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def s_busy_once(self, hit: int) -> None:
            if hit == 1:
                self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
            else:
                self.stream(answer_events(["after", " waiting"]))

        def s_busy_always(self, hit: int) -> None:
            self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})

        def s_busy_long(self, hit: int) -> None:
            self.send_json(429, {"error": {"message": "quota"}}, {"Retry-After": "3600"})

        def s_loading(self, hit: int) -> None:  # llama.cpp while the model loads
            if hit == 1:
                self.send_json(
                    503,
                    {"error": {"code": 503, "message": "Loading model"}},
                    {"Retry-After": "0"},
                )
            else:
                self.stream(answer_events(["loaded"]))

        def s_cut(self, hit: int) -> None:
            self.start_sse()
            for event in answer_events()[:4]:
                self.write_chunk(event)
            self.close_connection = True  # no terminating chunk: the connection just drops

        def s_cut_clean(self, hit: int) -> None:  # a well-formed body that lacks [DONE]
            self.stream(answer_events()[:4])

        def s_finished_no_done(self, hit: int) -> None:
            self.stream(answer_events()[:-1])

        def s_malformed_json(self, hit: int) -> None:
            self.stream([chunk("Hi"), 'data: {"choices": [\n\n', "data: [DONE]\n\n"])

        def s_malformed_line(self, hit: int) -> None:
            self.stream([chunk("Hi"), "<html>oops</html>\n\n", "data: [DONE]\n\n"])

        def s_midstream_error(self, hit: int) -> None:
            err = {"error": {"message": "engine died", "type": "InternalServerError"}}
            self.stream([chunk("Hi"), "data: " + json.dumps(err) + "\n\n"])

        def s_llama_error(self, hit: int) -> None:  # llama.cpp's error field
            err = {"code": 400, "message": "the request exceeds the available context size"}
            self.stream([chunk("Hi"), "error: " + json.dumps(err) + "\n\n"])

        def s_json_reply(self, hit: int) -> None:
            self.send_json(
                200,
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"}}]},
            )

        def s_slow(self, hit: int) -> None:  # 100 tokens, 20 ms apart
            self.start_sse()
            try:
                for i in range(100):
                    self.write_chunk(chunk(f"t{i} "))
                    time.sleep(0.02)
                self.write_chunk("data: [DONE]\n\n")
                self.end_chunks()
            except OSError:
                pass  # the client went away: what Stop is meant to do

        def s_no_headers(self, hit: int) -> None:  # Ollama loading the model: not a byte yet
            state.release.wait(5)
            self.close_connection = True

        def s_silent(self, hit: int) -> None:  # one token, then nothing until released
            self.start_sse()
            self.write_chunk(chunk("first"))
            state.release.wait(5)
            self.close_connection = True

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        # a client that hangs up mid-answer is what the stop and cut tests do on purpose
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeServer]]:
    state = FakeServer()
    httpd = QuietServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make(server: tuple[str, FakeServer]) -> Iterator[Any]:
    root, _ = server
    made: list[OpenAIBackend] = []

    def factory(scenario: str, **kwargs: Any) -> OpenAIBackend:
        kwargs.setdefault("model", "phi3:mini")
        backend = OpenAIBackend(f"{root}/{scenario}/v1", **kwargs)
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        backend.close()


def last_request(state: FakeServer, scenario: str) -> dict[str, Any]:
    return [r for r in state.requests if r["scenario"] == scenario][-1]


# --- streaming ----------------------------------------------------------------------------


def test_streams_pieces_and_sends_greedy_request(make, server) -> None:
    backend = make("ok")
    assert isinstance(backend, Backend)
    pieces = list(backend.stream(MESSAGES, max_new_tokens=32, seed=7))
    assert pieces == ANSWER
    assert [p.tokens for p in pieces] == [1] * len(ANSWER), "one token per streamed chunk"
    req = last_request(server[1], "ok")
    assert req["body"] == {
        "model": "phi3:mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 32,
        "temperature": 0.0,
        "seed": 7,
    }
    assert req["headers"]["Accept"] == "text/event-stream"
    assert "Authorization" not in req["headers"]


def test_comments_keepalives_crlf_and_split_chunks(make) -> None:
    assert "".join(make("keepalive").stream(MESSAGES, max_new_tokens=8)) == "Café au lait"


def test_multibyte_character_split_across_chunks(make) -> None:
    assert "".join(make("utf8").stream(MESSAGES, max_new_tokens=8)) == "日本語"


def test_whole_json_reply_when_server_ignores_stream(make) -> None:
    assert list(make("json_reply").stream(MESSAGES, max_new_tokens=8)) == ["whole"]


# --- errors -------------------------------------------------------------------------------


def test_401_names_the_key_variable(make) -> None:
    with pytest.raises(BackendError, match="SEARCHDUEL_API_KEY is not set") as info:
        list(make("auth").stream(MESSAGES, max_new_tokens=8))
    assert "Invalid API key" in str(info.value)
    with pytest.raises(BackendError, match="did not accept it"):
        list(make("auth", api_key="wrong").stream(MESSAGES, max_new_tokens=8))
    assert list(make("auth", api_key="sekrit").stream(MESSAGES, max_new_tokens=8)) == ["ok"]


def test_404_lists_the_served_models(make) -> None:
    with pytest.raises(ModelLoadError) as info:
        list(make("models", model="nope").stream(MESSAGES, max_new_tokens=8))
    message = str(info.value)
    assert "'nope'" in message and "phi3:mini, tinyllama" in message
    assert "SEARCHDUEL_MODEL" in message and "does not exist" in message


def test_404_without_a_model_list_points_at_the_base_url(make) -> None:
    with pytest.raises(ModelLoadError, match=r"usually ends in /v1"):
        list(make("nomodels").stream(MESSAGES, max_new_tokens=8))


def test_404_for_a_listed_model_means_a_wrong_prefix(make, server) -> None:
    backend = OpenAIBackend(f"{server[0]}/models/v1/extra", "phi3:mini")
    try:
        with pytest.raises(ModelLoadError, match=r"no route.*although the server lists"):
            list(backend.stream(MESSAGES, max_new_tokens=8))
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("scenario", "pattern"),
    [
        ("server_error", r"failed \(HTTP 500\): CUDA out of memory"),
        ("bad_request", r"rejected the request \(HTTP 400\): This model's maximum context"),
        ("html_error", r"HTTP 502\): <html><body>502 Bad Gateway"),
    ],
)
def test_http_errors_carry_the_server_message(make, scenario: str, pattern: str) -> None:
    with pytest.raises(GenerationError, match=pattern):
        list(make(scenario).stream(MESSAGES, max_new_tokens=8))


def test_429_honours_retry_after_once_then_succeeds(make, server) -> None:
    start = time.monotonic()
    pieces = list(make("busy_once").stream(MESSAGES, max_new_tokens=8))
    assert pieces == ["after", " waiting"]
    assert time.monotonic() - start >= 0.9  # Retry-After: 1
    assert server[1].hits["busy_once"] == 2


def test_429_twice_is_busy(make, server) -> None:
    with pytest.raises(BackendBusy, match="still busy after waiting 0 s"):
        list(make("busy_always").stream(MESSAGES, max_new_tokens=8))
    assert server[1].hits["busy_always"] == 2


def test_429_with_a_long_retry_after_fails_at_once(make, server) -> None:
    start = time.monotonic()
    with pytest.raises(BackendBusy, match="asks to wait 3600 s"):
        list(make("busy_long").stream(MESSAGES, max_new_tokens=8))
    assert time.monotonic() - start < 2
    assert server[1].hits["busy_long"] == 1


def test_503_with_retry_after_is_retried_once(make) -> None:
    assert list(make("loading").stream(MESSAGES, max_new_tokens=8)) == ["loaded"]


@pytest.mark.parametrize("scenario", ["cut", "cut_clean"])
def test_cut_stream_yields_what_came_then_raises(make, scenario: str) -> None:
    got: list[str] = []
    with pytest.raises(GenerationError, match="after 14 characters"):
        for piece in make(scenario).stream(MESSAGES, max_new_tokens=8):
            got.append(piece)
    assert got == ["The", " capital", " of"]


def test_finish_reason_without_done_is_a_complete_answer(make) -> None:
    assert list(make("finished_no_done").stream(MESSAGES, max_new_tokens=8)) == ANSWER


def test_malformed_data_line_is_quoted(make) -> None:
    got: list[str] = []
    with pytest.raises(GenerationError, match=r"malformed data line.*'data: \{\"choices\": \['"):
        for piece in make("malformed_json").stream(MESSAGES, max_new_tokens=8):
            got.append(piece)
    assert got == ["Hi"]


def test_malformed_sse_line_is_quoted(make) -> None:
    with pytest.raises(GenerationError, match=r"malformed line.*'<html>oops</html>'"):
        list(make("malformed_line").stream(MESSAGES, max_new_tokens=8))


@pytest.mark.parametrize(
    ("scenario", "pattern"),
    [
        ("midstream_error", "engine died"),
        ("llama_error", "the request exceeds the available context size"),
    ],
)
def test_error_reported_mid_stream(make, scenario: str, pattern: str) -> None:
    got: list[str] = []
    with pytest.raises(GenerationError, match=f"error mid-stream: {pattern}"):
        for piece in make(scenario).stream(MESSAGES, max_new_tokens=8):
            got.append(piece)
    assert got == ["Hi"]


def test_two_streams_at_once_do_not_mix(make) -> None:
    backend = make("ok")
    results: list[list[str]] = [[], []]

    def run(i: int) -> None:
        results[i] = list(backend.stream(MESSAGES, max_new_tokens=8))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [ANSWER, ANSWER]


def test_connection_refused_names_the_url() -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m")
    try:
        with pytest.raises(GenerationError, match=rf"cannot reach .*127.0.0.1:{port}/v1"):
            list(backend.stream(MESSAGES, max_new_tokens=8))
    finally:
        backend.close()


def test_read_timeout_is_an_error_not_a_hang(make) -> None:
    backend = make("silent", timeout=httpx.Timeout(0.3, connect=2.0))
    got: list[str] = []
    start = time.monotonic()
    with pytest.raises(GenerationError, match="broke after 5 characters"):
        for piece in backend.stream(MESSAGES, max_new_tokens=8):
            got.append(piece)
    assert got == ["first"]
    assert time.monotonic() - start < 2


# --- stop ---------------------------------------------------------------------------------


def test_stop_between_pieces_ends_quietly(make) -> None:
    stop = threading.Event()
    got: list[str] = []
    start = time.monotonic()
    for piece in make("slow").stream(MESSAGES, max_new_tokens=100, stop=stop):
        got.append(piece)
        if len(got) == 3:
            stop.set()
    assert got == ["t0 ", "t1 ", "t2 "]
    assert time.monotonic() - start < 1.0  # the whole stream would take 2 s


def test_stop_while_blocked_on_a_silent_server(make) -> None:
    stop = threading.Event()
    got: list[str] = []
    backend = make("silent")
    stream = backend.stream(MESSAGES, max_new_tokens=8, stop=stop)
    got.append(next(stream))
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    got.extend(stream)  # blocked reading until the watcher shuts the socket
    assert got == ["first"]
    assert time.monotonic() - start < 1.0  # the server stays silent for 5 s
    assert backend.served_models() is not None  # its client (and pool) still works


def test_stop_before_the_server_answers(make) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    start = time.monotonic()
    assert list(make("no_headers").stream(MESSAGES, max_new_tokens=8, stop=stop)) == []
    assert time.monotonic() - start < 1.0  # the server sends nothing for 5 s


def test_stop_already_set_sends_nothing(make, server) -> None:
    stop = threading.Event()
    stop.set()
    before = len(server[1].requests)
    assert list(make("ok").stream(MESSAGES, max_new_tokens=8, stop=stop)) == []
    assert len(server[1].requests) == before


# --- settings, window ---------------------------------------------------------------------


def test_context_window_from_max_model_len(make) -> None:
    assert make("vllm", model="served-phi3").context_window == 2048


def test_context_window_defaults_and_setting(make, server) -> None:
    assert make("ok").context_window == DEFAULT_CONTEXT_WINDOW  # listed, no max_model_len
    assert make("nomodels").context_window == DEFAULT_CONTEXT_WINDOW
    before = len(server[1].requests)
    assert make("vllm", model="served-phi3", context_window=3000).context_window == 3000
    assert len(server[1].requests) == before


def test_from_settings_without_tokenizer(server) -> None:
    settings = Settings(
        backend="openai", base_url=f"{server[0]}/auth/v1", model="phi3:mini", api_key="sekrit"
    )
    backend = OpenAIBackend.from_settings(settings)
    try:
        assert backend.name == "phi3:mini" and not backend.exact_counts
        assert list(backend.stream(MESSAGES, max_new_tokens=4)) == ["ok"]
    finally:
        backend.close()


# --- token counts -------------------------------------------------------------------------

ESTIMATE_TEXTS = {
    "prose": "The quick brown fox jumps over the lazy dog. Search engines rank pages.",
    "code": "def f(x: int) -> dict[str, int]:\n    return {k: v for k, v in zip('ab', range(x))}\n",
    "json": '{"id": 12345, "tags": ["a", "b"], "ok": true, "price": 19.99}',
    "digits": "3.14159265358979 2.71828182845904 1234567890",
    "caps": 'LODGE 12" CAST IRON SKILLET L8SQ3 $39.99 USD',
    "url": "https://example.com/a/b?c=1&d=2#frag",
    "chinese": "搜索引擎返回的网页经过排序，模型再根据这些来源回答问题。",
    "japanese": "東京は日本の首都です。人口は約千四百万人です。",
    "russian": "Поисковая система возвращает список страниц, упорядоченный по релевантности.",
    "arabic": "محرك البحث يعيد قائمة من الصفحات مرتبة حسب الصلة.",
    "hindi": "खोज इंजन प्रासंगिकता के अनुसार पृष्ठों की सूची लौटाता है।",
    "emoji": "🙂🙃😀 🚀🔥 ✅",
    "whitespace": "\n\n\t\t  \n    indented\n\n",
}


def vocab_vectors() -> list[str]:
    """llama.cpp's tokenizer test strings (each one ends with the separator line)."""
    raw = (PHI3_DIR / "ggml-vocab-phi-3.gguf.inp").read_text()
    return raw.split("\n__ggml_vocab_test__\n")[:-1]


@pytest.fixture(scope="module")
def exact_backend(server, phi3_tokenizer) -> Iterator[OpenAIBackend]:
    # the session's Phi-3 tokenizer (conftest; skips when ../shared is absent): loading the
    # GGUF vocabulary takes seconds, so it is loaded once for every module that needs it
    backend = OpenAIBackend(
        f"{server[0]}/ok/v1", "phi3:mini", counter=ChatTokenCounter(phi3_tokenizer)
    )
    yield backend
    backend.close()


def test_from_settings_loads_the_tokenizer_folder(server, tmp_path: Path) -> None:
    # a small word-level tokenizer saved the way a model folder holds one: --tokenizer DIR
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<|user|>": 1, "<|end|>": 2, "<|assistant|>": 3, "hello": 4, "world": 5}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    fast.chat_template = (
        "{% for m in messages %}<|user|> {{ m['content'] }} <|end|> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    fast.save_pretrained(tmp_path)
    settings = Settings(
        backend="openai", base_url=f"{server[0]}/ok/v1", model="phi3:mini", tokenizer=str(tmp_path)
    )
    backend = OpenAIBackend.from_settings(settings)
    try:
        assert backend.exact_counts
        assert backend.count_text_tokens("hello world") == 2
        assert backend.count_tokens([{"role": "user", "content": "hello world"}]) == 5
    finally:
        backend.close()


@pytest.mark.slow
def test_exact_counts_match_llama_cpp_vectors(exact_backend: OpenAIBackend) -> None:
    assert exact_backend.exact_counts
    texts = vocab_vectors()
    expected = (PHI3_DIR / "ggml-vocab-phi-3.gguf.out").read_text().removesuffix("\n").split("\n")
    assert len(texts) == len(expected) == 46
    for text, ids in zip(texts, expected, strict=True):
        assert exact_backend.count_text_tokens(text) == len(ids.split()), repr(text)


@pytest.mark.slow
def test_exact_prompt_count_includes_the_template(exact_backend: OpenAIBackend) -> None:
    bare = exact_backend.count_text_tokens(MESSAGES[0]["content"])
    # <s> <|user|> \n ... <|end|> \n <|assistant|> \n around the content
    assert bare < exact_backend.count_tokens(MESSAGES) <= bare + 10


@pytest.mark.slow
def test_estimate_is_never_below_the_exact_count(exact_backend: OpenAIBackend) -> None:
    estimate = EstimateTokenCounter()
    exact = exact_backend.counter
    assert isinstance(exact, ChatTokenCounter)
    for text in [*ESTIMATE_TEXTS.values(), *vocab_vectors()]:
        assert estimate.count_text_tokens(text) >= exact.count_text_tokens(text), repr(text)
    everything = "\n\n".join(ESTIMATE_TEXTS.values())
    messages = [{"role": "user", "content": everything}, {"role": "assistant", "content": "ok"}]
    assert estimate.count_tokens(messages) >= exact.count_tokens(messages)


def test_backend_without_tokenizer_uses_the_estimate(make) -> None:
    backend = make("ok")
    text = ESTIMATE_TEXTS["code"]
    assert backend.count_text_tokens(text) == EstimateTokenCounter().count_text_tokens(text)
    assert backend.count_text_tokens("") == 0
    assert backend.count_tokens(MESSAGES) > backend.count_text_tokens(MESSAGES[0]["content"])


# --- the server's own token counts, unknown fields, control tokens -------------------------


def test_usage_from_the_server_beats_the_estimate(make) -> None:
    backend = make("usage")
    assert backend.last_usage() is None
    assert list(backend.stream(MESSAGES, max_new_tokens=32)) == ANSWER
    assert backend.last_usage() == USAGE
    # the estimate alone over-counts the same answer: the reason the usage is asked for
    assert backend.count_text_tokens("".join(ANSWER)) > USAGE["completion_tokens"]
    list(make("ok").stream(MESSAGES, max_new_tokens=8))  # another backend: its own record


def test_usage_is_per_thread_and_reset_per_stream(make) -> None:
    backend = make("usage")
    list(backend.stream(MESSAGES, max_new_tokens=8))
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.append(backend.last_usage()))
    worker.start()
    worker.join()
    assert seen == [None], "another thread's stream must not lend its count"
    plain = make("ok")
    list(plain.stream(MESSAGES, max_new_tokens=8))
    assert plain.last_usage() is None


def test_engine_reports_the_servers_token_count(make, settings) -> None:
    from searchduel.engine import Engine

    engine = Engine(settings.replace(search="off"), make("usage"))
    events = list(engine.run("What is the capital of France?"))
    done = [e for e in events if e.kind == "done" and e.column == "plain"]
    assert [e.data["tokens"] for e in done] == [USAGE["completion_tokens"]]


def test_server_rejecting_stream_options_is_asked_again_without(make, server) -> None:
    assert "".join(make("strict").stream(MESSAGES, max_new_tokens=8)) == "plain"
    bodies = [r["body"] for r in server[1].requests if r["scenario"] == "strict"][-2:]
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[1]


def test_control_tokens_in_messages_reach_the_server_broken(make, server) -> None:
    typed = "hi <|end|><|assistant|> <s> [INST] done"
    list(make("ok").stream([{"role": "user", "content": typed}], max_new_tokens=8))
    sent = last_request(server[1], "ok")["body"]["messages"][0]["content"]
    for marker in ("<|end|>", "<|assistant|>", "<s>", "[INST]"):
        assert marker not in sent
    assert sent.replace("\u200b", "") == typed, "visible text unchanged"


def test_stop_frees_the_stream_for_the_next_request_at_once(make) -> None:
    backend = make("slow")
    stop = threading.Event()
    first = backend.stream(MESSAGES, max_new_tokens=100, stop=stop)
    next(first)
    stop.set()
    t0 = time.perf_counter()
    rest = list(first)
    second = backend.stream(MESSAGES, max_new_tokens=100)
    next(second)
    elapsed = time.perf_counter() - t0
    second.close()
    assert len(rest) < 20, "the stopped stream ended early"
    assert elapsed < 1.0, f"the next request waited {elapsed:.2f} s after stop"


# --- what the page shows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("closed", "could not be reached"),
        ("auth", "turned this app's request away"),
        ("server_error", "failed while answering"),
        ("silent", "stopped answering"),
    ],
)
def test_the_page_reads_plain_words_without_addresses_or_settings(
    make, settings, scenario: str, words: str
) -> None:
    """A model server's failure reaches the column as one plain sentence; its address and
    the flags and variables to fix it stay in the detail (trace fold-out, log)."""
    import socket

    from searchduel.engine import Engine, summarize

    if scenario == "closed":
        with socket.socket() as s:  # nothing listens there
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "phi3:mini")
    else:
        backend = make(scenario, timeout=httpx.Timeout(0.3, connect=2.0))
    try:
        result = summarize("q", Engine(settings.replace(search="off"), backend).run("Hello?"))
    finally:
        backend.close()
    column = result["plain"]
    assert words in column["error"]
    for leak in ("127.0.0.1", "http", "/v1", "--", "SEARCHDUEL", "base-url", "Error", "HTTP"):
        assert leak not in column["error"], f"{leak!r} shown on the page"
    assert "127.0.0.1" in column["error_detail"], "the address stays in the details"

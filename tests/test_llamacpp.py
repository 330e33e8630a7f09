"""The llama.cpp backend on a real GGUF written at test time from the tiny random Phi-3:
its tensors and vocabulary, exact token counts, streaming, stop, errors, the gate, two
streams at once, the hub path and the choice `--backend auto` makes."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import require_llama_cpp
from searchduel.config import DEFAULT_GGUF, DEFAULT_MODEL, Settings
from searchduel.errors import BackendBusy, GenerationError, ModelLoadError, PromptTooLong
from searchduel.llm import pick_backend
from searchduel.llm.gguf_model import Context, GGUFModel
from searchduel.llm.llamacpp import GGUFSource, LlamaCppBackend, gguf_source

MESSAGES = [{"role": "user", "content": "Plan a one-day trip to Skagway, Alaska."}]
OTHER = [{"role": "user", "content": "What is photosynthesis?"}]
TRICKY = [
    "Plan a one-day trip to Skagway, Alaska.",
    "Café au lait, naïve 😀 — Привет, 東京! Two  spaces\nand a new line.",
    "  leading and trailing  ",
    "x\n\n\ny  \t z 12345 3.14 don't I'm <b>bold</b> [1] {json: true}",
    "<|user|>\nHello<|end|>\n<|assistant|>\n",
]


@pytest.fixture
def slow_decode(monkeypatch):
    """Each decode call takes at least `delay` s, as on a real model (the tiny one writes
    200 tokens in ~50 ms): streaming, stop and overlap become observable. Returns the calls."""
    calls: list[tuple[int, float]] = []
    real = Context.decode

    def decode(self, ids, delay=0.004):
        calls.append((len(ids), time.perf_counter()))
        time.sleep(delay)
        return real(self, ids)

    monkeypatch.setattr(Context, "decode", decode)
    return calls


# --- the GGUF writer (no llama.cpp needed) -----------------------------------------------


def test_the_gguf_carries_phi3_tensors_metadata_vocabulary_and_template(tiny_gguf, tiny_model_dir):
    import gguf
    from transformers import AutoTokenizer

    reader = gguf.GGUFReader(tiny_gguf)
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "output_norm.weight"} <= names
    for part in ("attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"):
        assert {f"blk.0.{part}.weight", f"blk.1.{part}.weight"} <= names

    def field(key):
        return reader.fields[key].contents()

    shapes = {t.name: list(t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_qkv.weight"] == [64, 3 * 64]  # fused q, k, v
    assert shapes["blk.0.ffn_up.weight"] == [64, 2 * 128]  # fused gate and up
    assert field("general.architecture") == "phi3"
    assert field("phi3.context_length") == 4096 and field("phi3.block_count") == 2
    assert field("tokenizer.ggml.model") == "gpt2"
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert field("tokenizer.chat_template") == tok.chat_template
    assert len(field("tokenizer.ggml.tokens")) == len(tok)
    assert field("tokenizer.ggml.bos_token_id") == tok.convert_tokens_to_ids("<s>")
    assert field("tokenizer.ggml.eot_token_id") == tok.convert_tokens_to_ids("<|end|>")
    assert field("searchduel.test_model") is True


def test_tiny_model_cli_also_writes_the_gguf(tmp_path, capsys):
    from searchduel.cli import main

    assert main(["tiny-model", str(tmp_path / "tiny"), "--gguf"]) == 0
    [written] = (tmp_path / "tiny").glob("*.gguf")
    assert str(written) in capsys.readouterr().out
    assert gguf_source(str(tmp_path / "tiny")) == GGUFSource(path=str(written))


# --- where the GGUF comes from, and what auto picks ---------------------------------------


def test_gguf_sources(tmp_path, tiny_gguf):
    assert gguf_source(str(tiny_gguf)) == GGUFSource(path=str(tiny_gguf))
    assert gguf_source(str(tiny_gguf.parent)) == GGUFSource(path=str(tiny_gguf))
    assert gguf_source(DEFAULT_MODEL) == GGUFSource(repo=DEFAULT_GGUF[0], filename=DEFAULT_GGUF[1])
    assert str(gguf_source(DEFAULT_GGUF[0])) == "/".join(DEFAULT_GGUF)
    assert gguf_source("someone/Model-GGUF", "m-q4.gguf") == GGUFSource(
        "", "someone/Model-GGUF", "m-q4.gguf"
    )
    with pytest.raises(ModelLoadError, match="--gguf-file"):
        gguf_source("someone/unknown-model")
    with pytest.raises(ModelLoadError, match="found: none"):
        gguf_source(str(tmp_path))
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"a\.gguf, b\.gguf"):
        gguf_source(str(tmp_path))
    assert gguf_source(str(tmp_path), "b.gguf").path.endswith("b.gguf")


def test_auto_picks_by_cuda_then_llama_cpp_then_a_gguf(tiny_model_dir, tiny_gguf):
    def pick(model, **kw):
        return pick_backend(Settings(model=model), **kw)

    assert pick(DEFAULT_MODEL, cuda=True, llama_cpp=True) == "transformers"
    assert pick(DEFAULT_MODEL, cuda=False, llama_cpp=True) == "llamacpp"
    assert pick(DEFAULT_MODEL, cuda=False, llama_cpp=False) == "transformers"
    assert pick(str(tiny_model_dir), cuda=False, llama_cpp=True) == "transformers"  # no .gguf
    assert pick(str(tiny_gguf.parent), cuda=False, llama_cpp=True) == "llamacpp"
    assert pick(str(tiny_gguf), cuda=True, llama_cpp=True) == "llamacpp"  # only llama.cpp reads it
    for named in ("transformers", "llamacpp"):
        assert pick_backend(Settings(model=str(tiny_gguf), backend=named), cuda=False) == named


def test_zero_gpu_counts_as_cuda_before_its_first_gpu(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert pick_backend(Settings(), llama_cpp=True) == "transformers"


def test_a_missing_gguf_file_is_a_settings_error():
    from searchduel.errors import ConfigError

    with pytest.raises(ConfigError, match="no such file"):
        Settings.load({"model": "missing/tiny.gguf", "backend": "llamacpp"}, environ={})
    with pytest.raises(ConfigError, match="no such file"):
        Settings.load({"model": "tiny.gguf"}, environ={})


# --- the backend --------------------------------------------------------------------------


def test_reads_window_precision_and_test_mark_from_the_gguf(llama_backend):
    assert llama_backend.context_window == 4096  # phi3.context_length
    assert llama_backend.precision == "F32 GGUF on CPU (llama.cpp)"
    assert llama_backend.test_model
    assert "<|user|>" in llama_backend.tokenizer.all_special_tokens


def test_llama_cpp_tokenizes_like_the_transformers_tokenizer(llama_backend, tiny_model_dir):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_model_dir)
    for text in TRICKY:
        assert llama_backend.model.tokenize(text) == hf.encode(text, add_special_tokens=False)
    for messages in (MESSAGES, [*MESSAGES, {"role": "assistant", "content": "Sure."}, *OTHER]):
        ids = hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        assert llama_backend.prompt_ids(messages) == ids["input_ids"]
        assert llama_backend.count_tokens(messages) == len(ids["input_ids"])


def test_count_tokens_is_exactly_what_llama_cpp_evaluates(llama_backend, slow_decode):
    messages = [{"role": "user", "content": "Use the sources. " + "Skagway <|end|> ferry. " * 200}]
    counted = llama_backend.count_tokens(messages)
    assert counted > 1024, "a prompt longer than one prefill chunk"
    pieces = list(llama_backend.stream(messages, max_new_tokens=5))
    prefill = [n for n, _ in slow_decode[: len(slow_decode) - 4]]
    assert sum(prefill) == counted and max(prefill) <= 512
    assert sum(p.tokens for p in pieces) == 5


def test_greedy_answer_is_the_transformers_models_answer(llama_backend, tiny_backend):
    from searchduel.bench.engine import raw_generate

    raw = raw_generate(tiny_backend, MESSAGES, 16)
    text = "".join(llama_backend.stream(MESSAGES, max_new_tokens=16))
    assert text == raw.text, "the converted weights compute what the original computes"


def test_streams_exactly_the_token_budget_in_pieces(llama_backend, slow_decode):
    first = list(llama_backend.stream(MESSAGES, max_new_tokens=40))
    second = list(llama_backend.stream(MESSAGES, max_new_tokens=40))
    assert len(first) > 1, "text arrives in pieces, not at the end"
    assert sum(p.tokens for p in first) == 40
    assert "".join(first) == "".join(second), "greedy decoding is repeatable"


def test_the_first_piece_comes_before_the_answer_is_done(llama_backend, slow_decode):
    start = time.perf_counter()
    stream = llama_backend.stream(MESSAGES, max_new_tokens=60)
    next(stream)
    first_at = time.perf_counter() - start
    rest = list(stream)
    assert rest and time.perf_counter() - start > first_at + 0.05


def test_stop_ends_generation_within_a_token(llama_backend, slow_decode):
    stop = threading.Event()
    pieces = []
    for piece in llama_backend.stream(MESSAGES, max_new_tokens=3000, stop=stop):
        pieces.append(piece)
        stop.set()
    assert sum(p.tokens for p in pieces) < 40
    assert llama_backend.gate._free == 2 and llama_backend._active == 0


def test_an_over_long_prompt_is_refused_before_anything_is_evaluated(llama_backend, slow_decode):
    long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(PromptTooLong, match="more than the 4,096 the model"):
        list(llama_backend.stream(long, max_new_tokens=10))
    assert slow_decode == [], "nothing reached llama.cpp"


def test_an_error_in_the_generate_thread_reaches_the_reader_at_once(llama_backend, monkeypatch):
    def broken(self, ids):
        raise RuntimeError("llama_decode failed (simulated)")

    monkeypatch.setattr(Context, "decode", broken)
    start = time.perf_counter()
    with pytest.raises(GenerationError, match="simulated"):
        list(llama_backend.stream(MESSAGES, max_new_tokens=10))
    assert time.perf_counter() - start < 5
    assert llama_backend.gate._free == 2 and llama_backend._active == 0


def test_two_streams_run_at_once_on_their_own_contexts(llama_backend, slow_decode):
    solo = "".join(llama_backend.stream(MESSAGES, max_new_tokens=60))
    solo_other = "".join(llama_backend.stream(OTHER, max_new_tokens=60))
    seen_threads: list[int] = []
    real_threads = llama_backend.threads

    def threads():
        seen_threads.append(real_threads())
        return seen_threads[-1]

    llama_backend.threads = threads
    results: dict[str, str] = {}
    both = threading.Barrier(2)

    def run(name, messages):
        both.wait()
        results[name] = "".join(llama_backend.stream(messages, max_new_tokens=60))

    try:
        workers = [
            threading.Thread(target=run, args=("a", MESSAGES)),
            threading.Thread(target=run, args=("b", OTHER)),
        ]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
    finally:
        del llama_backend.threads
    assert results == {"a": solo, "b": solo_other}, "no stream saw the other's tokens"
    cores = llama_backend.cores
    assert min(seen_threads) == max(1, cores // 2), "the cores were shared while both ran"


def test_backend_busy_reaches_the_caller(llama_backend, slow_decode):
    busy = LlamaCppBackend(llama_backend.model, max_streams=1, queue_size=0)
    holder = busy.stream(MESSAGES, max_new_tokens=500)
    next(holder)  # holds the only slot
    with pytest.raises(BackendBusy):
        list(busy.stream(MESSAGES, max_new_tokens=5))
    holder.close()
    assert sum(p.tokens for p in busy.stream(MESSAGES, max_new_tokens=5)) == 5


def test_a_file_llama_cpp_refuses_is_a_load_error_with_its_reason(tmp_path):
    require_llama_cpp()
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match="could not load the GGUF"):
        GGUFModel.load(str(bad))


def test_the_real_phi3_vocabulary_through_llama_cpp(phi3_tokenizer):
    """The published Phi-3 vocabulary (SentencePiece): llama.cpp's tokens equal the test
    vectors made with Phi-3's own tokenizer, and a chat prompt is counted as llama.cpp
    evaluates it. Phi-3's special tokens eat the newline after them ("rstrip" in its
    tokenizer.json, which the transformers tokenizer read from this GGUF does not know), so
    that tokenizer counts more: a budget made with it never overflows llama.cpp."""
    require_llama_cpp()
    from conftest import PHI3_TOKENIZER
    from searchduel.llm.gguf_model import GGUFTokenizer
    from searchduel.llm.tokens import ChatTokenCounter

    path = next(PHI3_TOKENIZER.glob("*.gguf"))
    texts = path.with_suffix(".gguf.inp").read_text("utf-8").split("\n__ggml_vocab_test__\n")
    expected = path.with_suffix(".gguf.out").read_text("utf-8").split("\n")
    model = GGUFModel.load(str(path), vocab_only=True)
    try:
        for text, ids in zip(texts, expected, strict=False):
            assert model.tokenize(text, parse_special=False) == [int(i) for i in ids.split()]
        ours = ChatTokenCounter(GGUFTokenizer(model))
        theirs = ChatTokenCounter(phi3_tokenizer)
        user, end, assistant = (model.tokenize(t) for t in ("<|user|>", "<|end|>", "<|assistant|>"))
        for text in TRICKY:
            messages = [{"role": "user", "content": text}]
            ids = ours.prompt_ids(messages)
            assert ids[:2] == [model.bos, *user] and ids[-2:] == [*end, *assistant]
            assert ours.count_tokens(messages) == len(ids) <= theirs.count_tokens(messages)
        assert model.window == 4096 and model.spm
    finally:
        model.close()


class FakeHub:
    """The Hugging Face hub's file route on 127.0.0.1: HEAD gives the commit, ETag and size,
    GET the bytes (the plain-HTTP path of huggingface_hub's downloads)."""

    def __init__(self, files: dict[str, bytes]):
        import hashlib
        import http.server

        self.files = files
        self.gets: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _file(self) -> bytes | None:
                repo_file = self.path.split("?")[0].lstrip("/").replace("/resolve/main/", "/")
                return hub.files.get(repo_file)

            def _head(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("X-Repo-Commit", "a" * 40)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()

            def do_HEAD(self):
                body = self._file()
                if body is None:
                    self.send_error(404)
                    return
                self._head(body)

            def do_GET(self):
                body = self._file()
                if body is None:
                    self.send_error(404)
                    return
                hub.gets.append(self.path)
                self._head(body)
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_hub(tiny_gguf, tmp_path, monkeypatch):
    """huggingface_hub pointed at a FakeHub holding the tiny GGUF as someone/tiny-GGUF."""
    from huggingface_hub import constants

    with FakeHub({"someone/tiny-GGUF/tiny-q.gguf": tiny_gguf.read_bytes()}) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        yield hub


def test_a_hub_gguf_downloads_through_the_loader_with_its_bytes(fake_hub, tiny_gguf):
    require_llama_cpp()
    from searchduel.llm import make_backend
    from searchduel.loader import BackendLoader

    settings = Settings(
        model="someone/tiny-GGUF", gguf_file="tiny-q.gguf", search="local", dense=False
    )
    reports: list[tuple] = []
    backend = make_backend(settings, lambda stage, **kw: reports.append((stage, kw)))
    size = tiny_gguf.stat().st_size
    assert ("downloading", {"done": size, "total": size}) in reports
    assert reports[-1][0] == "loading" and len(fake_hub.gets) == 1
    assert sum(p.tokens for p in backend.stream(MESSAGES, max_new_tokens=8)) == 8
    # the page's loader: the same path, now from the hub cache (no second download)
    loader = BackendLoader(settings).start()
    assert loader.wait(60), loader.snapshot()
    assert loader.settings.backend == "llamacpp", "auto resolved to what runs"
    info = loader.info()
    assert info.precision == "F32 GGUF on CPU (llama.cpp)" and info.window == 4096
    assert info.test_model and len(fake_hub.gets) == 1


def test_an_unknown_hub_file_is_explained(fake_hub):
    require_llama_cpp()
    from searchduel.llm import make_backend
    from searchduel.loader import explain_failure

    settings = Settings(model="someone/tiny-GGUF", gguf_file="nope.gguf", backend="llamacpp")
    with pytest.raises(ModelLoadError, match=r"someone/tiny-GGUF/nope\.gguf") as info:
        make_backend(settings)
    what, fix = explain_failure(info.value, settings)
    assert "has no GGUF someone/tiny-GGUF/nope.gguf" in what and "--gguf-file" in fix


def test_offline_without_the_default_gguf_says_how_to_bring_it(tmp_path, monkeypatch):
    require_llama_cpp()
    from huggingface_hub import constants

    from searchduel.llm import make_backend
    from searchduel.loader import explain_failure

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    settings = Settings(backend="llamacpp")  # the default model: its Q4 GGUF
    with pytest.raises(ModelLoadError) as info:
        make_backend(settings)
    what, fix = explain_failure(info.value, settings)
    assert "not on this machine" in what
    repo, filename = DEFAULT_GGUF
    assert f"hf download {repo} {filename}" in fix and f"--model models/{filename}" in fix


# --- through the engine and the command line -----------------------------------------------


def test_the_engine_streams_both_columns_at_once_from_the_gguf(llama_backend, slow_decode):
    from searchduel.config import DEFAULT_CORPUS
    from searchduel.engine import Engine

    settings = Settings(
        model="tiny.gguf",
        search="local",
        corpus=str(DEFAULT_CORPUS),
        max_new_tokens=80,
        dense=False,
    )
    engine = Engine(settings, llama_backend)
    assert engine.settings.backend == "llamacpp", "auto is named by what runs"
    events = list(engine.run("Plan a one-day trip to Skagway, Alaska"))
    tokens = [e.column for e in events if e.kind == "token"]
    done = {e.column: e.data for e in events if e.kind == "done"}
    assert set(done) == {"plain", "search"} and not [e for e in events if e.kind == "error"]
    assert done["plain"]["tokens"] == done["search"]["tokens"] == 80
    first_search = tokens.index("search")
    assert "plain" in tokens[first_search:], "the plain column went on while search wrote"
    assert "search" in tokens[: len(tokens) - tokens[::-1].index("plain")], "interleaved"


@pytest.mark.slow
def test_ask_json_streams_both_columns_from_a_gguf_file(tiny_gguf):
    """The acceptance command, as a stranger types it: a relative .gguf beside them."""
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO

    require_llama_cpp()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SEARCHDUEL_DENSE": "false"}
    argv = ["ask", "Plan a one-day trip to Skagway", "--backend", "llamacpp"]
    argv += ["--model", tiny_gguf.name, "--json", "--search", "local", "--max-new-tokens", "40"]
    out = subprocess.run(
        [sys.executable, "-m", "searchduel", *argv],
        cwd=tiny_gguf.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    for name in ("plain", "search"):
        column = result[name]
        assert column["answer"] and column["tokens"] == 40 and column["ttft_s"] > 0
    assert result["search"]["sources"] and result["search"]["context_tokens"] > 0


def test_context_counts_with_the_ggufs_vocabulary(tiny_gguf, llama_backend, capsys):
    """`context` reads only the vocabulary, and counts what the loaded backend counts."""
    import json

    from searchduel.cli import main

    argv = ["context", "What is the White Pass railroad?", "--model", str(tiny_gguf)]
    assert main([*argv, "--search", "local", "--dense", "false", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["prompt_tokens"] == llama_backend.count_tokens(record["messages"])
    assert record["context_tokens"] > 0


def test_a_gguf_without_a_chat_template_takes_the_tokenizers(
    llama_backend, tiny_model_dir, monkeypatch
):
    from transformers import AutoTokenizer

    from searchduel.llm.gguf_model import GGUFTokenizer
    from searchduel.llm.llamacpp import _fallback_template

    model = llama_backend.model
    monkeypatch.setattr(GGUFModel, "chat_template", property(lambda self: None))
    with pytest.raises(ModelLoadError, match="--tokenizer"):
        GGUFTokenizer(model)
    template = _fallback_template(Settings(tokenizer=str(tiny_model_dir)), model)
    assert template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    backend = LlamaCppBackend(model, template=template)
    assert backend.prompt_ids(MESSAGES) == llama_backend.prompt_ids(MESSAGES)

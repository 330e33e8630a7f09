"""A GGUF model in llama.cpp, through llama-cpp-python's ctypes API: weights, vocabulary,
metadata, per-stream contexts, and a tokenizer the token counter can use.

    GGUFModel.load(path)        llama_model_load_from_file (weights mmap'd, read-only)
      ├─ meta(key), window, precision, test_model, chat_template   from the GGUF's metadata
      ├─ tokenize(text), piece(token), is_eog(token)                llama.cpp's own tokenizer
      └─ context(n_ctx, threads) ─► Context: decode(ids), sample(), set_threads(n), close()
    GGUFTokenizer(model)        apply_chat_template / encode as transformers' tokenizers do,
                                so ChatTokenCounter counts the ids llama.cpp will evaluate

Decisions, in one place:

- The public ctypes functions (`llama_cpp.llama_cpp`, llama.h one to one), not the `Llama`
  class: `Llama` owns exactly one context, and a context is not thread-safe; here one model
  serves many contexts (llamacpp.py says how).
- The chat template is rendered the way transformers renders it (a sandboxed Jinja
  environment with trim_blocks and lstrip_blocks, bos_token and eos_token given), then
  tokenized by llama.cpp with special tokens parsed and nothing added: the template writes
  `{{ bos_token }}` itself. Where the vocabulary adds BOS and the template did not, BOS is put
  first, as llama.cpp would.
- OMP_WAIT_POLICY=PASSIVE, unless it is set or OpenMP is loaded already: llama.cpp's OpenMP
  threads otherwise spin between the operations of a token, and beside any other work on the
  same cores (the other column, the search, the web server, a build) 100 tokens of the tiny
  model took 6.6 s instead of 0.035 s with two threads on a 2-core machine. The policy is
  read once per process, when libgomp loads, and torch shares that libgomp: the backend is
  picked before torch is imported (llm.pick_backend), so this is set in time in the app.
- llama.cpp's log goes to the "searchduel.llamacpp" logger at debug level; its last error
  lines are kept to explain a file it refuses to load.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import GenerationError, ModelLoadError
from ..types import Message

log = logging.getLogger("searchduel.llamacpp")
INSTALL_HINT = (
    "install llama-cpp-python (`pip install -e .[cpu]`, or `pip install llama-cpp-python"
    "==0.3.36`: it builds llama.cpp from source, a few minutes on two cores)"
)
# Tokens evaluated per llama_decode call during prefill: llama.cpp's default micro-batch, and
# small enough that a stop during a long prompt is honoured within one chunk.
PREFILL_CHUNK = 512
# general.file_type (llama_ftype) -> the family the page names: "Q4 GGUF on CPU (llama.cpp)"
FILE_TYPES = {0: "F32", 1: "F16", 32: "BF16", 7: "Q8", 2: "Q4", 3: "Q4", 14: "Q4", 15: "Q4"}
FILE_TYPES.update({8: "Q5", 9: "Q5", 16: "Q5", 17: "Q5", 18: "Q6", 10: "Q2"})
FILE_TYPES.update({11: "Q3", 12: "Q3", 13: "Q3"})
TEST_MODEL_KEY = "searchduel.test_model"  # written by gguf_export for the tiny model
_ATTR_CONTROL, _ATTR_USER_DEFINED = 1 << 3, 1 << 4  # llama_token_attr bits
_VOCAB_SPM = 1  # llama_vocab_type: SentencePiece (Phi-3's own vocabulary)
_log_lines: collections.deque[str] = collections.deque(maxlen=20)
_init_lock = threading.Lock()
_on_log: Any = None  # the log callback handed to llama.cpp (it must outlive every call)


@functools.cache
def lib() -> Any:
    """llama-cpp-python's ctypes module, initialised once (ModelLoadError when missing)."""
    prepare_openmp()
    try:
        import llama_cpp.llama_cpp as ll
    except ImportError as exc:
        raise ModelLoadError(f"llama-cpp-python is not installed: {INSTALL_HINT}") from exc
    global _on_log
    with _init_lock:
        _on_log = ll.llama_log_callback(_log)  # kept for the life of the process
        ll.llama_log_set(_on_log, ctypes.c_void_p(0))
        ll.llama_backend_init()
    return ll


def prepare_openmp() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless it is set or OpenMP is already loaded (then it is
    too late: the policy is read when libgomp loads). True when the policy is passive."""
    if "OMP_WAIT_POLICY" in os.environ:
        return os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            loaded = "libgomp" in maps.read()
    except OSError:  # not Linux: assume nothing is loaded yet
        loaded = False
    if loaded:
        log.info("OpenMP is loaded already: set OMP_WAIT_POLICY=PASSIVE before starting")
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def available() -> bool:
    """Whether llama-cpp-python can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def _log(level: int, text: bytes, _data: Any) -> None:
    line = text.decode("utf-8", "replace").rstrip()
    if line:
        if level in (2, 3):  # GGML_LOG_LEVEL_WARN, _ERROR
            _log_lines.append(line)
        log.debug("%s", line)


def recent_log() -> str:
    """llama.cpp's last warning and error lines (why a load failed)."""
    return " | ".join(_log_lines)


class Context:
    """One llama_context: the KV cache of one stream. Used by one thread at a time."""

    def __init__(self, model: GGUFModel, n_ctx: int, threads: int):
        ll = lib()
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = min(PREFILL_CHUNK, n_ctx)
        params.n_seq_max = 1
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        self.ptr = ll.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise GenerationError(f"llama.cpp could not make a {n_ctx}-token context")
        self.threads = threads
        self.sampler: Any = None

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            lib().llama_set_n_threads(self.ptr, threads, threads)
            self.threads = threads

    def decode(self, ids: Sequence[int]) -> None:
        """Evaluate `ids` (one call; the caller chunks the prompt)."""
        ll = lib()
        array = (ll.llama_token * len(ids))(*ids)
        rc = ll.llama_decode(self.ptr, ll.llama_batch_get_one(array, len(ids)))
        if rc != 0:
            raise GenerationError(f"llama_decode returned {rc} for {len(ids)} tokens")

    def use_sampler(self, temperature: float, seed: int) -> None:
        """Greedy at temperature 0 (both columns, repeatable); else temperature + seeded draw."""
        ll = lib()
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if temperature > 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(temperature))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        else:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        self.sampler = chain

    def sample(self) -> int:
        """The next token from the last decode's logits (and accepted by the sampler)."""
        return int(lib().llama_sampler_sample(self.sampler, self.ptr, -1))

    def close(self) -> None:
        ll = lib()
        if self.sampler is not None:
            ll.llama_sampler_free(self.sampler)
            self.sampler = None
        if self.ptr:
            ll.llama_free(self.ptr)
            self.ptr = None


class GGUFModel:
    """A loaded GGUF: weights (or only the vocabulary), metadata and tokenizer."""

    def __init__(self, ptr: Any, path: str):
        ll = lib()
        self.ptr = ptr
        self.path = path
        self.vocab = ll.llama_model_get_vocab(ptr)
        self.n_vocab = int(ll.llama_vocab_n_tokens(self.vocab))
        self.bos = int(ll.llama_vocab_bos(self.vocab))
        self.eos = int(ll.llama_vocab_eos(self.vocab))
        self.add_bos = bool(ll.llama_vocab_get_add_bos(self.vocab))
        self.spm = int(ll.llama_vocab_type(self.vocab)) == _VOCAB_SPM

    @classmethod
    def load(cls, path: str, *, vocab_only: bool = False) -> GGUFModel:
        ll = lib()
        params = ll.llama_model_default_params()
        params.vocab_only = vocab_only
        _log_lines.clear()
        ptr = ll.llama_model_load_from_file(os.fsencode(path), params)
        if not ptr:
            why = recent_log() or "see the log"
            raise ModelLoadError(f"llama.cpp could not load the GGUF {path}: {why}")
        return cls(ptr, path)

    def close(self) -> None:
        if self.ptr:
            lib().llama_model_free(self.ptr)
            self.ptr = None

    # --- metadata -----------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        n = lib().llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            lib().llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def meta_int(self, key: str, default: int = 0) -> int:
        value = self.meta(key)
        try:
            return int(float(value)) if value is not None else default
        except ValueError:
            return default

    @property
    def arch(self) -> str:
        return self.meta("general.architecture") or ""

    @property
    def window(self) -> int:
        """The context window the model was trained for (`<arch>.context_length`)."""
        return int(lib().llama_model_n_ctx_train(self.ptr)) or self.meta_int(
            f"{self.arch}.context_length"
        )

    @property
    def precision(self) -> str:
        """The quantization family ("Q4", "F16" ...) from general.file_type; "" when unsaid."""
        kind = self.meta_int("general.file_type", -1)
        return FILE_TYPES.get(kind, f"type {kind}" if kind >= 0 else "")

    @property
    def test_model(self) -> bool:
        return (self.meta(TEST_MODEL_KEY) or "").lower() == "true"

    @property
    def chat_template(self) -> str | None:
        raw = lib().llama_model_chat_template(self.ptr, None)
        return raw.decode("utf-8") if raw else None

    def kv_bytes(self, n_ctx: int) -> int:
        """Bytes of an f16 KV cache of `n_ctx` tokens (keys and values, every layer)."""
        a = self.arch
        layers = self.meta_int(f"{a}.block_count")
        heads = max(1, self.meta_int(f"{a}.attention.head_count", 1))
        kv_heads = self.meta_int(f"{a}.attention.head_count_kv", heads)
        head_dim = self.meta_int(f"{a}.embedding_length") // heads
        return layers * n_ctx * 2 * kv_heads * head_dim * 2

    # --- tokens -------------------------------------------------------------------------

    def tokenize(self, text: str, *, parse_special: bool = True) -> list[int]:
        """llama.cpp's token ids of `text`, nothing added (no BOS)."""
        ll = lib()
        data = text.encode("utf-8")
        size = len(data) + 8
        while True:
            out = (ll.llama_token * size)()
            n = ll.llama_tokenize(self.vocab, data, len(data), out, size, False, parse_special)
            if n >= 0:
                return list(out[:n])
            size = -n

    def piece(self, token: int, *, lstrip: int = 0) -> bytes:
        """The bytes of one token (control tokens give b"")."""
        ll = lib()
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), lstrip, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), lstrip, False)
        return buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(lib().llama_vocab_is_eog(self.vocab, token))

    def token_text(self, token: int) -> str:
        raw = lib().llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    @functools.cached_property
    def special_tokens(self) -> tuple[str, ...]:
        """The text of every control and user-defined token (`<|user|>`, `<s>` ...)."""
        ll = lib()
        wanted = _ATTR_CONTROL | _ATTR_USER_DEFINED
        return tuple(
            self.token_text(t)
            for t in range(self.n_vocab)
            if ll.llama_vocab_get_attr(self.vocab, t) & wanted
        )

    def context(self, n_ctx: int, threads: int) -> Context:
        return Context(self, n_ctx, threads)


@functools.cache
def _jinja_env() -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        from jinja2.exceptions import TemplateError

        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda x, indent=None: __import__("json").dumps(x, indent=indent)
    return env


class GGUFTokenizer:
    """The parts of a transformers tokenizer that ChatTokenCounter and inputs.py use, over
    llama.cpp's vocabulary and the GGUF's chat template (or `template`, where it has none)."""

    def __init__(self, model: GGUFModel, template: str | None = None):
        self.model = model
        source = template or model.chat_template
        if not source:
            raise ModelLoadError(
                f"the GGUF {model.path} has no chat template: give a tokenizer that has one "
                "(--tokenizer HUB_ID_OR_FOLDER)"
            )
        self.template = _jinja_env().from_string(source)
        self.all_special_tokens = list(model.special_tokens)

    def get_added_vocab(self) -> dict[str, int]:
        return {}  # every added token is among all_special_tokens already

    def render(self, messages: Sequence[Message]) -> str:
        return self.template.render(
            messages=list(messages),
            add_generation_prompt=True,
            bos_token=self.model.token_text(self.model.bos),
            eos_token=self.model.token_text(self.model.eos),
        )

    def apply_chat_template(
        self, messages: Sequence[Message], *, add_generation_prompt: bool = True, tokenize=True
    ) -> list[int]:
        ids = self.model.tokenize(self.render(messages))
        if self.model.add_bos and (not ids or ids[0] != self.model.bos):
            ids.insert(0, self.model.bos)
        return ids

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.model.tokenize(text)

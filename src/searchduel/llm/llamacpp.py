"""Local model backend: a GGUF through llama.cpp, in-process (llama-cpp-python), for CPUs.

    LlamaCppBackend.from_settings(settings, progress)
      ─► gguf_source(model, gguf_file): a .gguf file | a folder's .gguf | hub repo + file
      ─► hub.fetch_file (bytes reported as "downloading") ─► the same path as a local file
      ─► the vocabulary alone first: a bad file fails fast, and the memory check knows the
         KV cache's size ─► memory check ─► the weights (mmap'd once, shared by all streams)
    stream(messages)
      ─► prompt ids: the GGUF's chat template, llama.cpp's tokenizer (what count_tokens counts)
      ─► too long for the window? PromptTooLong before anything is evaluated
      ─► gate: slots and a bounded queue (BackendBusy), as TransformersBackend
      ─► generate thread: its own context, prefill in chunks, one decode per new token
      ─► reader: text in batches (STREAM_FLUSH_S), errors re-raised, stop within a token

Decisions, in one place:

- Concurrency: one llama_model, one llama_context per stream. A context (its KV cache,
  batch, logits and sampler) is mutable and not thread-safe; the weights are read-only. Each
  stream makes its own context, sized to its prompt and answer rather than the whole window
  (a full 4,096-token f16 cache is 1.5 GB for Phi-3-mini), and frees it when it ends: making
  one takes under a millisecond for the tiny model. The other way, one context holding both
  columns as two sequences with a scheduler batching their decode steps, would read the
  weights once per step for both, but one column's prefill would stall the other's tokens,
  and it needs a scheduler thread; `bench engine` measures what two streams cost here.
- Threads: the usable cores (affinity and cgroup quota) are divided among the streams
  generating at that moment, re-checked before every decode: alone a stream uses them all;
  with both columns running each gets its share. More compute threads than cores made
  llama.cpp's OpenMP workers wait on each other (see gguf_model.py).
- Slots and queue: as TransformersBackend on a CPU (2 streams, then a queue of
  `--queue-size` plus room for both columns of every running comparison).
- Memory: the file plus a full-window KV cache for every slot must fit what the machine has
  left (machine.require_memory), before the weights are loaded.
- Generated tokens are counted as generated, the end-of-turn token included (as
  transformers counts it); text is decoded incrementally from the tokens' bytes, so a
  character split across tokens comes out whole.
"""

from __future__ import annotations

import codecs
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import KNOWN_GGUF, Settings
from ..errors import HubUnreachable, ModelLoadError, PromptTooLong
from ..machine import require_memory, usable_cpus
from .base import Message
from .gate import Gate, waiting_room
from .gguf_model import PREFILL_CHUNK, GGUFModel, GGUFTokenizer
from .hub import Progress, fetch_file
from .stream import END, hand_out
from .tokens import ChatTokenCounter, CountsThroughCounter

CPU_STREAMS = 2  # streams generating at once; more only share the same cores
CONTEXT_ROUND = 256  # contexts are sized up to a multiple of this (llama.cpp pads to it)


@dataclass(frozen=True)
class GGUFSource:
    """Where a GGUF comes from: a local file, or a file in a hub repo."""

    path: str = ""
    repo: str = ""
    filename: str = ""

    def __str__(self) -> str:
        return self.path or f"{self.repo}/{self.filename}"


def gguf_source(model: str, gguf_file: str = "") -> GGUFSource:
    """The GGUF that `--model` (and `--gguf-file`) name; ModelLoadError when there is none.

    A .gguf file is itself; a folder gives its `gguf_file`, or its only .gguf; a hub id gives
    (repo, gguf_file), or its known GGUF (config.KNOWN_GGUF: the default model's Q4 file).
    """
    path = Path(model).expanduser()
    if path.is_file():
        return GGUFSource(path=str(path))
    if path.is_dir():
        if gguf_file:
            return GGUFSource(path=str(path / gguf_file))
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return GGUFSource(path=str(found[0]))
        listed = ", ".join(p.name for p in found) or "none"
        raise ModelLoadError(
            f"the folder {model} must hold one .gguf file for llama.cpp (found: {listed}); "
            "name one with --gguf-file, or write the tiny model's with `python -m searchduel "
            "tiny-model DIR --gguf`"
        )
    if model.endswith(".gguf"):
        raise ModelLoadError(f"there is no GGUF file {model}")
    if gguf_file:
        return GGUFSource(repo=model, filename=gguf_file)
    if model in KNOWN_GGUF:
        repo, filename = KNOWN_GGUF[model]
        return GGUFSource(repo=repo, filename=filename)
    raise ModelLoadError(
        f"no GGUF is known for {model}: name the file in its hub repo with --gguf-file "
        "(e.g. --model owner/Model-GGUF --gguf-file model-q4.gguf), or give a .gguf file"
    )


def has_gguf(model: str, gguf_file: str = "") -> bool:
    """Whether `gguf_source` finds a GGUF for this model (without touching the network)."""
    try:
        gguf_source(model, gguf_file)
    except ModelLoadError:
        return False
    return True


def gguf_advice(model: str, gguf_file: str = "") -> str:
    """What to run on a CPU that cannot hold the model's safetensors: its GGUF, named."""
    from .gguf_model import INSTALL_HINT, available

    install = "" if available() else f"{INSTALL_HINT[0].upper()}{INSTALL_HINT[1:]}, then start"
    start = install or "Start"
    if has_gguf(model, gguf_file) and not Path(model).expanduser().exists():
        return (
            f"Run its 4-bit GGUF through llama.cpp instead. {start} with `--backend llamacpp`, "
            f"which loads {gguf_source(model, gguf_file)}."
        )
    return (
        f"Run a 4-bit GGUF of it through llama.cpp instead. {start} with `--backend llamacpp "
        "--model FILE.gguf` (or a hub repo with `--gguf-file NAME`)."
    )


def fetch_gguf(source: GGUFSource, progress: Progress | None = None) -> str:
    """The local path of the GGUF: the file itself, or the hub cache's copy (downloaded first
    when missing, bytes reported to `progress`)."""
    if source.path:
        if not Path(source.path).is_file():
            raise ModelLoadError(f"there is no GGUF file {source.path}")
        return source.path
    report = progress or (lambda *_a, **_k: None)
    report("downloading", done=0, total=0)
    try:
        return fetch_file(source.repo, source.filename, progress)
    except HubUnreachable:
        raise
    except Exception as exc:  # hub errors: offline, unknown repo or file, gated ...
        raise ModelLoadError(f"could not fetch the GGUF {source}: {exc}") from exc


def load_gguf(
    settings: Settings, progress: Progress | None = None, *, slots: int = CPU_STREAMS
) -> tuple[GGUFModel, GGUFSource]:
    """The model the settings name, weights loaded after the memory check."""
    source = gguf_source(settings.model, settings.gguf_file)
    path = fetch_gguf(source, progress)
    if progress is not None:
        progress("loading")
    vocab = GGUFModel.load(path, vocab_only=True)  # a bad file fails here, in milliseconds
    try:
        window = settings.context_window or vocab.window
        need = Path(path).stat().st_size + slots * vocab.kv_bytes(window)
    finally:
        vocab.close()
    if settings.memory_check:
        require_memory(
            need,
            f"The GGUF {source} with {slots} streams of {window:,} tokens",
            "Use a smaller GGUF (a lower quantization), or serve the model elsewhere "
            "(--backend openai --base-url URL).",
        )
    return GGUFModel.load(path), source


class GGUFCounter(CountsThroughCounter):
    """Exact counts and the window from a GGUF's vocabulary, without its weights (`context`)."""

    def __init__(self, model: GGUFModel, context_window: int = 0, template: str | None = None):
        self.model = model
        self.context_window = context_window or model.window
        self.counter = ChatTokenCounter(GGUFTokenizer(model, template))


def load_counter(settings: Settings, progress: Progress | None = None) -> GGUFCounter:
    """The GGUF the settings name, vocabulary only: counts as the backend counts."""
    path = fetch_gguf(gguf_source(settings.model, settings.gguf_file), progress)
    model = GGUFModel.load(path, vocab_only=True)
    return GGUFCounter(model, settings.context_window, _fallback_template(settings, model))


def _fallback_template(settings: Settings, model: GGUFModel) -> str | None:
    """The --tokenizer's chat template, for a GGUF that carries none."""
    if model.chat_template or not settings.tokenizer:
        return None
    from .tokens import load_tokenizer

    return load_tokenizer(settings.tokenizer).chat_template


class LlamaCppBackend(CountsThroughCounter):
    """A GGUF in llama.cpp shared by every stream of this process (see the module docstring)."""

    kind = "llamacpp"  # the --backend name that selects it

    def __init__(
        self,
        model: GGUFModel,
        *,
        name: str = "",
        context_window: int = 0,
        max_streams: int = CPU_STREAMS,
        queue_size: int = 16,
        template: str | None = None,
    ):
        self.model = model
        self.name = name or Path(model.path).name
        self.context_window = context_window or model.window
        self.tokenizer = GGUFTokenizer(model, template)
        self.counter = ChatTokenCounter(self.tokenizer)
        self.test_model = model.test_model
        self.gate = Gate(max_streams, queue_size)
        self.cores = usable_cpus()
        self._active = 0  # streams generating now: they share the cores
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None) -> LlamaCppBackend:
        model, _ = load_gguf(settings, progress)
        template = _fallback_template(settings, model)
        return cls(
            model,
            name=settings.model,
            context_window=settings.context_window,
            queue_size=waiting_room(settings),
            template=template,
        )

    @property
    def precision(self) -> str:
        """How the weights run, for people: "Q4 GGUF on CPU (llama.cpp)"."""
        kind = self.model.precision
        return f"{kind + ' ' if kind else ''}GGUF on CPU (llama.cpp)"

    def threads(self) -> int:
        """Compute threads for one decode now: the cores shared by the generating streams."""
        with self._lock:
            return max(1, self.cores // max(1, self._active))

    def _generating(self, delta: int) -> None:
        with self._lock:
            self._active += delta

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.counter.prompt_ids(list(messages))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer as it is generated (see the module docstring for the guarantees)."""
        ids = self.prompt_ids(messages)
        if len(ids) + max_new_tokens > self.context_window:
            raise PromptTooLong(len(ids), max_new_tokens, self.context_window)
        if stop is not None and stop.is_set():
            return
        self.gate.acquire(stop)
        try:
            yield from _stream(self, ids, max_new_tokens, temperature, seed, stop)
        finally:
            self.gate.release()


def _generate(
    backend: LlamaCppBackend,
    ids: list[int],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    halt: threading.Event,
    out: queue.Queue,
) -> None:
    """The generate thread: its own context; token ids (or the error) into `out`, then _END."""
    n_ctx = -(-(len(ids) + max_new_tokens) // CONTEXT_ROUND) * CONTEXT_ROUND
    backend._generating(+1)
    ctx = None
    try:
        ctx = backend.model.context(min(n_ctx, backend.context_window), backend.threads())
        ctx.use_sampler(temperature, seed)
        for start in range(0, len(ids), PREFILL_CHUNK):
            if halt.is_set():
                return
            ctx.set_threads(backend.threads())
            ctx.decode(ids[start : start + PREFILL_CHUNK])
        for n in range(max_new_tokens):
            if halt.is_set():
                return
            token = ctx.sample()
            out.put(token)
            if backend.model.is_eog(token) or n == max_new_tokens - 1:
                return
            ctx.set_threads(backend.threads())
            ctx.decode([token])
    except BaseException as exc:  # forwarded to the reader, never lost in the thread
        out.put(exc)
    finally:
        backend._generating(-1)
        if ctx is not None:
            ctx.close()
        out.put(END)


class _TextDecoder:
    """Token ids -> text, through their bytes: a character split across tokens waits for the
    token that completes it; control tokens (the end of the turn) give no text."""

    def __init__(self, model: GGUFModel):
        self.model = model
        self.utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        # SentencePiece writes a word's space before it: the answer's first word loses it,
        # as transformers' decode drops it
        self.lstrip = 1 if model.spm else 0

    def feed(self, ids: Sequence[int], *, final: bool = False) -> str:
        parts = []
        for token in ids:
            parts.append(self.model.piece(token, lstrip=self.lstrip))
            self.lstrip = 0
        return self.utf8.decode(b"".join(parts), final=final)


def _stream(
    backend: LlamaCppBackend,
    ids: list[int],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    stop: threading.Event | None,
) -> Iterator[str]:
    out: queue.Queue = queue.Queue()
    halt = threading.Event()  # set by the caller's stop or when the reader goes away
    args = (backend, ids, max_new_tokens, temperature, seed, halt, out)
    thread = threading.Thread(target=_generate, args=args, name="llamacpp-generate", daemon=True)
    thread.start()
    decoder = _TextDecoder(backend.model)
    try:
        yield from hand_out(
            out, lambda ids, final: decoder.feed(ids, final=final), stop=stop, halt=halt
        )
    finally:
        halt.set()
        thread.join(timeout=30)

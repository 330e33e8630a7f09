"""Local model backend: transformers, 4-bit NF4 through bitsandbytes on CUDA, plain on CPU.

One loaded model serves every stream (both columns, every user): each `stream` call runs
`model.generate` in its own thread with a streamer that pushes text into a queue. Generation
errors are caught in that thread and re-raised in the reader as GenerationError, so a failure
ends the stream at once instead of leaving the reader waiting. A stop event ends generation at
the next token. A gate caps concurrent streams and the waiting queue ("busy, N ahead of you").
On a CPU the fp32 weights are checked against the memory left before they load: too large,
and NotEnoughMemory names the model's GGUF to run through llama.cpp instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config import DEFAULT_CONTEXT_WINDOW, Settings
from ..errors import HubUnreachable, ModelLoadError, PromptTooLong
from .base import Message
from .gate import Gate, waiting_room
from .hub import Progress, fetch_snapshot
from .stream import END, hand_out
from .tokens import ChatTokenCounter, CountsThroughCounter, load_tokenizer

# Streams that may generate at once on one model. On a CPU more only share the same cores;
# on a GPU concurrent decode steps overlap well, so allow more there.
CPU_STREAMS = 2
GPU_STREAMS = 8


def pick_quantization(requested: str, cuda: bool) -> str:
    """The quantization actually used: 4-bit/8-bit need CUDA; `auto` means 4bit there."""
    if not cuda:
        return "none"
    return "4bit" if requested == "auto" else requested


def safetensors_parameters(folder: str | Path) -> int:
    """How many weights the folder's safetensors hold, from their headers (nothing loaded)."""
    import json
    import math
    import struct

    total = 0
    for shard in Path(folder).glob("*.safetensors"):
        with shard.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    return total


def check_memory(name: str, folder: str, gguf_file: str = "") -> None:
    """Refuse, before loading, fp32 weights this CPU cannot hold (NotEnoughMemory, naming the
    model's GGUF to run instead): Phi-3-mini takes 15.3 GB, a free Space has 16 GB."""
    from ..machine import require_memory
    from .llamacpp import gguf_advice

    need = 4 * safetensors_parameters(folder)
    require_memory(need, f"{name} in fp32 on this CPU", gguf_advice(name, gguf_file))


def load_model(
    name_or_path: str,
    quantize: str = "auto",
    progress: Progress | None = None,
    *,
    memory_check: bool = True,
    gguf_file: str = "",
) -> tuple[Any, Any, str]:
    """Load (model, tokenizer, quantization) from a hub id or a local folder; one code path.

    A hub id is first fetched into the hub cache (`fetch_snapshot`, reporting bytes to
    `progress`), then loaded from that folder exactly like a local one. On CUDA the default is
    4-bit NF4 (bitsandbytes), with bf16 compute where supported. On CPU nothing is quantized:
    bitsandbytes imports there too, so CUDA is checked, not exceptions.
    """
    import torch
    from transformers import AutoModelForCausalLM

    report = progress or (lambda *_a, **_k: None)
    folder = name_or_path
    if not Path(name_or_path).expanduser().exists():
        report("downloading", done=0, total=0)
        try:
            folder = fetch_snapshot(name_or_path, progress)
        except HubUnreachable:
            raise
        except Exception as exc:  # hub errors: offline, unknown id, gated ...
            raise ModelLoadError(f"could not fetch the model {name_or_path!r}: {exc}") from exc
    report("loading")
    cuda = torch.cuda.is_available()
    quant = pick_quantization(quantize, cuda)
    kwargs: dict[str, Any] = {}
    if cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs.update(device_map="auto", dtype=dtype)
        if quant in ("4bit", "8bit"):
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = (
                BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=dtype,
                )
                if quant == "4bit"
                else BitsAndBytesConfig(load_in_8bit=True)
            )
    else:
        kwargs["dtype"] = torch.float32  # bf16 matmuls are slow on most CPUs
        if memory_check:
            check_memory(name_or_path, folder, gguf_file)
    tokenizer = load_tokenizer(folder)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except Exception as exc:  # OSError, ValueError, ImportError ... from transformers
        where = "folder" if Path(name_or_path).exists() else "hub id"
        raise ModelLoadError(f"could not load the model {where} {name_or_path!r}: {exc}") from exc
    model.eval()
    return model, tokenizer, quant


class _IdStreamer:
    """A transformers streamer that hands each step's new token ids to a queue.

    Decoding happens in the reader (`_TextDecoder`), once per batch of steps, so the generate
    thread does nothing per token but a list append.
    """

    def __init__(self, out: queue.Queue):
        self.out = out
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt ids
            self.prompt_seen = True
            return
        self.out.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass  # the generate thread signals the end itself, after errors


class _TextDecoder:
    """Turns a growing list of token ids into new text, incrementally.

    Each call decodes a short window (from the token before the last piece handed out), not
    the whole answer: re-decoding everything grows with the answer's length and cost 11% of the
    tiny model's throughput (bench engine). Both decodes of a window start at the same token, so
    tokenizers that drop a leading space do it to both and the difference holds.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # the window starts here
        self.read = 0  # ids[prefix:read] decode to text already handed out

    def feed(self, ids: list[int], *, final: bool = False) -> str:
        """The new text that `ids` complete (held back while a UTF-8 sequence is cut)."""
        self.ids.extend(ids)
        shown = self.tokenizer.decode(self.ids[self.prefix : self.read], skip_special_tokens=True)
        text = self.tokenizer.decode(self.ids[self.prefix :], skip_special_tokens=True)
        if (not final and text.endswith("\ufffd")) or len(text) <= len(shown):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return text[len(shown) :]


def _stop_criteria(stop: threading.Event) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _OnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # type: ignore[override]
            import torch

            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

    return StoppingCriteriaList([_OnEvent()])


def _gpu_duration(*args: Any, max_new_tokens: int = 512, **kwargs: Any) -> int:
    # ZeroGPU lease: Phi-3-mini 4-bit decodes >= 20 tok/s on a shared slice; add load slack.
    return min(120, 20 + max_new_tokens // 20)


def _maybe_spaces_gpu(fn: Any) -> Any:
    """Decorate with spaces.GPU (a no-op off ZeroGPU); plain function where it is missing."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=_gpu_duration)(fn)


class TransformersBackend(CountsThroughCounter):
    """A transformers causal LM shared by every stream of this process."""

    kind = "transformers"  # the --backend name that selects it

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "",
        context_window: int = 0,
        max_streams: int | None = None,
        queue_size: int = 16,
        quantization: str = "none",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "model")
        self.context_window = context_window or int(
            getattr(model.config, "max_position_embeddings", 0) or DEFAULT_CONTEXT_WINDOW
        )
        self.quantization = quantization
        # a random-weight test model (`python -m searchduel tiny-model`) says so in its config
        self.test_model = bool(getattr(model.config, "searchduel_test_model", False))
        self.counter = ChatTokenCounter(tokenizer)
        if max_streams is None:
            max_streams = GPU_STREAMS if self.device.type == "cuda" else CPU_STREAMS
        self.gate = Gate(max_streams, queue_size)

    @classmethod
    def from_settings(
        cls, settings: Settings, progress: Progress | None = None
    ) -> TransformersBackend:
        model, tokenizer, quant = load_model(
            settings.model,
            settings.quantize,
            progress,
            memory_check=settings.memory_check,
            gguf_file=settings.gguf_file,
        )
        return cls(
            model,
            tokenizer,
            name=settings.model,
            context_window=settings.context_window,
            queue_size=waiting_room(settings),
            quantization=quant,
        )

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def precision(self) -> str:
        """How the weights are held, for people: "4-bit NF4 on CUDA", "bf16 on CUDA", "fp32 on
        CPU"."""
        device = "CUDA" if self.device.type == "cuda" else self.device.type.upper()
        if self.quantization == "4bit":
            return f"4-bit NF4 on {device}"
        if self.quantization == "8bit":
            return f"8-bit on {device}"
        dtype = str(getattr(self.model, "dtype", "")).replace("torch.", "")
        short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(dtype, dtype)
        return f"{short} on {device}"

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
        yield from _stream(
            self,
            list(messages),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            stop=stop,
        )

    def generate_kwargs(self, ids: list[int], *, max_new_tokens: int, temperature: float) -> dict:
        """The exact arguments both columns (and the bench's raw baseline) pass to generate()."""
        import copy

        import torch

        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.do_sample = temperature > 0
        if temperature > 0:
            config.temperature = temperature
        else:  # greedy: clear sampling knobs a hub config may carry, so nothing warns
            config.temperature = None
            config.top_p = None
            config.top_k = None
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
        input_ids = torch.tensor([ids], device=self.device)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "generation_config": config,
        }


@_maybe_spaces_gpu
def _stream(
    backend: TransformersBackend,
    messages: list[Message],
    *,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    stop: threading.Event | None,
) -> Iterator[str]:
    import torch

    ids = backend.counter.prompt_ids(messages)
    if len(ids) + max_new_tokens > backend.context_window:
        raise PromptTooLong(len(ids), max_new_tokens, backend.context_window)
    halt = threading.Event()  # set by the caller's stop or when the reader goes away
    if stop is not None and stop.is_set():
        return
    backend.gate.acquire(stop)
    out: queue.Queue = queue.Queue()
    streamer = _IdStreamer(out)
    decoder = _TextDecoder(backend.tokenizer)
    finished = threading.Event()  # the generate thread is done: stop batching, hand out now
    kwargs = backend.generate_kwargs(ids, max_new_tokens=max_new_tokens, temperature=temperature)

    def work() -> None:
        try:
            if temperature > 0:
                torch.manual_seed(seed)
            with torch.inference_mode():
                backend.model.generate(
                    **kwargs, streamer=streamer, stopping_criteria=_stop_criteria(halt)
                )
        except BaseException as exc:  # forwarded to the reader, never lost in the thread
            out.put(exc)
        finally:
            out.put(END)
            finished.set()

    thread = threading.Thread(target=work, name="generate", daemon=True)
    thread.start()
    try:
        yield from hand_out(
            out,
            lambda ids, final: decoder.feed(ids, final=final),
            stop=stop,
            halt=halt,
            finished=finished,
        )
    finally:
        halt.set()
        thread.join(timeout=30)
        backend.gate.release()

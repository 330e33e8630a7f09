"""The model behind the page, loaded in a thread so that the page serves at once.

    app.py ─► BackendLoader(settings).start() ─► thread: factory(settings, progress)
       │                                                 └─► Engine(settings, backend).warm_up()
       └─► ui.build(loader) ─► the page polls loader.snapshot() until "ready" or "failed"

Decisions, in one place:

- States: "starting" → "downloading" (bytes done of total, from huggingface_hub) →
  "loading" (weights into memory) → "ready" | "failed". `snapshot()` is a plain dict, safe
  to read from any thread; `wait()` blocks until ready or failed.
- A failed load never ends the app: the snapshot says what failed and how to fix it
  (`explain_failure`: offline without a local folder, not enough memory, unknown hub id, no
  such folder or file, llama.cpp missing), the page shows that, and the log keeps the full
  error. Weights too large for the memory left are refused before loading, with the GGUF
  to run instead (machine.require_memory), rather than the kernel killing the app mid-load.
- `--backend auto` is resolved first (`llm.resolve`), so the page, the log and the store
  name the backend that runs here.
- The factory is `llm.make_backend` (the real loading path, hub id, folder and GGUF file
  alike); tests pass a double that sleeps in its loader.
- `describe()` names the model for the page: its hub link or folder name, precision and
  device, window, backend (local or the server's host), the search chain, and whether it is a
  random-weight test model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config import Settings
from .errors import NotEnoughMemory
from .machine import gb
from .render.events import provider_label

log = logging.getLogger("searchduel")
HUB = "https://huggingface.co/"

Factory = Callable[..., Any]  # factory(settings, progress) -> Backend


@dataclass(frozen=True)
class ModelInfo:
    """What the page says about the model before any Ask."""

    name: str  # the hub id or the folder's name
    link: str  # the hub page, or "" for a folder or a server's model
    precision: str  # "4-bit NF4 on CUDA", "fp32 on CPU", "" when unknown (a server)
    window: int  # tokens, 0 while unknown
    backend: str  # "local" or the server's host
    search: str  # "DuckDuckGo → offline corpus", or "off"
    test_model: bool = False
    demo: bool = False  # the demo writer: no model at all (llm/demo.py)


def describe(settings: Settings, backend: Any | None = None) -> ModelInfo:
    """ModelInfo from the settings, completed from the backend once it is loaded."""
    model = settings.model
    is_folder = Path(model).expanduser().exists()
    server = settings.backend == "openai"
    name = Path(model).name if is_folder else model
    link = HUB + model if not (is_folder or server) and "/" in model else ""
    if settings.backend == "demo":
        name, link = "demo writer", ""
    search = " → ".join(provider_label(p) for p in settings.providers) or "off"
    return ModelInfo(
        name=name,
        link=link,
        precision=str(getattr(backend, "precision", "") or ""),
        window=int(getattr(backend, "context_window", 0) or 0) if backend is not None else 0,
        backend=(urlsplit(settings.base_url).hostname or settings.base_url) if server else "local",
        search=search,
        test_model=bool(getattr(backend, "test_model", False)),
        demo=bool(getattr(backend, "demo", False)),
    )


def explain_failure(exc: BaseException, settings: Settings) -> tuple[str, str]:
    """(what failed, how to fix it) in plain words, from the error and its causes."""
    model = settings.model
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    tiny = (
        "To try the page without it, make the tiny test model: `python -m searchduel "
        "tiny-model models/tiny` and start with `--model models/tiny`."
    )
    parent = Path(model).expanduser().parent
    looks_like_path = (
        model.startswith((".", "/", "~"))
        or model.endswith(".gguf")
        or (parent != Path(".") and parent.exists())
    )
    if settings.backend != "openai" and looks_like_path and not Path(model).expanduser().exists():
        kind = "file" if model.endswith(".gguf") else "folder"
        return (f"There is no {kind} {model}.", f"Check the path. {tiny}")
    too_big = next((e for e in chain if isinstance(e, NotEnoughMemory)), None)
    if too_big is not None:
        return (
            f"There is not enough memory to load {model}: it needs about {gb(too_big.need)} "
            f"and this machine has {gb(too_big.available)} available.",
            too_big.advice,
        )
    if (
        names & {"OutOfMemoryError", "MemoryError"}
        or "out of memory" in text
        or ("can't allocate" in text)
    ):
        from .llm.llamacpp import gguf_advice

        return (
            f"There is not enough memory to load {model}.",
            "Phi-3-mini needs about 3 GB of GPU memory in 4-bit, about 16 GB of RAM in fp32 "
            f"on a CPU, or about 3 GB as its 4-bit GGUF through llama.cpp. "
            f"{gguf_advice(model, settings.gguf_file)} Or serve the model elsewhere "
            "(llama.cpp server, vLLM) and start with `--backend openai --base-url URL`.",
        )
    if "llama-cpp-python is not installed" in text:
        return (
            "llama.cpp, which runs GGUF models on a CPU, is not installed here.",
            f"Install llama-cpp-python (`pip install -e .[cpu]`; it builds llama.cpp, a few "
            f"minutes), or start with `--backend transformers`. {tiny}",
        )
    if "no gguf is known" in text or "must hold one .gguf" in text:
        return (f"There is no GGUF file for {model}.", str(exc))
    missing = {"RepositoryNotFoundError", "RevisionNotFoundError", "GatedRepoError"}
    if names & (missing | {"EntryNotFoundError", "RemoteEntryNotFoundError"}) or (
        "not a valid model identifier" in text or "404" in text
    ):
        source = _hub_gguf(settings)
        if source:
            return (
                f"The Hugging Face hub has no GGUF {source} (or it is private or gated).",
                "Check the repo and the file name, e.g. `--model "
                "microsoft/Phi-3-mini-4k-instruct-gguf --gguf-file "
                "Phi-3-mini-4k-instruct-q4.gguf`, or give a local .gguf file.",
            )
        return (
            f"The Hugging Face hub has no model {model} (or it is private or gated).",
            "Check the id, e.g. `microsoft/Phi-3-mini-4k-instruct`, or give a local folder.",
        )
    offline = names & {
        "HubUnreachable",
        "LocalEntryNotFoundError",
        "OfflineModeIsEnabled",
        "ConnectError",
        "ConnectionError",
        "ConnectTimeout",
    }
    if offline or "offline" in text or "connection" in text or "resolve" in text:
        return (
            f"The model {model} is not on this machine and the Hugging Face hub cannot be "
            "reached to download it.",
            _download_advice(settings) + f" {tiny}",
        )
    return (f"The model {model} could not be loaded.", f"The error was: {exc}")


def _hub_gguf(settings: Settings) -> Any:
    """The hub GGUF that llama.cpp was to load, or None (another backend, a local file)."""
    if settings.backend != "llamacpp":
        return None
    from .errors import ModelLoadError
    from .llm.llamacpp import gguf_source

    try:
        source = gguf_source(settings.model, settings.gguf_file)
    except ModelLoadError:
        return None
    return source if source.repo else None


def _download_advice(settings: Settings) -> str:
    """How to bring the model over from a machine with a network, for the backend that runs."""
    model = settings.model
    source = _hub_gguf(settings)
    if source is not None:
        return (
            f"Download it where there is a network (`hf download {source.repo} "
            f"{source.filename} --local-dir models`), copy the file here and start with "
            f"`--model models/{source.filename}`."
        )
    return (
        f"Download it where there is a network (`hf download {model} --local-dir models/phi3`), "
        "copy the folder here and start with `--model models/phi3`."
    )


class BackendLoader:
    """Loads the backend once, in a thread; the page and the API read its state."""

    def __init__(self, settings: Settings, factory: Factory | None = None):
        self.settings = settings
        self._factory = factory
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._state: dict[str, Any] = {"state": "starting", "done": 0, "total": 0}
        self.engine: Any = None
        self.backend: Any = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def ready(cls, engine: Any) -> BackendLoader:
        """A loader for an engine that is already built (tests, embedding)."""
        loader = cls(engine.settings)
        loader.engine, loader.backend = engine, engine.backend
        loader._state = {"state": "ready", "done": 0, "total": 0}
        loader._ready.set()
        return loader

    def start(self) -> BackendLoader:
        if self._thread is None and not self._ready.is_set():
            self._thread = threading.Thread(target=self._load, name="load-model", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """True once the engine is ready; False on failure or timeout."""
        self._ready.wait(timeout)
        return self.engine is not None

    def snapshot(self) -> dict[str, Any]:
        """{"state", "done", "total", and on failure "what", "fix", "detail"}."""
        with self._lock:
            return dict(self._state)

    def info(self) -> ModelInfo:
        return describe(self.settings, self.backend)

    def _progress(self, stage: str, done: int = 0, total: int = 0) -> None:
        with self._lock:
            if self._state["state"] in ("ready", "failed"):
                return
            self._state = {"state": stage, "done": done, "total": total}

    def _load(self) -> None:
        from .engine import Engine
        from .llm import make_backend, resolve

        try:
            # `auto` becomes the backend that runs here: named on the page, kept in the store
            self.settings = resolve(self.settings)
            factory = self._factory or make_backend
            backend = factory(self.settings, self._progress)
            engine = Engine(self.settings, backend)
            engine.warm_up()
        except BaseException as exc:  # the page shows it; the app keeps serving
            log.error("could not load the model %s", self.settings.model, exc_info=exc)
            what, fix = explain_failure(exc, self.settings)
            with self._lock:
                self.error = exc
                self._state = {
                    "state": "failed",
                    "what": what,
                    "fix": fix,
                    "detail": f"{type(exc).__name__}: {exc}",
                    "done": 0,
                    "total": 0,
                }
            self._ready.set()
            return
        with self._lock:
            self.backend, self.engine = backend, engine
            self._state = {"state": "ready", "done": 0, "total": 0}
        self._ready.set()

"""Model files from the Hugging Face hub, with download bytes reported to the loader.

    require_hub(repo)           a local folder, a cached copy, or the hub answers: go on;
                                else HubUnreachable within HUB_CONNECT_S
    fetch_snapshot(repo)        a transformers folder (config, tokenizer, safetensors)
    fetch_file(repo, filename)  one file, e.g. a GGUF: `hf_hub_download`
         └─► the hub cache's copy (downloaded first when missing) ─► loaded like a local one

Both fetches report `progress("downloading", done=bytes, total=bytes)` through a tqdm class
that prints nothing, and ask require_hub first; errors (unknown repo or file, gated) are left
to the caller, which turns them into ModelLoadError with the repo named.

Decisions, in one place:

- The hub is asked before the first download, where it is first contacted (a snapshot, a
  file, a tokenizer by hub id) and by the CLI before it imports the model libraries: on a
  machine without a network the libraries' own retries took 11 s (`ask`) and 55 s
  (`context`) to fail, with no hint.
- A local folder never needs the hub, and a hub id with a copy in the hub cache is let
  through: the libraries read the cache when the hub is down.
- HF_HUB_OFFLINE (huggingface_hub's own switch, and TRANSFORMERS_OFFLINE) means unreachable,
  without trying.
- One TCP connect to the hub's host (HF_ENDPOINT honoured) of at most HUB_CONNECT_S: a
  machine without DNS fails at once, a dropped connection within that time. Behind a proxy
  (HTTPS_PROXY / ALL_PROXY) a direct connect proves nothing, so nothing is checked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import HubUnreachable

Progress = Callable[..., None]  # progress(stage, done=bytes, total=bytes)

# Files a hub snapshot needs: config, tokenizer and safetensors weights. Pickled weights
# (.bin/.pt), GGUF and ONNX exports are skipped: Phi-3-mini ships safetensors, and fetching
# both formats would double its 7.6 GB download.
HUB_IGNORE = ["*.bin", "*.pt", "*.pth", "*.gguf", "*.onnx", "*.onnx_data", "*.h5", "*.msgpack"]


def _snapshot_bar(desc: str) -> bool:
    # snapshot_download aggregates every file's bytes into one "Reconstructing" bar
    return desc.startswith("Reconstruct")


def _file_bar(desc: str) -> bool:
    # hf_hub_download: a plain download's bar is named after the file; a xet download has a
    # "reconstructing file" bar (the file's bytes) and a "downloading bytes" one (the network's,
    # deduplicated, so not the file's size): only the first counts.
    return not desc.endswith("downloading bytes")


def download_progress_class(progress: Progress, counts: Callable[[str], bool] = _snapshot_bar):
    """A tqdm class for huggingface_hub that reports bytes and prints nothing.

    Each update and refresh of a bar with unit "B" whose description `counts` accepts reports
    (done, total) as "downloading" (its total may grow as files start).
    """
    import io

    from tqdm.auto import tqdm

    class _Progress(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

        def _report(self) -> None:
            if self.unit == "B" and counts(str(self.desc)):
                progress("downloading", done=int(self.n), total=int(self.total or 0))

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            self._report()
            return out

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            super().refresh(*args, **kwargs)
            self._report()

    return _Progress


def fetch_snapshot(repo_id: str, progress: Progress | None = None) -> str:
    """The local folder of a hub model: the cache's copy, downloaded first when missing."""
    from huggingface_hub import snapshot_download

    require_hub(repo_id)  # fails in seconds, not after the hub client's retries
    kwargs: dict[str, Any] = {"ignore_patterns": HUB_IGNORE}
    if progress is not None:
        kwargs["tqdm_class"] = download_progress_class(progress)
    return snapshot_download(repo_id, **kwargs)


def fetch_file(repo_id: str, filename: str, progress: Progress | None = None) -> str:
    """The local path of one file of a hub repo: the cache's copy, downloaded first when
    missing (a GGUF is one file: Phi-3-mini's Q4 is 2.4 GB)."""
    from huggingface_hub import hf_hub_download

    require_hub(repo_id, filename)
    kwargs: dict[str, Any] = {}
    if progress is not None:
        kwargs["tqdm_class"] = download_progress_class(progress, _file_bar)
    return hf_hub_download(repo_id, filename, **kwargs)


# A connect to a CDN-fronted host takes tens of milliseconds; 3 s covers a slow link without
# making an offline machine wait long.
HUB_CONNECT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
HINT = (
    "pass --model with a local folder (python -m searchduel tiny-model models/tiny makes a "
    "test model)"
)


def require_hub(name: str, filename: str = "") -> None:
    """Return when `name` (a hub id or a folder; `filename`, one file of it) can be loaded
    without reaching the hub or the hub answers; else raise HubUnreachable with the way out."""
    if not name or Path(name).expanduser().exists() or _cached(name, filename):
        return
    why = unreachable()
    if why:
        raise HubUnreachable(f"the model hub cannot be reached to fetch {name} ({why}); {HINT}")


def unreachable() -> str:
    """Why the hub cannot be reached, or "" when it answers (or a proxy hides the answer)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return ""
    url = urlsplit(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_CONNECT_S):
            return ""
    except socket.gaierror:
        return f"{host} does not resolve: this machine looks offline"
    except OSError as exc:
        return f"no connection to {host}: {exc.strerror or type(exc).__name__}"


def _cached(name: str, wanted: str = "") -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in (wanted,) if wanted else ("config.json", "tokenizer_config.json"):
        try:
            if isinstance(try_to_load_from_cache(name, filename), str):
                return True
        except Exception:  # not a valid hub id: the library says so itself, without the hub
            return True
    return False

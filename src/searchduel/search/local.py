"""The offline search provider: BM25 over a folder of .html, .htm, .md and .txt files.

Documents are cut into passages with the same chunker the search pipeline uses; a
document's score is its best passage's, and that passage is the hit's snippet. The index is
built once per process per folder (rebuilt when a file is added, removed or changed), and
the extracted text of HTML files is cached on disk, keyed by each file's size and mtime,
because extraction is the slow part of indexing.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, unquote

import numpy as np

from ..errors import SearchUnavailable
from ..rag.chunk import chunk_text
from ..rag.rank import BM25Index, chunk_terms, tokenize
from ..types import Chunk, Hit, Page

SUFFIXES = (".html", ".htm", ".md", ".txt")
SCHEME = "corpus://"
SITE = "offline corpus"
SNIPPET_CHARS = 320  # about two sentences, what a search engine shows
# A document whose title matches the query gets this share of its best passage's score on
# top: titles name the subject, passages rarely repeat it.
TITLE_WEIGHT = 0.3
CACHE_VERSION = 1


@dataclass(frozen=True)
class Document:
    """One file of the corpus, its text already extracted."""

    path: str  # relative, with forward slashes
    title: str
    text: str
    bytes: int


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "searchduel" / "corpus"


def url_for(rel_path: str) -> str:
    """The corpus:// URL of a relative path."""
    return SCHEME + quote(rel_path, safe="/")


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def read_document(path: Path, rel: str) -> Document:
    """Title and main text of one file, by its suffix."""
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        from ..web.extract import extract_html

        extracted = extract_html(raw, url_for(rel))
        text = extracted.text or ""
        title = extracted.title or _title_from_name(path)
        return Document(rel, title.strip(), text, len(raw))
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    title = ""
    fm = _FRONT_MATTER.match(text)
    if fm:
        text = text[fm.end() :]
        m = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", fm.group(1), re.MULTILINE)
        title = m.group(1) if m else ""
    if suffix == ".md":
        m = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        if not title and m:
            title = m.group(1)
    elif not title:
        # a .txt whose first line is short and stands alone is titled by it
        first, _, rest = text.lstrip().partition("\n")
        if first and len(first) <= 100 and (not rest or rest.startswith("\n")):
            title = first.strip()
    return Document(rel, (title or _title_from_name(path)).strip(), text.strip(), len(raw))


class LocalCorpus:
    """An indexed folder. Build it with `LocalCorpus.load(folder)`."""

    def __init__(self, folder: Path, docs: list[Document], *, build_s: float = 0.0):
        self.folder = folder
        self.docs = docs
        self.by_path = {d.path: i for i, d in enumerate(docs)}
        chunks: list[Chunk] = []
        first: list[int] = []
        for d in docs:
            first.append(len(chunks))
            doc_chunks = chunk_text(d.text, url=url_for(d.path), title=d.title, site=SITE)
            if not doc_chunks:  # keep every document searchable, if only by its title
                doc_chunks = [Chunk(url=url_for(d.path), title=d.title, text="", site=SITE)]
            chunks.extend(doc_chunks)
        self.chunks = chunks
        self._doc_of = np.repeat(
            np.arange(len(docs)), np.diff(np.asarray([*first, len(chunks)], dtype=np.int64))
        )
        self._first = np.asarray(first, dtype=np.int64)
        self._index = BM25Index([chunk_terms(c) for c in chunks])
        self._titles = BM25Index([tokenize(d.title) for d in docs])
        self.build_s = build_s

    _cache: ClassVar[dict[Path, tuple[tuple, LocalCorpus]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def load(cls, folder: str | Path, *, cache_dir: Path | bool | None = None) -> LocalCorpus:
        """The index of `folder`, built once per process and rebuilt when the folder changes.

        `cache_dir` holds extracted HTML text between runs (default ~/.cache/searchduel/
        corpus; False disables it). Raises SearchUnavailable if the folder does not exist.
        """
        root = Path(folder).expanduser().resolve()
        if not root.is_dir():
            raise SearchUnavailable(f"corpus folder not found: {root}", provider="local")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        signature = tuple(
            (p.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size)
            for p in files
            for st in [p.stat()]
        )
        with cls._lock:
            cached = cls._cache.get(root)
            if cached and cached[0] == signature:
                return cached[1]
            t0 = time.perf_counter()
            if cache_dir is None:
                cache_dir = default_cache_dir()
            docs = _read_all(root, files, signature, cache_dir or None)
            corpus = cls(root, docs)
            corpus.build_s = time.perf_counter() - t0
            cls._cache[root] = (signature, corpus)
            return corpus

    def search(self, query: str, k: int = 10) -> list[tuple[int, float, int]]:
        """Top documents as (doc index, score, best chunk index), best first."""
        terms = tokenize(query)
        if not terms or not self.docs:
            return []
        scores = self._index.scores(terms)
        best = np.maximum.reduceat(scores, self._first) if len(scores) else scores
        doc_scores = best + TITLE_WEIGHT * self._titles.scores(terms) * (best > 0)
        top = [i for i in np.argsort(-doc_scores, kind="stable")[:k] if doc_scores[i] > 0]
        out = []
        for d in top:
            lo = self._first[d]
            hi = self._first[d + 1] if d + 1 < len(self._first) else len(self.chunks)
            out.append((int(d), float(doc_scores[d]), int(lo + np.argmax(scores[lo:hi]))))
        return out

    def document(self, url: str) -> Document | None:
        """The document behind a corpus:// URL, or None."""
        if not url.startswith(SCHEME):
            return None
        i = self.by_path.get(unquote(url[len(SCHEME) :]))
        return None if i is None else self.docs[i]


@functools.cache
def _extractor_fingerprint() -> str:
    """Changes whenever the code that turns HTML into text changes, so an upgrade never
    serves extractions made by an older version. Read once per process."""
    from ..web import extract, hygiene, sanitize

    digest = hashlib.sha256()
    for module in (extract, sanitize, hygiene):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def corpus_cache_file(root: Path, suffix: str, cache_dir: Path | None = None) -> Path:
    """A file beside the corpus's extraction cache, for other index-time data (embeddings)."""
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / f"{key}.{suffix}"


def embed_ahead(corpus: LocalCorpus) -> int:
    """Pin the dense embeddings of every passage of `corpus` (rag/dense.py `pin`), read back
    from beside its extraction cache when saved there before; returns how many are pinned.
    The engine's warm-up and `bench retrieval` both call it, so the bench measures what a
    question over the corpus gets."""
    from ..rag import dense
    from ..rag.rank import dense_text

    texts = [dense_text(c) for c in corpus.chunks if c.text]
    return dense.pin(texts, cache_file=corpus_cache_file(corpus.folder, dense.pin_file_name()))


def _cache_file(cache_dir: Path, root: Path) -> Path:
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return cache_dir / f"{key}.v{CACHE_VERSION}.{_extractor_fingerprint()}.json.gz"


def _read_all(
    root: Path, files: list[Path], signature: tuple, cache_dir: Path | None
) -> list[Document]:
    """Read every file, taking HTML extractions from the disk cache when still valid."""
    cached: dict[str, dict] = {}
    cache_path = _cache_file(cache_dir, root) if cache_dir else None
    if cache_path and cache_path.exists():
        try:
            with gzip.open(cache_path, "rt", encoding="utf-8") as f:
                cached = json.load(f)
        except (OSError, ValueError):
            cached = {}  # a damaged cache is rebuilt, never trusted
    docs: list[Document] = []
    fresh: dict[str, dict] = {}
    for path, (rel, mtime, size) in zip(files, signature, strict=True):
        entry = cached.get(rel)
        if entry and entry.get("mtime") == mtime and entry.get("size") == size:
            doc = Document(rel, entry["title"], entry["text"], size)
        else:
            try:
                doc = read_document(path, rel)
            except OSError:
                continue  # vanished or unreadable since listing: skip, like a failed page
        docs.append(doc)
        if path.suffix.lower() in (".html", ".htm"):
            fresh[rel] = {"mtime": mtime, "size": size, "title": doc.title, "text": doc.text}
    if cache_path and fresh != cached:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                json.dump(fresh, f)
            os.replace(tmp, cache_path)
            prefix = cache_path.name.split(".", 1)[0]
            for old in cache_path.parent.glob(f"{prefix}.*.json.gz"):
                if old != cache_path:  # made by an older extractor: never read again
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only home still searches, only slower to start
    return docs


class LocalCorpusProvider:
    """SearchProvider over a LocalCorpus; also reads its documents as Pages."""

    name = "local"

    def __init__(self, corpus: LocalCorpus):
        self.corpus = corpus

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Best documents for the query, each with its best passage as the snippet."""
        hits = []
        for rank, (d, _score, c) in enumerate(self.corpus.search(query, k)):
            doc = self.corpus.docs[d]
            chunk = self.corpus.chunks[c]
            hits.append(
                Hit(
                    title=doc.title,
                    url=url_for(doc.path),
                    snippet=_snippet(chunk.text, query),
                    rank=rank,
                    provider=self.name,
                    display_url=doc.path,
                )
            )
        return hits

    def page(self, url: str) -> Page:
        """The whole document's main text; an unknown URL gives a Page with status "error"."""
        t0 = time.perf_counter()
        doc = self.corpus.document(url)
        if doc is None:
            return Page(
                url=url, status="error", final_url=url, reason="not in the corpus", site=SITE
            )
        return Page(
            url=url,
            status="ok",
            final_url=url,
            ms=(time.perf_counter() - t0) * 1000,
            bytes=doc.bytes,
            title=doc.title,
            text=doc.text,
            site=SITE,
        )


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _snippet(text: str, query: str = "") -> str:
    """About two sentences of the passage, starting at the one that matches the query best."""
    sentences = [" ".join(x.split()) for x in _SENTENCE.split(text) if x.strip()]
    if not sentences:
        return ""
    terms = set(tokenize(query))
    scores = [len(terms & set(tokenize(x))) for x in sentences]
    start = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    out = sentences[start]
    for nxt in sentences[start + 1 :]:
        if len(out) + 1 + len(nxt) > SNIPPET_CHARS:
            break
        out = f"{out} {nxt}"
    if len(out) <= SNIPPET_CHARS:
        return out
    cut = out.rfind(" ", 0, SNIPPET_CHARS)
    return out[: cut if cut > 0 else SNIPPET_CHARS] + " …"

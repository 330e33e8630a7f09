"""The comparison store: every comparison and every vote, in one SQLite file.

    Engine.run events ─► comparison_from_events ─► Comparison ─► Store.save ─► comparisons ─┐
    a person's vote ─► Store.vote(id, session, choice, left_column, blind, reason) ─► votes ─┤
                                                             <data_dir>/searchduel.sqlite3 ◄─┘
    ?c=<id> permalinks, history ◄─ Store.get / Store.recent
    judge.stats, render/results.py ◄─ Store.vote_rows
    export csv|jsonl ─► read_export ─► Store.import_rows    (the round trip; no session hashes)

This is the one module that writes comparisons and votes: the page, `eval` and the CLI all
build their record with `comparison_from_events` and store it through `Store`.

Decisions, in one place:

- The standard library's sqlite3, one real file, WAL journal: readers never block the
  writer nor the writer them. synchronous=NORMAL: a power cut may lose the last commits,
  never the file.
- Writes from this process go one at a time through a lock, each in BEGIN IMMEDIATE, so no
  write ever has to upgrade a read lock (the one case a busy timeout cannot resolve); other
  processes are waited for up to STORE_BUSY_TIMEOUT_S. Each thread has its own connection.
- Ids are `secrets.token_urlsafe(16)`: 128 random bits, so a permalink cannot be guessed.
  Anything that cannot be such an id is MalformedId before any query touches the file.
- A session is kept only as an HMAC-SHA256 of its id, keyed by the `session_salt` secret or
  by a random salt made once per store and kept in it. Addresses (IP) are never taken, so
  never kept. Exports leave even the hash out.
- One vote per comparison and session (a unique index); the second raises DuplicateVote.
  Imported votes carry no session and are all kept. A vote records the column shown on the
  left and whether the page was blind, because both can bias it.
- `schema_version` holds one number; MIGRATIONS[i] takes a file from version i to i + 1,
  each step in its own transaction, on open. A file from a newer version is refused as is.
- Storing off (`--store false`): nothing is opened or written, reads see an empty store, and
  a vote raises StoreDisabled, so the page can say why there are no vote buttons.
- Bounded: a new comparison is refused (StoreFull) once the file reaches `--store-max-mb` or
  the disk has less than STORE_DISK_RESERVE_MB free; votes are small and held to a rate per
  address by the page, so they are not refused for size. Votes the page refused are counted
  by reason (`vote_refusals`), nothing else kept of them.
- A record is public to anyone holding its link: its settings snapshot leaves out the
  server's addresses, paths (kept as their last part) and secrets (_PRIVATE), and `as_dict`
  strips them from rows written before that rule.
- The search column's context is kept verbatim (the packed sources block), with the
  numbered sources and the page trace: a permalink shows exactly what was judged. Grounding
  figures are kept as the judge made them (opaque JSON).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from . import __version__
from .config import (
    MAX_VOTE_REASON_CHARS,
    SPECS,
    STORE_BUSY_TIMEOUT_S,
    STORE_DISK_RESERVE_MB,
    Settings,
)
from .errors import (
    ComparisonNotFound,
    DuplicateVote,
    InvalidVote,
    MalformedId,
    StoreDisabled,
    StoreError,
    StoreFull,
)
from .types import Event

ID_BYTES = 16  # 128 bits: the floor for an unguessable permalink
_ID_RE = re.compile(r"[A-Za-z0-9_-]{22,86}")  # token_urlsafe of 16 to 64 bytes
VOTE_CHOICES = ("search", "plain", "tie", "both_bad")
COLUMNS = ("plain", "search")
# Settings that say nothing about how the answers were made (or are secret): not snapshotted.
_NOT_SNAPSHOTTED = {"host", "port", "data_dir", "store", "queue_size", "blind"}
# The server's own addresses, paths and secrets: never in a record, a download or an export
# (a record is public to anyone holding its link). Local paths among the kept settings are
# kept as their last part (`public_name`).
_PRIVATE = {
    "base_url",
    "searxng_url",
    "ddg_url",
    "allow_address",
    "admin_token",
    "api_key",
    "history_secret",
    "session_salt",
    "data_dir",
    "host",
    "port",
}
_PATHS = ("model", "tokenizer", "corpus")

# MIGRATIONS[i] takes the file from schema version i to i + 1. Append; never edit a step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: comparisons and votes as first laid out (search off always on the left, no reasons)
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE comparisons (
            id TEXT PRIMARY KEY,
            created TEXT NOT NULL,
            session_hash TEXT,
            prompt TEXT NOT NULL,
            plain_answer TEXT NOT NULL,
            search_answer TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            backend TEXT NOT NULL DEFAULT '',
            provider TEXT NOT NULL DEFAULT '',
            seed INTEGER NOT NULL DEFAULT 0,
            app_version TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL DEFAULT '',
            sources TEXT NOT NULL DEFAULT '[]',
            settings TEXT NOT NULL DEFAULT '{}',
            timings TEXT NOT NULL DEFAULT '{}',
            tokens TEXT NOT NULL DEFAULT '{}',
            extra TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX comparisons_created ON comparisons(created)",
        """CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            comparison_id TEXT NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            session_hash TEXT,
            choice TEXT NOT NULL CHECK (choice IN ('search', 'plain', 'tie', 'both_bad')),
            created TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX votes_once ON votes(comparison_id, session_hash)",
    ),
    # 2: the judge: grounding figures; the side shown, blind mode and a reason on each vote.
    # Votes from version 1 were cast on the fixed layout: search off on the left, not blind.
    (
        "ALTER TABLE comparisons ADD COLUMN grounding TEXT",
        "ALTER TABLE votes ADD COLUMN left_column TEXT NOT NULL DEFAULT 'plain' "
        "CHECK (left_column IN ('plain', 'search'))",
        "ALTER TABLE votes ADD COLUMN blind INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE votes ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX votes_created ON votes(created)",
        # answer lengths for the length-bias check, and a covering index so the statistics'
        # join never reads the wide rows (bench store: 10k votes read 0.28 s -> see README)
        "ALTER TABLE comparisons ADD COLUMN plain_chars INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE comparisons ADD COLUMN search_chars INTEGER NOT NULL DEFAULT 0",
        "UPDATE comparisons SET plain_chars = length(plain_answer), "
        "search_chars = length(search_answer)",
        "CREATE INDEX comparisons_facts ON comparisons"
        "(id, model, provider, plain_chars, search_chars, prompt)",
    ),
)
MIGRATIONS += (
    # 3: the votes the server refused, counted by reason (no session, no address: only how
    # many and why), so the Results can say what was turned away.
    (
        """CREATE TABLE vote_refusals (
            reason TEXT PRIMARY KEY,
            count INTEGER NOT NULL DEFAULT 0
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Vote:
    """One person's verdict on one comparison (exported without the session hash)."""

    comparison_id: str
    choice: str  # one of VOTE_CHOICES
    left_column: str = "plain"  # the column shown on the left: plain | search
    blind: bool = False  # labels, sources and trace were hidden until the vote
    reason: str = ""
    created: str = ""


@dataclass(frozen=True)
class Comparison:
    """One prompt's two answers and everything needed to show or rerun them."""

    prompt: str
    plain_answer: str
    search_answer: str
    model: str = ""
    backend: str = ""
    provider: str = ""  # the search provider that answered (duckduckgo, local, ...)
    seed: int = 0
    app_version: str = __version__
    context: str = ""  # the packed sources block, verbatim as in the prompt
    sources: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    grounding: Any = None  # the judge's figures, kept as given
    extra: dict[str, Any] = field(default_factory=dict)  # query, notices, pages, errors
    id: str = ""
    created: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The record as shown, downloaded and exported: the server's addresses, paths and
        secrets left out, also from rows stored before they were (see _PRIVATE)."""
        out = asdict(self)
        out["model"] = public_name(out["model"])
        out["settings"] = public_settings(out["settings"])
        return out


class VoteRow(NamedTuple):
    """What the statistics read of one vote: the vote and its comparison's key facts."""

    comparison_id: str
    choice: str
    left_column: str
    blind: bool
    created: str
    prompt: str
    model: str
    provider: str
    plain_chars: int
    search_chars: int


_JSON_FIELDS = ("sources", "settings", "timings", "tokens", "grounding", "extra")
_COMPARISON_FIELDS = tuple(f.name for f in fields(Comparison))
_VOTE_FIELDS = ("choice", "left_column", "blind", "reason", "created")


def new_id() -> str:
    """A fresh unguessable comparison id."""
    return secrets.token_urlsafe(ID_BYTES)


def check_id(comparison_id: Any) -> str:
    """The id if it can be one of ours, else MalformedId."""
    if not isinstance(comparison_id, str) or not _ID_RE.fullmatch(comparison_id):
        shown = str(comparison_id)[:40]
        raise MalformedId(
            f"{shown!r} is not a comparison id (ids are 22 letters, digits, - or _)",
            comparison_id=shown,
        )
    return comparison_id


def now() -> str:
    """The current time as stored: ISO 8601 UTC with microseconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def settings_snapshot(settings: Settings) -> dict[str, Any]:
    """The settings that shaped the answers; secrets, serving details, the server's addresses
    and paths left out."""
    out: dict[str, Any] = {}
    for spec in SPECS:
        if spec.secret or spec.name in _NOT_SNAPSHOTTED:
            continue
        value = getattr(settings, spec.name)
        out[spec.name] = list(value) if isinstance(value, tuple) else value
    return public_settings(out)


def public_name(value: Any) -> Any:
    """A local path as its last part (a folder's or file's name); a hub id as it is."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(("/", "~", ".")) or "\\" in value or value.count("/") > 1:
        return Path(value.replace("\\", "/")).name or value
    return value


def public_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """`settings` without _PRIVATE keys, paths as their last part."""
    out = {k: v for k, v in (settings or {}).items() if k not in _PRIVATE}
    for key in _PATHS:
        if key in out:
            out[key] = public_name(out[key])
    return out


# --- building the record from the engine's events -----------------------------------------


def comparison_from_events(
    prompt: str,
    events: Iterable[Event],
    settings: Settings,
    *,
    grounding: Any = None,
) -> Comparison:
    """The record of one run, from `Engine.run`'s events and the settings it ran with
    (after RunOptions were applied). The page, `eval` and the CLI all store this; the
    grounding figures are the engine's `grounding` events unless given."""
    from .engine import summarize

    events = list(events)
    context, stages = "", {}
    for ev in events:
        if ev.column != "search":
            continue
        if ev.kind == "sources":
            context = ev.data.get("context", "")
        elif ev.kind == "trace":
            stages = dict(ev.data.get("timings") or {})
    summary = summarize(prompt, events)
    if grounding is None:  # the engine's grounding events, one per judged column
        judged = {c: summary[c]["grounding"] for c in COLUMNS if summary[c].get("grounding")}
        grounding = judged or None
    return comparison_from_summary(
        summary, settings, context=context, stages=stages, grounding=grounding
    )


def comparison_from_summary(
    summary: Mapping[str, Any],
    settings: Settings,
    *,
    context: str = "",
    stages: Mapping[str, float] | None = None,
    grounding: Any = None,
) -> Comparison:
    """The record from `engine.summarize`'s object (`ask --json`)."""
    plain, search = summary["plain"], summary["search"]
    keys = ("ttft_s", "total_s", "tokens_per_s")
    return Comparison(
        prompt=summary["prompt"],
        plain_answer=plain.get("answer") or "",
        search_answer=search.get("answer") or "",
        model=public_name(settings.model),
        backend=settings.backend,
        provider=search.get("provider") or "",
        seed=settings.seed,
        context=context,
        sources=[dict(s) for s in search.get("sources") or []],
        settings=settings_snapshot(settings),
        timings={
            "plain": {k: plain.get(k) for k in keys},
            "search": {k: search.get(k) for k in keys},
            "stages": dict(stages or {}),
        },
        tokens={
            "plain": plain.get("tokens", 0),
            "search": search.get("tokens", 0),
            "context": search.get("context_tokens", 0),
            "prompt": search.get("prompt_tokens", 0),
        },
        grounding=grounding,
        extra={
            "query": search.get("query", ""),
            "offline": search.get("offline", False),
            "cached": search.get("cached", False),
            "notices": list(search.get("notices") or []),
            "pages": list(search.get("pages") or []),
            "errors": {"plain": plain.get("error"), "search": search.get("error")},
            "error_types": {"plain": plain.get("error_type"), "search": search.get("error_type")},
            "invalid_citations": search.get("invalid_citations", []),
        },
    )


# --- the store ---------------------------------------------------------------------------


class Store:
    """Comparisons and votes in one SQLite file; `Store(None)` stores nothing.

    Safe to share between threads. Open with `Store.from_settings(settings)`.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        salt: str = "",
        create: bool = True,
        max_mb: int = 0,
        disk_reserve_mb: int = STORE_DISK_RESERVE_MB,
    ):
        """`create=False` refuses a file that is not there yet (readers: results, export).
        `max_mb` > 0 caps the file's size; new comparisons are refused (StoreFull) past it or
        when the disk has less than `disk_reserve_mb` free."""
        self.path = Path(path) if path is not None else None
        self.max_bytes = max_mb * 1_000_000
        self.reserve_bytes = disk_reserve_mb * 1_000_000
        self._salt_setting = salt
        self._salt = b""
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        if self.path is not None:
            if not create and not self.path.is_file():
                raise StoreError(
                    f"no store at {self.path} yet: nothing has been stored there "
                    "(set --data-dir / SEARCHDUEL_DATA_DIR to the app's data folder)"
                )
            self._open()

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Store:
        """The store the settings name (`--data-dir`, `--store`, `SEARCHDUEL_SESSION_SALT`)."""
        if not settings.store:
            return cls(None)
        return cls(
            settings.store_path,
            salt=settings.session_salt,
            create=create,
            max_mb=settings.store_max_mb,
        )

    @property
    def enabled(self) -> bool:
        """False when storing is off: nothing is kept and votes are refused."""
        return self.path is not None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._connections_lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            conn.close()

    # --- connections and schema ---------------------------------------------------------

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder {self.path.parent}: {exc}") from None
        with self._errors("open"):
            conn = self._conn()
            migrate(conn)
            salt = self._salt_setting
            if not salt:
                with self._write():
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('session_salt', ?)",
                        (secrets.token_hex(32),),
                    )
                salt = conn.execute("SELECT value FROM meta WHERE key = 'session_salt'").fetchone()[
                    0
                ]
            self._salt = salt.encode("utf-8")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"the store {self.path} is closed")
            conn = connect(self.path)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _errors(self, doing: str) -> _Errors:
        return _Errors(self.path, doing)

    def _write(self) -> _Transaction:
        return _Transaction(self._conn(), self._write_lock)

    def _require(self) -> sqlite3.Connection:
        if not self.enabled:
            raise StoreDisabled("storing is turned off (--store false / SEARCHDUEL_STORE)")
        return self._conn()

    def session_hash(self, session: str) -> str:
        """The salted hash kept in place of a session id (128 bits of HMAC-SHA256)."""
        return hmac.new(self._salt, session.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def derived_secret(self, purpose: str) -> str:
        """A secret for `purpose` derived from the session salt (stable while the store is);
        a random one per process when storing is off."""
        salt = self._salt or secrets.token_bytes(32)
        return hmac.new(salt, purpose.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    @property
    def schema_version(self) -> int:
        return schema_version(self._require())

    # --- comparisons --------------------------------------------------------------------

    def save(self, comparison: Comparison, *, session: str | None = None) -> str:
        """Store one comparison; returns its id (a new one unless the record has an id).

        With storing off this does nothing and returns "".
        """
        if not self.enabled:
            return ""
        record = replace(
            comparison, id=comparison.id or new_id(), created=comparison.created or now()
        )
        check_id(record.id)
        self.check_room()
        row = _comparison_row(record)
        row["session_hash"] = self.session_hash(session) if session else None
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self._errors("store a comparison"), self._write() as conn:
            conn.execute(f"INSERT INTO comparisons ({names}) VALUES ({marks})", tuple(row.values()))
        return record.id

    def size_bytes(self) -> int:
        """The file's size with its write-ahead log."""
        if self.path is None:
            return 0
        total = 0
        for part in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                total += part.stat().st_size
            except OSError:
                pass
        return total

    def check_room(self) -> None:
        """StoreFull when the file is at its cap or the disk at its reserve."""
        if self.path is None:
            return
        if self.max_bytes and self.size_bytes() >= self.max_bytes:
            raise StoreFull(
                f"the store is full ({self.size_bytes() / 1e6:,.0f} MB of "
                f"{self.max_bytes / 1e6:,.0f} MB): new comparisons are not kept"
            )
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return
        if free < self.reserve_bytes:
            raise StoreFull(
                f"the disk holding the store is nearly full ({free / 1e6:,.0f} MB free): "
                "new comparisons are not kept"
            )

    def set_grounding(self, comparison_id: str, grounding: Any) -> None:
        """Attach the judge's figures to a stored comparison (they come after both answers)."""
        self._require()
        check_id(comparison_id)
        with self._errors("store grounding"), self._write() as conn:
            cur = conn.execute(
                "UPDATE comparisons SET grounding = ? WHERE id = ?",
                (json.dumps(grounding, ensure_ascii=False), comparison_id),
            )
        if cur.rowcount == 0:
            raise _not_found(comparison_id)

    def get(self, comparison_id: str) -> Comparison:
        """One stored comparison; ComparisonNotFound (or MalformedId) when there is none."""
        check_id(comparison_id)
        if not self.enabled:
            raise _not_found(comparison_id, " (storing is turned off)")
        with self._errors("read a comparison"):
            cur = self._conn().execute(
                f"SELECT {', '.join(_COMPARISON_FIELDS)} FROM comparisons WHERE id = ?",
                (comparison_id,),
            )
            row = cur.fetchone()
        if row is None:
            raise _not_found(comparison_id)
        return _comparison_from_row(dict(zip(_COMPARISON_FIELDS, row, strict=True)))

    def recent(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """The newest comparisons first: id, created, prompt, model, provider, votes."""
        if not self.enabled:
            return []
        with self._errors("list comparisons"):
            rows = (
                self._conn()
                .execute(
                    """SELECT c.id, c.created, c.prompt, c.model, c.provider,
                          (SELECT count(*) FROM votes v WHERE v.comparison_id = c.id)
                   FROM comparisons c ORDER BY c.created DESC, c.rowid DESC LIMIT ? OFFSET ?""",
                    (limit, offset),
                )
                .fetchall()
            )
        keys = ("id", "created", "prompt", "model", "provider", "votes")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def count(self) -> tuple[int, int]:
        """(comparisons, votes) stored."""
        if not self.enabled:
            return 0, 0
        with self._errors("count"):
            conn = self._conn()
            n = conn.execute("SELECT count(*) FROM comparisons").fetchone()[0]
            v = conn.execute("SELECT count(*) FROM votes").fetchone()[0]
        return n, v

    # --- votes --------------------------------------------------------------------------

    def vote(
        self,
        comparison_id: str,
        *,
        session: str,
        choice: str,
        left_column: str = "plain",
        blind: bool = False,
        reason: str = "",
    ) -> Vote:
        """Record one vote; DuplicateVote if this session already voted on this comparison."""
        self._require()
        check_id(comparison_id)
        vote = _checked_vote(comparison_id, choice, left_column, blind, reason)
        if not session:
            raise InvalidVote("a vote needs a session (one vote per comparison and session)")
        hashed = self.session_hash(session)
        with self._errors("store a vote"), self._write() as conn:
            if conn.execute("SELECT 1 FROM comparisons WHERE id = ?", (comparison_id,)).fetchone():
                try:
                    conn.execute(
                        "INSERT INTO votes (comparison_id, session_hash, choice, left_column, "
                        "blind, reason, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (comparison_id, hashed, *_vote_values(vote)),
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateVote(
                        "you have already voted on this comparison (one vote each)",
                        comparison_id=comparison_id,
                    ) from None
                return vote
        raise _not_found(comparison_id)

    def count_refusal(self, reason: str) -> None:
        """Count one vote the server refused, by reason (nothing else is kept of it)."""
        if not self.enabled:
            return
        with self._errors("count a refused vote"), self._write() as conn:
            conn.execute(
                "INSERT INTO vote_refusals (reason, count) VALUES (?, 1) "
                "ON CONFLICT(reason) DO UPDATE SET count = count + 1",
                (reason[:40],),
            )

    def refusals(self) -> dict[str, int]:
        """How many votes were refused, by reason."""
        if not self.enabled:
            return {}
        with self._errors("read refused votes"):
            rows = self._conn().execute("SELECT reason, count FROM vote_refusals").fetchall()
        return {reason: count for reason, count in rows}

    def has_voted(self, comparison_id: str, session: str) -> bool:
        """Whether this session has voted on this comparison."""
        if not self.enabled or not session:
            return False
        check_id(comparison_id)
        with self._errors("read votes"):
            row = (
                self._conn()
                .execute(
                    "SELECT 1 FROM votes WHERE comparison_id = ? AND session_hash = ?",
                    (comparison_id, self.session_hash(session)),
                )
                .fetchone()
            )
        return row is not None

    def votes(self, comparison_id: str) -> list[Vote]:
        """The votes on one comparison, oldest first."""
        if not self.enabled:
            return []
        check_id(comparison_id)
        with self._errors("read votes"):
            rows = (
                self._conn()
                .execute(
                    f"SELECT {', '.join(_VOTE_FIELDS)} FROM votes WHERE comparison_id = ? "
                    "ORDER BY created, id",
                    (comparison_id,),
                )
                .fetchall()
            )
        return [_vote_from_row(comparison_id, r) for r in rows]

    def vote_rows(self, *, blind_only: bool = False) -> list[VoteRow]:
        """Every vote with what the statistics need of its comparison, oldest first."""
        if not self.enabled:
            return []
        where = "WHERE v.blind = 1" if blind_only else ""
        with self._errors("read votes"):
            rows = (
                self._conn()
                .execute(
                    f"""SELECT c.id, v.choice, v.left_column, v.blind, v.created, c.prompt, c.model,
                           c.provider, c.plain_chars, c.search_chars
                    FROM votes v JOIN comparisons c INDEXED BY comparisons_facts
                      ON c.id = v.comparison_id {where}
                    ORDER BY v.created, v.id"""
                )
                .fetchall()
            )
        return [VoteRow(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in rows]

    # --- export and import --------------------------------------------------------------

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every comparison, oldest first, with its votes; no session hashes."""
        if not self.enabled:
            return
        with self._errors("export"):
            conn = self._conn()
            by_id: dict[str, list[dict[str, Any]]] = {}
            for r in conn.execute(
                f"SELECT comparison_id, {', '.join(_VOTE_FIELDS)} FROM votes ORDER BY created, id"
            ):
                by_id.setdefault(r[0], []).append(_vote_dict(_vote_from_row(r[0], r[1:])))
            rows = conn.execute(
                f"SELECT {', '.join(_COMPARISON_FIELDS)} FROM comparisons ORDER BY created, rowid"
            ).fetchall()
        for row in rows:
            record = _comparison_from_row(dict(zip(_COMPARISON_FIELDS, row, strict=True)))
            yield {**record.as_dict(), "votes": by_id.get(record.id, [])}

    def export(self, fmt: str, out: TextIO) -> int:
        """Write every comparison and vote as csv or jsonl; returns the comparisons written."""
        return write_export(self.iter_records(), fmt, out)

    def import_rows(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Store exported records (as `read_export` gives them); returns (comparisons, votes).

        Ids are kept; a comparison already present is skipped with its votes.
        """
        self._require()
        n_comparisons = n_votes = 0
        with self._errors("import"), self._write() as conn:
            for rec in records:
                votes = rec.get("votes") or []
                record = Comparison(**{k: rec[k] for k in _COMPARISON_FIELDS if k in rec})
                check_id(record.id)
                row = _comparison_row(replace(record, created=record.created or now()))
                names = ", ".join(row)
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO comparisons ({names}) "
                    f"VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                if cur.rowcount == 0:
                    continue
                n_comparisons += 1
                for v in votes:
                    vote = _checked_vote(
                        record.id,
                        v["choice"],
                        v.get("left_column", "plain"),
                        v.get("blind", False),
                        v.get("reason", ""),
                        v.get("created") or "",
                    )
                    conn.execute(
                        "INSERT INTO votes (comparison_id, session_hash, choice, left_column, "
                        "blind, reason, created) VALUES (?, NULL, ?, ?, ?, ?, ?)",
                        (record.id, *_vote_values(vote)),
                    )
                    n_votes += 1
        return n_comparisons, n_votes


# --- SQLite plumbing -----------------------------------------------------------------------


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, busy timeout."""
    conn = sqlite3.connect(
        str(path), timeout=STORE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a new, empty file."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the file to `target`, one step per transaction; returns the version reached."""
    while True:
        conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may
        try:  # have migrated meanwhile
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = schema_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store was written by a newer Search Duel (schema {version}, this one "
                    f"knows up to {SCHEMA_VERSION}); left untouched"
                )
            if version >= target:
                conn.execute("COMMIT")
                return version
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under this process's write lock; ROLLBACK on any error."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock):
        self.conn = conn
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()


class _Errors:
    """Turns sqlite3 errors into StoreError naming the file and what was being done."""

    def __init__(self, path: Path | None, doing: str):
        self.path = path
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, sqlite3.Error):
            raise StoreError(f"could not {self.doing} in {self.path}: {exc}") from exc
        return False


def _not_found(comparison_id: str, why: str = "") -> ComparisonNotFound:
    return ComparisonNotFound(
        f"no stored comparison has the id {comparison_id!r}{why}", comparison_id=comparison_id
    )


def _checked_vote(
    comparison_id: str,
    choice: Any,
    left_column: Any,
    blind: Any,
    reason: Any,
    created: str = "",
) -> Vote:
    if choice not in VOTE_CHOICES:
        raise InvalidVote(f"unknown vote {choice!r}; valid: {', '.join(VOTE_CHOICES)}")
    if left_column not in COLUMNS:
        raise InvalidVote(f"unknown left column {left_column!r}; valid: {', '.join(COLUMNS)}")
    if not isinstance(reason, str):
        raise InvalidVote("the reason must be text")
    reason = " ".join(reason.split())  # one line
    if len(reason) > MAX_VOTE_REASON_CHARS:
        raise InvalidVote(
            f"the reason is {len(reason)} characters; at most {MAX_VOTE_REASON_CHARS}, please"
        )
    return Vote(comparison_id, choice, left_column, bool(blind), reason, created or now())


def _vote_values(vote: Vote) -> tuple[Any, ...]:
    return (vote.choice, vote.left_column, int(vote.blind), vote.reason, vote.created)


def _vote_from_row(comparison_id: str, row: Sequence[Any]) -> Vote:
    choice, left, blind, reason, created = row
    return Vote(comparison_id, choice, left, bool(blind), reason, created)


def _vote_dict(vote: Vote) -> dict[str, Any]:
    d = asdict(vote)
    del d["comparison_id"]
    return d


def _comparison_row(record: Comparison) -> dict[str, Any]:
    row = record.as_dict()
    for key in _JSON_FIELDS:
        row[key] = json.dumps(row[key], ensure_ascii=False)
    row["plain_chars"] = len(record.plain_answer)
    row["search_chars"] = len(record.search_answer)
    return row


def _comparison_from_row(row: dict[str, Any]) -> Comparison:
    for key in _JSON_FIELDS:
        value = row[key]
        row[key] = json.loads(value) if value is not None else None
    return Comparison(**row)


# --- export formats ------------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "jsonl")
# CSV: one row per vote (a comparison without votes: one row, vote cells empty); nested
# fields are JSON text in their cell.
CSV_COLUMNS = (*_COMPARISON_FIELDS, *(f"vote_{k}" for k in _VOTE_FIELDS))


def write_export(records: Iterable[Mapping[str, Any]], fmt: str, out: TextIO) -> int:
    """Write records (comparisons with their votes) as csv or jsonl; returns how many."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    n = 0
    if fmt == "jsonl":
        for rec in records:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        return n
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rec in records:
        n += 1
        base = [
            json.dumps(rec[k], ensure_ascii=False) if k in _JSON_FIELDS else rec[k]
            for k in _COMPARISON_FIELDS
        ]
        votes = rec.get("votes") or [None]
        for vote in votes:
            if vote is None:
                cells = [""] * len(_VOTE_FIELDS)
            else:
                cells = [int(vote[k]) if k == "blind" else vote[k] for k in _VOTE_FIELDS]
            writer.writerow([*base, *cells])
    return n


def read_export(source: str | Path | TextIO, fmt: str) -> list[dict[str, Any]]:
    """Records back from an export (a path, an open file or the text itself)."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    if isinstance(source, Path):
        with source.open(encoding="utf-8", newline="") as f:
            return read_export(f, fmt)
    text = source if isinstance(source, str) else source.read()
    if fmt == "jsonl":
        # split on "\n" only: str.splitlines also breaks at U+2028, U+0085 ..., which JSON
        # leaves unescaped inside strings (and web text has them)
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    records: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(io.StringIO(text, newline="")):
        cid = row["id"]
        rec = records.get(cid)
        if rec is None:
            rec = {k: row[k] for k in _COMPARISON_FIELDS}
            for k in _JSON_FIELDS:
                rec[k] = json.loads(rec[k])
            rec["seed"] = int(rec["seed"])
            rec["votes"] = []
            records[cid] = rec
        if row["vote_choice"]:
            vote = {k: row[f"vote_{k}"] for k in _VOTE_FIELDS}
            vote["blind"] = vote["blind"] == "1"
            rec["votes"].append(vote)
    return list(records.values())

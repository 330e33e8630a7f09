"""The comparison store on real SQLite files: records, votes, sessions, threads, migrations."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO
from searchduel import config
from searchduel.config import Settings
from searchduel.engine import Engine
from searchduel.errors import (
    ComparisonNotFound,
    DuplicateVote,
    InvalidVote,
    MalformedId,
    StoreDisabled,
    StoreError,
)
from searchduel.store import (
    SCHEMA_VERSION,
    Comparison,
    Store,
    comparison_from_events,
    connect,
    migrate,
    read_export,
    schema_version,
)

RICH = Comparison(
    prompt='Is "coffee" bad for sleep?\nAsk twice.',
    plain_answer="Maybe, it depends.",
    search_answer="Yes: caffeine lasts hours [1], say studies [2].\r\nSee — ünïcode ✓\u2028\x85",
    model="microsoft/Phi-3-mini-4k-instruct",
    backend="transformers",
    provider="duckduckgo",
    seed=7,
    context="[1] Sleep Foundation\ncaffeine ...\n\n[2] NIH\n...",
    sources=[{"n": 1, "title": "Sleep", "url": "https://a.example/", "site": "a", "kind": "web"}],
    settings={"temperature": 0.0, "allow_address": ["10.0.0.0/8"]},
    timings={"plain": {"ttft_s": 0.4}, "search": {"ttft_s": 2.5}, "stages": {"search": 812.3}},
    tokens={"plain": 5, "search": 14, "context": 1200, "prompt": 1290},
    grounding={"supported": 0.8, "sentences": [{"text": "Yes", "label": "supported"}]},
    extra={"query": "coffee sleep", "notices": [], "errors": {"plain": None, "search": None}},
)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "duel.sqlite3") as s:
        yield s


def test_a_comparison_reads_back_exactly_with_an_unguessable_id(store):
    cid = store.save(RICH, session="browser-1")
    assert len(cid) >= 22  # token_urlsafe(16): 128 bits
    back = store.get(cid)
    assert back == RICH.__class__(**{**RICH.as_dict(), "id": cid, "created": back.created})
    assert back.created.endswith("+00:00")
    other = store.save(RICH)
    assert other != cid


def test_the_file_is_wal_and_at_the_current_schema(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store.schema_version == SCHEMA_VERSION == 3


def test_unknown_and_malformed_ids_are_told_apart(store):
    with pytest.raises(ComparisonNotFound, match="no stored comparison") as info:
        store.get("A" * 22)
    assert not isinstance(info.value, MalformedId)
    for bad in ("", "short", "x" * 200, "../../etc/passwd", "abc def ghi jkl mno pqr", None):
        with pytest.raises(MalformedId):
            store.get(bad)
    with pytest.raises(ComparisonNotFound):
        store.vote("B" * 22, session="s", choice="tie")
    with pytest.raises(MalformedId):
        store.vote("nope", session="s", choice="tie")


def test_votes_survive_a_new_store_object_and_a_new_process(tmp_path):
    path = tmp_path / "duel.sqlite3"
    with Store(path) as first:
        cid = first.save(RICH)
        first.vote(cid, session="s1", choice="search", left_column="search", blind=True)
        first.vote(cid, session="s2", choice="tie", reason="both\nfine")
    with Store(path) as second:
        votes = second.votes(cid)
        assert [(v.choice, v.left_column, v.blind, v.reason) for v in votes] == [
            ("search", "search", True, ""),
            ("tie", "plain", False, "both fine"),  # one line
        ]
        assert second.has_voted(cid, "s1") and not second.has_voted(cid, "s3")
        with pytest.raises(DuplicateVote):  # the vote is remembered, not just this object
            second.vote(cid, session="s1", choice="plain")
    code = (
        "import sys, json; from searchduel.store import Store; "
        "s = Store(sys.argv[1], create=False); "
        "print(json.dumps([v.choice for v in s.votes(sys.argv[2])]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), cid],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(out.stdout) == ["search", "tie"]


def test_a_second_vote_from_the_same_session_is_refused(store):
    cid = store.save(RICH)
    store.vote(cid, session="s1", choice="search")
    with pytest.raises(DuplicateVote, match="already voted") as info:
        store.vote(cid, session="s1", choice="plain")
    assert info.value.comparison_id == cid
    store.vote(cid, session="s2", choice="plain")  # another session may
    assert [v.choice for v in store.votes(cid)] == ["search", "plain"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"choice": "search-on"}, "unknown vote"),
        ({"choice": "tie", "left_column": "middle"}, "left column"),
        ({"choice": "tie", "reason": "x" * 281}, "281 characters"),
        ({"choice": "tie", "session": ""}, "needs a session"),
    ],
)
def test_bad_votes_are_refused_with_a_reason(store, kwargs, needle):
    cid = store.save(RICH)
    with pytest.raises(InvalidVote, match=needle):
        store.vote(cid, **{"session": "s", **kwargs})
    assert store.votes(cid) == []


def test_sessions_are_kept_only_as_salted_hashes(tmp_path):
    path = tmp_path / "duel.sqlite3"
    session = "gradio-session-8c1f2e"
    with Store(path) as s:
        cid = s.save(RICH, session=session)
        s.vote(cid, session=session, choice="tie")
        stored = s._conn().execute("SELECT session_hash FROM votes").fetchone()[0]
        assert stored == s.session_hash(session) and session not in stored
    for f in tmp_path.iterdir():  # not in the database, its WAL, anywhere
        assert session.encode() not in f.read_bytes()
    with Store(path) as again:  # the random salt is kept in the store
        assert again.session_hash(session) == stored
    with Store(path, salt="space-secret") as salted:
        assert salted.session_hash(session) != stored
    with Store(tmp_path / "other.sqlite3") as other:  # each store makes its own salt
        assert other.session_hash(session) != stored


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "a-store-each"])
def test_twenty_threads_voting_at_once_lose_nothing(tmp_path, shared):
    path = tmp_path / "duel.sqlite3"
    with Store(path) as setup:
        ids = [setup.save(RICH) for _ in range(5)]
    common = Store(path)
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def voter(i: int) -> None:
        s = common if shared else Store(path)
        try:
            barrier.wait()
            for cid in ids:
                s.vote(cid, session=f"visitor-{i}", choice=("search", "plain", "tie")[i % 3])
        except BaseException as exc:  # collected: the test fails on any of them
            errors.append(exc)
        finally:
            if not shared:
                s.close()

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    common.close()
    assert errors == []
    with Store(path) as check:
        assert check.count() == (5, 100)
        assert len(check.vote_rows()) == 100


def test_export_reads_back_losslessly_in_both_formats(tmp_path, store):
    a = store.save(RICH, session="s1")
    store.vote(a, session="s1", choice="search", left_column="search", blind=True, reason="cites")
    store.vote(a, session="s2", choice="both_bad")
    b = store.save(Comparison("second, no votes", "p", "s", grounding=None))
    store.set_grounding(b, {"figures": [1, 2.5, None]})
    for fmt in ("csv", "jsonl"):
        out = io.StringIO()
        assert store.export(fmt, out) == 2
        text = out.getvalue()
        assert "session" not in text and store.session_hash("s1") not in text
        records = read_export(text, fmt)
        assert [r["id"] for r in records] == [a, b]
        assert records == list(store.iter_records())
        with Store(tmp_path / f"copy-{fmt}.sqlite3") as copy:
            assert copy.import_rows(records) == (2, 2)
            assert copy.get(a) == store.get(a)
            assert copy.get(b).grounding == {"figures": [1, 2.5, None]}
            again = io.StringIO()
            copy.export(fmt, again)
            assert again.getvalue() == text
            assert copy.import_rows(records) == (0, 0)  # present already: skipped


def test_export_files_read_back_through_a_path(tmp_path, store):
    cid = store.save(RICH)
    store.vote(cid, session="s", choice="tie", reason='comma, "quote"')
    path = tmp_path / "out.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        store.export("csv", f)
    (record,) = read_export(path, "csv")
    assert record["search_answer"] == RICH.search_answer  # \r\n inside a cell survives
    assert record["votes"][0]["reason"] == 'comma, "quote"'


def test_storing_off_writes_nothing_and_takes_no_votes(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"), store=False)
    with Store.from_settings(settings) as s:
        assert not s.enabled
        assert s.save(RICH, session="x") == ""
        with pytest.raises(StoreDisabled):
            s.vote("A" * 22, session="x", choice="tie")
        with pytest.raises(ComparisonNotFound, match="turned off"):
            s.get("A" * 22)
        assert s.recent() == [] and s.vote_rows() == [] and s.count() == (0, 0)
    assert not (tmp_path / "data").exists()


def test_data_dir_setting_and_default(tmp_path, monkeypatch):
    env = {"SEARCHDUEL_DATA_DIR": str(tmp_path / "d"), "SEARCHDUEL_STORE": "off"}
    s = Settings.load({}, environ=env)
    assert s.store_path == tmp_path / "d" / "searchduel.sqlite3" and s.store is False
    spaces = tmp_path / "spaces-data"
    monkeypatch.setattr(config, "SPACES_DATA_DIR", str(spaces))
    assert config.default_data_dir() == "data"  # /data absent: ./data
    spaces.mkdir()
    assert config.default_data_dir() == str(spaces)  # present and writable: Spaces storage
    assert Settings().store_path == spaces / "searchduel.sqlite3"


def test_readers_do_not_create_a_store(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        Store(tmp_path / "missing.sqlite3", create=False)
    assert not (tmp_path / "missing.sqlite3").exists()


def test_a_version_1_file_is_migrated_and_keeps_its_votes(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = connect(path)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO comparisons (id, created, prompt, plain_answer, search_answer, model, "
        "provider) VALUES (?, '2025-01-01T00:00:00+00:00', 'old prompt', 'short', "
        "'a longer answer', 'phi3', 'local')",
        ("C" * 22,),
    )
    conn.execute(
        "INSERT INTO votes (comparison_id, session_hash, choice, created) "
        "VALUES (?, 'h1', 'search', '2025-01-01T00:01:00+00:00')",
        ("C" * 22,),
    )
    conn.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        (vote,) = s.votes("C" * 22)
        # version-1 votes were cast on the fixed layout: search off on the left, not blind
        assert (vote.choice, vote.left_column, vote.blind, vote.reason) == (
            "search",
            "plain",
            False,
            "",
        )
        (r,) = s.vote_rows()
        assert (r.plain_chars, r.search_chars) == (5, 15)  # backfilled
        assert s.get("C" * 22).grounding is None
        s.set_grounding("C" * 22, {"ok": True})  # and the new columns work
        cid = s.save(RICH)
        s.vote(cid, session="new", choice="plain", left_column="search", blind=True)
        assert s.count() == (2, 2)


def test_a_file_from_a_newer_version_is_left_alone(tmp_path):
    path = tmp_path / "future.sqlite3"
    with Store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)
    conn = sqlite3.connect(path)
    assert schema_version(conn) == 99
    conn.close()


def test_recent_lists_newest_first_with_vote_counts(store):
    first = store.save(Comparison("first", "a", "b"))
    second = store.save(Comparison("second", "a", "b", model="m", provider="local"))
    store.vote(first, session="s", choice="tie")
    listed = store.recent()
    assert [c["id"] for c in listed] == [second, first]
    assert listed[1]["votes"] == 1 and listed[0]["provider"] == "local"
    assert store.recent(limit=1) == listed[:1]


def test_record_from_a_real_run_keeps_what_the_model_saw(tmp_path, settings, tiny_backend):
    settings = settings.replace(api_key="secret-key", seed=5)
    engine = Engine(settings, tiny_backend)
    prompt = "Plan a one-day trip to Skagway, Alaska"
    events = list(engine.run(prompt))
    record = comparison_from_events(prompt, events, engine.settings, grounding={"figures": 1})
    sources_event = next(e for e in events if e.kind == "sources")
    assert record.context == sources_event.data["context"] and "[1]" in record.context
    assert record.sources[0]["n"] == 1 and record.provider == "local"
    done = {e.column: e.data for e in events if e.kind == "done"}
    assert record.plain_answer == done["plain"]["answer"]
    assert record.search_answer == done["search"]["answer"]
    assert record.tokens["plain"] == done["plain"]["tokens"] and record.tokens["context"] > 0
    assert record.timings["search"]["ttft_s"] == done["search"]["ttft_s"]
    assert {"search", "fetch", "pack"} <= set(record.timings["stages"])
    assert record.model == Path(settings.model).name, "the folder's name, not the server's path"
    assert record.seed == 5 and record.backend == "transformers"
    assert str(Path(settings.model).parent) not in json.dumps(record.as_dict())
    assert record.settings["max_new_tokens"] == settings.max_new_tokens
    assert "api_key" not in record.settings and "secret-key" not in json.dumps(record.as_dict())
    assert record.extra["pages"] and record.grounding == {"figures": 1}
    with Store(tmp_path / "duel.sqlite3") as s:
        assert s.get(s.save(record)).context == record.context


def test_every_setting_is_either_snapshotted_or_deliberately_not():
    from searchduel.store import settings_snapshot

    snap = settings_snapshot(Settings())
    assert "session_salt" not in snap and "api_key" not in snap and "data_dir" not in snap
    assert {"model", "search", "context_tokens", "dense", "temperature"} <= set(snap)
    json.dumps(snap)


def test_no_record_carries_the_servers_addresses_paths_or_secrets(tmp_path):
    """A record is public to anyone with its link: its download and export say nothing of the
    server (URLs, absolute paths, tokens), also for rows stored before that rule."""
    from searchduel.store import settings_snapshot

    private = Settings(
        model=str(tmp_path / "models" / "tiny"),
        corpus=str(tmp_path / "corpus dir"),
        base_url="http://10.0.0.5:8000/v1",
        searxng_url="http://searx.internal:8888",
        admin_token="operator-token-123",
        history_secret="history-key-456",
        session_salt="salt-789",
    )
    snap = settings_snapshot(private)
    assert snap["model"] == "tiny" and snap["corpus"] == "corpus dir"
    text = json.dumps(snap)
    for secret in ("10.0.0.5", "searx.internal", "operator-token", "history-key", "salt-789"):
        assert secret not in text
    assert str(tmp_path) not in text
    old_settings = {"base_url": "http://10.0.0.5/v1", "corpus": str(tmp_path / "c")}
    legacy = replace(
        RICH, model=str(tmp_path / "m"), settings={**old_settings, "max_new_tokens": 5}
    )
    with Store(tmp_path / "duel.sqlite3") as s:
        cid = s.save(legacy)
        shown = json.dumps(s.get(cid).as_dict())
        out = io.StringIO()
        s.export("jsonl", out)
    for text in (shown, out.getvalue()):
        assert "10.0.0.5" not in text and str(tmp_path) not in text
        assert '"max_new_tokens": 5' in text


def test_store_files_live_where_the_setting_says(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "nested" / "data"))
    with Store.from_settings(settings) as s:
        s.save(RICH)
    assert (tmp_path / "nested" / "data" / "searchduel.sqlite3").is_file()
    assert Path(s.path) == settings.store_path


def test_a_full_store_refuses_new_comparisons_politely_and_still_reads(tmp_path):
    from searchduel.errors import StoreFull

    with Store(tmp_path / "full.sqlite3", max_mb=1) as s:
        kept = s.save(RICH)
        big = replace(RICH, context="x" * 1_100_000)
        s.save(big)  # the cap is checked before a write: this one still fits the check
        with pytest.raises(StoreFull, match="full"):
            s.save(RICH)
        assert s.get(kept).prompt == RICH.prompt, "reads go on"
    with (
        Store(tmp_path / "reserve.sqlite3", disk_reserve_mb=10**9) as s,
        pytest.raises(StoreFull, match="disk"),
    ):
        s.save(RICH)

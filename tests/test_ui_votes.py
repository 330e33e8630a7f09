"""The page's pieces for votes, without a browser: the store it opens, the history it keeps,
the blind placement, and the history secret."""

from __future__ import annotations

from safe_html import text_of
from searchduel.config import HISTORY_ITEMS, Settings
from searchduel.render.live import LiveView as _View
from searchduel.render.live import blind_outputs
from searchduel.store import Store
from searchduel.types import Event
from searchduel.ui.history import history_choices, remember
from searchduel.ui.stored import STORE_OFF_NOTE, open_store
from searchduel.ui.votes import vote_labels


def test_storing_off_opens_nothing_and_says_so(tmp_path):
    store, note = open_store(Settings(store=False, data_dir=str(tmp_path)))
    assert not store.enabled and note == STORE_OFF_NOTE
    assert not list(tmp_path.iterdir()), "nothing written"


def test_a_store_that_cannot_open_turns_storing_off_with_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store, note = open_store(Settings(data_dir=str(blocker / "data")))
    assert not store.enabled
    assert "cannot be stored" in note and "no voting" in note


def test_a_writable_data_dir_opens_the_store(tmp_path):
    store, note = open_store(Settings(data_dir=str(tmp_path)))
    with store:
        assert store.enabled and note == ""
        assert (tmp_path / "searchduel.sqlite3").is_file()


def test_history_keeps_the_newest_first_once_each_and_at_most_the_limit():
    state = {"visitor": "v1", "items": []}
    for i in range(HISTORY_ITEMS + 5):
        state = remember(state, f"id{i}", f"prompt {i}")
    state = remember(state, "id10", "prompt 10")
    ids = [item["id"] for item in state["items"]]
    assert len(ids) == HISTORY_ITEMS and ids[0] == "id10" and ids.count("id10") == 1
    assert ids[1] == f"id{HISTORY_ITEMS + 4}"
    assert state["visitor"] == "v1", "the visitor id is kept"
    (entry,) = remember(None, "x", "p")["items"]
    assert entry["id"] == "x" and entry["prompt"] == "p" and entry["at"].endswith(" UTC")
    assert "mode" not in entry and remember(None, "x", "p", "blind")["items"][0]["mode"] == "blind"


def test_history_labels_say_when_and_how_so_two_runs_of_a_prompt_tell_apart():
    state = remember(remember(None, "a", "Same prompt"), "b", "Same prompt", "blind")
    (newest, _b), (older, _a) = history_choices(state)
    assert newest != older and newest.split(" · ")[1] == "blind"
    assert newest.endswith("Same prompt") and " UTC · " in older
    hostile = {"items": [{"id": "x", "prompt": "p", "at": ["not", "text"]}, "junk", None]}
    assert [v for _l, v in history_choices(hostile)] == ["x"], "a client's junk is skipped"


def test_history_labels_are_one_short_line():
    state = {"items": [{"id": "a", "prompt": "line one\nline two " + "x" * 100}, {"id": "b"}]}
    (label, value), (empty, _b) = history_choices(state)
    assert value == "a" and "\n" not in label and len(label) == 60 and label.endswith("…")
    assert empty == "(empty prompt)"
    assert history_choices(None) == []


def _view() -> _View:
    view = _View()
    for event in (
        Event("plain", "token", text="Plain words."),
        Event("search", "status", data={"message": "Searching the offline corpus…"}),
        Event("search", "token", text="Searched words [1]."),
        Event("search", "done", data={"answer": "Searched words [1].", "tokens": 4}),
        Event("search", "trace", data={"provider": "local", "query": "q"}),
    ):
        view.apply(event)
    return view


def test_blind_outputs_show_answers_only_where_they_were_placed():
    view = _view()
    left_search = blind_outputs(view, "search")
    assert (
        text_of(left_search[0]) == "Searched words." and text_of(left_search[3]) == "Plain words."
    )
    assert all(x == "" for i, x in enumerate(left_search) if i not in (0, 3))
    left_plain = blind_outputs(view, "plain")
    assert text_of(left_plain[0]) == "Plain words."
    assert text_of(left_plain[3]) == "Searched words."
    waiting = blind_outputs(_View(), "plain")
    assert text_of(waiting[0]) == text_of(waiting[3]) == "Working…", "no stage words"
    assert "<em>" in waiting[0]


def test_vote_labels_name_the_columns_as_shown():
    assert vote_labels("plain", False) == ("Search off better", "Search on better")
    assert vote_labels("search", False) == ("Search on better", "Search off better")
    assert vote_labels("search", True) == ("A is better", "B is better")


def test_the_history_secret_is_stable_per_store_and_per_purpose(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        first = store.derived_secret("history")
        assert store.derived_secret("other") != first
    with Store(tmp_path / "s.sqlite3") as again:
        assert again.derived_secret("history") == first, "the history survives a restart"
    assert Store(None).derived_secret("history") != Store(None).derived_secret("history")


def _component(demo, elem_id: str) -> dict:
    (found,) = [
        c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == elem_id
    ]
    return found["props"]


def test_the_page_with_storing_off_says_so_and_offers_no_votes(tmp_path):
    from searchduel.loader import BackendLoader
    from searchduel.ui import build

    settings = Settings(store=False, data_dir=str(tmp_path), blind=True)
    demo = build(BackendLoader(settings), settings)  # never started: the page alone
    assert _component(demo, "vote-status")["value"] == STORE_OFF_NOTE
    assert _component(demo, "blind")["interactive"] is False, "no blind votes without a store"
    for key in ("left", "right", "tie", "bad"):
        assert _component(demo, f"vote-{key}")["interactive"] is False
    assert not list(tmp_path.iterdir())


def test_the_page_keeps_history_under_a_fixed_key_and_no_secret_in_its_config(tmp_path):
    """Gradio puts a BrowserState's key in /config: the operator's secret (and the admin
    token) must not be it, nor anywhere else in the page's config."""
    import json

    import gradio as gr

    from searchduel.config import HISTORY_STORAGE_KEY
    from searchduel.loader import BackendLoader
    from searchduel.ui import build

    settings = Settings(data_dir=str(tmp_path), history_secret="s3cret", admin_token="t0ken")
    demo = build(BackendLoader(settings), settings)
    (state,) = [b for b in demo.blocks.values() if isinstance(b, gr.BrowserState)]
    assert state.storage_key == HISTORY_STORAGE_KEY
    config = json.dumps(demo.config, default=str)
    assert "s3cret" not in config and "t0ken" not in config
    again = build(BackendLoader(settings), settings)
    (kept,) = [b for b in again.blocks.values() if isinstance(b, gr.BrowserState)]
    assert kept.secret == state.secret, "the list stays readable across restarts"
    assert _component(demo, "blind")["value"] is False, "not blind unless the Space says so"
    assert _component(demo, "results") is not None and _component(demo, "history") is not None

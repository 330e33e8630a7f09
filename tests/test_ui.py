"""The launched app through Gradio's API (/compare), as another program would use it."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_compare_streams_both_columns_with_sources_and_trace(client):
    job = client.submit(
        "Plan a one-day trip to Skagway, Alaska", 96, 0.0, 4, "local", api_name="/compare"
    )
    updates = list(job)
    final = job.result()
    plain, plain_stats, plain_given, search, search_stats, search_given = final[:6]
    notice, sources, trace = final[6:]
    assert plain.strip() and search.strip()
    assert "96 tokens" in plain_stats, "counted from the generated ids: exactly max new tokens"
    assert "first token" in search_stats
    assert "1." in sources and "skagway" in sources.lower()
    assert "offline corpus" in trace and "| ok |" in trace
    for stage in ("search", "reading pages", "ranking (BM25)", "prefill and first token", "total"):
        assert stage in trace, stage
    assert "offline corpus" in notice, "the provider is visible without opening the trace"
    assert "prompt tokens" in plain_given and "Plan a one-day trip" in plain_given
    assert "of them sources" in search_given and "Skagway" in search_given
    assert len(updates) > 3, "the answer streams in many updates"
    both_growing = [u for u in updates if u[0] and u[3]]
    assert both_growing, "updates carry both columns at once"


def test_search_off_is_a_neutral_note(client):
    final = client.predict("Skagway", 16, 0.0, 4, "off", api_name="/compare")
    search, trace = final[3], final[8]
    assert "off for this comparison" in search
    assert "⚠️" not in search and "--search" not in search
    assert "Search is off" in trace and "No search yet" not in trace


def test_a_20000_character_prompt_is_refused_with_its_length(client):
    """The server's input limit (inputs.py) refuses it before any search or generation, in
    plain words with both numbers; a prompt within the limit that still overflows the model's
    window is blamed on the prompt in both columns (test_engine)."""
    from gradio_client.exceptions import AppError

    prompt = " ".join(f"w{i}" for i in range(3400))[:20_000]  # 20,000 characters
    with pytest.raises(AppError) as info:
        client.predict(prompt, 32, 0.0, 4, "local", api_name="/compare")
    message = str(info.value)
    assert f"{len(prompt.strip()):,} characters" in message and "limit is 2,000" in message
    assert "Error" not in message and "--" not in message


def test_api_lists_compare(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert "/compare" in info["named_endpoints"]


def test_a_finished_api_comparison_is_stored(client, app_data_dir):
    from searchduel.store import Store

    prompt = "How does photosynthesis turn sunlight into sugar? (stored)"
    final = client.predict(prompt, 16, 0.0, 4, "local", api_name="/compare")
    with Store(app_data_dir / "searchduel.sqlite3", create=False) as store:
        (row,) = [r for r in store.recent(50) if r["prompt"] == prompt]
        record = store.get(row["id"])
    assert record.plain_answer and record.search_answer
    shown = re.sub(r"<[^>]+>", " ", final[0])  # the page's answer is tinted by the judge
    assert record.plain_answer.split()[0] in shown.split()
    assert record.sources and record.context, "the sources and their block are kept"
    assert record.settings["max_new_tokens"] == 16, "the settings it ran with"
    assert record.tokens["plain"] == 16 and record.provider == "local"

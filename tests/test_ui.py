"""The launched app through Gradio's API (/compare), as another program would use it."""

from __future__ import annotations

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
    plain, plain_stats, search, search_stats, notice, sources, trace = final
    assert plain.strip() and search.strip()
    assert "tokens" in plain_stats and "first token" in search_stats
    assert "1." in sources and "skagway" in sources.lower()
    assert "offline corpus" in trace and "| ok |" in trace
    assert "offline corpus" in notice, "the provider is visible without opening the trace"
    assert len(updates) > 3, "the answer streams in many updates"
    both_growing = [u for u in updates if u[0] and u[2]]
    assert both_growing, "updates carry both columns at once"


def test_api_lists_compare(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert "/compare" in info["named_endpoints"]

"""Loading the model behind the page: states, progress, failures explained, the model named."""

from __future__ import annotations

import threading

import pytest

from fakes import ScriptedBackend
from searchduel.config import Settings
from searchduel.errors import ModelLoadError
from searchduel.llm.hub import download_progress_class
from searchduel.llm.transformers_local import load_model
from searchduel.loader import BackendLoader, describe, explain_failure
from searchduel.ui.page import load_status, model_line


def test_states_go_from_downloading_to_ready(settings):
    release = threading.Event()
    seen: list[dict] = []

    def factory(s, progress):
        progress("downloading", done=1_000_000_000, total=7_600_000_000)
        release.wait(10)
        progress("loading")
        return ScriptedBackend()

    loader = BackendLoader(settings, factory=factory).start()
    while loader.snapshot()["state"] != "downloading":
        threading.Event().wait(0.01)
    seen.append(loader.snapshot())
    assert loader.engine is None and not loader.wait(0.05)
    assert "1.00 of 7.60 GB" in load_status(seen[0])
    release.set()
    assert loader.wait(10)
    assert loader.snapshot()["state"] == "ready" and load_status(loader.snapshot()) == ""
    assert loader.engine.backend is loader.backend


def test_a_failed_load_is_explained_and_the_loader_settles(settings):
    def factory(s, progress):
        raise ModelLoadError("could not load: boom")

    loader = BackendLoader(settings, factory=factory).start()
    assert not loader.wait(10)
    snap = loader.snapshot()
    assert snap["state"] == "failed" and "boom" in snap["detail"]
    shown = load_status(snap)
    assert snap["what"] in shown and snap["fix"] in shown


def test_an_offline_hub_id_says_download_it_or_use_a_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(model="someone/not-cached-model")
    with pytest.raises(ModelLoadError) as info:
        load_model(settings.model)
    what, fix = explain_failure(info.value, settings)
    assert "not on this machine" in what and "cannot be reached" in what
    assert "--model models/phi3" in fix and "tiny-model" in fix


@pytest.mark.parametrize(
    ("model", "exc", "words"),
    [
        ("./models/nothing-here", ModelLoadError("x"), "There is no folder"),
        ("microsoft/Phi-3-mini-4k-instruct", MemoryError("oom"), "not enough memory"),
        ("microsoft/Phi-3-mini-4k-instrukt", ModelLoadError("404 Client Error"), "has no model"),
    ],
)
def test_failures_name_their_cause(model, exc, words):
    what, fix = explain_failure(exc, Settings(model=model))
    assert words in what and fix


def test_download_progress_reports_bytes_of_the_total():
    reports: list[tuple] = []
    bar_class = download_progress_class(lambda stage, **kw: reports.append((stage, kw)))
    # as huggingface_hub's snapshot_download creates and feeds its bytes bar
    bar = bar_class(desc="Reconstructing (incomplete total...)", total=0, unit="B", name="x")
    bar.total = 2_000
    bar.refresh()
    bar.update(500)
    bar.close()
    assert reports[-1] == ("downloading", {"done": 500, "total": 2_000})
    files = bar_class(total=3, desc="Fetching 3 files")
    files.update(1)
    files.close()
    assert reports[-1][1]["done"] == 500, "the files bar is not bytes"


def test_the_page_names_the_model(settings, tiny_backend):
    info = describe(settings, tiny_backend)
    assert info.precision == "fp32 on CPU" and info.window == 4096
    assert info.backend == "local" and info.search == "offline corpus"
    assert info.test_model, "the tiny model is marked in its config"
    line = model_line(info)
    assert "fp32 on CPU" in line and "4,096-token window" in line
    hub = describe(Settings(model="microsoft/Phi-3-mini-4k-instruct", search="duckduckgo"))
    assert hub.link == "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct"
    assert hub.search == "DuckDuckGo" and not hub.test_model
    served = describe(
        Settings(model="phi3", backend="openai", base_url="http://gpu.example:8000/v1")
    )
    assert served.backend == "gpu.example" and served.link == ""

"""The openai backend against a real inference server nobody here wrote: `transformers serve`
(the transformers[serving] extra) started on 127.0.0.1 with the tiny model; then stopped
mid-answer, and absent from the start. Also: Stop frees the local model for the next stream."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from searchduel.cli import main
from searchduel.config import Settings
from searchduel.engine import Engine
from searchduel.llm.openai_compat import OpenAIBackend

pytestmark = pytest.mark.slow
SERVE_START_S = 120  # the server imports torch and loads the model before it listens


def start_serve(model_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    exe = shutil.which("transformers")
    if exe is None:
        pytest.skip("the transformers CLI is absent (pip install 'transformers[serving]')")
    pytest.importorskip("fastapi")
    pytest.importorskip("openai")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process below)
    proc = subprocess.Popen(
        [exe, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group, ended as one below
    )
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + SERVE_START_S
    url = f"http://127.0.0.1:{port}/v1"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited; see {log_path}")
        try:
            if httpx.get(url + "/models", timeout=1, trust_env=False).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_serve(proc)
            raise RuntimeError(f"transformers serve did not answer in {SERVE_START_S} s")
        time.sleep(0.5)


def stop_serve(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    proc.log.close()  # type: ignore[attr-defined]


@pytest.fixture
def served(tiny_model_dir: Path, tmp_path: Path):
    port = free_port()
    proc = start_serve(tiny_model_dir, port, tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}/v1", proc
    finally:
        stop_serve(proc)


def openai_settings(model_dir: Path, base_url: str, **changes) -> Settings:
    values = {
        "backend": "openai",
        "base_url": base_url,
        "model": str(model_dir),  # transformers serve names a folder model by its path
        "search": "local",
        "dense": False,
        "max_new_tokens": 24,
    }
    return Settings(**{**values, **changes})


def test_both_columns_stream_through_a_real_server(served, tiny_model_dir, capsys):
    base_url, _ = served
    code = main(
        [
            "ask",
            "Plan a one-day trip to Skagway, Alaska",
            "--json",
            "--backend",
            "openai",
            "--base-url",
            base_url,
            "--model",
            str(tiny_model_dir),
            "--search",
            "local",
            "--dense",
            "false",
            "--max-new-tokens",
            "24",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    for column in ("plain", "search"):
        assert result[column]["answer"] and result[column]["error"] is None
        # the server's usage, not our estimate (the tiny model never stops early)
        assert result[column]["tokens"] == 24
    assert result["search"]["sources"]


def test_server_stopped_mid_answer_is_a_clear_error_and_the_engine_goes_on(served, tiny_model_dir):
    base_url, proc = served
    settings = openai_settings(tiny_model_dir, base_url, max_new_tokens=3000, search="off")
    backend = OpenAIBackend.from_settings(settings)
    engine = Engine(settings, backend)
    events = []
    t0 = time.monotonic()
    for event in engine.run("Tell me everything about tides"):
        events.append(event)
        if event.kind == "token" and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the server dies mid-answer
    assert time.monotonic() - t0 < 30, "a dead server must not hang the column"
    plain = [e for e in events if e.column == "plain"]
    assert [e.kind for e in plain].count("token") >= 1
    [end] = [e for e in plain if e.kind in ("done", "error")]
    assert end.kind == "error" and end.data["type"] == "GenerationError"
    assert "connection to the model server was lost" in end.text
    assert "broke" in end.data["detail"] or "ended before" in end.data["detail"]
    for leak in ("Traceback", "127.0.0.1", "--", "SEARCHDUEL"):
        assert leak not in end.text, "details stay in the trace and the log"
    # the process goes on: the same engine answers the next person from another server
    replacement = start_serve(tiny_model_dir, free_port(), Path(proc.log.name).with_name("b.log"))
    try:
        port = replacement.args[-1]
        backend2 = OpenAIBackend.from_settings(
            settings.replace(base_url=f"http://127.0.0.1:{port}/v1")
        )
        again = list(Engine(settings.replace(max_new_tokens=8), backend2).run("And now?"))
        ends = [e.kind for e in again if e.column == "plain" and e.kind in ("done", "error")]
        assert ends == ["done"]
    finally:
        stop_serve(replacement)


def test_server_absent_at_start_says_so_in_each_column(tiny_model_dir):
    settings = openai_settings(tiny_model_dir, f"http://127.0.0.1:{free_port()}/v1")
    events = list(
        Engine(settings, OpenAIBackend.from_settings(settings)).run(
            "Plan a one-day trip to Skagway, Alaska"
        )
    )
    errors = [e for e in events if e.kind == "error"]
    assert sorted(e.column for e in errors) == ["plain", "search"]
    for e in errors:
        assert "model server could not be reached" in e.text
        assert "127.0.0.1" not in e.text and "--base-url" not in e.text
        assert "cannot reach the model server" in e.data["detail"]


def test_stop_frees_the_local_model_for_the_next_stream_within_a_second(tiny_model_dir):
    """One generation slot: after Stop, the next person's stream gets its first token
    without waiting for the stopped answer to run out."""
    from searchduel.llm.transformers_local import TransformersBackend, load_model

    model, tokenizer, _ = load_model(str(tiny_model_dir))
    backend = TransformersBackend(model, tokenizer, max_streams=1, queue_size=4)
    messages = [{"role": "user", "content": "Tell me everything about tides"}]
    stop = threading.Event()
    first = backend.stream(messages, max_new_tokens=3000, stop=stop)
    next(first)
    drained = threading.Thread(target=lambda: list(first))  # the column reading on, as it does
    stop.set()
    t0 = time.perf_counter()
    drained.start()
    second = backend.stream(messages, max_new_tokens=8)
    next(second)
    waited = time.perf_counter() - t0
    list(second)
    drained.join(5)
    assert waited < 1.0, f"the next stream waited {waited:.2f} s for the stopped one"
    print(f"first token of the next stream {waited * 1000:.0f} ms after Stop", file=sys.stderr)

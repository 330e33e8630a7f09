"""Shared fixtures: a tiny real Phi-3 built once per run, a scripted backend, shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from searchduel.config import DEFAULT_CORPUS, Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PHI3_TOKENIZER = SHARED_DATA / "phi3-tokenizer"
ADMIN_TOKEN = "operator-token-for-tests"  # `app_url`'s --admin-token


def require_shared(path: Path) -> Path:
    """Skip (or, in CI with SEARCHDUEL_REQUIRE_SHARED=1, fail) when ../shared data is absent."""
    if not path.exists():
        reason = f"{path} is absent (the shared data lives beside the repository)"
        if os.environ.get("SEARCHDUEL_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Phi3ForCausalLM + a tokenizer trained now on the shipped corpus."""
    from searchduel.llm.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-phi3"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path):
    from searchduel.llm.transformers_local import TransformersBackend, load_model

    model, tokenizer, quant = load_model(str(tiny_model_dir))
    return TransformersBackend(model, tokenizer, name="tiny", quantization=quant)


def require_llama_cpp() -> None:
    """Skip (or, in CI with SEARCHDUEL_REQUIRE_LLAMACPP=1, fail) without llama-cpp-python."""
    from searchduel.llm.gguf_model import available

    if not available():
        reason = "llama-cpp-python is not installed (pip install -e .[cpu])"
        if os.environ.get("SEARCHDUEL_REQUIRE_LLAMACPP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model written as a GGUF (the `tiny-model --gguf` path), in its own folder so
    that the transformers folder stays a transformers folder for `--backend auto`."""
    from searchduel.llm.gguf_export import write_gguf

    return write_gguf(tiny_model_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama_backend(tiny_gguf: Path):
    """The tiny GGUF in llama.cpp, in-process."""
    require_llama_cpp()
    from searchduel.llm.gguf_model import GGUFModel
    from searchduel.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(GGUFModel.load(str(tiny_gguf)), name="tiny.gguf")


@pytest.fixture(scope="session")
def phi3_tokenizer():
    from searchduel.llm.tokens import load_tokenizer

    return load_tokenizer(str(require_shared(PHI3_TOKENIZER)))


@pytest.fixture
def settings(tiny_model_dir: Path) -> Settings:
    """Offline settings: the tiny model and the shipped corpus (lexical ranking only, for
    speed: the CLI tests run the default, dense re-ranking included)."""
    return Settings(
        model=str(tiny_model_dir),
        search="local",
        corpus=str(DEFAULT_CORPUS),
        max_new_tokens=24,
        dense=False,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder (comparison store) of the app that `app_url` launches."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture(scope="session")
def app_url(tiny_model_dir: Path, app_data_dir: Path):
    """`python app.py` launched as a stranger would, on the tiny model and the offline corpus,
    storing into a fresh data folder."""
    import sys

    port = free_port()
    env = {
        **os.environ,
        "SEARCHDUEL_MAX_NEW_TOKENS": "320",
        "SEARCHDUEL_DENSE": "false",  # the browser test times streams: keep the CPU for them
        "SEARCHDUEL_DATA_DIR": str(app_data_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "SEARCHDUEL_RATE_LIMIT": "0",  # the tests ask far more than a visitor would
        "SEARCHDUEL_VOTE_LIMIT": "0",
        "SEARCHDUEL_ADMIN_TOKEN": ADMIN_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable,
        str(REPO / "app.py"),
        "--model",
        str(tiny_model_dir),
        "--search",
        "local",
        "--port",
        str(port),
    ]
    yield from _serve(cmd, env, ".app.log", port)


def _serve(cmd: list[str], env: dict[str, str], log_name: str, port: int):
    """Start `cmd`, wait until it answers on `port`, yield its URL, stop it."""
    import subprocess
    import time

    import httpx

    log = open(REPO / "tests" / log_name, "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[1]} exited with {proc.returncode}; see tests/{log_name}")
            try:
                if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[1]} did not answer within 120 s; see tests/{log_name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def slow_app(tmp_path_factory: pytest.TempPathFactory):
    """tests/slow_app.py: the page on a backend double that loads until `gate` exists.

    Yields (url, gate): the model "downloads" until the test creates the gate file."""
    import sys

    gate = tmp_path_factory.mktemp("slow-app") / "release"
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "SEARCHDUEL_RATE_LIMIT": "0",  # the tests ask far more than a visitor would
    }
    cmd = [sys.executable, str(REPO / "tests" / "slow_app.py"), str(port), str(gate)]
    for url in _serve(cmd, env, ".slow_app.log", port):
        yield url, gate


@pytest.fixture(scope="session")
def held_app(tmp_path_factory: pytest.TempPathFactory):
    """tests/slow_app.py, loaded at once, whose answers wait before their last word while
    `hold` exists: (url, hold). A test creates `hold` before Ask and removes it when it is
    done with the running comparison."""
    import sys

    folder = tmp_path_factory.mktemp("held-app")
    gate, hold = folder / "release", folder / "hold"
    gate.touch()
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "SEARCHDUEL_RATE_LIMIT": "0",  # the tests ask far more than a visitor would
    }
    cmd = [sys.executable, str(REPO / "tests" / "slow_app.py"), str(port), str(gate), str(hold)]
    for url in _serve(cmd, env, ".held_app.log", port):
        yield url, hold


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (one per test module), or a skip when it is not installed."""
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        reason = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("SEARCHDUEL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _patient(browser)
        yield browser
        browser.close()


# The longest any browser test waits for a state (Playwright's default is 30 s): a cap, never a
# pause. With both cores busy, loading the page's scripts alone was seen to take over 30 s.
BROWSER_WAIT_MS = 120_000


def _patient(browser) -> None:
    """Every context and page this browser makes waits up to BROWSER_WAIT_MS for a state."""
    new_context, new_page = browser.new_context, browser.new_page

    def context(*args, **kwargs):
        made = new_context(*args, **kwargs)
        made.set_default_timeout(BROWSER_WAIT_MS)
        return made

    def page(*args, **kwargs):
        made = new_page(*args, **kwargs)
        made.set_default_timeout(BROWSER_WAIT_MS)
        return made

    browser.new_context, browser.new_page = context, page


@pytest.fixture(scope="module")
def judge_app():
    """tests/judge_app.py: the page on a backend double that copies a corpus sentence (the
    judge finds it supported) and makes one up; Batch runs at most 3 questions there.
    Module-scoped: it is gone before tests that count this process's app children run."""
    import sys

    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "SEARCHDUEL_RATE_LIMIT": "0",  # the tests ask far more than a visitor would
    }
    cmd = [sys.executable, str(REPO / "tests" / "judge_app.py"), str(port)]
    yield from _serve(cmd, env, ".judge_app.log", port)


@pytest.fixture(scope="module")
def batch_app(tmp_path_factory: pytest.TempPathFactory):
    """tests/batch_app.py: the page on a backend double whose answers wait while `hold`
    exists, 3 comparisons a minute per client address, the address taken from
    X-Forwarded-For (so each test plays its own visitor), one batch at a time.

    Yields (url, hold, data_dir, log): `data_dir` holds the app's store, `log` its output.
    Module-scoped, like judge_app."""
    import sys

    folder = tmp_path_factory.mktemp("batch-app")
    hold, data = folder / "hold", folder / "data"
    data.mkdir()
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(REPO / "tests" / "batch_app.py"), str(port), str(hold), "3"]
    for url in _serve([*cmd, str(data)], env, ".batch_app.log", port):
        yield url, hold, data, REPO / "tests" / ".batch_app.log"
    hold.unlink(missing_ok=True)


@pytest.fixture
def serp():
    """A real HTTP server on 127.0.0.1 playing DuckDuckGo and SearXNG (see serp_server)."""
    from serp_server import FakeSerp

    with FakeSerp() as server:
        yield server


@pytest.fixture
def client():
    """An httpx client that ignores proxy variables, as the providers' own clients do."""
    import httpx

    with httpx.Client(trust_env=False) as c:
        yield c

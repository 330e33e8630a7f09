"""Nothing leaks from the launched app: Gradio's file routes refuse what they must, and the
Gradio pin is at or above the release that fixed the published advisories."""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import REPO

# Published Gradio advisories and the release that fixed each (GitHub advisory database):
#   GHSA-jmh7-g254-2cq9 / CVE-2026-28416  SSRF through gr.load() proxy_url       fixed 6.6.0
#   GHSA-39mp-8hj3-5c49 / CVE-2026-28414  absolute path traversal (/static/, Win) fixed 6.7.0
#   GHSA-j36p-7w88-g82j                   FileExplorer path traversal             fixed 6.16.0
# Older file-route traversals (CVE-2023-51449, /file=/tmp/gradio/../..) were fixed in 4.x.
GRADIO_FIXED = (6, 16, 0)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_gradio_pin_has_the_published_advisories_fixed() -> None:
    lines = (REPO / "requirements.txt").read_text("utf-8").splitlines()
    [pin] = [line for line in lines if re.match(r"gradio\s*[=<>~!]", line)]
    match = re.match(r"gradio\s*==\s*([\d.]+)", pin)
    assert match, f"gradio must be pinned exactly (==), got {pin!r}"
    assert _version(match.group(1)) >= GRADIO_FIXED, (
        f"{pin} predates {'.'.join(map(str, GRADIO_FIXED))}, which fixed GHSA-j36p-7w88-g82j"
    )
    import gradio

    assert _version(gradio.__version__) >= GRADIO_FIXED, "the installed gradio is older too"


REFUSED = [
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=/etc/../etc/passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=http://169.254.169.254/latest/meta-data/",
    "/gradio_api/file=http://127.0.0.1:1/",
    "/gradio_api/file=/proc/self/environ",
    "/file=/etc/passwd",
    "/static/../../../../etc/passwd",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", REFUSED)
def test_file_routes_refuse_system_files_and_remote_urls(app_url: str, path: str) -> None:
    with httpx.Client(trust_env=False, timeout=10) as client:
        # the raw path is sent as is: httpx would otherwise normalise the dot segments away
        response = client.get(app_url.rstrip("/") + path, follow_redirects=False)
    assert response.status_code in (400, 403, 404), (path, response.status_code)
    body = response.text
    assert "root:" not in body and "SEARCHDUEL_" not in body and "PATH=" not in body


@pytest.mark.slow
def test_file_routes_refuse_the_apps_own_files_outside_allowed_folders(app_url: str) -> None:
    """The repository's own sources, settings and the test log are not served either."""
    base = app_url.rstrip("/")
    targets = [
        REPO / "app.py",
        REPO / "requirements.txt",
        REPO / "src" / "searchduel" / "config.py",
        REPO / "tests" / ".app.log",
    ]
    with httpx.Client(trust_env=False, timeout=10) as client:
        for target in targets:
            response = client.get(f"{base}/gradio_api/file={target}")
            assert response.status_code in (400, 403, 404), (target, response.status_code)
            assert "import" not in response.text

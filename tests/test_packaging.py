"""The pins live in two places that must agree: pyproject.toml (`pip install -e .`, and the
`cpu` extra for llama.cpp) and requirements.txt (what a Space installs: both together)."""

from __future__ import annotations

import re

import pytest

from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_requirements_txt_is_the_dependencies_and_the_cpu_extra():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    lines = (REPO / "requirements.txt").read_text("utf-8").splitlines()
    pins = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["cpu"]]
    assert sorted(pins) == sorted(wanted)
    assert len({_name(p) for p in pins}) == len(pins), "one pin a package"


def test_llama_cpp_is_pinned_exactly():
    """The vendored llama.cpp decides what GGUFs load and how they tokenize."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    [pin] = project["optional-dependencies"]["cpu"]
    assert re.fullmatch(r"llama-cpp-python==[\d.]+", pin)

"""What the machine can give: memory left (/proc/meminfo and the cgroup), usable cores, and
the check that refuses weights too large before loading them, on the page and in the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchduel import machine
from searchduel.config import DEFAULT_GGUF, Settings
from searchduel.errors import NotEnoughMemory

GB = 1024**3


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def meminfo(tmp_path):
    return write(tmp_path, {"meminfo": "MemTotal: 16384000 kB\nMemAvailable: 12000000 kB\n"})


def test_available_memory_is_meminfo_without_a_cgroup_limit(tmp_path, meminfo):
    cgroup = write(tmp_path / "cg", {"memory.max": "max\n", "memory.current": "123\n"})
    assert machine.available_memory(meminfo / "meminfo", cgroup) == 12_000_000 * 1024


def test_a_cgroup_v2_limit_wins_and_droppable_cache_is_not_used(tmp_path, meminfo):
    cgroup = write(
        tmp_path / "cg",
        {
            "memory.max": str(8 * GB),
            "memory.current": str(6 * GB),
            "memory.stat": f"anon {4 * GB}\ninactive_file {1 * GB}\n",
        },
    )
    assert machine.available_memory(meminfo / "meminfo", cgroup) == 3 * GB


def test_a_cgroup_v1_limit_is_read_too(tmp_path, meminfo):
    cgroup = write(
        tmp_path / "cg",
        {
            "memory/memory.limit_in_bytes": str(4 * GB),
            "memory/memory.usage_in_bytes": str(1 * GB),
            "memory/memory.stat": "total_inactive_file 0\n",
        },
    )
    assert machine.available_memory(meminfo / "meminfo", cgroup) == 3 * GB
    unlimited = write(
        tmp_path / "cg1",
        {
            "memory/memory.limit_in_bytes": "9223372036854771712",
            "memory/memory.usage_in_bytes": "1",
        },
    )
    assert machine.available_memory(meminfo / "meminfo", unlimited) == 12_000_000 * 1024


def test_nothing_known_means_no_refusal(tmp_path, monkeypatch):
    assert machine.available_memory(tmp_path / "none", tmp_path / "none") is None
    monkeypatch.setattr(machine, "available_memory", lambda *a, **k: None)
    machine.require_memory(10**15, "anything", "")  # not Linux: the load goes ahead


def test_a_cpu_quota_caps_the_cores(tmp_path):
    cores = machine.usable_cpus(tmp_path / "none")
    assert cores >= 1
    quota = write(tmp_path / "cg", {"cpu.max": "100000 100000\n"})
    assert machine.usable_cpus(quota) == 1
    v1 = write(tmp_path / "cg1", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    assert machine.usable_cpus(v1) == cores


def test_require_memory_says_what_and_what_instead():
    machine.require_memory(1 * GB, "small", "advice", available=4 * GB)
    with pytest.raises(NotEnoughMemory) as info:
        machine.require_memory(15 * GB, "Phi-3 in fp32", "Run the GGUF.", available=12 * GB)
    assert info.value.need == 15 * GB and info.value.available == 12 * GB
    assert "Phi-3 in fp32" in str(info.value) and "Run the GGUF." in str(info.value)


@pytest.fixture
def little_memory(monkeypatch):
    """This machine has 1 MB left, as far as the check can tell."""
    monkeypatch.setattr(machine, "available_memory", lambda *a, **k: 1024**2)


def test_transformers_on_a_cpu_is_refused_before_loading_and_names_the_gguf(
    tiny_model_dir, tiny_backend, little_memory, monkeypatch
):
    from transformers import AutoModelForCausalLM

    from searchduel.llm.transformers_local import load_model
    from searchduel.loader import explain_failure
    from searchduel.ui.page import load_status

    def never(*a, **k):
        raise AssertionError("the weights were loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", never)
    with pytest.raises(NotEnoughMemory) as info:
        load_model(str(tiny_model_dir))
    weights = sum(p.numel() for p in tiny_backend.model.parameters())
    assert info.value.need == 4 * weights, "fp32: four bytes a weight"
    settings = Settings(model="microsoft/Phi-3-mini-4k-instruct", backend="transformers")
    what, fix = explain_failure(info.value, settings)
    assert "not enough memory" in what and "GB" in what
    shown = load_status({"state": "failed", "what": what, "fix": fix, "detail": str(info.value)})
    assert "--backend llamacpp" in shown
    # the hub model's advice names its GGUF
    from searchduel.llm.llamacpp import gguf_advice

    assert "/".join(DEFAULT_GGUF) in gguf_advice("microsoft/Phi-3-mini-4k-instruct")
    # --memory-check false loads anyway (as far as the check goes)
    monkeypatch.undo()
    model, _, _ = load_model(str(tiny_model_dir), memory_check=False)
    assert type(model).__name__ == "Phi3ForCausalLM"


def test_a_gguf_too_large_is_refused_before_its_weights_load(tiny_gguf, little_memory, monkeypatch):
    from conftest import require_llama_cpp

    require_llama_cpp()
    from searchduel.llm.gguf_model import GGUFModel
    from searchduel.llm.llamacpp import load_gguf

    loads: list[bool] = []
    real = GGUFModel.load.__func__

    def spy(cls, path, *, vocab_only=False):
        loads.append(vocab_only)
        return real(cls, path, vocab_only=vocab_only)

    monkeypatch.setattr(GGUFModel, "load", classmethod(spy))
    with pytest.raises(NotEnoughMemory, match=r"tiny\.gguf") as info:
        load_gguf(Settings(model=str(tiny_gguf), backend="llamacpp"))
    assert loads == [True], "only the vocabulary was read"
    assert info.value.need > tiny_gguf.stat().st_size, "the KV caches count too"


def test_the_cli_says_so_and_exits_1(tiny_model_dir, little_memory, capsys):
    from searchduel.cli import main

    code = main(["ask", "Hello", "--model", str(tiny_model_dir), "--backend", "transformers"])
    err = capsys.readouterr().err
    assert code == 1
    assert "needs about" in err and "available" in err and "--backend llamacpp" in err

"""What this machine can give the model: memory left for it, CPU cores it may use, and the
check that refuses weights it cannot hold.

    backend loader ─► require_memory(need, ...) ─► available_memory()
                                                    ├─ /proc/meminfo MemAvailable
                                                    └─ cgroup limit - usage (v2, v1)
    llama.cpp      ─► usable_cpus(): affinity, capped by the cgroup's CPU quota

Decisions, in one place:

- Available memory is the smaller of the kernel's MemAvailable (free plus reclaimable cache)
  and the container's room: its cgroup limit less its usage, where the page cache the kernel
  can drop (inactive_file) is not counted as used. A Space or a Docker container sees the
  host's /proc/meminfo, so the cgroup figure is the one that decides whether the kernel
  kills the process mid-load.
- A model is refused before loading when its weights (plus its caches) and MEMORY_HEADROOM
  do not fit: being told "use the 2.4 GB GGUF" beats being killed after minutes of loading.
  `--memory-check false` loads anyway (swap, or a figure that is wrong here).
- Cores: a container may see every host core in its affinity mask but get a quota of two
  (cpu.max "200000 100000"); running more compute threads than the quota only queues them.
- Off Linux (no /proc) nothing is known: the check lets the load go ahead.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import NotEnoughMemory

# Memory the app needs beside the weights: compute buffers, activations, the dense
# re-ranker's batches and the caches' growth under load (bench load: +70 MB over three
# bursts of 20 clients on the tiny model), with room to spare.
MEMORY_HEADROOM = 512 * 1024**2
PROC_MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 60  # cgroup v1 writes a huge number for "no limit"


def _read(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _meminfo_available(meminfo: Path) -> int | None:
    for line in _read(meminfo).splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # kB
    return None


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _cgroup_room(root: Path) -> int | None:
    """Bytes the cgroup still allows (limit - usage + droppable cache); None when unlimited."""
    for limit_file, usage_file, inactive in (
        ("memory.max", "memory.current", "inactive_file"),  # v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _read(root / limit_file), _read(root / usage_file)
        if not limit or not usage or not usage.isdigit():
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= _NO_LIMIT:
            return None
        stat = _read(root / Path(limit_file).parent / "memory.stat")
        used = int(usage) - _stat_value(stat, inactive)
        return max(0, int(limit) - max(0, used))
    return None


def available_memory(meminfo: Path = PROC_MEMINFO, cgroup: Path = CGROUP_ROOT) -> int | None:
    """Bytes this process may still take before the kernel runs out or the container's limit
    is hit; None where neither can be read (not Linux)."""
    figures = [f for f in (_meminfo_available(meminfo), _cgroup_room(cgroup)) if f is not None]
    return min(figures) if figures else None


def usable_cpus(cgroup: Path = CGROUP_ROOT) -> int:
    """CPU cores this process may run on at once: its affinity, capped by a cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _read(cgroup / "cpu.max").split()  # v2: "max 100000" or "200000 100000"
    if len(quota) == 2 and quota[0].isdigit() and quota[1].isdigit() and int(quota[1]) > 0:
        cores = min(cores, max(1, int(quota[0]) // int(quota[1])))
    v1_quota = _read(cgroup / "cpu" / "cpu.cfs_quota_us")  # v1: -1 when unlimited
    v1_period = _read(cgroup / "cpu" / "cpu.cfs_period_us")
    if v1_quota.isdigit() and v1_period.isdigit() and int(v1_period) > 0:
        cores = min(cores, max(1, int(v1_quota) // int(v1_period)))
    return max(1, cores)


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def require_memory(need: int, what: str, advice: str, available: int | None = None) -> None:
    """Raise NotEnoughMemory when `need` bytes (plus MEMORY_HEADROOM) exceed what is
    available; `what` names the weights, `advice` says what to run instead."""
    room = available_memory() if available is None else available
    if room is None or need + MEMORY_HEADROOM <= room:
        return
    raise NotEnoughMemory(
        f"{what} needs about {gb(need)} of memory and this machine has {gb(room)} available. "
        f"{advice}",
        need=need,
        available=room,
        advice=advice,
    )

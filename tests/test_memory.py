"""The allocator arena cap is applied in-process, once, and never over the environment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def run(code: str, env_extra: dict[str, str] | None = None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = str(SRC)  # this checkout, not an installed copy
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return out.stdout.strip()


CODE = """
    import threading
    from searchduel.memory import limit_malloc_arenas
    first = limit_malloc_arenas(2)
    again = limit_malloc_arenas(2)
    off = limit_malloc_arenas(0)
    # threads that allocate under contention: with the cap, glibc makes no more than 2 arenas
    def work():
        for _ in range(2000):
            bytearray(4096)
    threads = [threading.Thread(target=work) for _ in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    import ctypes, ctypes.util, os, tempfile
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    fd, path = tempfile.mkstemp()
    f = libc.fdopen(os.dup(fd), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    arenas = open(path).read().count("<heap nr=")
    print(first, again, off, arenas)
"""


def test_the_cap_applies_in_process_and_is_idempotent() -> None:
    first, again, off, arenas = run(CODE).split()
    assert (first, again, off) == ("True", "True", "False")
    assert int(arenas) <= 2


def test_the_environment_variable_wins() -> None:
    first, *_ = run(CODE, {"MALLOC_ARENA_MAX": "4"}).split()
    assert first == "False"


def test_trim_heap_hands_free_memory_back() -> None:
    code = """
        import os
        from searchduel.memory import trim_heap

        def rss():
            for line in open(f"/proc/{os.getpid()}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MB of heap, not mmap
        keep = blocks[-1]
        del blocks
        before = rss()
        trim_heap()
        print(before, rss())
    """
    before, after = map(int, run(code).split())
    assert after < before - 100, f"RSS {before} MB before the trim, {after} MB after"

"""Allocator arenas: the one memory lever outside our own caches.

    Engine(...) ─► limit_malloc_arenas(settings.malloc_arenas) ─► mallopt(M_ARENA_MAX, n)

glibc gives each thread that allocates under contention its own arena (up to 8 per core), and
an arena's freed memory is rarely returned to the system. The app runs every comparison in
fresh threads (two columns, a generate thread each, fetch workers, Gradio's workers), so a
long-running process keeps collecting arenas and its resident size climbs burst after burst.

Decisions, in one place:
- The limit is set from inside the process with mallopt(M_ARENA_MAX), which applies to arenas
  created afterwards; MALLOC_ARENA_MAX in the environment does the same before start-up and,
  when set, wins (we leave it alone).
- The default, MALLOC_ARENAS (2), is the usual production value for threaded Python servers:
  torch does its heavy work in its own thread pool and allocator, so fewer arenas cost
  little contention (bench load measures both).
- After each comparison `trim_heap()` (malloc_trim) hands the free pages at the top and in
  the middle of the heaps back to the system: the dense re-ranker's batches and the model's
  activations leave tens of MB free but resident after every burst. It costs ~1 ms.
- Off glibc (macOS, musl) there is no mallopt: the calls do nothing and say so (False).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading

M_ARENA_MAX = -8  # from glibc's malloc.h
_lock = threading.Lock()
_applied: int | None = None


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def trim_heap() -> bool:
    """Return free heap memory to the system (glibc malloc_trim); True when it freed some."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim(0) == 1


def limit_malloc_arenas(n: int) -> bool:
    """Cap glibc's malloc arenas at `n` (0 leaves them alone); True when the cap is in force.
    Idempotent; MALLOC_ARENA_MAX in the environment takes precedence."""
    global _applied
    if n <= 0 or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    with _lock:
        if _applied == n:
            return True
        mallopt = getattr(_libc(), "mallopt", None)
        if mallopt is None:
            return False
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        if mallopt(M_ARENA_MAX, n) != 1:
            return False
        _applied = n
        return True

"""Training on a CPU: keep freed memory in the process for the next step instead of handing it back.

PyTorch has no caching allocator on the CPU: every tensor comes from the C library's ``malloc``.
glibc serves a buffer above its mmap threshold (at most 32 MB by default) with fresh pages from the
kernel and unmaps them on free, so a training step that makes such buffers (a population's
``[T, K, B, N]`` spikes and gradients: 40 MB at K=4 for the MNIST MLP) page-faults them in 4 KB at a
time on every step. Measured on the 2-core machine: allocating and filling a 40 MB tensor took
11.8 ms with glibc's defaults and 0.7 ms with the thresholds below; a population of 4 MLPs went
from 0.69x to about 1x the throughput per member of one standalone model (``snnlab bench population``).

``keep_freed_memory()`` raises glibc's mmap and trim thresholds (``mallopt``) so that such buffers
come from the heap and stay there once freed: the process keeps up to its peak memory instead of
returning it between steps (what PyTorch's CUDA allocator does on a GPU). ``fit``, ``fit_population``
and the benchmarks call it when they run on the CPU. It is process-wide and idempotent, does nothing
where the C library is not glibc, and ``SNNLAB_KEEP_FREED_MEMORY=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

KEEP_ENV = "SNNLAB_KEEP_FREED_MEMORY"
MMAP_THRESHOLD = 1 << 30  # buffers up to 1 GB come from the heap
TRIM_THRESHOLD = (1 << 31) - 1  # the heap is not trimmed back before 2 GB lie free at its top
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def _apply() -> str | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return f"the C library is not glibc ({platform.system()} {' '.join(platform.libc_ver()).strip() or 'unknown'})"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD)) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(TRIM_THRESHOLD)) == 1 and ok
    except (OSError, AttributeError) as error:
        return f"glibc's mallopt could not be called ({error})"
    return None if ok else "glibc's mallopt refused the thresholds"


def keep_freed_memory() -> str | None:
    """Make the C library keep freed buffers for reuse (see the module docstring); None when it is in
    effect, else why not (turned off with ``SNNLAB_KEEP_FREED_MEMORY=0`` before the first call of the
    process, or not glibc). Once applied it stays for the process (there is no undoing ``mallopt``)."""
    applied = _apply.cache_info().currsize > 0
    if not applied and os.environ.get(KEEP_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"turned off by {KEEP_ENV}={os.environ[KEEP_ENV]}"
    return _apply()


__all__ = ["KEEP_ENV", "keep_freed_memory"]

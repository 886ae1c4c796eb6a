"""snnlab.cpu_memory: big CPU buffers come from the heap (no fresh pages per step) once it is in effect."""

from __future__ import annotations

import ctypes
import functools
import ctypes.util
import platform

import pytest
import torch

from snnlab.cpu_memory import KEEP_ENV, keep_freed_memory


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mmapped_bytes() -> int:
    """glibc's bytes in mmap'd chunks (``mallinfo2().hblkhd``)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().hblkhd)


glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt and mallinfo2 are glibc's")


@glibc
def test_a_big_buffer_comes_from_the_heap_once_in_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEEP_ENV, raising=False)
    assert keep_freed_memory() is None
    assert keep_freed_memory() is None  # idempotent
    before = _mmapped_bytes()
    buffers = [torch.ones(40 << 18) for _ in range(2)]  # 40 MB each: above glibc's default mmap ceiling (32 MB)
    assert _mmapped_bytes() - before < (40 << 20)  # neither was given its own fresh mapping
    assert all(float(b[-1]) == 1.0 for b in buffers)


def test_it_can_be_turned_off_before_it_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    import snnlab.cpu_memory as cpu_memory

    monkeypatch.setenv(KEEP_ENV, "0")
    monkeypatch.setattr(cpu_memory, "_apply", functools.cache(lambda: None))  # a fresh process: not applied yet
    assert keep_freed_memory() == f"turned off by {KEEP_ENV}=0"
    monkeypatch.delenv(KEEP_ENV)
    assert keep_freed_memory() is None
    monkeypatch.setenv(KEEP_ENV, "0")  # applied now: there is no undoing it, and it says so
    assert keep_freed_memory() is None

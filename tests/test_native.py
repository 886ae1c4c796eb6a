"""Building and loading the C kernels (snnlab/native.py): cache folders, failures reported, never raised."""

from __future__ import annotations

import ctypes

import pytest

from snnlab import native


def test_cache_dirs_honour_snnlab_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNLAB_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    dirs = native.cache_dirs()
    assert dirs[0] == tmp_path / "c" / "kernels" and dirs[1] == tmp_path / "x" / "snnlab" / "kernels"


def test_compile_failure_names_the_compiler(tmp_path):
    with pytest.raises(RuntimeError, match="false failed"):
        native.compile_library("false", b"int f(void) { return 1; }", tmp_path / "lib.so", ("-shared",))
    assert list(tmp_path.iterdir()) == []  # no half-written library or source left behind


def test_load_library_builds_once_and_reports_failures(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNLAB_CACHE", str(tmp_path / "cache"))
    if native.find_compiler() is None:
        pytest.skip("no C compiler here")
    flags = ("-O1", "-fopenmp", "-shared", "-fPIC")
    lib, where = native.load_library("snnlab.neurons", "lif.c", flags, lambda lib: lib)
    assert isinstance(lib, ctypes.CDLL) and where.startswith(str(tmp_path / "cache" / "kernels"))
    lib.lif_chunk.restype = ctypes.c_int64
    lib.lif_chunk.argtypes = [ctypes.c_int64]
    assert lib.lif_chunk(102400) % 64 == 0
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    lib, reason = native.load_library("snnlab.neurons", "lif.c", ("-O0", "-shared"), lambda lib: lib)
    assert lib is None and reason.startswith("could not build the kernel") and "false failed" in reason
    monkeypatch.setenv("CC", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert native.load_library("snnlab.neurons", "lif.c", flags, lambda lib: lib) == (
        None, "no C compiler found (set CC or install gcc)")

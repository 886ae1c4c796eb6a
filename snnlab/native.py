"""Build and load snnlab's small C kernels: compiled with the system C compiler on first use, cached on disk.

Why not a build step: the kernels are a few hundred lines of portable C (OpenMP loops over a
tensor's elements), so compiling them at first use (well under a second) keeps ``pip install``
pure Python and works wherever a C compiler is (every Linux and macOS developer box, CI). A
library is named by a hash of its source, flags, compiler and machine, so a changed source is
rebuilt, and it is written beside its final name and renamed (safe when processes race). It is
loaded after torch, so its OpenMP loops run on the OpenMP runtime torch already loaded.

Used by ``snnlab.dropout.kernels`` (per-element dropout) and ``snnlab.neurons.lif_kernels`` (the
fused LIF); each keeps its own ``ctypes`` signatures (the ``bind`` callback) and fallback.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path


def cache_dirs() -> list[Path]:
    """Where compiled libraries may live, in order: ``$SNNLAB_CACHE/kernels``, the user cache, the temp folder."""
    dirs = []
    if os.environ.get("SNNLAB_CACHE"):
        dirs.append(Path(os.environ["SNNLAB_CACHE"]) / "kernels")
    xdg = os.environ.get("XDG_CACHE_HOME")
    dirs.append((Path(xdg) if xdg else Path.home() / ".cache") / "snnlab" / "kernels")
    dirs.append(Path(tempfile.gettempdir()) / f"snnlab-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    return dirs


def find_compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc`` or ``gcc`` on the PATH; None when there is none."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def compile_library(compiler: str, source: bytes, target: Path, cflags: Sequence[str]) -> None:
    """Compile C ``source`` into the shared library ``target`` (written beside it, then renamed: safe under concurrency)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so")
    os.close(fd)
    src = Path(tmp).with_suffix(".c")
    try:
        src.write_bytes(source)
        proc = subprocess.run([compiler, *cflags, str(src), "-o", tmp], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{compiler} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        for leftover in (Path(tmp), src):
            leftover.unlink(missing_ok=True)


def load_library(
    package: str, source: str, cflags: Sequence[str], bind: Callable[[ctypes.CDLL], ctypes.CDLL]
) -> tuple[ctypes.CDLL | None, str]:
    """Build (once per source, flags, compiler and machine) and load ``package``'s ``csrc/<source>``.

    Returns ``(library, path)`` with the library passed through ``bind`` (which declares its
    functions' argument types), or ``(None, reason)`` when no compiler is found or no cache folder
    works; the caller decides the fallback. Callers cache the result (one build per process).
    """
    compiler = find_compiler()
    if not compiler:
        return None, "no C compiler found (set CC or install gcc)"
    code = resources.files(package).joinpath("csrc", source).read_bytes()
    key = hashlib.sha256(b"\0".join([code, " ".join(cflags).encode(), compiler.encode(), platform.machine().encode()]))
    name = f"{Path(source).stem}-{key.hexdigest()[:16]}.so"
    errors = []
    for folder in cache_dirs():
        target = folder / name
        try:
            if not target.exists():
                compile_library(compiler, code, target, cflags)
            return bind(ctypes.CDLL(str(target))), str(target)
        except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as exc:
            errors.append(f"{folder}: {exc}")
    return None, "could not build the kernel: " + "; ".join(errors)


__all__ = ["cache_dirs", "compile_library", "find_compiler", "load_library"]

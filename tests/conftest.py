"""Shared fixtures: real data from ../shared/data when present, the tiny trial, small thread counts for 2-core CI.

Nothing a test session does touches user state: ``$SNNLAB_CACHE`` (compiled kernels, decoded
datasets) points at a temporary folder of the session, and the session fails when it changed the
repository's ``runs/`` (``_runs_unchanged``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Before snnlab is imported (and before any test module is collected: some build the compiled kernels at
# import time): compiled kernels and decoded datasets go to a folder of this session, never ~/.cache,
# data/.cache or a cache folder the user chose. Restored and removed in pytest_unconfigure.
_USER_CACHE = os.environ.get("SNNLAB_CACHE")
_SESSION_CACHE = tempfile.mkdtemp(prefix="snnlab-test-cache-")
os.environ["SNNLAB_CACHE"] = _SESSION_CACHE

import pytest  # noqa: E402
import torch  # noqa: E402

from snnlab.dropout.kernels import KERNEL_CHOICES, KERNEL_ENV, kernel_status  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
RUNS = REPO / "runs"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Without a GPU, Triton kernels run in its CPU interpreter. Triton reads this when it is first
# imported, so it is set here, before any test can import it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the user's ``$SNNLAB_CACHE`` back (or none) and remove the session's cache folder."""
    if _USER_CACHE is None:
        os.environ.pop("SNNLAB_CACHE", None)
    else:
        os.environ["SNNLAB_CACHE"] = _USER_CACHE
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


Snapshot = dict[str, tuple[Any, ...]]


def snapshot_tree(root: Path) -> Snapshot | None:
    """Every entry under ``root`` (itself included) by relative path: kind, mode, size, mtime and, for files, sha256.

    None when ``root`` does not exist. Folders' mtimes are included, so a file written and removed again
    (a temporary file, a lock) shows too. Symbolic links are recorded, not followed.
    """
    if not root.exists() and not root.is_symlink():
        return None
    entries: Snapshot = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            entries[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            entries[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return entries


def describe_changes(before: Snapshot | None, after: Snapshot | None) -> list[str]:
    """Human-readable differences between two ``snapshot_tree`` results (empty when identical)."""
    if before is None or after is None:
        return [] if before == after else [f"the folder was {'created' if before is None else 'removed'}"]
    changes = [f"added: {p}" for p in sorted(set(after) - set(before))]
    changes += [f"removed: {p}" for p in sorted(set(before) - set(after))]
    fields = {"dir": ("kind", "mode", "mtime"), "file": ("kind", "mode", "size", "mtime", "sha256"),
              "link": ("kind", "target")}
    for path in sorted(set(before) & set(after)):
        old, new = before[path], after[path]
        if old != new:
            names = fields[old[0]] if old[0] == new[0] else ("kind",)
            differ = [n for n, a, b in zip(names, old, new) if a != b]
            changes.append(f"changed: {path} ({', '.join(differ)})")
    return changes


@pytest.fixture(scope="session")
def tree_snapshot() -> Callable[[Path], Snapshot | None]:
    """``snapshot_tree``: compare a folder before and after to prove a call left it byte-for-byte unchanged."""
    return snapshot_tree


@pytest.fixture(scope="session", autouse=True)
def _runs_unchanged() -> Iterator[None]:
    """The test session leaves the repository's ``runs/`` (the study's own results) byte-for-byte unchanged;
    when ``runs/`` does not exist, it must not exist at the end either. Fails at the session's end, naming the files."""
    before = snapshot_tree(RUNS)
    yield
    changes = describe_changes(before, snapshot_tree(RUNS))
    if changes:
        pytest.fail(f"the test session changed {RUNS} (tests must use temporary stores):\n  " + "\n  ".join(changes),
                    pytrace=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (read-only); tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tiny_trial() -> dict[str, Any]:
    """``TrialSpec`` fields of a real trial that trains in about a second on a CPU (digits, 200 images)."""
    return dict(dataset="digits", train_subset=200, test_subset=100, sizes=(32,), T=4, epochs=2, batch_size=50,
                lr=5e-3, device="cpu")


@pytest.fixture(params=KERNEL_CHOICES)
def kernel(request, monkeypatch) -> str:
    """Run the test under each per-element dropout backend: the fused C kernel and the plain PyTorch path."""
    monkeypatch.setenv(KERNEL_ENV, request.param)
    if kernel_status().backend != request.param:
        pytest.skip(f"the {request.param!r} kernel is not available here: {kernel_status().reason}")
    return request.param

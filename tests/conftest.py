"""Shared fixtures: real data from ../shared/data when present, the tiny trial, small thread counts for 2-core CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from snnlab.dropout.kernels import KERNEL_CHOICES, KERNEL_ENV, kernel_status

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Without a GPU, Triton kernels run in its CPU interpreter. Triton reads this when it is first
# imported, so it is set here, before any test can import it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Compiled kernels (dropout, LIF) go to a folder of this test session, never the user's ~/.cache.
if "SNNLAB_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SNNLAB_CACHE"] = tempfile.mkdtemp(prefix="snnlab-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SNNLAB_CACHE"], True)


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

"""The fused per-element dropout kernel (snnlab/dropout/kernels.py) against its plain-PyTorch twin.

Like SpikingJelly's backends: the fast kernel must give the reference's masks, outputs and
gradients bit for bit; its random lanes must look uniform and independent; and when it cannot be
built the methods fall back to the plain path with a warning, not silently.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from snnlab.dropout import LayerContext, kernels, make_dropout
from snnlab.dropout.kernels import (
    KERNEL_ENV,
    fused_keep_affine,
    kernel_status,
    lane_threshold,
    reference_keep_affine,
    reference_lanes,
)

needs_c = pytest.mark.skipif(
    kernel_status().backend != "c", reason=f"fused C kernel not available here: {kernel_status().reason}"
)


@needs_c
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 7), (2, 3, 8192), (25, 16, 801)])
@pytest.mark.parametrize("affine", [(1.0, 0.0, 0.0), (1 / 0.7, 0.0, 0.0), (0.9, 1.758, -0.4)])
def test_kernel_matches_reference_bit_for_bit(dtype, shape, affine):
    """Masks, outputs and gradients equal the plain-PyTorch twin exactly (odd sizes, chunk edges, alpha affine)."""
    scale, shift, bias = affine
    seed = 0xDEADBEEF12345678
    x = (torch.rand(shape, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 3 - 1).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, mask = fused_keep_affine(x, 0.3, seed, scale=scale, shift=shift, bias=bias)
    ref, ref_mask = reference_keep_affine(x_ref, 0.3, seed, scale=scale, shift=shift, bias=bias)
    assert mask.dtype == torch.uint8 and torch.equal(mask, ref_mask)
    assert out.dtype == dtype and torch.equal(out, ref)
    grad = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(2))
    out.backward(grad)
    ref.backward(grad)
    assert torch.equal(x.grad, x_ref.grad)
    assert torch.all(x.grad[mask == 0] == 0)


@needs_c
def test_kernel_is_independent_of_the_thread_count():
    x = torch.rand(25, 64, 800)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fused_keep_affine(x, 0.4, 7, scale=2.0)
        torch.set_num_threads(2)
        two = fused_keep_affine(x, 0.4, 7, scale=2.0)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


@needs_c
@pytest.mark.parametrize("p", [0.01, 0.3, 0.9])
def test_kernel_drop_rate(p):
    n = 2_000_000
    _, mask = fused_keep_affine(torch.ones(n), p, 12345)
    realised = 1.0 - mask.double().mean().item()
    q = lane_threshold(p) / 65536
    assert abs(q - p) <= 0.5 / 65536
    assert abs(realised - q) <= 4 * math.sqrt(q * (1 - q) / n)


def test_reference_lanes_are_uniform_and_uncorrelated():
    """The counter-based lanes: uniform at every position of a draw, no correlation between neighbours."""
    n = 400_000
    u = (reference_lanes(99, n).double() + 0.5) / 65536
    sd_mean = math.sqrt(1 / 12 / (n // 4))
    for k in range(4):  # each lane position of the 64-bit draw
        assert abs(u[k::4].mean().item() - 0.5) <= 4 * sd_mean
        assert abs(u[k::4].var().item() - 1 / 12) <= 4 * math.sqrt(1 / 180 / (n // 4))  # var of (u-1/2)^2 is 1/180
    for lag in (1, 4, 5):  # neighbours in the same draw, the same lane of the next draw, across draws
        a, b = u[:-lag] - 0.5, u[lag:] - 0.5
        corr = (a * b).mean().item() * 12
        assert abs(corr) <= 4 / math.sqrt(n - lag)
    # masks from two seeds are independent: the joint drop rate is the product of the rates
    v = (reference_lanes(100, n).double() + 0.5) / 65536
    both = ((u < 0.3) & (v < 0.3)).double().mean().item()
    assert abs(both - 0.09) <= 4 * math.sqrt(0.09 * 0.91 / n)


@needs_c
@pytest.mark.parametrize("name", ["standard", "alpha"])
def test_plain_path_gives_the_same_masks_and_outputs(name, monkeypatch):
    """SNNLAB_DROPOUT_KERNEL=torch (what GPUs and compiler-less machines run): same seed, same numbers."""
    x = (torch.rand(6, 16, 300, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    fast = make_dropout(name, 0.3, seed=11)
    out_fast = fast(LayerContext(x))
    monkeypatch.setenv(KERNEL_ENV, "torch")
    assert kernel_status().backend == "torch"
    plain = make_dropout(name, 0.3, seed=11)
    out_plain = plain(LayerContext(x))
    assert torch.equal(out_fast, out_plain)
    assert torch.equal(fast._stats_source[1], plain._stats_source[1])
    assert fast.last_stats == plain.last_stats


def test_kernel_env_value_is_checked(monkeypatch):
    monkeypatch.setenv(KERNEL_ENV, "cuda-please")
    with pytest.raises(ValueError, match=r"SNNLAB_DROPOUT_KERNEL='cuda-please'.*allowed: c, torch"):
        make_dropout("standard", 0.3, seed=0)(LayerContext(torch.ones(4, 8, 100)))


@needs_c
def test_classic_methods_use_the_kernel_on_cpu_and_not_for_broadcast_masks():
    x = torch.ones(4, 8, 100)
    for name in ("standard", "dropout2d", "alpha", "feature_alpha"):
        drop = make_dropout(name, 0.3, seed=0)
        drop(LayerContext(x))
        assert drop._stats_source[1].dtype == torch.uint8, name
    conv = torch.ones(4, 8, 3, 5, 5)  # per-channel masks [T, B, C, 1, 1] are broadcast: plain path
    drop = make_dropout("dropout2d", 0.3, seed=0)
    drop(LayerContext(conv))
    assert drop._stats_source[1].shape == (4, 8, 3, 1, 1)
    assert drop.last_stats is not None and 0.0 < drop.last_stats.dropped_fraction < 1.0


def test_fused_keep_affine_refuses_what_it_does_not_cover():
    with pytest.raises(ValueError, match="dtype=torch.float16"):
        fused_keep_affine(torch.ones(3, 2, 4, dtype=torch.float16), 0.3, 1)


def test_build_failure_warns_and_falls_back(monkeypatch, tmp_path):
    """No working compiler: a warning that says why, and the methods still work on the plain-PyTorch twin."""
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("SNNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(kernels.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    kernels._load.cache_clear()
    kernels._warn_fallback.cache_clear()
    try:
        status = kernel_status()
        assert status.backend == "torch" and "false failed" in status.reason
        drop = make_dropout("standard", 0.3, seed=0)
        with pytest.warns(UserWarning, match="fused dropout kernel unavailable"):
            out = drop(LayerContext(torch.ones(4, 8, 100)))
        assert set(out.unique().tolist()) <= {0.0, torch.tensor(1 / 0.7).item()}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once per process, not at every forward
            drop(LayerContext(torch.ones(4, 8, 100)))
    finally:
        kernels._load.cache_clear()
        kernels._warn_fallback.cache_clear()

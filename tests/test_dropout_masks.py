"""``snnlab/dropout/masks.py``: drawing masks (both integer paths), applying them in one fused pass,
``drop_affine`` and ``mask_stats`` on a hand-made example. Tolerances: 5 standard errors."""

from __future__ import annotations

import math

import pytest
import torch

from dropout_helpers import five_se
from snnlab.dropout.masks import (
    U8_LEVELS,
    U16_LEVELS,
    apply_mask,
    drop_affine,
    drop_threshold,
    count_stats,
    keep_mask,
    mask_stats,
)
from snnlab.dropout.stats import DropoutStats


@pytest.mark.parametrize("p", [0.01, 0.05, 0.3, 0.9])
@pytest.mark.parametrize("shape", [(400_000,), (500, 800), (4000, 100)])
def test_mask_rate_is_exact_on_both_integer_paths(p, shape):
    """1-D masks use 16-bit lanes (p quantised to 1/65536); rows of a matrix mostly 8-bit lanes with a dithered threshold."""
    k = drop_threshold(p) + 32768
    assert abs(k / U16_LEVELS - p) <= 0.5 / U16_LEVELS
    m = keep_mask(shape, p, generator=torch.Generator().manual_seed(3))
    n = m.numel()
    assert abs((m == 0).sum().item() / n - p) < five_se(p, n)
    assert set(torch.unique(m).tolist()) == {0.0, 1.0}


def test_per_unit_thresholds():
    q = torch.tensor([0.0, 0.5, 0.94])
    thr = drop_threshold(q)
    assert thr.dtype == torch.int16 and thr.tolist() == [-32768, 0, round(0.94 * U16_LEVELS) - 32768]
    m = keep_mask((20_000, 3), q, generator=torch.Generator().manual_seed(1))
    rates = (m == 0).float().mean(0)
    assert rates[0] == 0 and torch.all((rates[1:] - q[1:]).abs() < 5 * torch.sqrt(q[1:] * (1 - q[1:]) / 20_000))


def test_threshold_of_rates_near_one_is_capped():
    assert drop_threshold(1.0 - 2.0**-20) == 32767
    assert drop_threshold(torch.tensor([1.0])).tolist() == [32767]


@pytest.mark.parametrize("shape", [(100_000, 4), (5_000, 64)])
def test_mask_lanes_are_uniform_at_every_position(shape):
    """Every int16 (4 per 64-bit draw) or uint8 (8 per draw) lane is uniform: the rate is p at every column."""
    m = keep_mask(shape, 0.5, generator=torch.Generator().manual_seed(4))
    rates = (m == 0).float().mean(0)
    assert torch.all((rates - 0.5).abs() < five_se(0.5, shape[0]))


def test_keep_mask_scale_dtype_and_seed():
    g = torch.Generator().manual_seed(0)
    m = keep_mask((50, 40), 0.25, generator=g, dtype=torch.float64, scale=2.0)
    assert m.dtype == torch.float64 and set(torch.unique(m).tolist()) == {0.0, 2.0}
    per_unit = keep_mask((50, 3), torch.tensor([0.1, 0.2, 0.3]), generator=g, scale=torch.tensor([1.0, 2.0, 3.0]))
    assert set(torch.unique(per_unit[:, 2]).tolist()) <= {0.0, 3.0}
    a = keep_mask((64, 64), 0.3, generator=torch.Generator().manual_seed(9))
    b = keep_mask((64, 64), 0.3, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    assert U8_LEVELS == 256


def test_apply_mask_is_fused_scale_shift_bias_with_masked_gradient():
    x = torch.randn(3, 4, 5, requires_grad=True)
    m = (torch.rand(1, 4, 5) < 0.5).float()
    out = apply_mask(x, m, 2.0, shift=0.5, bias=-1.0)
    assert torch.allclose(out, 2.0 * m * (x + 0.5) - 1.0)
    out.backward(torch.ones_like(out))
    assert torch.allclose(x.grad, (2.0 * m).expand_as(x))


def test_apply_mask_plain_product():
    x = torch.randn(2, 3, 4, requires_grad=True)
    m = (torch.rand(2, 3, 4) < 0.5).float()
    out = apply_mask(x, m)
    assert torch.equal(out, x * m)
    out.sum().backward()
    assert torch.equal(x.grad, m)


def test_drop_affine_full_and_broadcast_masks():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(4, 8, 100)
    out, mask = drop_affine(x, tuple(x.shape), 0.3, generator=g, scale=2.0)
    assert mask.shape == x.shape and mask.dtype == torch.uint8  # the counter-based per-element lanes
    assert torch.equal(out, 2.0 * mask.to(x.dtype))
    out, mask = drop_affine(x, (1, 8, 100), 0.3, generator=g)
    assert mask.shape == (1, 8, 100) and torch.equal(out, mask.expand_as(x))


def test_mask_stats_on_a_hand_made_example():
    # T=2, B=1, N=4; unit 3 is silent; mask drops unit 1 at t=0 and units 2, 3 at t=1
    x = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[1.0, 0.0, 1.0, 0.0]]])
    mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0, 0.0]]])
    s = mask_stats("standard", 0.3, x, mask, x * mask)
    assert isinstance(s, DropoutStats) and s.method == "standard" and s.p == 0.3
    assert s.dropped_fraction == pytest.approx(3 / 8)
    assert s.spikes_removed == pytest.approx(2 / 4)  # spikes at (0, 1) and (1, 2) are removed
    assert s.silent_fraction == pytest.approx(1 / 3)  # one of the three drops fell on the silent unit 3
    assert (s.out_min, s.out_max, s.out_mean) == (0.0, 1.0, pytest.approx(2 / 8))


def test_mask_stats_empty_denominators_are_nan():
    x = torch.zeros(2, 1, 3)
    s = mask_stats("temporal", 0.0, x, torch.ones(1, 1, 3), x)
    assert s.dropped_fraction == 0.0 and math.isnan(s.spikes_removed) and math.isnan(s.silent_fraction)


@pytest.mark.parametrize("scale", [1.0, 1.0 / 0.7])
@pytest.mark.parametrize("case", ["mixed", "all kept and firing", "all dropped", "silent"])
def test_count_stats_equal_mask_stats_of_the_spikes_they_count(case, scale) -> None:
    """From the counts of 0/1 spikes and a mask held over the window (its kept value in place of 1),
    the same statistics as from the spikes themselves, edge cases included (NaN where mask_stats has it)."""
    g = torch.Generator().manual_seed(4)
    T, shape = 7, (5, 9)
    x = (torch.rand(T, *shape, generator=g) < 0.3).float()
    keep = (torch.rand(shape, generator=g) > 0.3).float()
    if case == "all kept and firing":
        x, keep = torch.ones(T, *shape), torch.ones(shape)
    elif case == "all dropped":
        keep = torch.zeros(shape)
    elif case == "silent":
        x = torch.zeros(T, *shape)
    want = mask_stats("m", 0.3, x, keep.unsqueeze(0), x * keep * scale)
    got = count_stats("m", 0.3, x.sum(0), T, keep * scale)
    for field in ("dropped_fraction", "spikes_removed", "silent_fraction", "out_mean", "out_min", "out_max"):
        a, b = getattr(got, field), getattr(want, field)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6), field


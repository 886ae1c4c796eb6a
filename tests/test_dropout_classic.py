"""``snnlab/dropout/classic.py``: classic dropout migrated as-is (``standard``, ``dropout2d``,
``feature_alpha``, ``alpha``): a fresh mask at every step, per-channel masks on convolutions, the
alpha variants' affine values (against torch's own functions) and their mean/variance promise.
Tests with the ``kernel`` fixture run under both per-element backends. Tolerances: 5 standard errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dropout_helpers import B, N, P, T, five_se, run
from snnlab.dropout import LayerContext, make_dropout, method_info, methods
from snnlab.dropout.classic import ALPHA_PRIME

CLASSIC = ("standard", "dropout2d", "feature_alpha", "alpha")
ALPHAS = ("alpha", "feature_alpha")
CHANNEL = ("dropout2d", "feature_alpha")


def test_the_classic_family():
    assert methods(family="classic") == CLASSIC
    for key in CLASSIC:
        info = method_info(key)
        assert not info.time_consistent and info.causal and info.acts_on == "spikes"
        assert info.membrane is None and not info.needs_weight
    assert method_info("alpha").rescale == ("inverted",) == method_info("feature_alpha").rescale


@pytest.mark.parametrize("key", CLASSIC)
def test_classic_masks_are_new_at_every_step(key, kernel):
    out, _ = run(key, torch.ones(T, B, N))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("key", CLASSIC)
def test_drops_read_from_the_output_match_the_statistics(key, kernel):
    x = torch.ones(T, B, N)
    out, d = run(key, x)
    if key in ALPHAS:
        a, b = d.affine()
        dropped = torch.isclose(out, torch.tensor(a * ALPHA_PRIME + b))
    else:
        dropped = out == 0
    assert dropped.sum().item() / x.numel() == pytest.approx(d.last_stats.dropped_fraction, abs=1e-12)


@pytest.mark.parametrize("key", CHANNEL)
def test_channel_methods_drop_whole_channels_on_conv_inputs(key):
    x = torch.ones(4, 16, 8, 5, 5)
    out, d = run(key, x)
    assert torch.equal(out, out[..., :1, :1].expand_as(out))  # one value per (t, sample, channel)
    assert not torch.equal(out[0], out[1])
    assert abs(d.last_stats.dropped_fraction - P) < five_se(P, 4 * 16 * 8)


def test_standard_on_conv_inputs_is_per_element(kernel):
    out, _ = run("standard", torch.ones(4, 16, 8, 5, 5))
    assert not torch.equal(out, out[..., :1, :1].expand_as(out))


@pytest.mark.parametrize("key", ("standard", "dropout2d"))
def test_gradient_is_the_mask_value(key, kernel):
    x = torch.ones(T, B, N, requires_grad=True)
    out = make_dropout(key, P, seed=2)(LayerContext(x))
    out.sum().backward()
    assert torch.allclose(x.grad, out.detach())  # with x = 1 the output is the mask value: 1/keep if kept, else 0


@pytest.mark.parametrize("key", ALPHAS)
def test_alpha_gradient_is_a_on_kept_entries(key, kernel):
    x = torch.ones(T, B, N, requires_grad=True)
    d = make_dropout(key, P, seed=2)
    out = d(LayerContext(x))
    out.sum().backward()
    a, b = d.affine()
    kept = ~torch.isclose(out.detach(), torch.tensor(a * ALPHA_PRIME + b))
    assert torch.allclose(x.grad, a * kept.float())


@pytest.mark.parametrize("key", ALPHAS)
def test_alpha_keeps_zero_mean_unit_variance(key, kernel):
    """torch's alpha-dropout promise: N(0, 1) inputs keep mean 0 and variance 1."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, N, generator=g)
    out, d = run(key, x, p=0.2)
    n = x.numel()
    assert abs(out.mean().item()) < 5 * math.sqrt(1.0 / n)
    # var of a sample variance of ~N(0,1)-like data: ~(kurtosis - 1) / n; alpha output kurtosis < 4
    assert abs(out.var().item() - 1.0) < 5 * math.sqrt(3.0 / n)
    assert abs(d.last_stats.dropped_fraction - 0.2) < five_se(0.2, n)


@pytest.mark.parametrize("key,torch_fn", [("alpha", F.alpha_dropout), ("feature_alpha", F.feature_alpha_dropout)])
def test_alpha_values_match_torch(key, torch_fn, kernel):
    """On a constant input torch's version produces exactly two values (kept, dropped); ours produces the same."""
    c = 0.7
    out, _ = run(key, torch.full((T, B, N), c))
    ref = torch_fn(torch.full((B, N), c), P, True)
    ours, theirs = torch.unique(out), torch.unique(ref)
    assert ours.numel() == theirs.numel() == 2
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_alpha_maps_silence_spikes_and_drops_to_three_values(kernel):
    x = torch.zeros(T, B, N)
    x[:, :, : N // 2] = 1.0
    out, d = run("alpha", x)
    a, b = d.affine()
    expected = torch.tensor(sorted([a * ALPHA_PRIME + b, b, a + b]))
    torch.testing.assert_close(torch.unique(out), expected)
    assert d.last_stats.out_min < 0.0

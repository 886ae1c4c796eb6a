"""``snnlab/dropout/temporal.py``: one Bernoulli mask per (sample, neuron), held over the window."""

from __future__ import annotations

import math

import pytest
import torch

from dropout_helpers import B, N, P, T, five_se, spikes
from snnlab.dropout import LayerContext, make_dropout, method_info


def test_temporal_describes_itself():
    info = method_info("temporal")
    assert info.family == "snn_aware" and info.time_consistent and info.causal
    assert info.membrane is None and not info.needs_weight and info.acts_on == "spikes"


def test_mask_is_held_over_time_and_drops_at_rate_p():
    x = torch.ones(T, B, N)
    d = make_dropout("temporal", P, seed=0)
    out = d(LayerContext(x))
    assert torch.equal(out, out[:1].expand_as(out))
    assert d._stats_source[1].shape == (1, B, N)  # a [1, B, N] mask broadcast over T, not a [T, B, N] draw
    assert abs(d.last_stats.dropped_fraction - P) < five_se(P, B * N)


def test_a_dropped_neuron_loses_all_its_spikes_of_the_sample():
    x = spikes()
    out = make_dropout("temporal", P, seed=1)(LayerContext(x))
    gone = (out == 0).all(0) & (x != 0).any(0)  # (sample, neuron) pairs silenced by the mask
    assert gone.any()
    kept = (out != 0).any(0)
    torch.testing.assert_close(out[:, kept], x[:, kept] / (1 - P))  # kept pairs: every spike, scaled


def test_inverted_and_none_rescaling():
    x = torch.ones(T, B, N)
    out = make_dropout("temporal", P, seed=0)(LayerContext(x))
    assert abs(out.mean().item() - 1.0) < 5 * math.sqrt(P / (1 - P) / (B * N))
    binary = make_dropout("temporal", P, rescale="none", seed=0)
    assert set(torch.unique(binary(LayerContext(x))).tolist()) == {0.0, 1.0}
    assert binary.eval().inference_scale == pytest.approx(1 - P)


def test_conv_inputs_get_a_mask_per_sample_channel_and_position():
    x = torch.ones(3, 8, 4, 5, 5)
    out = make_dropout("temporal", P, seed=0)(LayerContext(x))
    assert torch.equal(out, out[:1].expand_as(out))
    assert not torch.equal(out[0], out[0, :, :, :1, :1].expand_as(out[0]))


@pytest.mark.parametrize("rescale", ["inverted", "none"])
def test_a_time_sum_gets_the_mask_the_spikes_would_get(rescale) -> None:
    """``drop_time_sum`` draws the mask ``forward`` would from the same generator and applies it to the
    time sum: sum_t w_t (m s_t) = m sum_t w_t s_t; the statistics from the counts equal the spikes'."""
    x = spikes(seed=2)
    w = torch.linspace(0.2, 1.0, x.shape[0])
    drop = make_dropout("temporal", P, rescale=rescale, seed=11).train()
    assert drop.drops_time_sum()
    written = torch.tensordot(w, drop(LayerContext(x)), dims=1)
    stats = drop.last_stats
    drop.reseed(11)
    summed = drop.drop_time_sum(torch.tensordot(w, x, dims=1), x.sum(0), x.shape[0], None)
    torch.testing.assert_close(summed, written, rtol=1e-6, atol=1e-6)
    assert drop.last_stats.spikes_removed == stats.spikes_removed
    assert drop.last_stats.dropped_fraction == stats.dropped_fraction
    assert not drop.eval().drops_time_sum() and not make_dropout("temporal", 0.0).train().drops_time_sum()


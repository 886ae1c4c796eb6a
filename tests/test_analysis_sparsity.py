"""``snnlab/analysis/sparsity.py``: firing rates, silence and synaptic-operation counts by hand."""

from __future__ import annotations

import pytest
import torch

from snnlab.analysis import sparsity as sp


def test_sparsity_rates_and_silence() -> None:
    s = torch.zeros(2, 2, 3)  # [T, B, N]
    s[0, 0, 0] = 1.0
    s[1, 0, 0] = 2.0  # a rescaled spike still counts as one event
    s[1, 1, 1] = 1.0
    assert sp.firing_rate(s) == pytest.approx(3 / 12)
    assert sp.sparsity(s) == pytest.approx(9 / 12)
    torch.testing.assert_close(sp.neuron_rates(s), torch.tensor([0.5, 0.25, 0.0]))
    assert sp.silent_fraction(s) == pytest.approx(4 / 6)
    assert sp.dead_fraction(s) == pytest.approx(1 / 3)
    summary = sp.spike_summary({"hidden": s})
    assert summary["hidden"]["rate"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="spikes"):
        sp.firing_rate(torch.zeros(3, 4))


def test_synaptic_operations_linear_and_conv() -> None:
    s = torch.zeros(2, 2, 3)
    s[0, 0, 0] = 1.0
    s[1, 0, 0] = 1.0
    s[1, 1, 2] = 1.0
    w = torch.ones(5, 3)
    w[0, 2] = 0.0  # neuron 2 reaches only 4 synapses
    torch.testing.assert_close(sp.fan_out(w), torch.tensor([5.0, 5.0, 4.0]))
    assert sp.synaptic_operations(s, w) == pytest.approx((2 * 5 + 4) / 2)
    conv = torch.ones(4, 2, 3, 3)
    sc = torch.zeros(1, 1, 2, 4, 4)
    sc[0, 0, 1, 2, 2] = 1.0
    assert sp.synaptic_operations(sc, conv) == pytest.approx(4 * 9)
    with pytest.raises(ValueError, match="spikes"):
        sp.synaptic_operations(s, torch.ones(5, 4))


def test_estimated_and_dense_operations() -> None:
    assert sp.estimated_synaptic_operations(0.1, 100, 10.0, 25) == pytest.approx(2500.0)
    assert sp.mlp_synaptic_operations([0.1], [64, 100, 10], 25) == pytest.approx(2500.0)
    assert sp.mlp_synaptic_operations({"h1": 0.1, "h2": 0.2}, [4, 10, 5, 2], 2) == pytest.approx(0.1 * 10 * 2 * 5 + 0.2 * 5 * 2 * 2)
    assert sp.dense_operations([784, 800, 10]) == 784 * 800 + 800 * 10
    with pytest.raises(ValueError, match="rates"):
        sp.mlp_synaptic_operations([0.1, 0.2], [64, 100, 10], 25)
    with pytest.raises(ValueError, match="rate"):
        sp.estimated_synaptic_operations(-0.1, 1, 1.0, 1)

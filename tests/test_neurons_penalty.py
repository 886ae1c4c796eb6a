"""snnlab.neurons.penalty: the write-up's penalty neuron, a one-step delayed loop of penalty_step."""

from __future__ import annotations

import pytest
import torch

from snnlab.functional.penalty import PenaltyParams, PenaltyState, penalty_step
from snnlab.neurons import PenaltyNeuron, make_neuron


def test_penalty_neuron_is_one_step_delayed_loop_of_penalty_step() -> None:
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(15, 4, 7, generator=g, dtype=torch.float64) * 3).requires_grad_()
    neuron = PenaltyNeuron(decay=0.9, threshold=2.0, penalty_threshold=2.5)
    out, inner = neuron.forward_trace(x)
    assert torch.equal(neuron(x), out)
    # reference: the write-up's stateful loop, returning the previous state at each step
    p = neuron.params()
    assert p == PenaltyParams(0.9, 2.0, 2.5)
    prev = PenaltyState(torch.zeros(4, 7, dtype=torch.float64), torch.zeros(4, 7, dtype=torch.float64))
    ref_out, ref_inner = [], []
    for t in range(x.shape[0]):
        _, new = penalty_step(x[t], prev, p)
        ref_inner.append(prev.inner)
        ref_out.append(prev.outer)
        prev = new
    ref_out, ref_inner = torch.stack(ref_out), torch.stack(ref_inner)
    assert torch.equal(out, ref_out) and torch.equal(inner, ref_inner)  # the same step in the same order
    assert torch.count_nonzero(out[0]) == 0 and torch.count_nonzero(inner[0]) == 0
    assert (out >= 0).all() and (out > 0).any()
    w = torch.randn(15, 4, 7, generator=g, dtype=torch.float64)
    (g1,) = torch.autograd.grad((out * w).sum() + (inner * w).sum(), x)
    (g2,) = torch.autograd.grad((ref_out * w).sum() + (ref_inner * w).sum(), x)
    assert torch.allclose(g1, g2)
    # the last input step is outside the delayed window: it gets no gradient
    assert torch.count_nonzero(g1[-1]) == 0 and g1[:-1].abs().sum() > 0


def test_penalty_neuron_refractory_after_firing() -> None:
    # constant drive 1.5/step, decay 1. Undelayed: inner 1.5; 3.0 fires (outer 1) -> 3 - 3.5 = -0.5;
    # 1.0; 2.5 fires (outer 0.5) -> 2.5 - 3 = -0.5; 1.0. Returned one step late, zeros first.
    x = torch.full((6, 1, 1), 1.5)
    out, inner = PenaltyNeuron(decay=1.0, threshold=2.0, penalty_threshold=2.5).forward_trace(x)
    assert torch.allclose(out.flatten(), torch.tensor([0.0, 0.0, 1.0, 0.0, 0.5, 0.0]))
    assert torch.allclose(inner.flatten(), torch.tensor([0.0, 1.5, -0.5, 1.0, -0.5, 1.0]))
    # without the penalty the neuron only loses its output (3 -> 2) and fires again at every step
    out0, inner0 = PenaltyNeuron(decay=1.0, threshold=2.0, penalty_threshold=0.0).forward_trace(x)
    assert torch.allclose(out0.flatten(), torch.tensor([0.0, 0.0, 1.0, 1.5, 1.5, 1.5]))
    assert torch.allclose(inner0.flatten(), torch.tensor([0.0, 1.5, 2.0, 2.0, 2.0, 2.0]))


def test_mean_is_the_trace() -> None:
    """``running_mean = False``: ``run(mean=True)`` hands over the delayed inner trace."""
    x = torch.rand(5, 2, 3) * 3
    n = PenaltyNeuron()
    out = n.run(x, mean=True)
    assert out.trace is None and torch.equal(out.mean, n.forward_trace(x)[1])


def test_make_neuron_penalty() -> None:
    pen = make_neuron("penalty", decay=0.8)
    assert isinstance(pen, PenaltyNeuron) and pen.decay == 0.8 and pen.threshold == 2.0
    assert "decay=0.8" in repr(pen)


def test_penalty_neuron_bad_arguments() -> None:
    with pytest.raises(ValueError, match="decay"):
        PenaltyNeuron(decay=1.2)
    with pytest.raises(ValueError, match="penalty_threshold"):
        PenaltyNeuron(penalty_threshold=-1.0)
    with pytest.raises(TypeError, match="threshold"):
        PenaltyNeuron(threshold="2")
    with pytest.raises(ValueError, match="time-major"):
        PenaltyNeuron()(torch.zeros(4))

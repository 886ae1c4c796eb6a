"""snnlab.neurons.first_spike: the paper's fire-once neuron (input = its SRM potential)."""

from __future__ import annotations

import pytest
import torch

from snnlab.functional.srm import FirstSpikeParams, srm_kernel
from snnlab.functional.surrogate import Surrogate
from snnlab.neurons import FirstSpike, make_neuron


def test_first_spike_only_and_no_reset() -> None:
    # the potential of one synapse (weight 1.5) hit at t=0 and t=6: it crosses 1.0 twice
    t = torch.arange(12.0)
    v = 1.5 * (srm_kernel(t, 2.0) + srm_kernel(t - 6, 2.0))
    out, trace = FirstSpike(1.0).forward_trace(v.view(12, 1, 1))
    above = v > 1.0
    assert above.sum() > 2 and out.sum() == 1
    assert out.flatten().argmax() == above.int().argmax()  # the first crossing
    assert torch.equal(trace.flatten(), v)  # the membrane is the input itself: nothing is reset


def test_at_most_one_spike_per_neuron() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(15, 8, 30, generator=g) * 1.5
    s = FirstSpike(0.5)(v)
    assert s.sum(0).max() <= 1 and s.sum() > 0
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert FirstSpike(0.5)(torch.zeros(15, 8, 30)).sum() == 0


def test_run_trace_and_mean_are_the_input() -> None:
    v = torch.rand(6, 2, 3)
    out = FirstSpike().run(v, trace=True, mean=True)
    assert out.trace is v and out.mean is v  # running_mean = False: the trace is the summary
    bare = FirstSpike().run(v)
    assert bare.trace is None and bare.mean is None


def test_options() -> None:
    n = make_neuron("first_spike", threshold=0.7, surrogate="arctan", surrogate_options={"alpha": 3.0})
    assert isinstance(n, FirstSpike)
    assert n.params() == FirstSpikeParams(0.7, Surrogate("arctan", 3.0))
    assert "threshold=0.7" in repr(n)
    with pytest.raises(ValueError, match="threshold"):
        FirstSpike(0.0)
    with pytest.raises(ValueError, match="time-major"):
        FirstSpike()(torch.zeros(3))

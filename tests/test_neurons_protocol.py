"""snnlab.neurons.protocol: StepNeuron's one time loop, its summaries, and the protocol of every registered neuron."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor

from snnlab.neurons import (
    LIF,
    LeakyIntegrator,
    Neuron,
    NeuronOutput,
    StepNeuron,
    check_sequence,
    neuron_class,
    neuron_keys,
)


class Counter(StepNeuron):
    """A minimal step neuron (not registered): integrates, emits 1 when the sum exceeds 1, keeps it."""

    key = "counter"
    threshold = 1.0

    def params(self) -> float:
        return self.threshold

    def initial_state(self, x0: Tensor) -> Tensor:
        return torch.zeros_like(x0)

    def step(self, x: Tensor, state: Tensor, params: float) -> tuple[Tensor, Tensor, Tensor]:
        v = state + x
        return (v > params).to(x.dtype), v, v


def test_run_collects_only_what_was_asked() -> None:
    x = torch.full((4, 2, 3), 0.4)
    n = Counter()
    out = n.run(x)
    assert isinstance(out, NeuronOutput) and out.trace is None and out.mean is None
    assert out.spikes.shape == x.shape
    assert out.spikes[:, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    full = n.run(x, trace=True, mean=True)
    assert torch.allclose(full.trace[:, 0, 0], torch.tensor([0.4, 0.8, 1.2, 1.6]))
    assert full.mean.shape == (1, 2, 3)
    assert torch.equal(full.spikes, out.spikes)
    assert n.run(x, mean=True).trace is None
    assert torch.equal(n(x), out.spikes)
    s, m = n.forward_trace(x)
    assert torch.equal(s, out.spikes) and torch.equal(m, full.trace)


def test_running_mean_equals_trace_mean() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(25, 4, 6, generator=g)
    out = LIF(0.8, backend="loop").run(x, trace=True, mean=True)
    assert out.mean.shape == (1, 4, 6)
    # sum-then-divide step by step vs torch.mean: same maths, float32 rounding differs
    torch.testing.assert_close(out.mean, out.trace.mean(0, keepdim=True), rtol=0, atol=1e-6)


def test_running_mean_is_differentiable() -> None:
    x = torch.rand(5, 2, 3, dtype=torch.float64, requires_grad=True)
    out = LIF(0.9).run(x, mean=True)
    (g,) = torch.autograd.grad(out.mean.sum(), x)
    ref = LIF(0.9).run(x, trace=True).trace.mean(0).sum()
    (g_ref,) = torch.autograd.grad(ref, x)
    assert torch.allclose(g, g_ref)


def test_trace_for_mean_when_no_running_mean() -> None:
    class NoRunning(Counter):
        running_mean = False

    x = torch.rand(5, 2, 3)
    out = NoRunning().run(x, mean=True)
    assert out.trace is None and out.mean.shape == x.shape  # the trace, handed over for the mean
    assert torch.equal(out.mean, NoRunning().run(x, trace=True).trace)


def test_non_spiking_step_gives_no_spikes() -> None:
    class Silent(Counter):
        def step(self, x, state, params):
            return None, state + x, state + x

    out = Silent().run(torch.ones(3, 1, 1), trace=True)
    assert out.spikes is None and out.trace.flatten().tolist() == [1.0, 2.0, 3.0]


def test_step_neuron_base_needs_a_step() -> None:
    with pytest.raises(NotImplementedError):
        StepNeuron().run(torch.zeros(2, 1, 1))


def test_check_sequence() -> None:
    check_sequence("x", torch.zeros(2, 3))
    check_sequence("x", torch.zeros(2, 3, 4), min_dim=3)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        check_sequence("x", [1.0, 2.0])
    with pytest.raises(ValueError, match="time-major"):
        check_sequence("x", torch.zeros(3))
    with pytest.raises(ValueError, match="at least 3 dims"):
        check_sequence("spikes", torch.zeros(3, 2), min_dim=3)
    with pytest.raises(ValueError, match="T=0"):
        check_sequence("x", torch.zeros(0, 2))
    with pytest.raises(ValueError, match="time-major"):
        Counter()(torch.zeros(3))


# --------------------------------------------------------------------------- every registered neuron


def _step_loop(neuron: StepNeuron, x: Tensor) -> tuple[Tensor, Tensor]:
    """The neuron's own ``step`` in a plain loop: (outputs, membrane)."""
    p = neuron.params()
    state = neuron.initial_state(x[0])
    outs, mems = [], []
    for xt in x.unbind(0):
        o, m, state = neuron.step(xt, state, p)
        outs.append(o)
        mems.append(m)
    return torch.stack(outs), torch.stack(mems)


def _input(key: str, shape: tuple[int, ...]) -> Tensor:
    g = torch.Generator().manual_seed(7)
    return (torch.rand(shape, generator=g, dtype=torch.float64) * 3.0 - 0.5).requires_grad_()


@pytest.mark.parametrize("key", neuron_keys())
@pytest.mark.parametrize("shape", [(6, 3, 5), (4, 2, 3, 4, 4)])
def test_registered_neuron_satisfies_the_protocol(key: str, shape: tuple[int, ...]) -> None:
    neuron = neuron_class(key)().double()
    assert isinstance(neuron, Neuron) and neuron.key == key
    assert hasattr(neuron, "threshold")
    x = _input(key, shape)
    out = neuron.run(x, trace=True, mean=True)
    assert isinstance(out, NeuronOutput)
    assert out.spikes.shape == x.shape and out.trace.shape == x.shape
    assert out.mean.shape in ((1,) + x.shape[1:], x.shape)
    if out.mean.shape == x.shape:
        assert torch.equal(out.mean, out.trace)
    else:  # a running mean: the trace's time mean up to rounding (float64 here)
        assert torch.allclose(out.mean, out.trace.mean(0, keepdim=True))
    assert torch.equal(neuron(x), out.spikes)
    bare = neuron.run(x)
    assert bare.trace is None and bare.mean is None and torch.equal(bare.spikes, out.spikes)
    assert out.spikes.detach().abs().sum() > 0  # the input drives it


@pytest.mark.parametrize("key", neuron_keys())
def test_registered_neuron_equals_a_loop_of_its_step(key: str) -> None:
    cls = neuron_class(key)
    if cls.step is StepNeuron.step:
        pytest.skip(f"{cls.__name__} has no step")
    neuron = cls().double()
    x = _input(key, (9, 3, 5))
    out = neuron.run(x, trace=True)
    ref_s, ref_m = _step_loop(neuron, x)
    assert torch.equal(out.spikes, ref_s) and torch.allclose(out.trace, ref_m)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (g1,) = torch.autograd.grad((out.spikes * w).sum() + (out.trace * w).sum(), x)
    (g2,) = torch.autograd.grad((ref_s * w).sum() + (ref_m * w).sum(), x)
    assert torch.allclose(g1, g2, rtol=1e-10, atol=1e-12)  # float64; vectorised runs may round differently


def test_lif_backends_follow_the_protocol() -> None:
    x = _input("lif", (6, 3, 5))
    for backend in ("loop", "fused"):
        out = LIF(backend=backend).double().run(x, trace=True, mean=True)
        assert out.mean.shape == (1, 3, 5) and out.trace.shape == x.shape


class _Named(NamedTuple):
    a: int


def test_non_neuron_is_not_a_neuron() -> None:
    assert not isinstance(_Named(1), Neuron)
    assert not isinstance(torch.nn.Linear(2, 2), Neuron)


@pytest.mark.parametrize("make", [*(neuron_class(k) for k in neuron_keys()), lambda: LIF(backend="loop"),
                                  lambda: LIF(backend="fused"), LeakyIntegrator])
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_an_integer_or_boolean_current_is_refused_naming_x(make, dtype: torch.dtype) -> None:
    """An integer current used to fail inside the step arithmetic (LIF: RuntimeError "For integral input
    tensors, argument alpha must not be a floating point number"; first_spike on bool: NotImplementedError),
    or to run on silently (penalty) (found by tests/test_properties.py)."""
    neuron = make()
    x = torch.ones(3, 2, 4, dtype=dtype)
    with pytest.raises(TypeError, match=f"x must be a floating-point tensor .*got dtype {dtype}"):
        neuron.run(x, trace=True, mean=True)
    with pytest.raises(TypeError, match=f"x must be a floating-point tensor .*got dtype {dtype}"):
        neuron.run_static(x[0], 3)
    for steps in (0, 1.5):
        with pytest.raises((TypeError, ValueError), match="steps"):
            neuron.run_static(torch.ones(2, 4), steps)
    assert neuron.run_static(torch.ones(2, 4), 3).mean is None  # a float current still runs


def test_step_neurons_sum_their_outputs_over_time_after_running():
    """``StepNeuron.run_summed`` (neurons without a summing kernel): the outputs of ``run`` (or
    ``run_static``) summed with the weights; ``sums_in_kernel`` is False; an integrator has nothing to sum."""
    import torch

    from snnlab.neurons import LeakyIntegrator, PenaltyNeuron

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 4, generator=g, dtype=torch.float64) * 2
    w = torch.rand(6, generator=g, dtype=torch.float64)
    n = PenaltyNeuron().double()
    assert n.sums_in_kernel(x) is False
    torch.testing.assert_close(n.run_summed(x, w), torch.tensordot(w, n.run(x).spikes, dims=1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(n.run_summed(x[0], w, steps=6),
                               torch.tensordot(w, n.run_static(x[0], 6).spikes, dims=1), rtol=1e-12, atol=1e-12)
    counts = torch.empty(3, 4, dtype=torch.float64)
    n.run_summed(x, w, counts=counts)
    assert torch.equal(counts, n.run(x).spikes.sum(0))
    with pytest.raises(ValueError, match="no outputs to sum"):
        LeakyIntegrator(0.9).run_summed(x, w)

"""snnlab.neurons.lif: the LIF shell equals a loop of lif_step; resets, tau, learnable parameters, arguments."""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.functional.lif import LIFParams, lif_initial_state, lif_step
from snnlab.functional.surrogate import Surrogate
from snnlab.neurons import LIF, LIF_BACKENDS, make_neuron


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


def _lif_loop(x: torch.Tensor, p: LIFParams) -> tuple[torch.Tensor, torch.Tensor]:
    state = lif_initial_state(x[0])
    spikes, mem = [], []
    for t in range(x.shape[0]):
        s, state = lif_step(x[t], state, p)
        spikes.append(s)
        mem.append(state.h)
    return torch.stack(spikes), torch.stack(mem)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_module_equals_loop_of_lif_step(reset: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 3, 5, generator=g, dtype=torch.float64) * 1.5).requires_grad_()
    lif = LIF(0.8, threshold=1.0, reset=reset).double()
    s, m = lif.forward_trace(x)
    s_ref, m_ref = _lif_loop(x, lif.params())
    assert torch.equal(s, s_ref) and torch.equal(m, m_ref)  # the same step in the same order
    assert torch.equal(lif(x), s)
    w = torch.randn(12, 3, 5, generator=g, dtype=torch.float64)
    (g1,) = _grads((s * w).sum() + (m * w).sum(), [x])
    (g2,) = _grads((s_ref * w).sum() + (m_ref * w).sum(), [x])
    assert torch.allclose(g1, g2)
    assert s.sum() > 0 and (1 - s).sum() > 0  # both regimes present


def test_lif_subtract_and_zero_reset_by_hand() -> None:
    x = torch.tensor([[1.5], [0.0], [0.0]])
    s, m = LIF(1.0, threshold=1.0, reset="subtract").forward_trace(x.unsqueeze(-1))
    assert s.flatten().tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(m.flatten(), torch.tensor([1.5, 0.5, 0.5]))
    s, m = LIF(1.0, threshold=1.0, reset="zero").forward_trace(x.unsqueeze(-1))
    assert s.flatten().tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(m.flatten(), torch.tensor([1.5, 0.0, 0.0]))
    # constant drive 0.6 with beta 1: subtract fires at t=1 (1.2), carries 0.2; zero reset carries 0
    x = torch.full((4, 1, 1), 0.6)
    s_sub, m_sub = LIF(1.0, reset="subtract").forward_trace(x)
    s_zero, m_zero = LIF(1.0, reset="zero").forward_trace(x)
    assert s_sub.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.allclose(m_sub.flatten(), torch.tensor([0.6, 1.2, 0.8, 1.4]))
    assert s_zero.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert torch.allclose(m_zero.flatten(), torch.tensor([0.6, 1.2, 0.6, 1.2]))


@pytest.mark.parametrize("backend", LIF_BACKENDS)
def test_run_mean_matches_trace(backend: str) -> None:
    """``run(x, mean=True).mean`` (was ``forward_mean_membrane``): the time mean of the trace, ``[1, B, N]``."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, 12, generator=g) * 1.5
    lif = LIF(beta=0.8, backend=backend)
    spk_t, mem_t = lif.forward_trace(x)
    out = lif.run(x, mean=True)
    assert torch.equal(out.spikes, spk_t) and out.trace is None
    assert out.mean.shape == (1, 5, 12)
    # loop: a running sum / T; fused: torch.mean of the trace. float32 rounding only
    torch.testing.assert_close(out.mean, mem_t.mean(0, keepdim=True), rtol=0, atol=1e-6)


def test_tau_sets_beta() -> None:
    assert math.isclose(float(LIF(tau=10.0).beta), math.exp(-0.1), rel_tol=1e-6)
    assert math.isclose(float(LIF(0.3, tau=2.0).beta), math.exp(-0.5), rel_tol=1e-6)  # tau wins over beta
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=0.0)


def test_learnable_beta_and_threshold_get_gradients() -> None:
    lif = LIF(0.7, threshold=0.8, learn_beta=True, learn_threshold=True)
    assert {n for n, _ in lif.named_parameters()} == {"beta", "threshold"}
    x = torch.rand(10, 4, 6, generator=torch.Generator().manual_seed(1))
    s, m = lif.forward_trace(x)
    (s.sum() + m.sum()).backward()
    assert lif.beta.grad is not None and lif.beta.grad.abs() > 0
    assert lif.threshold.grad is not None and lif.threshold.grad.abs() > 0
    assert {"beta", "threshold"} <= set(LIF().state_dict()) and not list(LIF().parameters())


def test_learnable_beta_is_clamped_in_params() -> None:
    lif = LIF(0.9, learn_beta=True)
    with torch.no_grad():
        lif.beta.fill_(1.3)
    assert float(lif.params().beta.detach()) == 1.0
    with torch.no_grad():
        lif.beta.fill_(-0.2)
    assert float(lif.params().beta.detach()) == 0.0


def test_params_carry_the_options() -> None:
    lif = LIF(0.5, threshold=0.7, reset="zero", surrogate="arctan", surrogate_options={"alpha": 3.0}, detach_reset=True)
    p = lif.params()
    assert isinstance(p, LIFParams)
    assert float(p.beta) == 0.5 and float(p.threshold) == pytest.approx(0.7)
    assert p.reset == "zero" and p.surrogate == Surrogate("arctan", 3.0) and p.detach_reset
    assert "reset='zero'" in repr(lif)


def test_make_neuron_lif() -> None:
    lif = make_neuron("lif", beta=0.5, reset="zero", backend="fused")
    assert isinstance(lif, LIF) and lif.reset == "zero" and float(lif.beta) == 0.5 and lif.backend == "fused"


def test_lif_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="hard")
    with pytest.raises(ValueError, match="beta"):
        LIF(1.5)
    with pytest.raises(ValueError, match="threshold"):
        LIF(threshold=0.0)
    with pytest.raises(ValueError, match="backend"):
        LIF(backend="cuda")
    with pytest.raises(ValueError, match="surrogate"):
        LIF(surrogate="sigmoid")
    with pytest.raises(ValueError, match="surrogate_options"):
        LIF(surrogate=Surrogate(), surrogate_options={"slope": 2.0})
    for backend in LIF_BACKENDS:
        with pytest.raises(ValueError, match="x must be time-major"):
            LIF(backend=backend)(torch.zeros(3))
        with pytest.raises(TypeError, match="x must be a torch.Tensor"):
            LIF(backend=backend)([1.0, 2.0])

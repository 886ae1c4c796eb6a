"""snnlab.functional.lif: one LIF step by hand, its state tuple, tau, the leaky integrator step."""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.functional.lif import (
    RESETS,
    LIFParams,
    LIFState,
    beta_from_tau,
    leaky_step,
    lif_initial_state,
    lif_step,
)
from snnlab.functional.surrogate import Surrogate


def test_initial_state_is_resting() -> None:
    x0 = torch.rand(3, 4, dtype=torch.float64)
    st = lif_initial_state(x0)
    assert isinstance(st, LIFState)
    assert st.v.shape == st.h.shape == (3, 4) and st.v.dtype == torch.float64
    assert not st.v.any() and not st.h.any()


@pytest.mark.parametrize("reset", RESETS)
def test_lif_step_by_hand(reset: str) -> None:
    p = LIFParams(beta=0.5, threshold=1.0, reset=reset)
    v = torch.tensor([0.0, 1.0, 0.4])
    x = torch.tensor([0.5, 0.8, 0.1])
    s, st = lif_step(x, LIFState(v, torch.zeros(3)), p)
    # h = 0.5*v + x = [0.5, 1.3, 0.3]; only the second crosses 1.0
    assert torch.allclose(st.h, torch.tensor([0.5, 1.3, 0.3]))
    assert s.tolist() == [0.0, 1.0, 0.0]
    after = 0.3 if reset == "subtract" else 0.0  # subtract the threshold, or back to zero
    assert torch.allclose(st.v, torch.tensor([0.5, after, 0.3]))


def test_lif_step_at_threshold_does_not_fire() -> None:
    s, st = lif_step(torch.tensor([1.0]), lif_initial_state(torch.zeros(1)), LIFParams(threshold=1.0))
    assert s.item() == 0.0 and st.v.item() == 1.0  # H(h - threshold) is strict


@pytest.mark.parametrize("reset", RESETS)
def test_detach_reset_changes_gradients_only(reset: str) -> None:
    x = torch.tensor([1.2, 0.3], dtype=torch.float64, requires_grad=True)
    out = {}
    for detach in (False, True):
        p = LIFParams(beta=0.9, threshold=1.0, reset=reset, surrogate=Surrogate(), detach_reset=detach)
        s, st = lif_step(x, lif_initial_state(x.detach()), p)
        (g,) = torch.autograd.grad(st.v.sum(), x)
        out[detach] = (s.detach(), st.v.detach(), g)
    assert torch.equal(out[False][0], out[True][0]) and torch.equal(out[False][1], out[True][1])
    assert not torch.allclose(out[False][2], out[True][2])
    # detached: v' = h - s*thr (or h*(1-s)) differentiates as if s were a constant
    s = out[True][0]
    expected = torch.ones(2, dtype=torch.float64) if reset == "subtract" else 1.0 - s
    assert torch.allclose(out[True][2], expected)


def test_tensor_parameters_get_gradients() -> None:
    beta = torch.tensor(0.8, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    x = torch.tensor([[0.6, 1.5]])
    s, st = lif_step(x, LIFState(torch.ones(1, 2), torch.zeros(1, 2)), LIFParams(beta, thr))
    (s.sum() + st.v.sum()).backward()
    assert beta.grad is not None and beta.grad.abs() > 0
    assert thr.grad is not None and thr.grad.abs() > 0


def test_beta_from_tau() -> None:
    assert math.isclose(beta_from_tau(5.0), math.exp(-0.2))
    assert math.isclose(beta_from_tau(1.0), math.exp(-1.0))
    with pytest.raises(ValueError, match="tau"):
        beta_from_tau(0.0)
    with pytest.raises(ValueError, match="tau"):
        beta_from_tau(-2.0)


def test_leaky_step() -> None:
    v = torch.tensor([1.0, -2.0])
    x = torch.tensor([0.5, 0.5])
    assert torch.equal(leaky_step(x, v, 0.5), torch.tensor([1.0, -0.5]))
    assert torch.equal(leaky_step(x, v, 0.0), x)

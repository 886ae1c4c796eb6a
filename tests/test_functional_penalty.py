"""snnlab.functional.penalty: the write-up's refractory penalty step by hand."""

from __future__ import annotations

import pytest
import torch

from snnlab.functional.penalty import PenaltyParams, PenaltyState, penalty_initial_state, penalty_step


def test_initial_state_is_resting() -> None:
    st = penalty_initial_state(torch.rand(2, 5, dtype=torch.float64))
    assert isinstance(st, PenaltyState)
    assert st.inner.shape == st.outer.shape == (2, 5) and st.inner.dtype == torch.float64
    assert not st.inner.any() and not st.outer.any()


def test_penalty_step_by_hand() -> None:
    p = PenaltyParams(decay=0.5, threshold=2.0, penalty_threshold=2.5)
    st = penalty_initial_state(torch.zeros(1))
    outer, st = penalty_step(torch.tensor([3.0]), st, p)
    # inner 3 -> outer relu(3 - 2) = 1 -> fired: inner = 3 - (2.5 + 1) = -0.5
    assert outer.item() == pytest.approx(1.0) and st.outer.item() == pytest.approx(1.0)
    assert st.inner.item() == pytest.approx(-0.5)
    outer, st = penalty_step(torch.tensor([1.0]), st, p)
    # inner = 1 + (-0.5)*0.5 = 0.75, below threshold: no output, no penalty
    assert outer.item() == 0.0 and st.inner.item() == pytest.approx(0.75)


def test_previous_output_does_not_enter_the_update() -> None:
    p = PenaltyParams()
    x = torch.tensor([1.0, 3.0])
    a = penalty_step(x, PenaltyState(torch.zeros(2), torch.zeros(2)), p)
    b = penalty_step(x, PenaltyState(torch.zeros(2), torch.full((2,), 7.0)), p)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].inner, b[1].inner)


def test_gradient_flows_through_outer_and_inner_not_the_gate() -> None:
    x = torch.tensor([3.0, 1.0], dtype=torch.float64, requires_grad=True)
    p = PenaltyParams(decay=0.5, threshold=2.0, penalty_threshold=2.5)
    outer, st = penalty_step(x, penalty_initial_state(x.detach()), p)
    (g_out,) = torch.autograd.grad(outer.sum(), x, retain_graph=True)
    assert g_out.tolist() == [1.0, 0.0]  # relu' where it fired, 0 below threshold
    (g_in,) = torch.autograd.grad(st.inner.sum(), x)
    # fired: inner = x - (pt + x - thr) has derivative 0 (the gate is a constant); silent: 1
    assert g_in.tolist() == [0.0, 1.0]

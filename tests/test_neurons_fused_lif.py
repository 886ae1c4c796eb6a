"""snnlab.neurons.fused_lif: the fused backend equals the loop (spikes, trace, mean, every gradient)."""

from __future__ import annotations

import pytest
import torch

from snnlab.neurons import LIF
from snnlab.neurons.fused_lif import FusedLIF


def _run(backend: str, x: torch.Tensor, **options) -> tuple[LIF, torch.Tensor, torch.Tensor, torch.Tensor]:
    lif = LIF(backend=backend, **options).double()
    out = lif.run(x, trace=True, mean=True)
    return lif, out.spikes, out.trace, out.mean


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
@pytest.mark.parametrize("shape", [(14, 3, 6), (1, 2, 4), (5, 1, 2, 3, 3)])
def test_fused_lif_equals_loop(reset: str, detach_reset: bool, surrogate: str, shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(shape, generator=g, dtype=torch.float64) * 1.4 - 0.1).requires_grad_()
    w_s, w_m, w_a = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
    w_a = w_a[:1]
    results = []
    for backend in ("loop", "fused"):
        lif, s, m, a = _run(backend, x, beta=0.85, threshold=0.9, reset=reset, surrogate=surrogate,
                            detach_reset=detach_reset, learn_beta=True, learn_threshold=True)
        assert torch.equal(lif(x), s)
        grads = torch.autograd.grad((s * w_s).sum() + (m * w_m).sum() + (a * w_a).sum(), [x, lif.beta, lif.threshold])
        results.append((s, m, a, grads))
    (s0, m0, a0, g0), (s1, m1, a1, g1) = results
    assert torch.equal(s0, s1) and torch.allclose(m0, m1) and torch.allclose(a0, a1)
    if shape[0] > 1:
        assert s0.sum() > 0 and (1 - s0).sum() > 0
    for a, b in zip(g0, g1):
        # a reverse recurrence vs autograd through the loop: float64 rounding only
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10), (a, b)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fused_lif_fixed_parameters_float32(reset: str) -> None:
    g = torch.Generator().manual_seed(8)
    x = (torch.rand(20, 8, 16, generator=g) * 1.5).requires_grad_()
    outs = []
    for backend in ("loop", "fused"):
        out = LIF(0.9, reset=reset, backend=backend).run(x, trace=True)
        (gx,) = torch.autograd.grad(out.spikes.sum() + 0.1 * out.trace.sum(), x)
        outs.append((out.spikes, out.trace, gx))
    (s0, m0, g0), (s1, m1, g1) = outs
    assert torch.equal(s0, s1)
    # the fused forward computes beta*v + x as one add with alpha (a possibly fused multiply-add): float32 rounding
    torch.testing.assert_close(m0, m1, rtol=0, atol=1e-6)
    torch.testing.assert_close(g0, g1, rtol=1e-5, atol=1e-6)  # backward accumulates in another order


def test_fused_lif_takes_expanded_input_and_spike_only_loss() -> None:
    base = torch.rand(4, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64).requires_grad_()
    grads = []
    for backend in ("loop", "fused"):
        out = LIF(0.9, backend=backend)(base.unsqueeze(0).expand(10, 4, 5))
        grads.append(torch.autograd.grad(out.sum(), base)[0])
    assert torch.allclose(grads[0], grads[1])


def test_fused_function_returns_spikes_and_membrane() -> None:
    x = torch.tensor([[[0.6]], [[0.6]], [[0.6]]])
    s, h = FusedLIF.apply(x, torch.tensor(1.0), torch.tensor(1.0), "subtract", LIF().surrogate, False)
    assert s.flatten().tolist() == [0.0, 1.0, 0.0]
    assert torch.allclose(h.flatten(), torch.tensor([0.6, 1.2, 0.8]))


def test_fused_run_returns_only_what_was_asked() -> None:
    out = LIF(backend="fused").run(torch.rand(3, 2, 2))
    assert out.trace is None and out.mean is None

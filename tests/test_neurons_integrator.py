"""snnlab.neurons.integrator: the readouts' non-spiking leaky integrator."""

from __future__ import annotations

import math

import torch

from snnlab.neurons import LeakyIntegrator, neuron_keys


def test_leaky_integrator_by_hand() -> None:
    x = torch.tensor([1.0, 0.0, 2.0]).view(3, 1, 1)
    out = LeakyIntegrator(0.5).run(x, trace=True, mean=True)
    assert out.spikes is None
    assert out.trace.flatten().tolist() == [1.0, 0.5, 2.25]
    assert out.mean.shape == (1, 1, 1)
    assert math.isclose(out.mean.item(), (1.0 + 0.5 + 2.25) / 3, rel_tol=1e-6)


def test_leaky_integrator_is_linear_and_differentiable() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    n = LeakyIntegrator(0.9)
    mean = n.run(x, mean=True).mean[0]
    (gx,) = torch.autograd.grad(mean.sum(), x)
    # d mean / d x_t = (1 + b + ... + b^(T-1-t)) / T
    T = 7
    expected = torch.tensor([sum(0.9**k for k in range(T - t)) / T for t in range(T)], dtype=torch.float64)
    assert torch.allclose(gx[:, 0, 0], expected)


def test_never_fires_and_is_not_registered() -> None:
    n = LeakyIntegrator()
    assert n.threshold == float("inf") and n.beta == 0.9
    assert n.key not in neuron_keys()
    assert n(torch.rand(3, 2, 2)) is None  # forward = spikes: none
    assert "beta=0.9" in repr(n)


def test_mean_alone_is_the_loops_mean_to_rounding() -> None:
    """``run(x, mean=True)`` without the trace is one weighted sum; it must equal the loop's mean."""
    g = torch.Generator().manual_seed(1)
    for beta in (0.0, 0.5, 0.9, 0.999, 1.0):
        for T in (1, 2, 25, 100):
            x = torch.randn(T, 3, 5, generator=g, dtype=torch.float64)
            n = LeakyIntegrator(beta)
            fast = n.run(x, mean=True)
            loop = n.run(x, trace=True)  # the loop's trace
            assert fast.trace is None and fast.mean.shape == (1, 3, 5)
            torch.testing.assert_close(fast.mean, loop.trace.mean(0, keepdim=True), rtol=1e-12, atol=1e-12)
    x32 = torch.randn(25, 4, 10, generator=g)
    assert LeakyIntegrator(0.9).run(x32, mean=True).mean.dtype == torch.float32


def test_mean_weights_are_suffix_sums_of_powers() -> None:
    c = LeakyIntegrator(0.5).mean_weights(3, torch.zeros(1, dtype=torch.float64))
    assert c.tolist() == [(1 + 0.5 + 0.25) / 3, (1 + 0.5) / 3, 1 / 3]


def test_mean_weights_are_made_once_per_length_dtype_and_device() -> None:
    """The training loop reads them every step: made once (no host-to-device copy per step on CUDA)."""
    lif = LeakyIntegrator(0.8)
    like = torch.zeros(1)
    first = lif.mean_weights(5, like)
    assert lif.mean_weights(5, like) is first
    assert lif.mean_weights(6, like) is not first and lif.mean_weights(5, like.double()).dtype == torch.float64
    lif.beta = 0.5  # a changed beta is not served from the cache
    torch.testing.assert_close(lif.mean_weights(5, like), LeakyIntegrator(0.5).mean_weights(5, like))

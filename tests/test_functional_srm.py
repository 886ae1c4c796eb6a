"""snnlab.functional.srm: the SRM kernel, its causal delay filter, and first-spike firing (step vs trace)."""

from __future__ import annotations

import pytest
import torch

from snnlab.functional.srm import (
    SPARSE_INPUT_DENSITY,
    FirstSpikeParams,
    FirstSpikeState,
    delayed_potential,
    delayed_traces,
    fire_once_by_cumprod,
    potential_by_gather,
    potential_by_traces,
    potential_weight_first,
    fire_once_by_steps,
    first_spike_initial_state,
    first_spike_step,
    first_spikes,
    sparse_input_pays,
    srm_kernel,
    srm_kernel_matrix,
)
from snnlab.functional.surrogate import Surrogate


def test_srm_kernel_peak_and_support() -> None:
    for tau in (1.0, 2.0, 3.5):
        a = torch.linspace(-3, 20, 2301, dtype=torch.float64)
        k = srm_kernel(a, tau)
        assert k[a <= 0].abs().max() == 0
        assert srm_kernel(torch.tensor(tau, dtype=torch.float64), tau).item() == pytest.approx(1.0)
        assert a[k.argmax()].item() == pytest.approx(tau, abs=0.01)
        assert k.max().item() <= 1.0 + 1e-12


def test_srm_kernel_matrix_is_shifted_causal_kernel() -> None:
    m = srm_kernel_matrix(6, (0, 2), 2.0, dtype=torch.float64)
    assert m.shape == (2 * 6, 6) and m.dtype == torch.float64
    m = m.view(2, 6, 6)
    for k, d in enumerate((0, 2)):
        for t in range(6):
            for tp in range(6):
                assert m[k, t, tp].item() == pytest.approx(srm_kernel(torch.tensor(float(t - tp - d)), 2.0).item())
    assert torch.count_nonzero(torch.triu(m[0])) == 0  # causal: no effect at or before the input step


def _loop(v: torch.Tensor, params: FirstSpikeParams) -> torch.Tensor:
    state = first_spike_initial_state(v[0])
    out = []
    for vt in v.unbind(0):
        s, state = first_spike_step(vt, state, params)
        out.append(s)
    return torch.stack(out)


def test_first_spike_step_by_hand() -> None:
    p = FirstSpikeParams(threshold=1.0)
    st = first_spike_initial_state(torch.zeros(3))
    assert isinstance(st, FirstSpikeState) and st.alive.tolist() == [1.0, 1.0, 1.0]
    s, st = first_spike_step(torch.tensor([0.5, 1.5, 2.0]), st, p)
    assert s.tolist() == [0.0, 1.0, 1.0] and st.alive.tolist() == [1.0, 0.0, 0.0]
    s, st = first_spike_step(torch.tensor([1.5, 1.5, 0.0]), st, p)
    assert s.tolist() == [1.0, 0.0, 0.0] and st.alive.tolist() == [0.0, 0.0, 0.0]  # fire once


@pytest.mark.parametrize("surrogate", [Surrogate("fast_sigmoid", 5.0), Surrogate("arctan", 2.0)])
def test_first_spikes_equals_loop_of_first_spike_step(surrogate: Surrogate) -> None:
    g = torch.Generator().manual_seed(0)
    v = (torch.randn(12, 4, 7, generator=g, dtype=torch.float64) * 1.2).requires_grad_()
    thr = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    p = FirstSpikeParams(thr, surrogate)
    a, b = first_spikes(v, p), _loop(v, p)
    assert torch.equal(a, b)  # 0/1 values: the cumulative product and the step product agree exactly
    assert a.sum(0).max() <= 1 and a.sum() > 0 and (a.sum(0) == 0).any()
    w = torch.randn(12, 4, 7, generator=g, dtype=torch.float64)
    ga = torch.autograd.grad((a * w).sum(), [v, thr])
    gb = torch.autograd.grad((b * w).sum(), [v, thr])
    for x, y in zip(ga, gb):
        # cumprod's backward and the chain of step products round differently (float64)
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)
    assert ga[0].abs().sum() > 0


def test_delayed_traces_filter_each_input_with_each_delay():
    """Feature i*K + k at step t is sum_t' sigma(t - t' - d_k) s_i(t'), for every leading batch shape."""
    from snnlab.functional.srm import delayed_traces, srm_kernel

    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(7, 2, 3, 4, generator=g) > 0.6).double()
    delays, tau = (0, 2), 1.5
    y = delayed_traces(spikes, delays, tau)
    assert y.shape == (7, 2, 3, 8)
    t = torch.arange(7, dtype=torch.float64)
    for k, d in enumerate(delays):
        kern = srm_kernel(t.view(-1, 1) - t.view(1, -1) - d, tau)  # [t, t']
        want = torch.einsum("ts,sbci->tbci", kern, spikes)
        assert torch.allclose(y[..., k::len(delays)], want, atol=1e-12)


def test_fire_once_by_steps_equals_the_cumprod_form() -> None:
    """The CPU's step product and the GPU's cumprod: the same spikes exactly, gradients to rounding."""
    g = torch.Generator().manual_seed(1)
    v = torch.randn(15, 3, 9, generator=g, dtype=torch.float64)
    h = Surrogate("fast_sigmoid", 5.0)(v - 0.8).requires_grad_()
    a, b = fire_once_by_steps(h), fire_once_by_cumprod(h)
    assert torch.equal(a, b) and a.sum() > 0 and (a.sum(0) <= 1).all()
    w = torch.randn(15, 3, 9, generator=g, dtype=torch.float64)
    (ga,), (gb,) = torch.autograd.grad((a * w).sum(), [h]), torch.autograd.grad((b * w).sum(), [h])
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12) and ga.abs().sum() > 0


def _reference_potential(spikes: torch.Tensor, weight: torch.Tensor, delays, tau) -> torch.Tensor:
    y = delayed_traces(spikes, delays, tau, dtype=weight.dtype)
    return (y.reshape(-1, y.shape[-1]) @ weight.t()).view(*spikes.shape[:-1], weight.shape[0])


@pytest.mark.parametrize("density", [0.02, 0.5])  # the gather path, the weight-first GEMM path
@pytest.mark.parametrize("shape,delays", [((25, 6, 40), (0, 1, 2, 3)), ((5, 2, 3, 7), (2, 0, 9)),
                                          ((1, 4, 3), (0,)), ((6, 4, 5), (1, 3))])
def test_delayed_potential_is_the_traces_times_the_weight(density, shape, delays) -> None:
    """Same values and weight gradients as filtering every input then one GEMM, on both of its paths,
    for extra batch dims, a delay past the window, a single step; spike values other than 1 count."""
    g = torch.Generator().manual_seed(2)
    spikes = (torch.rand(shape, generator=g, dtype=torch.float64) < density) * \
        torch.rand(shape, generator=g, dtype=torch.float64).add(0.5)
    weight = torch.randn(7, shape[-1] * len(delays), generator=g, dtype=torch.float64, requires_grad=True)
    if spikes.numel() >= 1000:  # large enough for the realised density to be on the drawn side of the cut
        assert sparse_input_pays(spikes) == (density < SPARSE_INPUT_DENSITY)
    got, want = delayed_potential(spikes, weight, delays, 1.5), _reference_potential(spikes, weight, delays, 1.5)
    assert got.shape == want.shape == (*shape[:-1], 7)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    probe = torch.randn(want.shape, generator=g, dtype=torch.float64)
    (g_got,), (g_want,) = (torch.autograd.grad((x * probe).sum(), [weight]) for x in (got, want))
    assert torch.allclose(g_got, g_want, rtol=1e-10, atol=1e-12)
    for order in (potential_by_gather, potential_by_traces, potential_weight_first):  # each order, forced
        other = order(spikes, weight, delays, 1.5)
        assert torch.allclose(other, want, rtol=1e-12, atol=1e-12), order.__name__
        (g_other,) = torch.autograd.grad((other * probe).sum(), [weight])
        assert torch.allclose(g_other, g_want, rtol=1e-10, atol=1e-12), order.__name__


def test_delayed_potential_passes_a_gradient_to_spikes_that_need_one() -> None:
    """Spikes that need a gradient (a hidden layer's, under a surrogate) take the dense path, whose
    gradient is non-zero where no spike is; the gather path would give none there."""
    g = torch.Generator().manual_seed(3)
    spikes = (torch.rand(9, 3, 10, generator=g, dtype=torch.float64) < 0.01).double().requires_grad_()
    weight = torch.randn(4, 20, generator=g, dtype=torch.float64)
    assert not sparse_input_pays(spikes)
    (got,) = torch.autograd.grad(delayed_potential(spikes, weight, (0, 2), 2.0).sum(), [spikes])
    (want,) = torch.autograd.grad(_reference_potential(spikes, weight, (0, 2), 2.0).sum(), [spikes])
    assert torch.allclose(got, want, atol=1e-12) and (got[spikes.detach() == 0] != 0).any()


def test_delayed_potential_paths_can_be_forced_but_not_gather_for_spikes_needing_a_gradient() -> None:
    spikes = (torch.rand(6, 2, 5, dtype=torch.float64) < 0.5).double()
    weight = torch.randn(3, 10, dtype=torch.float64)
    a = delayed_potential(spikes, weight, (0, 1), 2.0, gather=True)
    b = delayed_potential(spikes, weight, (0, 1), 2.0, gather=False)
    assert torch.allclose(a, b, atol=1e-12)
    with pytest.raises(ValueError, match="gather=True gives the spikes no gradient"):
        delayed_potential(spikes.requires_grad_(), weight, (0, 1), 2.0, gather=True)
    with pytest.raises(TypeError, match="gather must be None, True or False"):
        delayed_potential(spikes, weight, (0, 1), 2.0, gather="yes")


def test_sparse_input_pays_only_for_few_spikes_without_gradient() -> None:
    few = torch.zeros(25, 8, 100)
    few[3, :, :10] = 1.0  # 0.4% non-zero
    assert sparse_input_pays(few)
    assert not sparse_input_pays(torch.ones(25, 8, 100))
    assert not sparse_input_pays(few.clone().requires_grad_())
    assert not sparse_input_pays(torch.zeros(0, 8, 100))

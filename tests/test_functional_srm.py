"""snnlab.functional.srm: the SRM kernel, its causal delay filter, and first-spike firing (step vs trace)."""

from __future__ import annotations

import pytest
import torch

from snnlab.functional.srm import (
    FirstSpikeParams,
    FirstSpikeState,
    first_spike_initial_state,
    first_spike_step,
    first_spikes,
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

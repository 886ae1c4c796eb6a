"""snnlab.blocks.synapses: linear, conv and delayed SRM synapses over time-major sequences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnlab.blocks import ConvSynapse, DelayedLinear, LinearSynapse
from snnlab.functional.srm import FirstSpikeParams, first_spike_initial_state, first_spike_step, srm_kernel
from snnlab.neurons import FirstSpike

# --------------------------------------------------------------------------- LinearSynapse


def test_linear_synapse_shapes_and_weight_override() -> None:
    syn = LinearSynapse(12, 5)
    assert isinstance(syn, torch.nn.Linear) and syn.taps == 1 and syn.unwrapped is syn
    x = torch.rand(4, 3, 2, 6)  # features flattened: 2*6 = 12
    y = syn(x)
    assert y.shape == (4, 3, 5)
    assert torch.equal(y, F.linear(x.reshape(12, 12), syn.weight, syn.bias).reshape(4, 3, 5))
    w = torch.randn(5, 12)
    assert torch.equal(syn(x, weight=w), F.linear(x.reshape(12, 12), w, syn.bias).reshape(4, 3, 5))
    assert torch.equal(syn(x, weight=torch.zeros(5, 12)), syn.bias.expand(4, 3, 5))


def test_linear_static_equals_sequence_on_a_repeated_input() -> None:
    syn = LinearSynapse(64, 20)
    x = torch.rand(3, 1, 8, 8)
    static = syn.static(x)
    assert static.shape == (3, 20)
    seq = syn(x.unsqueeze(0).expand(4, *x.shape))
    # one GEMM of B rows vs one of T*B rows: the BLAS may block them differently (float32 rounding)
    torch.testing.assert_close(seq, static.unsqueeze(0).expand(4, 3, 20), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- ConvSynapse


def test_conv_synapse_shapes_and_weight_override() -> None:
    syn = ConvSynapse(2, 3)
    assert syn.taps == 1 and syn.unwrapped is syn and syn.weight is syn.conv.weight
    assert syn.weight.shape == (3, 2, 3, 3) and syn.conv.bias is None
    x = torch.rand(4, 5, 2, 8, 8)
    syn.eval()  # batch normalisation from its running statistics: a fixed affine map
    y = syn(x)
    assert y.shape == (4, 5, 3, 8, 8)
    ref = syn.norm(F.conv2d(x.reshape(20, 2, 8, 8), syn.weight, padding=1)).reshape(4, 5, 3, 8, 8)
    assert torch.equal(y, ref)
    w = torch.randn(3, 2, 3, 3)
    ref_w = syn.norm(F.conv2d(x.reshape(20, 2, 8, 8), w, padding=1)).reshape(4, 5, 3, 8, 8)
    assert torch.equal(syn(x, weight=w), ref_w)


@pytest.mark.parametrize("train", [True, False])
def test_conv_static_equals_sequence_on_a_repeated_input(train: bool) -> None:
    syn = ConvSynapse(2, 3).train(train)
    x = torch.rand(3, 2, 8, 8)
    static = syn.static(x)
    assert static.shape == (3, 3, 8, 8)
    seq = syn(x.unsqueeze(0).expand(4, *x.shape))
    # B vs T*B images (in training the batch statistics are over T copies): float32 rounding only
    torch.testing.assert_close(seq, static.unsqueeze(0).expand_as(seq), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- DelayedLinear (was SRMLayer)


def _srm_reference(syn: DelayedLinear, threshold: float, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (1) by explicit sums, then the first-spike rule with first_spike_step in a loop."""
    T, B, n_in = s.shape
    w = syn.weight.view(syn.out_features, n_in, len(syn.delays))
    vs = []
    for t in range(T):
        v_t = torch.zeros(B, syn.out_features, dtype=s.dtype)
        for tp in range(T):
            for k, d in enumerate(syn.delays):
                sig = srm_kernel(torch.tensor(float(t - tp - d), dtype=s.dtype), syn.tau)
                v_t = v_t + sig * (s[tp] @ w[:, :, k].t())
        vs.append(v_t)
    v = torch.stack(vs)
    params = FirstSpikeParams(threshold)
    state = first_spike_initial_state(v[0])
    out = []
    for t in range(T):
        spike, state = first_spike_step(v[t], state, params)
        out.append(spike)
    return torch.stack(out), v


def test_delayed_linear_and_first_spike_equal_explicit_sum_and_step_loop() -> None:
    g = torch.Generator().manual_seed(3)
    T, B, n_in, n_out = 10, 3, 6, 5
    syn = DelayedLinear(n_in, n_out, delays=(0, 1, 3), tau=2.0, threshold=1.0, generator=g).double()
    neuron = FirstSpike(1.0)
    assert syn.weight.shape == (n_out, n_in * 3) and syn.taps == 3 and syn.unwrapped is syn
    s = (torch.rand(T, B, n_in, generator=g) < 0.3).double()  # several spikes per input allowed
    with torch.no_grad():
        syn.weight.mul_(2.0)
    v = syn(s)
    spikes = neuron(v)
    ref_spikes, ref_v = _srm_reference(syn, 1.0, s)
    # one Toeplitz matmul vs explicit sums over (t', k): float64 rounding only
    assert torch.allclose(v, ref_v) and torch.equal(spikes, ref_spikes)
    assert spikes.sum() > 0 and (spikes.sum(0) == 0).any()
    wts = torch.randn(T, B, n_out, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((spikes * wts).sum() + 0.1 * (v * wts).sum(), syn.weight)[0]
    g2 = torch.autograd.grad((ref_spikes * wts).sum() + 0.1 * (ref_v * wts).sum(), syn.weight)[0]
    assert torch.allclose(g1, g2) and g1.abs().sum() > 0


def test_delayed_linear_weight_override_and_batch_dims() -> None:
    g = torch.Generator().manual_seed(4)
    syn = DelayedLinear(4, 3, delays=(0, 2), generator=g)
    s = (torch.rand(6, 2, 5, 4, generator=g) < 0.4).float()  # extra batch dims [T, K, B, in]
    v = syn(s)
    assert v.shape == (6, 2, 5, 3)
    torch.testing.assert_close(v[:, 1], syn(s[:, 1]))  # GEMMs of different sizes: float32 rounding
    assert torch.equal(syn(s, weight=torch.zeros_like(syn.weight)), torch.zeros(6, 2, 5, 3))
    w2 = syn.weight.detach() * 2
    torch.testing.assert_close(syn(s, weight=w2), 2 * v.detach())  # linear in the weight


def test_delays_shift_the_response_exactly() -> None:
    s = torch.zeros(16, 1, 1)
    s[2] = 1.0
    base = None
    for d in (0, 1, 4):
        syn = DelayedLinear(1, 1, delays=(d,), tau=2.0)
        with torch.no_grad():
            syn.weight.fill_(1.0)
        v = syn(s).flatten()
        if base is None:
            base = v
            assert v.argmax().item() == 2 + 2  # spike at 2, kernel peak at a = tau = 2
            assert v.max().item() == pytest.approx(1.0)
        else:
            assert torch.count_nonzero(v[: 3 + d]) == 0
            assert torch.allclose(v[d:], base[: 16 - d])


def test_one_input_spike_gives_the_kernel() -> None:
    syn = DelayedLinear(1, 1, delays=(0,), tau=2.0)
    with torch.no_grad():
        syn.weight.fill_(1.5)
    s = torch.zeros(12, 1, 1)
    s[0] = 1.0
    assert torch.allclose(syn(s).flatten(), 1.5 * srm_kernel(torch.arange(12.0), 2.0))


def test_init_lets_part_of_the_layer_fire() -> None:
    g = torch.Generator().manual_seed(0)
    T, B, n_in = 25, 32, 200
    x = torch.rand(B, n_in, generator=g) * (torch.rand(B, n_in, generator=g) < 0.25)
    t = ((1 - x) * (T - 1)).round().long()
    s = torch.zeros(T, B, n_in).scatter_(0, t.unsqueeze(0), (x > 0.01).float().unsqueeze(0))
    frac = FirstSpike(1.0)(DelayedLinear(n_in, 300, generator=g)(s)).sum(0).mean().item()
    assert 0.1 < frac < 0.9


def test_delayed_linear_bad_arguments() -> None:
    with pytest.raises(ValueError, match="repeated"):
        DelayedLinear(3, 2, delays=(1, 1))
    with pytest.raises(ValueError, match="delays entry"):
        DelayedLinear(3, 2, delays=(0, -1))
    with pytest.raises(TypeError, match="delays"):
        DelayedLinear(3, 2, delays=())
    with pytest.raises(ValueError, match="tau"):
        DelayedLinear(3, 2, tau=0.0)
    with pytest.raises(ValueError, match="threshold"):
        DelayedLinear(3, 2, threshold=0.0)
    with pytest.raises(ValueError, match="in_features"):
        DelayedLinear(0, 2)
    with pytest.raises(ValueError, match="in_features=3"):
        DelayedLinear(3, 2)(torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match="time-major"):
        DelayedLinear(3, 2)(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="static"):
        DelayedLinear(3, 2).static(torch.zeros(2, 3))


def test_linear_synapse_of_a_time_sum_is_the_time_sum_of_its_currents() -> None:
    """``of_time_sum(sum_t c_t s_t, sum_t c_t)`` equals ``sum_t c_t (W s_t + b)`` (linearity), with and
    without a bias, and casts its input to the weight's dtype."""
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(7, 3, 5, generator=g) < 0.4).double()
    c = torch.rand(7, generator=g, dtype=torch.float64)
    for bias in (True, False):
        syn = LinearSynapse(5, 4, bias=bias).double()
        want = torch.tensordot(c, syn(s), dims=1)
        got = syn.of_time_sum(torch.tensordot(c, s, dims=1).float(), c.sum())
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)  # the float32 z: rounding only
        torch.testing.assert_close(syn.of_time_sum(torch.tensordot(c, s, dims=1), c.sum()), want, rtol=1e-12, atol=1e-12)


def test_which_synapses_sum_over_time() -> None:
    """Only linear synapses are linear in a time sum (``sums_over_time``); a convolution with batch norm
    and the delayed SRM synapse are not."""
    from snnlab.blocks.members import MemberConv, MemberDelayed, MemberLinear

    assert LinearSynapse(3, 2).sums_over_time and MemberLinear.sums_over_time
    assert not ConvSynapse(1, 2).sums_over_time and not DelayedLinear(3, 2).sums_over_time
    assert not MemberConv.sums_over_time and not MemberDelayed.sums_over_time

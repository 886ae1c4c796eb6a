"""``snnlab/dropout/dropconnect.py``: DropConnect passes the spikes and masks the next synapse through
``MaskedSynapse``, tested on a tiny synapse module ``forward(x, weight=None)``: masks at rate p held
for the whole call, statistics from the spikes it transmits, identity in eval, p = 0, gradients,
rescaling and convolution weights. Tolerances: 5 standard errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropout_helpers import B, N, P, T, TinySynapse, five_se, spikes
from snnlab.dropout import LayerContext, make_dropout, mc_mode, method_info
from snnlab.dropout.dropconnect import DropConnect, MaskedSynapse


def wrapped(p: float = P, n_out: int = 400, n_in: int = N, **options) -> tuple[DropConnect, TinySynapse, MaskedSynapse]:
    d = make_dropout("dropconnect", p, **options)
    syn = TinySynapse(n_out, n_in)
    return d, syn, d.wrap_next(syn)


def test_dropconnect_describes_itself():
    info = method_info("dropconnect")
    assert info.acts_on == "synapses" and info.family == "snn_aware" and info.time_consistent
    assert info.membrane is None and not info.needs_weight


def test_spikes_pass_unchanged_and_the_wrapper_is_a_synapse():
    d, syn, ms = wrapped(seed=0)
    x = spikes()
    assert d(LayerContext(x)) is x
    assert isinstance(ms, MaskedSynapse) and ms.unwrapped is syn and ms.weight is syn.weight
    assert list(ms.parameters()) == [syn.weight]  # the method is referenced, not a child of the wrapper
    assert "method" not in dict(ms.named_modules())


def test_the_mask_drops_synapses_at_rate_p_and_is_new_at_every_call():
    d, syn, ms = wrapped(seed=0)
    x = spikes()
    out = ms(x)
    w = syn.last_weight
    frac = (w == 0).float().mean().item()
    assert abs(frac - P) < five_se(P, w.numel())
    assert torch.equal(out, x @ w.T)  # one masked weight for every step and sample of the call
    assert d.last_stats.dropped_fraction == pytest.approx(frac)
    ms(x)
    assert not torch.equal(syn.last_weight, w)


def test_statistics_come_from_the_spikes_the_synapse_transmits():
    d, syn, ms = wrapped(seed=1)
    x = spikes()
    x[:, :, :5] = 0.0  # five presynaptic neurons are silent for every sample
    ms(x)
    w = syn.last_weight
    s = d.last_stats
    # a spike of input j is cut on exactly the synapses of column j that were dropped
    cut = ((w == 0).float().sum(0) * x.sum((0, 1))).sum() / (x.sum() * w.shape[0])
    assert s.spikes_removed == pytest.approx(cut.item(), rel=1e-6)
    silent = (x.sum(0) == 0).float()  # [B, in]
    dropped_per_input = (w == 0).float().sum(0)
    expected = (silent * dropped_per_input).sum() / (dropped_per_input.sum() * B)
    assert s.silent_fraction == pytest.approx(expected.item(), rel=1e-6)
    assert (s.out_min, s.out_max) == (0.0, 1.0) and s.out_mean == pytest.approx(x.mean().item())


def test_eval_is_the_identity_and_mc_mode_samples():
    d, syn, ms = wrapped(seed=0)
    x = spikes()
    d.eval()
    ms(x)
    assert syn.last_weight is syn.weight
    with mc_mode(d):
        ms(x)
        assert (syn.last_weight == 0).any()
    ms(x)
    assert syn.last_weight is syn.weight


def test_p_zero_keeps_the_weight_and_reports_no_drop():
    d, syn, ms = wrapped(p=0.0, seed=0)
    x = spikes()
    ms(x)
    assert syn.last_weight is syn.weight
    s = d.last_stats
    assert s.dropped_fraction == 0.0 and s.spikes_removed == 0.0 and math.isnan(s.silent_fraction)


def test_inverted_preserves_the_expected_weight_and_none_keeps_it():
    d, syn, ms = wrapped(seed=1, n_out=500, n_in=200)
    with torch.no_grad():
        syn.weight.fill_(1.0)
    ms(torch.ones(2, 3, 200))
    assert abs(syn.last_weight.mean().item() - 1.0) < 5 * math.sqrt(P / (1 - P) / syn.weight.numel())
    d, syn, ms = wrapped(seed=1, rescale="none")
    ms(spikes())
    w = syn.last_weight
    assert torch.all((w == 0) | (w == syn.weight))
    d.eval()
    assert d.inference_scale == pytest.approx(1 - P)
    x = spikes()
    torch.testing.assert_close(d(LayerContext(x)), x * (1 - P))  # the slot scales what reaches the synapse


def test_the_gradient_reaches_kept_synapses_only():
    d, syn, ms = wrapped(seed=2, n_out=20)
    x = torch.ones(T, 4, N)
    ms(x).sum().backward()
    kept = syn.last_weight.detach() != 0
    g = syn.weight.grad
    assert torch.all(g[~kept] == 0)
    torch.testing.assert_close(g[kept], torch.full_like(g[kept], T * 4 / (1 - P)))


def test_a_replacement_weight_is_masked_too():
    d, syn, ms = wrapped(seed=3, n_out=50)
    other = torch.full_like(syn.weight, 2.0)
    ms(spikes(), weight=other)
    w = syn.last_weight
    assert torch.all((w == 0) | (w == 2.0 / (1 - P))) and (w == 0).any()


def test_mask_weight_checks_its_argument():
    d = make_dropout("dropconnect", P)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        d.mask_weight([[1.0]])
    with pytest.raises(ValueError, match=r"weight must be a matrix \[out, in, ...\]"):
        d.mask_weight(torch.zeros(N))
    masked = d.mask_weight(torch.ones(8, N))  # without spikes: spike statistics are unknown
    assert (masked == 0).any() and math.isnan(d.last_stats.spikes_removed)


class TinyConv(nn.Module):
    """A convolution synapse: ``[T, B, C, H, W] -> [T, B, O, H, W]`` with a replaceable weight."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        w = self.weight if weight is None else weight
        t, b = x.shape[:2]
        return nn.functional.conv2d(x.flatten(0, 1), w, padding=1).unflatten(0, (t, b))


def test_convolution_weights_are_masked_per_synapse_with_channel_statistics():
    d = make_dropout("dropconnect", P, seed=0)
    conv = TinyConv()
    ms = d.wrap_next(conv)
    x = spikes((3, 8, 4, 5, 5))
    x[:, :, 0] = 0.0  # input channel 0 is silent
    out = ms(x)
    assert out.shape == (3, 8, 6, 5, 5)
    s = d.last_stats
    assert abs(s.dropped_fraction - P) < five_se(P, conv.weight.numel())
    assert 0.0 < s.spikes_removed < 1.0 and 0.0 < s.silent_fraction < 1.0


def test_a_time_sum_through_the_wrapper_uses_one_mask_for_every_step():
    """``MaskedSynapse.of_time_sum``: the wrapped synapse's, under the mask ``forward`` would draw for the
    same call (one per call, shared by all steps), with the method's statistics from the spikes."""
    from snnlab.blocks import LinearSynapse

    torch.manual_seed(0)
    syn = LinearSynapse(N, 5).double()
    x = spikes().double()
    c = torch.rand(T, dtype=torch.float64)
    d = make_dropout("dropconnect", 0.5, seed=3)
    wrapped = d.wrap_next(syn)
    assert wrapped.sums_over_time
    got = wrapped.of_time_sum(torch.tensordot(c, x, dims=1), c.sum(), spikes=x)
    stats = d.last_stats
    d.reseed(3)
    want = torch.tensordot(c, wrapped(x), dims=1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert stats is not None and stats.dropped_fraction == d.last_stats.dropped_fraction

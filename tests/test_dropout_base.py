"""``snnlab/dropout/base.py``: the contract every registered method follows (docs/design.md,
"Dropout: the contract"), and the base class's own machinery (the call check, lazy statistics,
inference scaling, seeds).

The contract tests are parametrised over ``available()`` read at collection time and learn what a
method is from the registry (``method_info``: family, what it acts on, what it needs, whether it is
time-consistent, which rescale modes it supports), so a method added later is covered with no
change here. Statistical checks use tolerances of at least 5 standard errors. Tests that take the
``kernel`` fixture run under both per-element backends (fused C kernel and plain PyTorch).
"""

from __future__ import annotations

import math

import pytest
import torch

from dropout_helpers import B, N, P, T, TinySynapse, context, five_se, independent_draws, run, spikes
from snnlab.dropout import DropoutStats, LayerContext, SpikeDropout, available, make_dropout, mc_mode, method_info

KEYS = available()
METHODS = tuple(k for k in KEYS if method_info(k).family != "baseline")
SPIKE_METHODS = tuple(k for k in METHODS if method_info(k).acts_on == "spikes")
SYNAPSE_METHODS = tuple(k for k in METHODS if method_info(k).acts_on == "synapses")
UNBIASED = tuple(k for k in SPIKE_METHODS if "none" in method_info(k).rescale)  # inverted = 1/keep scaling


def draw(d: SpikeDropout, x: torch.Tensor, synapse: TinySynapse | None = None) -> torch.Tensor:
    """What the method changes on ``x``: its output, or the weight the next synapse was called with."""
    out = d(context(d.key, x))
    if d.acts_on == "synapses":
        synapse = synapse if synapse is not None else TinySynapse(8, x.shape[2])
        d.wrap_next(synapse)(out)
        return synapse.last_weight
    return out


# ------------------------------------------------------------------ arguments and calls


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan")])
def test_p_outside_unit_interval_is_rejected(key, p):
    with pytest.raises(ValueError, match="p="):
        make_dropout(key, p)


@pytest.mark.parametrize("key", KEYS)
def test_p_of_wrong_type_is_rejected(key):
    with pytest.raises(TypeError, match="p must be a real number"):
        make_dropout(key, "0.3")


@pytest.mark.parametrize("key", KEYS)
def test_rescale_and_generator_are_checked(key):
    with pytest.raises(ValueError, match="rescale='half' is not known; allowed: 'inverted', 'none'"):
        make_dropout(key, 0.0, rescale="half")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_dropout(key, 0.0, generator=7)


@pytest.mark.parametrize("key", KEYS)
def test_a_method_is_called_with_a_layer_context(key):
    d = make_dropout(key, 0.0 if key == "none" else P)
    with pytest.raises(TypeError, match="called with a LayerContext"):
        d(torch.zeros(T, B, N))
    with pytest.raises(TypeError, match="spikes must be a torch.Tensor"):
        d(LayerContext([[0.0]]))
    with pytest.raises(ValueError, match=r"time-major \[T, B, features...\]"):
        d(LayerContext(torch.zeros(B, N)))


@pytest.mark.parametrize("key", KEYS)
def test_missing_or_misshapen_context_is_named(key):
    info = method_info(key)
    d = make_dropout(key, 0.0 if key == "none" else P)
    x = torch.zeros(T, B, N)
    if info.membrane is not None:
        with pytest.raises(ValueError, match=f"the {key!r} method needs the layer's membrane"):
            d(LayerContext(x))
    with pytest.raises(ValueError, match="membrane must have the shape of spikes"):
        d(LayerContext(x, membrane=torch.zeros(T, B, N + 1), weight=torch.zeros(N, 4)))
    if info.needs_weight:
        with pytest.raises(ValueError, match=f"the {key!r} method needs the layer's weight"):
            d(LayerContext(x, membrane=torch.zeros(T, B, N)))


@pytest.mark.parametrize("key", KEYS)
def test_membrane_mean_is_accepted_only_by_methods_that_ask_for_the_mean(key):
    info = method_info(key)
    x = spikes()
    mean = torch.randn(1, B, N)
    weight = torch.randn(N, 4)
    d = make_dropout(key, 0.0 if key == "none" else P, seed=0)
    if info.membrane == "mean":
        assert d(LayerContext(x, membrane=mean, weight=weight)).shape == x.shape
    else:
        with pytest.raises(ValueError, match="membrane must have the shape of spikes"):
            d(LayerContext(x, membrane=mean, weight=weight))


# ------------------------------------------------------------------ rates and time structure


@pytest.mark.parametrize("key", SPIKE_METHODS)
def test_realised_drop_rate_matches_p(key, kernel):
    x = torch.ones(T, B, N)
    _, d = run(key, x)
    stats = d.last_stats
    assert isinstance(stats, DropoutStats) and stats.method == key and stats.p == P
    assert abs(stats.dropped_fraction - P) < five_se(P, independent_draws(key, x))
    assert stats.spikes_removed == pytest.approx(stats.dropped_fraction, abs=1e-9)  # every unit spikes
    assert stats.silent_fraction == 0.0  # no unit is silent


@pytest.mark.parametrize("key", SPIKE_METHODS)
def test_time_consistency_is_what_the_method_declares(key, kernel):
    x = torch.ones(T, B, N)
    out, _ = run(key, x)
    held = torch.equal(out, out[:1].expand_as(out))
    assert held == method_info(key).time_consistent


@pytest.mark.parametrize("key", SYNAPSE_METHODS)
def test_synapse_methods_pass_spikes_and_mask_the_next_synapse(key):
    x = spikes()
    d = make_dropout(key, P, seed=0)
    out = d(context(key, x))
    assert torch.equal(out, x)
    syn = TinySynapse(400, N)
    d.wrap_next(syn)(out)
    frac = (syn.last_weight == 0).float().mean().item()
    assert abs(frac - P) < five_se(P, syn.weight.numel())


@pytest.mark.parametrize("key", KEYS)
def test_wrap_next_changes_the_synapse_only_for_methods_that_act_on_synapses(key):
    syn = TinySynapse(5, N)
    wrapped = make_dropout(key, 0.0 if key == "none" else P).wrap_next(syn)
    if method_info(key).acts_on == "spikes":
        assert wrapped is syn
    else:
        assert wrapped is not syn and wrapped.weight is syn.weight


# ------------------------------------------------------------------ modes and seeds


@pytest.mark.parametrize("key", METHODS)
def test_eval_is_identity_and_mc_mode_samples(key, kernel):
    x = spikes()
    d = make_dropout(key, P, seed=0)
    syn = TinySynapse(5, N)
    wrapped = d.wrap_next(syn)
    d.eval()
    assert d(context(key, x)) is x
    wrapped(x)
    assert syn.last_weight is syn.weight
    assert d.last_stats is None  # nothing sampled yet
    with mc_mode(d):
        assert d.sampling
        assert not torch.equal(draw(d, x, syn), syn.weight if d.acts_on == "synapses" else x)
    assert not d.mc and not d.sampling
    assert make_dropout(key, P, mc=True).eval().sampling


@pytest.mark.parametrize("key", METHODS)
def test_same_seed_same_mask_and_reseed_restarts(key, kernel):
    x = torch.ones(T, B, N)
    a, b, c = (make_dropout(key, P, seed=s) for s in (7, 7, 8))
    first = draw(a, x)
    assert torch.equal(first, draw(b, x))
    assert not torch.equal(first, draw(c, x))
    assert not torch.equal(first, draw(a, x))  # a new mask at every forward
    a.reseed(7)
    assert torch.equal(draw(a, x), first)
    g1, g2 = torch.Generator().manual_seed(123), torch.Generator().manual_seed(123)
    assert torch.equal(draw(make_dropout(key, P, generator=g1), x), draw(make_dropout(key, P, generator=g2), x))


@pytest.mark.parametrize("key", METHODS)
def test_seed_defaults_to_the_global_rng(key):
    x = torch.ones(T, B, N)
    torch.manual_seed(5)
    first = draw(make_dropout(key, P), x)
    torch.manual_seed(5)
    assert torch.equal(draw(make_dropout(key, P), x), first)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("seed", [1.7, "3", True, 2.0])
def test_a_seed_that_is_not_an_integer_is_refused(key, seed):
    """``seed=1.7`` used to be truncated to 1 silently."""
    with pytest.raises(TypeError, match=f"seed must be an integer, got {type(seed).__name__}"):
        make_dropout(key, 0.0, seed=seed)
    d = make_dropout(key, 0.0, seed=3)
    with pytest.raises(TypeError, match="seed must be an integer"):
        d.reseed(seed)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("mc", ["no", 0, 1, None])
def test_mc_must_be_a_bool(key, mc):
    """``mc='no'`` used to switch MC sampling on (a truthy string)."""
    with pytest.raises(TypeError, match=f"mc must be True or False, got {type(mc).__name__}"):
        make_dropout(key, 0.0, mc=mc)


# ------------------------------------------------------------------ values


@pytest.mark.parametrize("key", UNBIASED)
def test_inverted_rescaling_preserves_expected_value(key, kernel):
    x = torch.ones(T, B, N)
    out, d = run(key, x)
    q = getattr(d, "last_probabilities", None)
    var = (q.double() / (1 - q.double())).mean().item() if q is not None else P / (1 - P)
    assert abs(out.mean().item() - 1.0) < 5 * math.sqrt(var / independent_draws(key, x))


@pytest.mark.parametrize("key", tuple(k for k in METHODS if "none" in method_info(k).rescale))
def test_rescale_none_keeps_spikes_binary_and_scales_at_inference(key, kernel):
    x = spikes()
    d = make_dropout(key, P, rescale="none", seed=0)
    changed = draw(d, x, TinySynapse(8, N))
    if d.acts_on == "synapses":
        assert set(torch.unique(changed != 0).tolist()) == {False, True}
        w = TinySynapse(8, N).weight
        assert torch.all((changed == 0) | torch.isclose(changed, w))  # kept synapses are not rescaled
    else:
        assert set(torch.unique(changed).tolist()) <= {0.0, 1.0}
        assert d.last_stats.out_min == 0.0 and d.last_stats.out_max == 1.0
    assert d.inference_scale == 1.0  # sampling: no scaling
    d.eval()
    assert d.inference_scale == pytest.approx(1 - P)  # the layer's mean keep
    if method_info(key).probability_map:  # each neuron by its own keep (tests/test_dropout_shaped.py)
        got = d(context(key, x))
        assert got.sum().item() == pytest.approx((x * (1 - P)).sum().item(), rel=0.2)
    else:
        assert torch.allclose(d(context(key, x)), x * (1 - P))
    assert make_dropout(key, P).eval().inference_scale == 1.0  # inverted: nothing to do at inference


@pytest.mark.parametrize("key", tuple(k for k in METHODS if "none" not in method_info(k).rescale))
def test_methods_without_rescale_none_refuse_it(key):
    with pytest.raises(ValueError, match=f"rescale='none' is not meaningful for the {key!r} method; it supports:"):
        make_dropout(key, P, rescale="none")


@pytest.mark.parametrize("key", SPIKE_METHODS)
def test_gradient_is_zero_exactly_on_dropped_entries(key, kernel):
    x = torch.ones(T, B, N, requires_grad=True)
    d = make_dropout(key, P, seed=2)
    d(context(key, x)).sum().backward()
    zero = (x.grad == 0).sum().item() / x.numel()
    assert 0 < zero < 1
    assert zero == pytest.approx(d.last_stats.dropped_fraction, abs=1e-12)


@pytest.mark.parametrize("key", METHODS)
def test_p_zero_is_identity_and_still_reports(key):
    x = spikes()
    d = make_dropout(key, 0.0, seed=0)
    out = d(context(key, x))
    assert out is x
    if d.acts_on == "synapses":
        syn = TinySynapse(8, N)
        d.wrap_next(syn)(out)
        assert syn.last_weight is syn.weight
    s = d.last_stats
    assert s.dropped_fraction == 0.0 and s.spikes_removed == 0.0 and math.isnan(s.silent_fraction)


# ------------------------------------------------------------------ the base class itself


def test_statistics_are_lazy_kept_after_eval_and_cleared_on_demand():
    d = make_dropout("temporal", P, seed=0)
    d(LayerContext(spikes()))
    assert d._last_stats is None and d._stats_source is not None  # nothing computed during the forward
    first = d.last_stats
    assert d._stats_source is None and d.last_stats is first
    d.eval()
    d(LayerContext(spikes(seed=5)))
    assert d.last_stats is first  # eval forwards do not overwrite the last training statistics
    d.clear_stats()
    assert d.last_stats is None


def test_option_names_extra_repr_and_base_defaults():
    assert SpikeDropout.option_names() == ("rescale", "generator", "seed", "mc")
    d = make_dropout("standard", P, rescale="none")
    assert "p=0.3" in repr(d) and "rescale='none'" in repr(d)
    assert d.keep == pytest.approx(1 - P)
    syn = TinySynapse(3, 4)
    assert SpikeDropout(0.1).wrap_next(syn) is syn
    with pytest.raises(NotImplementedError):
        SpikeDropout(0.1)(LayerContext(torch.ones(2, 3, 4)))


def test_layer_context_is_frozen():
    ctx = LayerContext(torch.zeros(2, 3, 4))
    assert ctx.membrane is None and ctx.weight is None and ctx.next_weight is None
    with pytest.raises(AttributeError):
        ctx.spikes = torch.ones(1)  # type: ignore[misc]


@pytest.mark.parametrize("key", KEYS)
def test_a_seed_a_generator_cannot_take_is_refused_when_given(key):
    """``seed=2**70`` used to be accepted and fail at the first forward with torch's overflow message."""
    with pytest.raises(ValueError, match=r"seed=1180591620717411303424 is not allowed; a seed must be an integer in"):
        make_dropout(key, 0.0, seed=2**70)
    d = make_dropout(key, 0.0, seed=3)
    with pytest.raises(ValueError, match="a seed must be an integer in"):
        d.reseed(-(2**64))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_spikes_and_membrane_must_be_floating_point(key, dtype):
    """Integer or boolean spikes used to pass some methods and fail others deep inside (``temporal`` on
    bool spikes: NotImplementedError from addcmul); an integer membrane failed ``membrane`` with a
    RuntimeError from mean(), a membrane that is not a tensor with an AttributeError."""
    d = make_dropout(key, 0.0 if key == "none" else P, seed=0)
    weight = torch.randn(N, 4)
    with pytest.raises(TypeError, match=f"spikes must be a floating-point tensor .*got dtype {dtype}"):
        d(LayerContext(torch.ones(T, B, N, dtype=dtype), membrane=torch.zeros(T, B, N), weight=weight))
    with pytest.raises(TypeError, match=f"membrane must be a floating-point tensor, got dtype {dtype}"):
        d(LayerContext(spikes(), membrane=torch.ones(T, B, N, dtype=dtype), weight=weight))
    with pytest.raises(TypeError, match="membrane must be a torch.Tensor .* got str"):
        d(LayerContext(spikes(), membrane="membrane", weight=weight))


@pytest.mark.parametrize("key, rescale", [(k, r) for k in KEYS for r in ("inverted", "none") if r in method_info(k).rescale])
def test_passes_through_only_when_the_forward_is_the_identity(key, rescale):
    """``passes_through()`` (what lets a model skip writing a layer's spikes) is True only when the
    forward returns the spikes themselves and records nothing: never while sampling (except the empty
    ``none`` slot), never with inference scaling."""
    p = 0.0 if key == "none" else P
    x = spikes()
    for mode in ("train", "eval", "mc"):
        d = make_dropout(key, p, seed=0, rescale=rescale) if key != "none" else make_dropout(key, p)
        d.train(mode == "train")
        d.mc = mode == "mc"
        if not d.passes_through():
            assert key != "none"
            continue
        assert key == "none" or mode == "eval"
        assert d(context(key, x)) is x
        assert d.last_stats is None
    if key != "none":
        d = make_dropout(key, p, seed=0, rescale=rescale).train()
        assert not d.passes_through()

"""``snnlab/dropout/shaped.py``: the probability-shaped methods (``membrane``, ``synaptic``,
``activity``): the documented direction of ``favor``, mean rate p under the cap (water-filling),
masks that realise the per-neuron probabilities, per-channel shaping on convolutions, and the
options (the ``membrane`` method has no ``threshold``). Tolerances: 5 standard errors."""

from __future__ import annotations

import pytest
import torch

from dropout_helpers import P, T, context, spikes
from snnlab.dropout import LayerContext, make_dropout, method_info, methods
from snnlab.dropout.shaped import FAVORS, ShapedDropout, shape_probabilities, water_fill

SHAPED = ("membrane", "synaptic", "activity")


def ramp_context(key: str, n: int = 40, b: int = 8) -> LayerContext:
    """A context whose per-neuron strength (membrane, weight norm or firing rate) increases with the index."""
    level = torch.linspace(0.0, 1.0, n)
    steps = torch.arange(T, dtype=torch.float32)[:, None, None]
    x = (steps < (level * T).round()).float().expand(T, b, n).clone()  # neuron i fires in round(level_i * T) steps
    membrane = (2.0 * level).expand(T, b, n).clone() if key == "membrane" else None
    weight = None
    if key == "synaptic":
        signs = torch.where(torch.arange(30) % 2 == 0, 1.0, -1.0)
        weight = signs[None, :] * (0.1 + level)[:, None]
    return LayerContext(x, membrane=membrane, weight=weight)


def test_the_shaped_methods_are_the_probability_map_methods():
    assert methods(probability_map=True) == SHAPED
    assert FAVORS == ("protect", "drop")
    for key in SHAPED:
        info = method_info(key)
        assert info.family == "snn_aware" and info.time_consistent and "favor" in info.options
    assert method_info("membrane").membrane == "mean" and not method_info("membrane").causal
    assert method_info("synaptic").needs_weight and method_info("synaptic").causal
    assert not method_info("activity").causal and method_info("activity").membrane is None


@pytest.mark.parametrize("key", SHAPED)
@pytest.mark.parametrize("favor", FAVORS)
def test_shaped_probabilities_follow_the_documented_direction(key, favor):
    ctx = ramp_context(key)
    d = make_dropout(key, P, favor=favor, p_max=0.5, seed=0)
    assert d.last_probabilities is None
    d(ctx)
    q = d.last_probabilities
    assert q.shape == (ctx.spikes.shape[2],)
    assert q.mean().item() == pytest.approx(P, abs=1e-6)
    assert q.min().item() >= 0.0 and q.max().item() <= 0.5 + 1e-7
    # strength rises with the index: "protect" lowers the probability of the strong, "drop" raises it
    diffs = q[1:] - q[:-1]
    if favor == "protect":
        assert torch.all(diffs <= 1e-6) and q[0] > q[-1]
        assert q[-1].item() == 0.0  # the strongest is never dropped
    else:
        assert torch.all(diffs >= -1e-6) and q[-1] > q[0]
        assert q[0].item() == 0.0
    assert torch.isclose(q, torch.tensor(0.5)).sum() > 1  # the cap binds for this ramp at p=0.3, p_max=0.5


@pytest.mark.parametrize("key", SHAPED)
def test_scores_are_what_the_method_says_it_conditions_on(key):
    ctx = ramp_context(key)
    d = make_dropout(key, P)
    s = d.scores(ctx).flatten()
    assert s.shape == (40,) and torch.all(s[1:] >= s[:-1]) and s[-1] > s[0]
    assert isinstance(d.score_label, str) and d.score_label != ShapedDropout.score_label


def test_membrane_takes_the_trace_or_its_time_mean_alike():
    x = spikes((6, 16, 30))
    trace = torch.randn(6, 16, 30, generator=torch.Generator().manual_seed(2))
    a = make_dropout("membrane", P, seed=3)
    b = make_dropout("membrane", P, seed=3)
    out_a = a(LayerContext(x, membrane=trace))
    out_b = b(LayerContext(x, membrane=trace.mean(0, keepdim=True)))
    torch.testing.assert_close(a.last_probabilities, b.last_probabilities)  # equal up to rounding of the mean
    torch.testing.assert_close(out_a, out_b)


def test_membrane_has_no_threshold_option():
    """Scores are min-max normalised, so dividing by the threshold would change nothing: the option is gone."""
    assert "threshold" not in method_info("membrane").options
    with pytest.raises(ValueError, match="unknown option.*'threshold'.*'membrane'"):
        make_dropout("membrane", P, threshold=1.0)


def test_shaped_options_are_checked():
    with pytest.raises(ValueError, match="favor='keep' is not known; allowed: 'protect', 'drop'"):
        make_dropout("membrane", P, favor="keep")
    with pytest.raises(ValueError, match="p=0.5 is larger than p_max=0.4"):
        make_dropout("synaptic", 0.5, p_max=0.4)
    with pytest.raises(ValueError, match="p_max=1.0"):
        make_dropout("activity", P, p_max=1.0)
    with pytest.raises(TypeError, match="per_step must be a bool"):
        make_dropout("activity", P, per_step=1)


def test_synaptic_weight_must_have_one_row_per_neuron():
    x = spikes((4, 8, 20))
    with pytest.raises(ValueError, match=r"one row per neuron of x \(shape \[20, ...\]"):
        make_dropout("synaptic", P)(LayerContext(x, weight=torch.zeros(21, 4)))


@pytest.mark.parametrize("key", SHAPED)
def test_per_step_draws_a_fresh_mask_at_every_step(key):
    x = torch.ones(T, 200, 60)
    held = make_dropout(key, P, seed=0)
    out = held(context(key, x))
    assert torch.equal(out, out[:1].expand_as(out))
    fresh = make_dropout(key, P, per_step=True, seed=0)
    out = fresh(context(key, x))
    assert not torch.equal(out, out[:1].expand_as(out))
    assert "per_step=True" in repr(fresh)


def test_shaped_masks_realise_per_neuron_probabilities():
    g = torch.Generator().manual_seed(11)
    n, b = 12, 4000
    rates = torch.linspace(0.05, 0.9, n)
    x = (torch.rand(1, b, n, generator=g) < rates).float()
    d = make_dropout("activity", P, favor="drop", rescale="none", seed=0)
    out = d(LayerContext(x))
    q = d.last_probabilities
    spiking = x[0].sum(0)
    dropped = ((x[0] == 1) & (out[0] == 0)).float().sum(0) / spiking  # the draw does not depend on x
    se = torch.sqrt(q * (1 - q) / spiking)
    assert torch.all((dropped - q).abs() <= 5 * se + 1e-12)


def test_inverted_scales_each_kept_neuron_by_its_own_keep_probability():
    ctx = ramp_context("activity")
    d = make_dropout("activity", P, p_max=0.5, seed=1)
    out = d(LayerContext(torch.ones_like(ctx.spikes)))  # equal scores: q = p for everyone
    values = torch.unique(out)
    assert values.numel() == 2 and values[0] == 0.0 and values[1].item() == pytest.approx(1 / (1 - P))
    d = make_dropout("membrane", P, p_max=0.5, seed=1)
    ones = torch.ones_like(ctx.spikes)
    out = d(LayerContext(ones, membrane=ramp_context("membrane").membrane))
    q = d.last_probabilities
    kept = out != 0
    torch.testing.assert_close(out[kept], (1 / (1 - q)).expand_as(out)[kept])


def test_water_fill_clips_renormalises_and_handles_unreachable_means():
    w = torch.tensor([100.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    q = water_fill(w, 0.3, 0.5)
    assert q.mean().item() == pytest.approx(0.3)
    assert q[0].item() == pytest.approx(0.5) and q[-1].item() == 0.0
    assert torch.allclose(q[1:5], torch.full((4,), (1.8 - 0.5) / 4))
    # only one positive weight: it gets p_max, the remaining rate is shared equally
    q = water_fill(torch.tensor([0.0, 0.0, 0.0, 2.0]), 0.3, 0.6)
    assert q.tolist() == pytest.approx([0.2, 0.2, 0.2, 0.6])
    with pytest.raises(ValueError, match="finite and non-negative"):
        water_fill(torch.tensor([1.0, -1.0]), 0.3, 0.6)


def test_shape_probabilities_edge_cases():
    assert torch.allclose(shape_probabilities(torch.ones(7), P), torch.full((7,), P))  # equal scores: uniform
    with pytest.raises(ValueError, match="NaN or infinite"):
        shape_probabilities(torch.tensor([0.0, float("nan")]), P)
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        shape_probabilities([1.0, 2.0], P)
    with pytest.raises(ValueError, match="p=0.5 is larger than p_max=0.4"):
        shape_probabilities(torch.randn(5), 0.5, p_max=0.4)
    q = shape_probabilities(torch.randn(3, 4, 4), 0.2, favor="drop")
    assert q.shape == (3, 4, 4) and q.mean().item() == pytest.approx(0.2, abs=1e-6)


def test_synaptic_on_conv_shapes_per_channel():
    x = torch.ones(3, 32, 4, 5, 5)
    w = torch.randn(4, 2, 3, 3)
    d = make_dropout("synaptic", P, seed=0)
    d(LayerContext(x, weight=w))
    q = d.last_probabilities
    assert q.shape == (4, 5, 5) and torch.equal(q, q[:, :1, :1].expand_as(q))
    assert q.mean().item() == pytest.approx(P, abs=1e-6)


def _water_fill_rounds(weights: torch.Tensor, mean: float, cap: float) -> torch.Tensor:
    """The water-filling by rounds (clip, renormalise, repeat): the reference for the one-pass version."""
    w = weights.flatten().to(torch.float64)
    n, target, pos = w.numel(), mean * w.numel(), w > 0
    n_pos = int(pos.sum())
    if n_pos * cap <= target:
        rest = (target - n_pos * cap) / max(n - n_pos, 1)
        return torch.where(pos, torch.full_like(w, cap), torch.full_like(w, rest))
    clipped = torch.zeros_like(pos)
    while True:
        c = (target - int(clipped.sum()) * cap) / w.masked_fill(clipped, 0.0).sum()
        q = torch.where(clipped, torch.full_like(w, cap), c * w)
        over = q > cap * (1.0 + 1e-12)
        if not bool(over.any()):
            return q.clamp(max=cap)
        clipped |= over


def test_one_pass_water_fill_equals_the_rounds():
    """The sync-free water-filling (sorted suffix sums) gives the clip-and-renormalise result to 1 ulp
    on sparse, skewed, tied and all-zero weights."""
    from snnlab.dropout.shaped import water_fill

    g = torch.Generator().manual_seed(0)
    for trial in range(400):
        n = int(torch.randint(1, 200, (1,), generator=g))
        w = torch.rand(n, generator=g, dtype=torch.float64)
        kind = trial % 5
        if kind == 1:
            w = w**8
        elif kind == 2:
            w[torch.rand(n, generator=g) < 0.7] = 0
        elif kind == 3:
            w = torch.round(w * 4) / 4
        elif kind == 4:
            w = torch.zeros(n, dtype=torch.float64)
        mean = float(torch.rand(1, generator=g)) * 0.9
        cap = max(mean, 0.05 + 0.95 * float(torch.rand(1, generator=g)))
        got = water_fill(w, mean, cap)
        assert torch.allclose(got, _water_fill_rounds(w, mean, cap), rtol=0, atol=1e-15), trial
        assert got.mean().item() == pytest.approx(mean, abs=1e-12) and float(got.max()) <= cap * (1 + 1e-12)


@pytest.mark.parametrize("name", ["membrane", "synaptic", "activity"])
def test_rescale_none_scales_each_neuron_by_its_own_keep_at_inference(name):
    """Binary spikes in training; at inference neuron n is scaled by 1 - q_n (its own keep), not by 1 - p."""
    x = spikes(seed=3)
    ctx = context(name, x)
    drop = make_dropout(name, 0.4, rescale="none", favor="drop", seed=0)
    drop.train()
    out = drop(ctx)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    q = drop.last_probabilities
    drop.eval()
    got = drop(ctx)
    assert torch.allclose(got, x * (1.0 - q), atol=1e-6)
    assert (1.0 - q).mean().item() == pytest.approx(0.6, abs=1e-5)
    assert not torch.allclose(got, x * 0.6)  # a single scale would be wrong for the individual neuron

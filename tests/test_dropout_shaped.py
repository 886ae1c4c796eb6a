"""``snnlab/dropout/shaped.py``: the probability-shaped methods (``membrane``, ``synaptic``,
``activity``): the documented direction of ``favor``, mean rate p under the cap (water-filling),
masks that realise the per-neuron probabilities, per-channel shaping on convolutions, and the
options (the ``membrane`` method has no ``threshold``); their causal variants (``window="causal"``):
probabilities and masks of step t from steps <= t of the same sample, mean p per (t, sample), the
``favor`` order per step, their own conditions of the grid, inference scaling, no host sync, and
populations. Tolerances: 5 standard errors."""

from __future__ import annotations

import pytest
import torch

from dropout_helpers import P, T, context, spikes
from snnlab.dropout import LayerContext, condition_label, conditions, label_color, make_dropout, method_info, methods
from snnlab.dropout.members import MemberDropout
from snnlab.dropout.shaped import FAVORS, WINDOWS, ShapedDropout, shape_probabilities, water_fill

SHAPED = ("membrane", "synaptic", "activity")
CAUSAL = ("membrane", "activity")  # the shaped methods with a causal variant (synaptic is causal already)


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


# ------------------------------------------------------------------ the causal variants (window="causal")


def causal_context(seed: int = 0, shape: tuple[int, ...] = (T, 16, 30)) -> LayerContext:
    """Spikes firing at rates that differ by neuron and a membrane trace that drifts over time, so that
    running scores (and with them the probabilities) change from step to step."""
    g = torch.Generator().manual_seed(seed)
    rates = torch.rand(shape[2:], generator=g) * 0.8
    x = (torch.rand(shape, generator=g) < rates).float()
    drift = torch.linspace(-1.0, 1.0, shape[0]).view((-1,) + (1,) * (len(shape) - 1))
    membrane = torch.randn(shape, generator=g) + drift * torch.randn(shape[1:], generator=g)
    return LayerContext(x, membrane=membrane)


def recorded_mask(d: ShapedDropout) -> torch.Tensor:
    """The mask of the last sampling forward (0 where a unit was dropped), as recorded for ``last_stats``."""
    return d._stats_source[1]


def test_window_option_and_the_causal_conditions_of_the_grid():
    assert WINDOWS == ("full", "causal")
    for key in SHAPED:
        assert "window" in method_info(key).options
        assert make_dropout(key, P).window == "full"
    # the classes (what the registry reads) describe the default window, unchanged
    assert not method_info("membrane").causal and method_info("membrane").membrane == "mean"
    assert not method_info("activity").causal and method_info("membrane").time_consistent
    # an instance describes its own variant: the block reads ``membrane`` from the instance
    d = make_dropout("membrane", P, window="causal")
    assert d.causal and not d.time_consistent and d.per_step and d.membrane == "trace"
    assert d.label == "membrane-shaped (causal)" and "window='causal'" in repr(d)
    a = make_dropout("activity", P, window="causal")
    assert a.causal and not a.time_consistent and a.membrane is None and a.label == "activity-shaped (causal)"
    full = make_dropout("membrane", P)
    assert not full.causal and full.time_consistent and full.membrane == "mean" and full.label == "membrane-shaped"
    # each causal variant is a condition of its own, next to its window version
    grid = {c.label: c for c in conditions()}
    assert grid["membrane_protect_causal"].options == (("favor", "protect"), ("window", "causal"))
    assert grid["membrane_drop_causal"].options == (("favor", "drop"), ("window", "causal"))
    assert grid["activity_causal"].options == (("window", "causal"),)
    assert {"membrane_protect", "membrane_drop", "activity", "synaptic_protect"} <= set(grid)
    assert not any(label.startswith("synaptic") and label.endswith("causal") for label in grid)
    labels = [c.label for c in conditions()]
    assert labels.index("membrane_drop_causal") == labels.index("membrane_protect_causal") + 1
    assert len(set(labels)) == len(labels)
    colours = [grid[k].color for k in ("membrane_protect", "membrane_drop", "membrane_protect_causal",
                                       "membrane_drop_causal", "activity", "activity_causal")]
    assert len(set(colours)) == len(colours)
    assert label_color("activity_causal") == grid["activity_causal"].color
    assert condition_label("membrane", {"favor": "drop", "window": "causal"}) == "membrane_drop_causal"


def test_window_and_per_step_are_checked():
    with pytest.raises(ValueError, match="window='past' is not known; allowed: 'full', 'causal'"):
        make_dropout("membrane", P, window="past")
    with pytest.raises(TypeError, match="window must be a string"):
        make_dropout("activity", P, window=True)
    with pytest.raises(ValueError, match="window='causal' is not an option of the 'synaptic' method.*causal with "
                                         "window='full' already; allowed: 'full'"):
        make_dropout("synaptic", P, window="causal")
    assert make_dropout("synaptic", P, window="full").causal
    with pytest.raises(ValueError, match="per_step=False is not possible with window='causal'"):
        make_dropout("activity", P, window="causal", per_step=False)
    with pytest.raises(TypeError, match="per_step must be a bool or None, got int"):
        make_dropout("membrane", P, window="causal", per_step=1)
    assert make_dropout("membrane", P, window="causal", per_step=True).per_step
    x = spikes((4, 8, 20))
    with pytest.raises(ValueError, match="membrane must have the shape of spikes"):  # the causal variant needs the trace
        make_dropout("membrane", P, window="causal")(LayerContext(x, membrane=torch.randn(1, 8, 20)))
    with pytest.raises(ValueError, match=r"batch_dims=3 is larger than the number of dimensions \(2\)"):
        water_fill(torch.ones(2, 3), P, 0.5, batch_dims=3)
    with pytest.raises(ValueError, match="batch_dims=-1"):
        shape_probabilities(torch.ones(2, 3), P, batch_dims=-1)


@pytest.mark.parametrize("key", SHAPED)
def test_the_window_version_is_unchanged(key):
    """window="full" (explicit or default) is the method as it was: per-neuron probabilities of the
    window scores, one mask held over the window."""
    x = spikes(seed=4)
    ctx = context(key, x)
    default, explicit = make_dropout(key, P, seed=2), make_dropout(key, P, window="full", per_step=False, seed=2)
    out = default(ctx)
    assert torch.equal(out, explicit(ctx)) and recorded_mask(default).shape == (1,) + tuple(x.shape[1:])  # held
    q = shape_probabilities(default.scores(ctx), P, validate=False).expand(x.shape[2:])
    assert torch.equal(default.last_probabilities, q)
    assert torch.equal(default.last_step_probabilities, q.expand(x.shape))


@pytest.mark.parametrize("key", CAUSAL)
@pytest.mark.parametrize("favor", FAVORS)
def test_causal_probabilities_and_masks_use_only_past_steps_of_the_same_sample(key, favor):
    """Changing the input after step t, or other samples of the batch, leaves the probabilities and
    the mask (same seed) of this sample at steps <= t unchanged; the window version does not."""
    ctx = causal_context()
    t, b = 3, 5
    later = LayerContext(ctx.spikes.clone(), membrane=ctx.membrane.clone())
    g = torch.Generator().manual_seed(9)
    later.spikes[t + 1:] = (torch.rand(later.spikes[t + 1:].shape, generator=g) < 0.5).float()
    later.membrane[t + 1:] = 3.0 * torch.randn(later.membrane[t + 1:].shape, generator=g)
    others = LayerContext(ctx.spikes.clone(), membrane=ctx.membrane.clone())
    keep = torch.arange(ctx.spikes.shape[1]) == b
    others.spikes[:, ~keep] = 1.0 - others.spikes[:, ~keep]
    others.membrane[:, ~keep] = -others.membrane[:, ~keep]
    runs = {}
    for name, c in (("base", ctx), ("later", later), ("others", others)):
        d = make_dropout(key, P, favor=favor, window="causal", rescale="none", seed=7)
        out = d(c)
        runs[name] = (d.last_step_probabilities, recorded_mask(d), out)
    q, mask, out = runs["base"]
    assert q.shape == mask.shape == ctx.spikes.shape
    q_later, mask_later, out_later = runs["later"]
    assert torch.equal(q_later[: t + 1], q[: t + 1]) and torch.equal(mask_later[: t + 1], mask[: t + 1])
    assert torch.equal(out_later[: t + 1], out[: t + 1])
    assert not torch.equal(q_later[t + 1:], q[t + 1:])  # the change is seen from step t + 1 on
    q_others, mask_others, out_others = runs["others"]
    assert torch.equal(q_others[:, b], q[:, b]) and torch.equal(mask_others[:, b], mask[:, b])
    assert torch.equal(out_others[:, b], out[:, b]) and not torch.equal(q_others, q)
    # a shorter window (steps 0..t only) gives the same probabilities for steps 0..t
    short = make_dropout(key, P, favor=favor, window="causal", seed=7)
    short(LayerContext(ctx.spikes[: t + 1], membrane=ctx.membrane[: t + 1]))
    assert torch.equal(short.last_step_probabilities, q[: t + 1])
    # the window version at step 0 sees the later steps (and the other samples)
    window = [make_dropout(key, P, favor=favor, seed=7) for _ in range(2)]
    for d, c in zip(window, (ctx, later)):
        d(LayerContext(c.spikes, membrane=c.membrane.mean(0, keepdim=True) if key == "membrane" else None))
    assert not torch.equal(window[0].last_probabilities, window[1].last_probabilities)


@pytest.mark.parametrize("key", CAUSAL)
def test_causal_scores_at_step_zero_come_from_step_zero_alone(key):
    ctx = causal_context(seed=1)
    d = make_dropout(key, P, window="causal", seed=0)
    s = d.causal_scores(ctx)
    source = ctx.membrane if key == "membrane" else ctx.spikes
    assert s.shape == source.shape and s.dtype == torch.float64
    torch.testing.assert_close(s[0], source[0].double(), rtol=0, atol=0)
    steps = torch.arange(1, T + 1, dtype=torch.float64).view(-1, 1, 1)
    torch.testing.assert_close(s, source.double().cumsum(0) / steps)  # the running mean up to t
    d(ctx)
    q0 = shape_probabilities(source[0], P, validate=False, batch_dims=1)  # each sample's step 0 as a layer
    assert torch.equal(d.last_step_probabilities[0], q0)


@pytest.mark.parametrize("key", CAUSAL)
@pytest.mark.parametrize("favor", FAVORS)
@pytest.mark.parametrize("shape", [(T, 16, 30), (4, 6, 3, 4, 4)], ids=["mlp", "conv"])
def test_causal_mean_is_p_per_step_and_sample_and_favor_orders_each_step(key, favor, shape):
    ctx = causal_context(seed=2, shape=shape)
    d = make_dropout(key, P, favor=favor, p_max=0.6, window="causal", seed=0)
    d(ctx)
    q = d.last_step_probabilities
    rows = q.flatten(2)
    torch.testing.assert_close(rows.mean(-1), torch.full(rows.shape[:2], P), rtol=0, atol=1e-6)
    assert rows.min() >= 0.0 and rows.max() <= 0.6 + 1e-7
    assert d.last_probabilities.shape == shape[2:]
    assert d.last_probabilities.mean().item() == pytest.approx(P, abs=1e-6)
    # within each (t, sample): a stronger running score never gets a higher ("protect") or lower
    # ("drop") probability, and equal scores get equal probabilities
    s = d.causal_scores(ctx).flatten(2)
    order = torch.sort(s, dim=-1, stable=True).indices
    s_sorted, q_sorted = s.gather(-1, order), rows.gather(-1, order)
    dq = q_sorted[..., 1:] - q_sorted[..., :-1]
    tied = s_sorted[..., 1:] == s_sorted[..., :-1]
    assert torch.all(dq[tied].abs() <= 1e-6)
    assert torch.all(dq <= 1e-6) if favor == "protect" else torch.all(dq >= -1e-6)
    spread = s_sorted[..., -1] > s_sorted[..., 0]
    strongest, weakest = q_sorted[..., -1][spread], q_sorted[..., 0][spread]
    assert spread.any() and torch.all(strongest < weakest if favor == "protect" else strongest > weakest)
    assert torch.all((rows[~spread] - P).abs() <= 1e-7)  # equal scores in a row: p for everyone
    # the probabilities do change over time (else this would be the window version in disguise)
    assert not torch.equal(q[0], q[-1])


@pytest.mark.parametrize("key", CAUSAL)
def test_causal_masks_are_drawn_per_step_and_realise_the_probabilities(key):
    g = torch.Generator().manual_seed(3)
    t, b, n = 6, 1500, 20
    ones = torch.ones(t, b, n)
    ctx = LayerContext(ones if key == "membrane" else (torch.rand(t, b, n, generator=g) < 0.5).float(),
                       membrane=torch.randn(t, b, n, generator=g) if key == "membrane" else None)
    d = make_dropout(key, P, window="causal", rescale="none", seed=0)
    d(ctx)
    mask, q = recorded_mask(d), d.last_step_probabilities.double()
    assert not torch.equal(mask, mask[:1].expand_as(mask))  # fresh at every step
    dropped = (mask == 0).double()
    # over all units, and per step: the dropped count matches the sum of the probabilities
    for drops, probs in ((dropped, q), (dropped[0], q[0]), (dropped[-1], q[-1])):
        se = torch.sqrt((probs * (1 - probs)).sum())
        assert abs(float(drops.sum() - probs.sum())) <= 5 * float(se) + 1e-9
    # units with a high probability are dropped more often than units with a low one
    high, low = q > 0.5, (q > 0) & (q < 0.15)
    assert high.any() and low.any() and dropped[high].mean() > dropped[low].mean() + 0.3


def test_causal_inverted_scales_each_kept_unit_by_its_own_step_keep():
    ctx = causal_context(seed=5)
    ones = torch.ones_like(ctx.spikes)
    d = make_dropout("membrane", P, p_max=0.6, window="causal", seed=1)
    out = d(LayerContext(ones, membrane=ctx.membrane))
    q = d.last_step_probabilities
    kept = out != 0
    torch.testing.assert_close(out[kept], (1 / (1 - q))[kept])
    assert (~kept).any() and torch.unique(out[kept]).numel() > 10  # scales differ by step, sample and neuron


@pytest.mark.parametrize("key", CAUSAL)
def test_causal_rescale_none_scales_each_unit_by_its_own_step_keep_at_inference(key):
    """Binary spikes in training; at inference unit (t, b, n) is scaled by 1 - q[t, b, n], computed
    causally from the same context as in training."""
    ctx = causal_context(seed=6)
    drop = make_dropout(key, 0.4, rescale="none", favor="drop", window="causal", seed=0)
    drop.train()
    out = drop(ctx)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    q = drop.last_step_probabilities
    drop.eval()
    got = drop(ctx)
    torch.testing.assert_close(got, ctx.spikes * (1.0 - q), rtol=0, atol=1e-6)
    assert not torch.allclose(got, ctx.spikes * (1.0 - drop.last_probabilities))  # not one scale per neuron
    assert not torch.allclose(got, ctx.spikes * 0.6)
    inverted = make_dropout(key, 0.4, window="causal", seed=0).eval()
    assert torch.equal(inverted(ctx), ctx.spikes)  # rescale="inverted": the identity at inference


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("key", CAUSAL)
def test_shaped_forward_never_waits_for_the_device(key, window, monkeypatch):
    """No tensor is turned into a Python value in the training or inference forward (on CUDA each
    would be a device-to-host synchronisation): every such conversion raises here."""
    ctx = causal_context(seed=7)
    if key == "membrane" and window == "full":
        ctx = LayerContext(ctx.spikes, membrane=ctx.membrane.mean(0, keepdim=True))
    train = make_dropout(key, P, window=window, seed=0)
    infer = make_dropout(key, P, window=window, rescale="none", seed=0).eval()

    def refuse(*args, **kwargs):
        raise AssertionError("a tensor was read on the host in the forward")

    for name in ("__bool__", "item", "__float__", "__int__", "__index__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    train(ctx)
    infer(ctx)
    monkeypatch.undo()
    assert train.last_stats is not None


def test_batched_water_fill_equals_one_row_at_a_time():
    g = torch.Generator().manual_seed(1)
    w = torch.rand(5, 7, 40, generator=g, dtype=torch.float64) ** 4
    w[0, 0] = 0.0  # an all-zero row
    w[1, :, :30] = 0.0  # rows whose mean is unreachable with their positive weights alone
    got = water_fill(w, 0.3, 0.5, batch_dims=2)
    want = torch.stack([torch.stack([water_fill(row, 0.3, 0.5) for row in block]) for block in w])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-15)
    torch.testing.assert_close(got.mean(-1), torch.full((5, 7), 0.3, dtype=torch.float64), rtol=0, atol=1e-12)
    flat = water_fill(w, 0.3, 0.5, batch_dims=1)  # rows of 7 * 40: another problem, mean p per block
    torch.testing.assert_close(flat.flatten(1).mean(-1), torch.full((5,), 0.3, dtype=torch.float64), rtol=0, atol=1e-12)
    s = torch.randn(3, 4, 10, generator=g)
    q = shape_probabilities(s, 0.2, favor="drop", batch_dims=2)
    want = torch.stack([torch.stack([shape_probabilities(row, 0.2, favor="drop") for row in block]) for block in s])
    torch.testing.assert_close(q, want, rtol=0, atol=1e-7)


def test_causal_membrane_in_a_population_slot_is_the_standalone_method():
    """MemberDropout asks for what its members' (causal) method needs and slices the trace per member."""
    g = torch.Generator().manual_seed(8)
    x = (torch.rand(5, 2, 6, 20, generator=g) > 0.5).float()
    trace = torch.randn(5, 2, 6, 20, generator=g)
    drop = MemberDropout([make_dropout("membrane", p, window="causal", seed=s) for s, p in ((1, 0.2), (2, 0.4))])
    twins = [make_dropout("membrane", p, window="causal", seed=s) for s, p in ((1, 0.2), (2, 0.4))]
    assert drop.membrane == "trace"
    out = drop(LayerContext(x, membrane=trace))
    for k, twin in enumerate(twins):
        assert torch.equal(out[:, k], twin(LayerContext(x[:, k].contiguous(), membrane=trace[:, k])))
        assert torch.equal(drop.methods[k].last_step_probabilities, twin.last_step_probabilities)


@pytest.mark.parametrize("key", CAUSAL)
def test_causal_variant_trains_in_a_model_and_a_population(key):
    """The block hands the causal ``membrane`` the trace it asks for (a time mean would be refused), a
    training step runs, and a population's members drop exactly as their standalone models."""
    from snnlab.models import SpikingMLP
    from snnlab.models.population import PopulationModel

    options = {"window": "causal", "favor": "drop"}

    def build(seed: int, p: float) -> SpikingMLP:
        torch.manual_seed(seed)
        return SpikingMLP([12, 16, 8, 4], T=4, dropout=key, p=p, dropout_options=options, seed=seed).double()

    x = torch.rand(2, 6, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = build(0, 0.3)
    assert all(d.window == "causal" and d.causal for d in model.dropouts)
    model.train()
    loss = model(x[0]).logsumexp(-1).mean()
    loss.backward()
    assert torch.isfinite(loss) and model.dropouts[0].last_stats.method == key
    members = [build(s, p) for s, p in ((0, 0.2), (1, 0.4))]
    standalone = [build(s, p) for s, p in ((0, 0.2), (1, 0.4))]
    pop = PopulationModel(members).train()
    got = pop(x)
    for k, m in enumerate(standalone):
        m.train()
        torch.testing.assert_close(got[k], m(x[k]), rtol=1e-9, atol=1e-12)
        for slot, single in zip(pop.dropouts, m.dropouts):
            assert torch.equal(slot.methods[k].last_step_probabilities, single.last_step_probabilities)


@pytest.mark.parametrize("key", ["membrane", "synaptic", "activity"])
@pytest.mark.parametrize("window", WINDOWS)
def test_a_layer_of_zero_neurons_passes_through(key, window):
    """A layer with no neurons used to raise IndexError from amin() (found by tests/test_properties.py)."""
    if key == "synaptic" and window == "causal":
        return
    d = make_dropout(key, P, seed=0, window=window)
    for shape in ((T, 3, 0), (T, 0, 0), (T, 2, 0, 2, 2)):
        x = torch.zeros(shape)
        out = d(LayerContext(x, membrane=torch.zeros(shape), weight=torch.zeros(shape[2], 4)))
        assert out.shape == x.shape
        assert d.last_probabilities.shape == x.shape[2:]
    assert shape_probabilities(torch.zeros(0), P).shape == (0,)
    assert shape_probabilities(torch.zeros(T, 2, 0), P, batch_dims=2).shape == (T, 2, 0)
    assert water_fill(torch.zeros(0), P, 0.9).shape == (0,)
    assert water_fill(torch.zeros(0, 3), P, 0.9, batch_dims=1).shape == (0, 3)


def test_synaptic_takes_an_integer_weight():
    """An integer weight used to fail with a RuntimeError from the norm (it has a norm like any other)."""
    x = spikes()
    weight = torch.arange(x.shape[2] * 3).view(x.shape[2], 3)
    a = make_dropout("synaptic", P, seed=0)
    b = make_dropout("synaptic", P, seed=0)
    assert torch.equal(a(LayerContext(x, weight=weight)), b(LayerContext(x, weight=weight.float())))


@pytest.mark.parametrize("name,options", [("synaptic", {}), ("synaptic", {"favor": "drop"}), ("activity", {}),
                                          ("activity", {"rescale": "none"})])
def test_shaped_time_sums_get_the_probabilities_and_mask_the_spikes_would_get(name, options) -> None:
    """Scores from spike counts (activity) or weights (synaptic) equal the spikes' scores exactly, so
    the probabilities and the mask drawn from the same generator are the same."""
    x = spikes(seed=3)
    weight = torch.randn(x.shape[2], 12, generator=torch.Generator().manual_seed(0))
    w = torch.linspace(0.2, 1.0, x.shape[0])
    drop = make_dropout(name, P, seed=7, **options).train()
    assert drop.drops_time_sum()
    written = torch.tensordot(w, drop(LayerContext(x, weight=weight)), dims=1)
    q, stats = drop.last_probabilities.clone(), drop.last_stats
    drop.reseed(7)
    summed = drop.drop_time_sum(torch.tensordot(w, x, dims=1), x.sum(0), x.shape[0], weight)
    assert torch.equal(drop.last_probabilities, q)
    assert drop.last_step_probabilities.shape == x.shape
    torch.testing.assert_close(summed, written, rtol=1e-6, atol=1e-6)
    assert drop.last_stats.spikes_removed == stats.spikes_removed


def test_membrane_causal_and_per_step_shaped_masks_do_not_drop_a_time_sum() -> None:
    for drop in (make_dropout("membrane", P), make_dropout("activity", P, window="causal"),
                 make_dropout("synaptic", P, per_step=True)):
        assert not drop.train().drops_time_sum()
        with pytest.raises((ValueError, NotImplementedError)):
            drop.drop_time_sum(torch.zeros(2, 3), torch.zeros(2, 3), 4, torch.zeros(3, 2))


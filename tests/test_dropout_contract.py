"""The dropout contract (DESIGN.md) for every registry key, on raw tensors.

Statistical checks use tolerances of at least 5 standard errors of the quantity tested. Tests that
take the ``kernel`` fixture run twice: with the fused C kernel for per-element masks (the default
on CPU) and with the plain PyTorch path (``SNNLAB_DROPOUT_KERNEL=torch``, what other devices use).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlab.dropout import DropoutStats, available, make_dropout, mc_mode
from snnlab.dropout.base import drop_threshold, keep_mask, mask_stats
from snnlab.dropout.classic import ALPHA_PRIME
from snnlab.dropout.kernels import KERNEL_CHOICES, KERNEL_ENV, kernel_status
from snnlab.dropout.shaped import shape_probabilities, water_fill

METHODS = tuple(k for k in available() if k != "none")
SPIKE_METHODS = tuple(k for k in METHODS if k != "dropconnect")
CONSISTENT = ("temporal", "membrane", "synaptic", "activity")
SHAPED = ("membrane", "synaptic", "activity")
ALPHAS = ("alpha", "feature_alpha")
BINARY_CAPABLE = tuple(k for k in METHODS if k not in ALPHAS)
P = 0.3
T, B, N = 10, 200, 60


@pytest.fixture(params=KERNEL_CHOICES)
def kernel(request, monkeypatch) -> str:
    """Run the test under each per-element backend: the fused C kernel and the plain PyTorch path."""
    monkeypatch.setenv(KERNEL_ENV, request.param)
    if kernel_status().backend != request.param:
        pytest.skip(f"the {request.param!r} kernel is not available here: {kernel_status().reason}")
    return request.param


def spikes(shape=(T, B, N), rate=0.3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < rate).float()


def context(name: str, x: torch.Tensor, seed: int = 1) -> dict:
    """The layer context a method needs: a membrane trace and/or the layer's weight (rows = neurons)."""
    g = torch.Generator().manual_seed(seed)
    ctx = {}
    d = make_dropout(name, P)
    if d.needs_membrane:
        ctx["membrane"] = torch.randn(x.shape, generator=g)
    if d.needs_weight:
        ctx["weight"] = torch.randn(x.shape[2], 16, generator=g)
    return ctx


def run(name: str, x: torch.Tensor, p: float = P, **options) -> tuple[torch.Tensor, object]:
    d = make_dropout(name, p, **options)
    out = d(x, **context(name, x))
    return out, d


def five_se(p: float, n: int) -> float:
    return 5.0 * math.sqrt(p * (1.0 - p) / n)


def independent_draws(name: str, x: torch.Tensor, per_step: bool = False) -> int:
    """How many independent mask draws a forward on ``x`` makes (sets the standard error)."""
    if name in CONSISTENT and not per_step:
        return x[0].numel()
    if name in ("dropout2d", "feature_alpha"):
        return x.shape[0] * x.shape[1] * x.shape[2]
    return x.numel()


# ------------------------------------------------------------------ registry and errors


def test_registry_order_matches_design_table():
    assert available() == (
        "none", "standard", "dropout2d", "feature_alpha", "alpha",
        "temporal", "membrane", "synaptic", "activity", "dropconnect",
    )


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan")])
def test_p_outside_unit_interval_is_rejected(name, p):
    with pytest.raises(ValueError, match="p="):
        make_dropout(name, p)


@pytest.mark.parametrize("name", METHODS)
def test_p_of_wrong_type_is_rejected(name):
    with pytest.raises(TypeError, match="p must be a real number"):
        make_dropout(name, "0.3")


def test_unknown_name_and_options_are_rejected():
    with pytest.raises(ValueError, match="'gaussian' is not known; allowed: 'none', 'standard'"):
        make_dropout("gaussian", P)
    with pytest.raises(ValueError, match="unknown option.*'favor'.*'standard'"):
        make_dropout("standard", P, favor="drop")
    with pytest.raises(ValueError, match="unknown option.*'threshold'"):
        make_dropout("activity", P, threshold=1.0)
    with pytest.raises(ValueError, match="favor='keep' is not known; allowed: 'protect', 'drop'"):
        make_dropout("membrane", P, favor="keep")
    with pytest.raises(ValueError, match="p=0.5 is larger than p_max=0.4"):
        make_dropout("synaptic", 0.5, p_max=0.4)
    with pytest.raises(ValueError, match="p_max=1.0"):
        make_dropout("activity", P, p_max=1.0)
    with pytest.raises(TypeError, match="per_step must be a bool"):
        make_dropout("activity", P, per_step=1)
    with pytest.raises(ValueError, match="threshold=0.0"):
        make_dropout("membrane", P, threshold=0.0)


@pytest.mark.parametrize("name", ALPHAS)
def test_alpha_variants_reject_rescale_none(name):
    with pytest.raises(ValueError, match="rescale='none' is not meaningful for the .* method; it supports: 'inverted'"):
        make_dropout(name, P, rescale="none")


@pytest.mark.parametrize("name", METHODS)
def test_wrong_rank_and_missing_context_raise(name):
    d = make_dropout(name, P)
    with pytest.raises(ValueError, match=r"time-major \[T, B, features...\]"):
        d(torch.zeros(B, N))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        d([[0.0]])
    if d.needs_membrane:
        with pytest.raises(ValueError, match="needs membrane="):
            d(torch.zeros(T, B, N))
        with pytest.raises(ValueError, match="membrane must have the shape of x"):
            d(torch.zeros(T, B, N), membrane=torch.zeros(T, B, N + 1))
    if d.needs_weight:
        with pytest.raises(ValueError, match="needs weight="):
            d(torch.zeros(T, B, N))
        with pytest.raises(ValueError, match="one row per neuron"):
            d(torch.zeros(T, B, N), weight=torch.zeros(N + 1, 4))
    if d.acts_on == "synapses":
        with pytest.raises(ValueError, match=r"weight must be a matrix"):
            d.mask_weight(torch.zeros(N))


# ------------------------------------------------------------------ rates


@pytest.mark.parametrize("name", SPIKE_METHODS)
def test_realised_drop_rate_matches_p(name, kernel):
    x = torch.ones(T, B, N)
    out, d = run(name, x)
    stats = d.last_stats
    n = independent_draws(name, x)
    assert isinstance(stats, DropoutStats) and stats.method == name and stats.p == P
    assert abs(stats.dropped_fraction - P) < five_se(P, n)
    # read the drops from the output as well: a dropped 1 is 0 (or a*a' + b for the alpha variants)
    if name in ALPHAS:
        a, b = d.affine()
        dropped = torch.isclose(out, torch.tensor(a * ALPHA_PRIME + b))
    else:
        dropped = out == 0
    assert dropped.sum().item() / x.numel() == pytest.approx(stats.dropped_fraction, abs=1e-12)
    assert stats.spikes_removed == pytest.approx(stats.dropped_fraction, abs=1e-9)  # every unit spikes


def test_dropconnect_drops_synapses_at_rate_p_and_leaves_spikes():
    x = spikes()
    d = make_dropout("dropconnect", P, seed=0)
    assert torch.equal(d(x), x)
    w = torch.ones(400, N)
    wm = d.mask_weight(w)
    frac = (wm == 0).float().mean().item()
    assert abs(frac - P) < five_se(P, w.numel())
    assert d.last_stats.dropped_fraction == pytest.approx(frac)
    # a spike of input j is cut on exactly the synapses of column j that were dropped
    cut = ((wm == 0).float().sum(0) * x.sum((0, 1))).sum() / (x.sum() * w.shape[0])
    assert d.last_stats.spikes_removed == pytest.approx(cut.item(), rel=1e-6)
    w2 = d.mask_weight(w)
    assert not torch.equal(wm, w2)  # a new mask for every forward


@pytest.mark.parametrize("p", [0.01, 0.05, 0.3, 0.9])
@pytest.mark.parametrize("shape", [(400_000,), (500, 800), (4000, 100)])
def test_mask_rate_is_exact_on_both_integer_paths(p, shape):
    """1-D masks use 16-bit lanes (p quantised to 1/65536); rows of a matrix mostly 8-bit lanes with a dithered threshold."""
    k = drop_threshold(p) + 32768
    assert abs(k / 65536 - p) <= 0.5 / 65536
    m = keep_mask(shape, p, generator=torch.Generator().manual_seed(3))
    n = m.numel()
    assert abs((m == 0).sum().item() / n - p) < five_se(p, n)
    assert set(torch.unique(m).tolist()) == {0.0, 1.0}


def test_per_unit_thresholds():
    q = torch.tensor([0.0, 0.5, 0.94])
    thr = drop_threshold(q)
    assert thr.dtype == torch.int16 and thr.tolist() == [-32768, 0, round(0.94 * 65536) - 32768]
    m = keep_mask((20_000, 3), q, generator=torch.Generator().manual_seed(1))
    rates = (m == 0).float().mean(0)
    assert rates[0] == 0 and torch.all((rates[1:] - q[1:]).abs() < 5 * torch.sqrt(q[1:] * (1 - q[1:]) / 20_000))


@pytest.mark.parametrize("shape", [(100_000, 4), (5_000, 64)])
def test_mask_lanes_are_uniform_at_every_position(shape):
    """Every int16 (4 per 64-bit draw) or uint8 (8 per draw) lane is uniform: the rate is p at every column."""
    m = keep_mask(shape, 0.5, generator=torch.Generator().manual_seed(4))
    rates = (m == 0).float().mean(0)
    assert torch.all((rates - 0.5).abs() < five_se(0.5, shape[0]))


def test_apply_mask_is_fused_scale_shift_bias_with_masked_gradient():
    from snnlab.dropout.base import apply_mask

    x = torch.randn(3, 4, 5, requires_grad=True)
    m = (torch.rand(1, 4, 5) < 0.5).float()
    out = apply_mask(x, m, 2.0, shift=0.5, bias=-1.0)
    assert torch.allclose(out, 2.0 * m * (x + 0.5) - 1.0)
    out.backward(torch.ones_like(out))
    assert torch.allclose(x.grad, (2.0 * m).expand_as(x))


# ------------------------------------------------------------------ time structure


@pytest.mark.parametrize("name", CONSISTENT)
def test_snn_aware_masks_are_identical_across_time(name):
    x = torch.ones(T, B, N)
    out, _ = run(name, x)
    assert torch.equal(out, out[:1].expand_as(out))
    out_ps, _ = run(name, x, per_step=True) if name in SHAPED else (None, None)
    if out_ps is not None:
        assert not torch.equal(out_ps, out_ps[:1].expand_as(out_ps))


@pytest.mark.parametrize("name", ("standard", "dropout2d", "alpha", "feature_alpha"))
def test_classic_masks_are_new_at_every_step(name, kernel):
    out, _ = run(name, torch.ones(T, B, N))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("name", ("dropout2d", "feature_alpha"))
def test_channel_methods_drop_whole_channels_on_conv_inputs(name):
    x = torch.ones(4, 16, 8, 5, 5)
    out, d = run(name, x)
    assert torch.equal(out, out[..., :1, :1].expand_as(out))  # one value per (t, sample, channel)
    assert not torch.equal(out[0], out[1])
    assert abs(d.last_stats.dropped_fraction - P) < five_se(P, 4 * 16 * 8)


def test_standard_on_conv_inputs_is_per_element(kernel):
    out, _ = run("standard", torch.ones(4, 16, 8, 5, 5))
    assert not torch.equal(out, out[..., :1, :1].expand_as(out))


# ------------------------------------------------------------------ modes and seeds


@pytest.mark.parametrize("name", METHODS)
def test_eval_is_identity_and_mc_mode_samples(name, kernel):
    x = spikes()
    d = make_dropout(name, P, seed=0)
    ctx = context(name, x)
    w = torch.randn(5, N)
    d.eval()
    assert d(x, **ctx) is x
    assert d.mask_weight(w) is w
    assert d.last_stats is None  # nothing sampled yet
    with mc_mode(d):
        assert d.sampling
        if d.acts_on == "synapses":
            assert not torch.equal(d.mask_weight(w), w)
        else:
            assert not torch.equal(d(x, **ctx), x)
    assert not d.mc and not d.sampling
    assert make_dropout(name, P, mc=True).eval().sampling


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_mask_and_reseed_restarts(name, kernel):
    x = torch.ones(T, B, N)
    w = torch.ones(8, N)
    ctx = context(name, x)

    def draw(d):
        return d.mask_weight(w) if d.acts_on == "synapses" else d(x, **ctx)

    a, b, c = (make_dropout(name, P, seed=s) for s in (7, 7, 8))
    first = draw(a)
    assert torch.equal(first, draw(b))
    assert not torch.equal(first, draw(c))
    second = draw(a)
    assert not torch.equal(first, second)
    a.reseed(7)
    assert torch.equal(draw(a), first)
    g = torch.Generator().manual_seed(123)
    assert torch.equal(draw(make_dropout(name, P, generator=g)), draw(make_dropout(name, P, generator=torch.Generator().manual_seed(123))))


# ------------------------------------------------------------------ values


@pytest.mark.parametrize("name", tuple(k for k in SPIKE_METHODS if k not in ALPHAS))
def test_inverted_rescaling_preserves_expected_value(name, kernel):
    x = torch.ones(T, B, N)
    out, d = run(name, x)
    n = independent_draws(name, x)
    if name in SHAPED:
        q = d.last_probabilities.double()
        var = (q / (1 - q)).mean().item()  # variance of m / (1 - q) per draw, averaged over neurons
    else:
        var = P / (1 - P)
    assert abs(out.mean().item() - 1.0) < 5 * math.sqrt(var / n)


def test_dropconnect_inverted_preserves_expected_weight():
    d = make_dropout("dropconnect", P, seed=1)
    w = torch.ones(500, 200)
    assert abs(d.mask_weight(w).mean().item() - 1.0) < 5 * math.sqrt(P / (1 - P) / w.numel())


@pytest.mark.parametrize("name", ALPHAS)
def test_alpha_keeps_zero_mean_unit_variance(name, kernel):
    """torch's alpha-dropout promise: N(0, 1) inputs keep mean 0 and variance 1."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, N, generator=g)
    out, d = run(name, x, p=0.2)
    n = x.numel()
    assert abs(out.mean().item()) < 5 * math.sqrt(1.0 / n)
    # var of a sample variance of ~N(0,1)-like data: ~(kurtosis - 1) / n; alpha output kurtosis < 4
    assert abs(out.var().item() - 1.0) < 5 * math.sqrt(3.0 / n)
    assert abs(d.last_stats.dropped_fraction - 0.2) < five_se(0.2, independent_draws(name, x))


@pytest.mark.parametrize("name,torch_fn", [("alpha", F.alpha_dropout), ("feature_alpha", F.feature_alpha_dropout)])
def test_alpha_values_match_torch(name, torch_fn, kernel):
    """On a constant input torch's version produces exactly two values (kept, dropped); ours produces the same."""
    c = 0.7
    x = torch.full((T, B, N), c)
    out, _ = run(name, x)
    ref = torch_fn(torch.full((B, N), c), P, True)
    ours = torch.unique(out)
    theirs = torch.unique(ref)
    assert ours.numel() == theirs.numel() == 2
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("name", BINARY_CAPABLE)
def test_rescale_none_keeps_spikes_binary(name, kernel):
    x = spikes()
    d = make_dropout(name, P, rescale="none", seed=0)
    out = d(x, **context(name, x))
    if d.acts_on == "synapses":
        w = torch.ones(8, N)
        assert set(torch.unique(d.mask_weight(w)).tolist()) == {0.0, 1.0}
    else:
        assert set(torch.unique(out).tolist()) <= {0.0, 1.0}
        assert d.last_stats.out_min == 0.0 and d.last_stats.out_max == 1.0
    assert d.inference_scale == 1.0  # sampling: no scaling
    d.eval()
    assert d.inference_scale == pytest.approx(1 - P)
    assert make_dropout(name, P).eval().inference_scale == 1.0  # inverted: nothing to do at inference


@pytest.mark.parametrize("name", SPIKE_METHODS)
def test_gradients_flow_through_kept_units_only(name, kernel):
    x = torch.ones(T, B, N, requires_grad=True)
    d = make_dropout(name, P, seed=2)
    out = d(x, **context(name, x))
    out.sum().backward()
    if name in ALPHAS:
        a, b = d.affine()
        kept = ~torch.isclose(out.detach(), torch.tensor(a * ALPHA_PRIME + b))
        expected = a * kept.float()  # d out / d x = a * m
    else:
        kept = out.detach() != 0
        expected = out.detach()  # with x = 1 the output is the mask value: 1/keep (or 1/(1-q_n)) if kept
    assert 0 < kept.float().mean().item() < 1
    assert torch.all(x.grad[~kept] == 0)
    assert torch.all(x.grad[kept] > 0)
    assert torch.allclose(x.grad, expected)


def test_dropconnect_gradient_reaches_kept_synapses_only():
    d = make_dropout("dropconnect", P, seed=2)
    w = torch.randn(20, N, requires_grad=True)
    wm = d.mask_weight(w)
    wm.sum().backward()
    kept = wm.detach() != 0
    assert torch.all(w.grad[~kept] == 0) and torch.allclose(w.grad[kept], torch.full_like(w.grad[kept], 1 / (1 - P)))


# ------------------------------------------------------------------ shaped probabilities


def ramp_inputs(name: str, n: int = 40, b: int = 8) -> dict:
    """Inputs whose per-neuron strength (membrane, weight norm or firing rate) increases with the index."""
    level = torch.linspace(0.0, 1.0, n)
    steps = torch.arange(T, dtype=torch.float32)[:, None, None]
    x = (steps < (level * T).round()).float().expand(T, b, n).clone()  # neuron i fires in round(level_i * T) steps
    ctx = {}
    if name == "membrane":
        ctx["membrane"] = (2.0 * level).expand(T, b, n).clone()
    if name == "synaptic":
        signs = torch.where(torch.arange(30) % 2 == 0, 1.0, -1.0)
        ctx["weight"] = signs[None, :] * (0.1 + level)[:, None]
    return {"x": x, **ctx}


@pytest.mark.parametrize("name", SHAPED)
@pytest.mark.parametrize("favor", ("protect", "drop"))
def test_shaped_probabilities_follow_the_documented_direction(name, favor):
    inputs = ramp_inputs(name)
    x = inputs.pop("x")
    d = make_dropout(name, P, favor=favor, p_max=0.5, seed=0)
    d(x, **inputs)
    q = d.last_probabilities
    assert q.shape == (x.shape[2],)
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


def test_shaped_masks_realise_per_neuron_probabilities():
    g = torch.Generator().manual_seed(11)
    n, b = 12, 4000
    rates = torch.linspace(0.05, 0.9, n)
    x = (torch.rand(1, b, n, generator=g) < rates).float()
    d = make_dropout("activity", P, favor="drop", rescale="none", seed=0)
    out = d(x)
    q = d.last_probabilities
    spiking = x[0].sum(0)
    dropped = ((x[0] == 1) & (out[0] == 0)).float().sum(0) / spiking  # the draw does not depend on x
    se = torch.sqrt(q * (1 - q) / spiking)
    assert torch.all((dropped - q).abs() <= 5 * se + 1e-12)


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
    q = shape_probabilities(torch.randn(3, 4, 4), 0.2, favor="drop")
    assert q.shape == (3, 4, 4) and q.mean().item() == pytest.approx(0.2, abs=1e-6)


def test_synaptic_on_conv_shapes_per_channel():
    x = torch.ones(3, 32, 4, 5, 5)
    w = torch.randn(4, 2, 3, 3)
    d = make_dropout("synaptic", P, seed=0)
    d(x, weight=w.reshape(4, -1))
    q = d.last_probabilities
    assert q.shape == (4, 5, 5) and torch.equal(q, q[:, :1, :1].expand_as(q))
    assert q.mean().item() == pytest.approx(P, abs=1e-6)


# ------------------------------------------------------------------ statistics


def test_mask_stats_on_a_hand_made_example():
    # T=2, B=1, N=4; unit 3 is silent; mask drops unit 1 at t=0 and units 2, 3 at t=1
    x = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[1.0, 0.0, 1.0, 0.0]]])
    mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0, 0.0]]])
    s = mask_stats("standard", 0.3, x, mask, x * mask)
    assert s.dropped_fraction == pytest.approx(3 / 8)
    assert s.spikes_removed == pytest.approx(2 / 4)  # spikes at (0, 1) and (1, 2) are removed
    assert s.silent_fraction == pytest.approx(1 / 3)  # one of the three drops fell on the silent unit 3
    assert (s.out_min, s.out_max, s.out_mean) == (0.0, 1.0, pytest.approx(2 / 8))


def test_stats_are_lazy_and_kept_after_eval_forwards():
    d = make_dropout("temporal", P, seed=0)
    x = spikes()
    d(x)
    assert d._last_stats is None and d._stats_source is not None  # nothing computed during the forward
    first = d.last_stats
    assert d._stats_source is None and d.last_stats is first
    d.eval()
    d(spikes(seed=5))
    assert d.last_stats is first


@pytest.mark.parametrize("name", METHODS)
def test_p_zero_is_identity_and_still_reports(name):
    x = spikes()
    d = make_dropout(name, 0.0, seed=0)
    out = d(x, **context(name, x))
    assert out is x
    if d.acts_on == "synapses":
        w = torch.randn(8, N)
        assert d.mask_weight(w) is w
    s = d.last_stats
    assert s.dropped_fraction == 0.0 and s.spikes_removed == 0.0 and math.isnan(s.silent_fraction)
    assert s.out_mean == pytest.approx(x.mean().item())

"""snnlab.blocks.block: a spiking block (synapse -> neuron -> dropout -> pool) and the readout.

What the block asks of its neuron, what it hands its dropout method, recording and pooling; then
every dropout method wired into a SpikingMLP on the digits data (training, modes, reseeding).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlab.blocks import READOUT_LOGITS, ConvSynapse, DelayedLinear, LinearSynapse, Readout, SpikingBlock
from snnlab.dropout import LayerContext, available, make_dropout, mc_mode
from snnlab.dropout.shaped import MembraneDropout
from snnlab.models import SpikingMLP
from snnlab.neurons import LIF, LeakyIntegrator, PenaltyNeuron
from snnlab.recording import Recording

METHODS = available()
P = 0.3
SIZES = [64, 256, 10]
T = 8


def _spy(base: type, membrane: str | None = "keep"):
    """A subclass of the method class ``base`` (unregistered) that keeps the last context it got;
    ``membrane`` overrides what it declares to need."""
    attrs = {"seen": None}
    if membrane != "keep":
        attrs["membrane"] = membrane

    def forward(self, ctx):
        self.seen = ctx
        return base.forward(self, ctx)

    attrs["forward"] = forward
    return type(f"Spy{base.__name__}", (base,), attrs)


def _block(neuron=None, method: str = "none", p: float = 0.0, **options) -> SpikingBlock:
    torch.manual_seed(0)
    return SpikingBlock("hidden1", LinearSynapse(6, 5), neuron or LIF(0.8, threshold=0.5), make_dropout(method, p, **options))


# --------------------------------------------------------------------------- the block itself


def test_block_is_synapse_then_neuron_then_dropout() -> None:
    block = _block()
    x = torch.rand(4, 3, 6)
    y = block(x)
    assert torch.equal(y, block.neuron(block.synapse(x)))  # the empty slot passes the spikes
    assert y.shape == (4, 3, 5) and y.sum() > 0
    assert "name='hidden1'" in repr(block)


def test_static_steps_broadcast_the_first_current() -> None:
    block = _block()
    x = torch.rand(3, 6)
    y = block(x, static_steps=4)
    assert y.shape == (4, 3, 5)
    assert torch.equal(y, block.neuron(block.synapse.static(x).unsqueeze(0).expand(4, 3, 5)))


def test_pooling() -> None:
    torch.manual_seed(0)
    block = SpikingBlock("conv1", ConvSynapse(2, 3), LIF(threshold=0.2), make_dropout("none"), pool=2).eval()
    x = torch.rand(3, 2, 2, 8, 8)
    y = block(x)
    assert y.shape == (3, 2, 3, 4, 4)
    s = block.neuron(block.synapse(x))
    assert torch.equal(y, F.max_pool2d(s.reshape(6, 3, 8, 8), 2).reshape(3, 2, 3, 4, 4))
    assert "pool=2" in repr(block)


def test_recording_captures_the_layer_before_dropout() -> None:
    block = _block(method="standard", p=0.5)
    x = torch.rand(4, 3, 6)
    rec = Recording()
    y = block(x, recording=rec)
    assert rec.layers == ["hidden1"]
    s, m = block.neuron.forward_trace(block.synapse(x))
    assert torch.equal(rec.spikes["hidden1"], s) and torch.equal(rec.membrane["hidden1"], m)
    assert not torch.equal(y, s)  # the dropped spikes went on; the record holds the neuron's
    rates = Recording(kind="rates")
    block(x, recording=rates)
    assert rates.rates["hidden1"] == pytest.approx(s.mean().item())
    with pytest.raises(ValueError, match="kind='full'"):
        rates.membrane  # noqa: B018


NEURONS_FOR_MEAN = {
    "lif": (lambda: LIF(0.8, threshold=0.5), (1, 3, 5)),
    "lif_fused": (lambda: LIF(0.8, threshold=0.5, backend="fused"), (1, 3, 5)),
    "penalty": (lambda: PenaltyNeuron(threshold=0.2), (4, 3, 5)),  # no running mean: the trace
}


@pytest.mark.parametrize("which", NEURONS_FOR_MEAN)
def test_a_mean_method_receives_the_time_mean(which) -> None:
    """``membrane = "mean"``: a LIF block hands ``[1, B, N]``; a neuron without running mean its trace."""
    make, mean_shape = NEURONS_FOR_MEAN[which]
    neuron = make()
    spy = _spy(MembraneDropout)(P, seed=0)
    block = SpikingBlock("hidden1", LinearSynapse(6, 5), neuron, spy).train()
    x = torch.rand(4, 3, 6)
    next_w = torch.randn(2, 5)
    block(x, next_weight=next_w)
    ctx = spy.seen
    assert isinstance(ctx, LayerContext) and ctx.membrane.shape == mean_shape
    trace = neuron.forward_trace(block.synapse(x))[1]
    # running mean vs torch.mean of the trace: float32 rounding only
    torch.testing.assert_close(ctx.membrane.mean(0), trace.mean(0), rtol=0, atol=1e-6)
    assert ctx.weight is block.synapse.weight and ctx.next_weight is next_w
    # recording does not change what the method gets
    block(x, next_weight=next_w, recording=Recording())
    assert spy.seen.membrane.shape == mean_shape


def test_a_trace_method_receives_the_trace_and_others_nothing() -> None:
    x = torch.rand(4, 3, 6)
    trace_spy = _spy(MembraneDropout, membrane="trace")(P, seed=0)
    block = SpikingBlock("hidden1", LinearSynapse(6, 5), LIF(0.8, threshold=0.5), trace_spy).train()
    block(x)
    assert torch.equal(trace_spy.seen.membrane, block.neuron.forward_trace(block.synapse(x))[1])
    plain = _spy(type(make_dropout("standard")))(P, seed=0)
    SpikingBlock("hidden1", LinearSynapse(6, 5), LIF(), plain).train()(x)
    assert plain.seen.membrane is None and plain.seen.next_weight is None


def test_model_through_the_mean_equals_model_through_the_trace() -> None:
    """The membrane method scored on the running time mean ([1, B, N]) or on the full trace: same model."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(16, SIZES[0], generator=g)
    mean = SpikingMLP(SIZES, T=T, dropout=[MembraneDropout(P)], seed=2).train()
    trace = SpikingMLP(SIZES, T=T, dropout=[_spy(MembraneDropout, membrane="trace")(P)], seed=2).train()
    out_mean, out_trace = mean(x), trace(x)
    assert trace.dropouts[0].seen.membrane.shape == (T, 16, SIZES[1])
    # scores: running sum / T vs torch.mean over T (float32 rounding) -> q and 1/(1-q) agree to ~1e-7
    torch.testing.assert_close(mean.dropouts[0].last_probabilities, trace.dropouts[0].last_probabilities,
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(out_mean, out_trace, rtol=0, atol=1e-6)
    out_mean.sum().backward()
    out_trace.sum().backward()
    for (name, a), (_, b) in zip(mean.named_parameters(), trace.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=f"gradient of {name}")


def test_recording_does_not_change_the_membrane_method() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(16, SIZES[0], generator=g)
    fast = SpikingMLP(SIZES, T=T, dropout="membrane", p=P, seed=2)
    slow = SpikingMLP(SIZES, T=T, dropout="membrane", p=P, seed=2)
    out_fast = fast(x)
    with slow.record():
        out_slow = slow(x)
    assert torch.equal(out_fast, out_slow)  # the same path: the recording only adds the trace


def test_time_mean_membrane_accepted_only_where_declared() -> None:
    """A ``membrane = "mean"`` method takes ``[1, B, ...]`` with the same scores; others refuse it."""
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(T, 6, 40, generator=g) < 0.3).float()
    mem = torch.randn(T, 6, 40, generator=g)
    full, mean = make_dropout("membrane", P, seed=1), make_dropout("membrane", P, seed=1)
    out_full = full(LayerContext(x, membrane=mem))
    out_mean = mean(LayerContext(x, membrane=mem.mean(0, keepdim=True)))
    torch.testing.assert_close(mean.last_probabilities, full.last_probabilities)
    assert torch.equal(out_mean == 0, out_full == 0)  # the same drops (same stream, same thresholds)
    torch.testing.assert_close(out_mean, out_full)  # rescale 1/(1-q) equal up to float rounding of the mean
    with pytest.raises(ValueError, match="membrane must have the shape of spikes"):
        full(LayerContext(x, membrane=mem.mean(0)))  # [B, N]: neither the trace nor its time mean
    other = make_dropout("standard", P, seed=1)
    with pytest.raises(ValueError, match="membrane must have the shape of spikes"):
        other(LayerContext(x, membrane=mem.mean(0, keepdim=True)))
    with pytest.raises(ValueError, match="needs the layer's membrane"):
        full.train()(LayerContext(x))
    with pytest.raises(TypeError, match="LayerContext"):
        full(x)


# --------------------------------------------------------------------------- readout


def test_readout_logits() -> None:
    assert READOUT_LOGITS == ("mean", "trace_mean", "count")
    torch.manual_seed(0)
    syn = LinearSynapse(5, 3)
    x = torch.rand(4, 2, 5)
    cur = syn(x)
    mean = Readout(syn, LeakyIntegrator(0.9), "mean")(x)
    trace = LeakyIntegrator(0.9).run(cur, trace=True).trace
    torch.testing.assert_close(mean, trace.mean(0), rtol=0, atol=1e-6)  # running mean vs torch.mean
    torch.testing.assert_close(Readout(syn, LeakyIntegrator(0.9), "trace_mean")(x), trace.mean(0))
    lif = LIF(0.9, threshold=0.1)
    assert torch.equal(Readout(syn, lif, "count")(x), lif(cur).sum(0))
    srm = DelayedLinear(5, 3)
    s = (torch.rand(6, 2, 5) < 0.4).float()
    assert torch.equal(Readout(srm, None, "trace_mean")(s), srm(s).mean(0))
    assert Readout.name == "output" and "logits='count'" in repr(Readout(syn, lif, "count"))


def test_readout_records() -> None:
    syn = LinearSynapse(5, 3)
    x = torch.rand(4, 2, 5)
    rec = Recording()
    Readout(syn, LeakyIntegrator(0.9), "mean")(x, recording=rec)
    assert rec.layers == ["output"] and rec.membrane["output"].shape == (4, 2, 3)
    assert "output" not in rec.spikes  # an integrator does not spike
    rec = Recording()
    srm = DelayedLinear(5, 3)
    Readout(srm, None, "trace_mean")(x, recording=rec)
    assert torch.equal(rec.membrane["output"], srm(x).detach())


def test_a_leaky_mean_readout_reads_the_time_weighted_sum() -> None:
    """A plain linear synapse into a leaky integrator read by its mean is linear in the input's
    time-weighted sum: ``from_time_sum`` gives the logits of the per-step current (to rounding), and
    the readout itself computes them that way; other readouts, and a DropConnect synapse while it
    masks, do not."""
    torch.manual_seed(0)
    syn = LinearSynapse(5, 3)
    x = (torch.rand(9, 2, 5) < 0.4).double()
    syn.double()
    readout = Readout(syn, LeakyIntegrator(0.8), "mean")
    assert readout.reads_time_sum
    c = readout.time_weights(9, x)
    assert c.dtype == torch.float64 and c.shape == (9,)
    per_step = LeakyIntegrator(0.8).run(syn(x), trace=True).trace.mean(0)
    torch.testing.assert_close(readout.from_time_sum(torch.tensordot(c, x, dims=1), 9), per_step, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(readout(x), per_step, rtol=1e-12, atol=1e-12)
    assert not Readout(syn, LeakyIntegrator(0.8), "trace_mean").reads_time_sum
    assert not Readout(syn, LIF(0.9), "count").reads_time_sum
    assert not Readout(DelayedLinear(5, 3), None, "trace_mean").reads_time_sum
    d = make_dropout("dropconnect", 0.5, seed=0)
    masked = Readout(d.wrap_next(syn), LeakyIntegrator(0.8), "mean")
    assert masked.reads_time_sum  # one mask per call, for every step
    d.eval()
    assert torch.equal(masked(x), readout(x))


def test_readout_bad_arguments() -> None:
    syn = LinearSynapse(5, 3)
    with pytest.raises(ValueError, match="logits='max'"):
        Readout(syn, LIF(), "max")
    with pytest.raises(ValueError, match="trace_mean"):
        Readout(syn, None, "mean")


# --------------------------------------------------------------------------- every method in a model


@pytest.fixture(scope="module")
def digits():
    """(x [N, 64], y [N]) of the digits training split in [0, 1]."""
    from snnlab.data import load_dataset

    data = load_dataset("digits", "train", device="cpu")
    return data.x.reshape(len(data), -1), data.y


def build(method: str, **options) -> SpikingMLP:
    return SpikingMLP(SIZES, T=T, dropout=method, p=0.0 if method == "none" else P, dropout_options=options or None, seed=0)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_without_nan(method, digits):
    x, y = digits
    model = build(method)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    losses = []
    for step in range(4):
        xb, yb = x[step * 64:(step + 1) * 64], y[step * 64:(step + 1) * 64]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert model.blocks[0].synapse.weight.grad.abs().sum() > 0  # the surrogate gradient reaches the first layer
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    stats = model.dropouts[0].last_stats
    if method == "none":
        assert stats is None
    else:
        assert stats.method == method and stats.p == P
        assert abs(stats.dropped_fraction - P) < 0.1  # one batch of 64 samples; exact rates: contract tests


@pytest.mark.parametrize("method", ["alpha", "feature_alpha"])
def test_alpha_variants_emit_negative_values(method, digits):
    x, _ = digits
    model = build(method).train()
    model(x[:64])
    s = model.dropouts[0].last_stats
    assert s.out_min < 0.0  # dropped units become a*a' + b < 0
    assert s.out_max > 1.0 or s.out_min < -0.5


def test_temporal_without_rescaling_keeps_spikes_binary(digits):
    x, _ = digits
    model = build("temporal", rescale="none").train()
    with model.record() as rec:
        model(x[:64])
    s = model.dropouts[0].last_stats
    assert (s.out_min, s.out_max) == (0.0, 1.0)
    assert set(torch.unique(rec.spikes["hidden1"]).tolist()) <= {0.0, 1.0}
    model.eval()
    assert model.dropouts[0].inference_scale == pytest.approx(1 - P)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_eval_is_deterministic_and_mc_mode_samples(method, digits):
    x, _ = digits
    model = build(method).eval()
    with torch.no_grad():
        a, b = model(x[:32]), model(x[:32])
        assert torch.equal(a, b)
        with mc_mode(model):
            c, d = model(x[:32]), model(x[:32])
    assert not torch.equal(c, d)
    assert not model.dropouts[0].mc


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
def test_reseed_reproduces_training_forwards(method, digits):
    x, _ = digits
    model = build(method).train()
    model.reseed(3)
    with torch.no_grad():
        a = model(x[:32])
        b = model(x[:32])
        model.reseed(3)
        c = model(x[:32])
    assert torch.equal(a, c) and not torch.equal(a, b)


@pytest.mark.parametrize("method", ["membrane", "synaptic", "activity"])
@pytest.mark.parametrize("favor", ["protect", "drop"])
def test_shaped_methods_get_their_context_from_the_model(method, favor, digits):
    x, _ = digits
    model = build(method, favor=favor).train()
    with torch.no_grad():
        model(x[:64])
    q = model.dropouts[0].last_probabilities
    assert q.shape == (SIZES[1],)
    assert q.mean().item() == pytest.approx(P, abs=1e-5)
    assert q.min().item() >= 0.0 and q.max().item() <= 0.95 + 1e-6

"""snnlab.models.base: what every spiking model shares (layers, slots, DropConnect wiring, seeding,
recording, direct encoding, weight accessors, input checks) and its helpers."""

from __future__ import annotations

import pytest
import torch

from snnlab.blocks import DelayedLinear, LinearSynapse, SpikingBlock
from snnlab.dropout import make_dropout
from snnlab.dropout.dropconnect import MaskedSynapse
from snnlab.models import DelayedSNN, PenaltySNN, SpikingCNN, SpikingMLP, SpikingModel
from snnlab.models.base import check_sizes, derived_seed
from snnlab.neurons import LeakyIntegrator


def test_layer_names_and_blocks() -> None:
    m = SpikingMLP([64, 32, 16, 10], T=3, seed=0)
    assert isinstance(m, SpikingModel)
    assert m.layer_names == ["hidden1", "hidden2", "output"]
    assert all(isinstance(b, SpikingBlock) for b in m.blocks)
    assert m.block("hidden2") is m.blocks[1]
    with pytest.raises(ValueError, match="layer='output' is not a hidden layer; allowed: 'hidden1', 'hidden2'"):
        m.block("output")
    cnn = SpikingCNN((3, 16, 16), channels=(4, 8), hidden=12, n_classes=10, T=2, seed=0)
    assert cnn.layer_names == ["conv1", "conv2", "fc", "output"]


def test_dropout_slots_are_a_tuple_filled_per_layer() -> None:
    m = SpikingMLP([64, 32, 32, 10], T=4, dropout="temporal", p=0.3, seed=0)
    assert isinstance(m.dropouts, tuple)
    assert [d.key for d in m.dropouts] == ["temporal", "temporal"]
    assert m.dropouts[0] is not m.dropouts[1] and m.dropouts == tuple(b.dropout for b in m.blocks)
    d = make_dropout("standard", 0.2)
    m2 = SpikingMLP([64, 32, 10], T=4, dropout=[d], seed=0)
    assert m2.dropouts == (d,)
    assert SpikingMLP([64, 32, 10], T=4).dropouts[0].key == "none"
    mixed = SpikingMLP([64, 32, 32, 10], T=4, dropout=["temporal", None], p=0.3, seed=0)
    assert [d.key for d in mixed.dropouts] == ["temporal", "none"]


def test_set_dropout_rewires_dropconnect() -> None:
    m = SpikingMLP([64, 32, 16, 10], T=3, seed=0)
    plain = [m.blocks[1].synapse, m.readout.synapse]
    n_params = len(list(m.parameters()))
    m.set_dropout("dropconnect", 0.3)
    wrapped = [m.blocks[1].synapse, m.readout.synapse]
    assert all(isinstance(s, MaskedSynapse) for s in wrapped)
    assert [s.unwrapped for s in wrapped] == plain  # the same synapses, behind a mask
    assert [s.method for s in wrapped] == list(m.dropouts)
    assert not isinstance(m.blocks[0].synapse, MaskedSynapse)  # the first synapse has no layer before it
    assert len(list(m.parameters())) == n_params  # nothing registered twice
    assert m.outgoing_synapses() == {"hidden1": plain[0], "hidden2": plain[1]}
    # twice in a row: still one wrapper, not a wrapper of a wrapper
    m.set_dropout("dropconnect", 0.2)
    assert m.blocks[1].synapse.inner is plain[0] and m.readout.synapse.inner is plain[1]
    m.set_dropout("none")
    assert [m.blocks[1].synapse, m.readout.synapse] == plain
    assert [d.key for d in m.dropouts] == ["none", "none"]


def test_set_dropout_other_methods() -> None:
    m = SpikingMLP([64, 32, 16, 10], T=3, seed=0)
    m.set_dropout("temporal", 0.3, rescale="none")
    assert [(d.key, d.p, d.rescale) for d in m.dropouts] == [("temporal", 0.3, "none")] * 2
    m.set_dropout([make_dropout("standard", 0.1), None])
    assert [d.key for d in m.dropouts] == ["standard", "none"]
    with pytest.raises(ValueError, match="2 hidden spiking layers"):
        m.set_dropout(["standard"], 0.1)
    with pytest.raises(ValueError, match="without a dropout method"):
        m.set_dropout(None, 0.2)


def test_dropconnect_masks_the_forward() -> None:
    m = SpikingMLP([64, 32, 10], T=4, dropout="dropconnect", p=0.5, seed=0).train()
    x = torch.rand(3, 64)
    a, b = m(x), m(x)
    assert not torch.equal(a, b)  # a fresh synapse mask per forward
    m.eval()
    ref = SpikingMLP([64, 32, 10], T=4, seed=0).eval()
    assert torch.equal(m(x), ref(x))  # inverted rescale: nothing to do at inference


def test_reseed_restarts_encoding_and_dropout_streams() -> None:
    m = SpikingMLP([64, 32, 10], T=4, encoding="rate", dropout="standard", p=0.3, seed=0).train()
    x = torch.rand(3, 64)
    m.reseed(5)
    with torch.no_grad():
        a, b = m(x), m(x)
        m.reseed(5)
        c = m(x)
    assert torch.equal(a, c) and not torch.equal(a, b)
    assert m.dropouts[0]._seed == derived_seed(5, 1)
    with pytest.raises(TypeError, match="seed"):
        m.reseed(1.5)


def test_recording_is_off_by_default_and_does_not_change_outputs() -> None:
    model = SpikingMLP([64, 32, 10], T=5, seed=1).eval()
    x = torch.rand(4, 64)
    a = model(x)
    with model.record():
        b = model(x)
    assert torch.equal(a, b)
    assert model._recording is None


def test_record_does_not_nest_and_has_kinds() -> None:
    model = SpikingMLP([64, 32, 10], T=5, seed=1)
    with model.record():
        with pytest.raises(RuntimeError, match="do not nest"):
            with model.record():
                pass
    assert model._recording is None
    with model.record(kind="rates") as rec:
        model(torch.rand(4, 64))
    assert set(rec.rates) == {"hidden1"} and 0.0 <= rec.rates["hidden1"] <= 1.0
    with pytest.raises(ValueError, match="kind"):
        with model.record(kind="everything"):
            pass
    assert model._recording is None


def test_direct_encoding_matches_explicit_repeat() -> None:
    """The first GEMM computed once and broadcast equals running it at every step."""
    m = SpikingMLP([64, 20, 10], T=4, seed=3).eval()
    x = torch.rand(3, 64)
    block = m.block("hidden1")
    cur = block.synapse.static(x).unsqueeze(0).repeat(4, 1, 1)
    with m.record() as rec:
        m(x)
    assert torch.equal(rec.spikes["hidden1"], block.neuron(cur))  # the same currents, materialised
    # the whole sequence through the synapse: a GEMM of T*B rows rounds differently (float32)
    seq = block.synapse(x.unsqueeze(0).expand(4, 3, 64))
    torch.testing.assert_close(seq, cur, rtol=0, atol=1e-6)


def test_seed_gives_identical_initialisation_and_leaves_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = SpikingMLP([64, 16, 10], seed=7, dropout="standard", p=0.2)
    after = torch.rand(1)
    b = SpikingMLP([64, 16, 10], seed=7, dropout="standard", p=0.2)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert a.dropouts[0]._seed == b.dropouts[0]._seed
    c = SpikingMLP([64, 16, 10], seed=8)
    assert not torch.equal(a.blocks[0].synapse.weight, c.blocks[0].synapse.weight)


def test_rescale_none_scales_next_layer_at_inference() -> None:
    torch.manual_seed(0)
    m = SpikingMLP([64, 32, 10], T=4, dropout="temporal", p=0.4, dropout_options={"rescale": "none"}, seed=0).eval()
    ref = SpikingMLP([64, 32, 10], T=4, seed=0).eval()
    x = torch.rand(3, 64)
    with m.record() as rec:
        out = m(x)
    spikes = rec.spikes["hidden1"]
    syn = m.readout.synapse
    expected_cur = torch.nn.functional.linear(spikes * 0.6, syn.weight, syn.bias)
    v, acc = torch.zeros(3, 10), torch.zeros(3, 10)
    for c in expected_cur.unbind(0):
        v = 0.9 * v + c
        acc = acc + v
    assert torch.allclose(out, acc / 4, atol=1e-6)
    assert isinstance(m.readout.neuron, LeakyIntegrator)
    assert not torch.allclose(out, ref(x))


def test_hidden_and_outgoing_weights() -> None:
    m = SpikingMLP([64, 32, 16, 10], T=3, dropout="dropconnect", p=0.3, seed=0)
    hw, ow = m.hidden_weights(), m.outgoing_weights()
    assert list(hw) == list(ow) == ["hidden1", "hidden2"]
    assert hw["hidden1"].shape == (32, 64) and hw["hidden2"].shape == (16, 32)
    assert ow["hidden1"] is hw["hidden2"] and ow["hidden2"] is m.readout.synapse.weight
    assert ow["hidden2"].shape == (10, 16)
    syns = m.outgoing_synapses()
    assert all(isinstance(s, LinearSynapse) and s.taps == 1 for s in syns.values())
    cnn = SpikingCNN((3, 16, 16), channels=(4, 8), hidden=12, n_classes=10, T=2, seed=0)
    assert cnn.hidden_weights()["conv2"].shape == (8, 4, 3, 3)
    assert cnn.outgoing_weights()["conv1"] is cnn.hidden_weights()["conv2"]
    assert cnn.outgoing_weights()["fc"].shape == (10, 12)


def test_outgoing_synapses_of_the_delayed_network() -> None:
    d = DelayedSNN([64, 32, 10], T=8, delays=(0, 2, 5), dropout="dropconnect", p=0.2, seed=0)
    (syn,) = d.outgoing_synapses().values()
    assert isinstance(syn, DelayedLinear) and syn.taps == 3 == len(d.readout.synapse.unwrapped.delays)
    assert d.outgoing_weights()["hidden1"].shape == (10, 32 * 3)
    assert d.hidden_weights()["hidden1"].shape == (32, 64 * 3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("make", [lambda: SpikingMLP([4, 8, 3], T=3, seed=0),
                                  lambda: SpikingMLP([4, 8, 3], T=3, encoding="rate", seed=0),
                                  lambda: SpikingCNN((1, 4, 4), (2,), 4, 3, T=2, seed=0),
                                  lambda: PenaltySNN([4, 8, 3], T=3, seed=0),
                                  lambda: DelayedSNN([4, 8, 3], T=3, seed=0)])
def test_non_finite_input_is_refused_on_the_cpu(make, bad) -> None:
    """A NaN input used to give the logits of a zero input: it is a ValueError naming x (CPU tensors)."""
    model = make()
    x = torch.rand(2, *(model.input_shape if isinstance(model, SpikingCNN) else (4,)))
    x.view(-1)[5] = bad
    with pytest.raises(ValueError, match=r"^x contains 1 non-finite value\(s\).*allowed: finite values only"):
        model(x)


def test_non_finite_check_is_skipped_off_the_cpu() -> None:
    """On an accelerator (here the meta device) the value check would be a host sync: not done in forward."""
    model = SpikingMLP([4, 8, 3], T=3, seed=0, neuron_options={"backend": "loop"}).to("meta")
    assert model(torch.full((2, 4), float("nan"), device="meta")).shape == (2, 3)


def test_integer_and_empty_batches_are_refused() -> None:
    model = SpikingMLP([4, 8, 3], T=3, seed=0)
    with pytest.raises(TypeError, match="x must be a floating-point tensor.*torch.int64"):
        model(torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="x must be a floating-point tensor.*torch.bool"):
        model(torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"x is an empty batch \(shape \(0, 4\)\)"):
        model(torch.zeros(0, 4))
    assert model(torch.rand(2, 4, dtype=torch.float64)).dtype == torch.float32  # other float dtypes are cast


def test_wrong_input_shape() -> None:
    m = SpikingMLP([64, 16, 10], T=3)
    with pytest.raises(ValueError, match="expects 64"):
        m(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="at least 2 dims"):
        m(torch.rand(64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        m([[0.0] * 64])
    with pytest.raises(ValueError, match="per-sample shape"):
        SpikingCNN((3, 16, 16), (4,), 8, 10, T=2)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="expects 64"):
        PenaltySNN([64, 16, 10], T=3)(torch.rand(2, 32))
    with pytest.raises(ValueError, match="expects 64"):
        DelayedSNN([64, 16, 10], T=3)(torch.rand(2, 32))


# --------------------------------------------------------------------------- helpers


def test_check_sizes() -> None:
    assert check_sizes([64, 10]) == (64, 10)
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        check_sizes([64, 0])
    with pytest.raises(ValueError, match="at least 3"):
        check_sizes([64, 10], min_len=3)
    with pytest.raises(TypeError, match="channels"):
        check_sizes("4,8", name="channels")


def test_derived_seed() -> None:
    seeds = {derived_seed(s, slot) for s in range(3) for slot in range(4)}
    assert len(seeds) == 12 and all(0 <= s < 2**62 for s in seeds)
    assert derived_seed(5, 1) == derived_seed(5, 1)


def test_dropout_argument_forms() -> None:
    """What a model accepts as ``dropout`` (one slot per hidden layer) and what it refuses."""
    m = SpikingMLP([64, 32, 32, 10], T=2, dropout="temporal", p=0.2, dropout_options={"rescale": "none"}, seed=0)
    assert [(s.key, s.p, s.rescale) for s in m.dropouts] == [("temporal", 0.2, "none")] * 2
    a = SpikingMLP([64, 32, 10], T=2, dropout="temporal", p=0.2, seed=0)
    b = SpikingMLP([64, 32, 10], T=2, dropout="temporal", p=0.2, seed=0)
    assert a.dropouts[0]._seed == b.dropouts[0]._seed
    with pytest.raises(ValueError, match="one dropout module instance cannot fill several layers"):
        SpikingMLP([64, 32, 32, 10], dropout=make_dropout("standard", 0.1))
    with pytest.raises(ValueError, match="1 entries but the model has 2"):
        SpikingMLP([64, 32, 32, 10], dropout=["standard"], p=0.1)
    with pytest.raises(TypeError, match="dropout entries"):
        SpikingMLP([64, 32, 10], dropout=[3], p=0.1)
    with pytest.raises(ValueError, match="without a dropout method"):
        SpikingMLP([64, 32, 10], p=0.2)


@pytest.mark.parametrize("make", [
    lambda: SpikingMLP([4, 8, 3], T=3, seed=0, encoding="latency"),
    lambda: SpikingMLP([4, 8, 3], T=3, seed=0, encoding="rate"),
    lambda: SpikingMLP([4, 8, 3], T=3, seed=0, encoding="rate", encoding_options={"gain": 0.5}),
    lambda: DelayedSNN([4, 8, 3], T=3, seed=0),
])
@pytest.mark.parametrize("value", [1.5, -0.25, 3.0])
def test_intensities_outside_the_unit_interval_are_refused_on_the_cpu(make, value) -> None:
    """A latency-coded input above 1 (or below 0) used to fail with torch's "index -1 is out of bounds"
    from the encoder's scatter, and a rate-coded one was silently clipped (found by tests/test_properties.py)."""
    model = make()
    x = torch.rand(2, 4) * 0.5
    x[1, 2] = value
    if model.encoding == "rate" and 0.0 <= value * model.encoding_options.get("gain", 1.0) <= 1.0:
        assert model(x).shape == (2, 3)  # gain*x is what must lie in [0, 1]
        return
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\] for this encoding"):
        model(x)
    assert model(torch.rand(2, 4)).shape == (2, 3)


def test_direct_and_noisy_inputs_may_leave_the_unit_interval() -> None:
    for model in (SpikingMLP([4, 8, 3], T=3, seed=0), PenaltySNN([4, 8, 3], T=3, seed=0)):
        assert model(torch.rand(2, 4) * 4 - 2).shape == (2, 3)


@pytest.mark.parametrize("seed", [2**70, -(2**64)])
def test_a_seed_a_generator_cannot_take_is_refused(seed) -> None:
    with pytest.raises(ValueError, match="a seed must be an integer in"):
        SpikingMLP([4, 8, 3], T=3, seed=seed)
    model = SpikingMLP([4, 8, 3], T=3, seed=0)
    with pytest.raises(ValueError, match="a seed must be an integer in"):
        model.reseed(seed)


# --------------------------------------------------------------------------- the readout fused into the last layer


def _logits_and_grads(model: SpikingMLP, x: torch.Tensor, *, record: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    if record:
        with model.record("rates"):
            out = model(x)
    else:
        out = model(x)
    (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("sizes", [[64, 48, 10], [64, 40, 24, 10]], ids=["static", "sequence"])
@pytest.mark.parametrize("encoding", ["direct", "rate"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_fused_readout_changes_nothing_but_the_work(sizes, encoding, dtype, monkeypatch) -> None:
    """Where the last hidden layer's slot is the identity (``none``, or eval), its LIF kernel sums the
    spikes for the leaky readout instead of writing them (``SpikingBlock.time_sum``); logits and every
    gradient are bit for bit those of the same model with its spikes written (a recording turns the
    fusion off), a float64 model fed float32 data included."""
    from snnlab.blocks import SpikingBlock
    from snnlab.neurons.lif_kernels import kernel_status

    if kernel_status("cpu").backend != "c":
        pytest.skip("the C LIF kernel is not available here")
    calls = []
    original = SpikingBlock.time_sum
    monkeypatch.setattr(SpikingBlock, "time_sum", lambda self, *a, **k: calls.append(self.name) or original(self, *a, **k))
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(0))
    for mode in ("train", "eval"):
        model = SpikingMLP(sizes, T=12, encoding=encoding, seed=3).to(dtype).train(mode == "train")
        model.reseed(3)
        fused = _logits_and_grads(model, x, record=False)
        assert calls == [model.blocks[-1].name]
        model.reseed(3)
        written = _logits_and_grads(model, x, record=True)
        assert calls == [model.blocks[-1].name]  # no second call: the recorded forward wrote its spikes
        assert torch.equal(fused[0], written[0])
        assert all(torch.equal(a, b) for a, b in zip(fused[1], written[1]))
        calls.clear()


@pytest.mark.parametrize("method,options", [("temporal", {}), ("temporal", {"rescale": "none"}), ("synaptic", {}),
                                            ("synaptic", {"favor": "drop"}), ("activity", {}),
                                            ("activity", {"rescale": "none"})])
@pytest.mark.parametrize("sizes", [[64, 48, 10], [64, 40, 24, 10]], ids=["static", "sequence"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_mask_held_over_the_window_is_applied_to_the_fused_sum(method, options, sizes, dtype, monkeypatch) -> None:
    """A slot whose mask is one per (sample, neuron) for the window and drawn from spike counts and
    weights at most (``drops_time_sum``) lets the last layer's kernel sum its spikes: the same mask from
    the same generator (the same statistics and probabilities), and logits and gradients equal to the
    written spikes' up to the rounding of scaling after the sum instead of before (exact without scaling)."""
    from snnlab.blocks import SpikingBlock
    from snnlab.neurons.lif_kernels import kernel_status

    if kernel_status("cpu").backend != "c":
        pytest.skip("the C LIF kernel is not available here")
    calls = []
    original = SpikingBlock.time_sum
    monkeypatch.setattr(SpikingBlock, "time_sum", lambda self, *a, **k: calls.append(self.name) or original(self, *a, **k))
    x = torch.rand(16, 64, generator=torch.Generator().manual_seed(1))
    model = SpikingMLP(sizes, T=12, dropout=method, p=0.3, dropout_options=options, seed=3).to(dtype).train()
    runs = []
    for record in (False, True):
        model.reseed(3)
        logits, grads = _logits_and_grads(model, x, record=record)
        slot = model.blocks[-1].dropout
        runs.append((logits, grads, slot.last_stats, getattr(slot, "last_probabilities", None)))
    assert calls == [model.blocks[-1].name]  # fused once, then written under the recording
    (la, ga, sa, qa), (lb, gb, sb, qb) = runs
    exact = options.get("rescale") == "none"
    tol = {} if exact else {"rtol": 1e-5 if dtype == torch.float32 else 1e-12, "atol": 1e-6 if dtype == torch.float32 else 1e-13}
    for a, b in zip([la, *ga], [lb, *gb]):
        if exact:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, **tol)
    assert sa.dropped_fraction == sb.dropped_fraction and sa.spikes_removed == sb.spikes_removed
    assert sa.silent_fraction == sb.silent_fraction and sa.out_max == pytest.approx(sb.out_max, rel=1e-6)
    assert sa.out_mean == pytest.approx(sb.out_mean, rel=1e-5) and sa.out_min == sb.out_min
    assert 0 < sa.dropped_fraction < 1 and sa.spikes_removed > 0
    if qa is not None:
        assert torch.equal(qa, qb)


@pytest.mark.parametrize("method,options", [("membrane", {}), ("standard", {}), ("temporal", {"p": 0.0}),
                                            ("activity", {"window": "causal"}), ("synaptic", {"per_step": True})])
def test_masks_a_time_sum_cannot_give_keep_the_spikes_written(method, options, monkeypatch) -> None:
    """The membrane (not summed by the kernel), per-step masks, causal scores, and p=0 (its own path)."""
    from snnlab.blocks import SpikingBlock

    monkeypatch.setattr(SpikingBlock, "time_sum", lambda *a, **k: pytest.fail("fused where it cannot be"))
    p = options.pop("p", 0.3)
    model = SpikingMLP([64, 32, 10], T=6, seed=0, dropout=method, p=p, dropout_options=options).train()
    assert not model.blocks[-1].dropout.drops_time_sum()
    model(torch.rand(3, 64)).sum().backward()


@pytest.mark.parametrize("case", ["sampling dropout", "rate readout", "loop backend", "penalty neuron", "switched off"])
def test_the_readout_is_not_fused_where_it_cannot_be(case, monkeypatch) -> None:
    from snnlab.blocks import SpikingBlock

    monkeypatch.setattr(SpikingBlock, "time_sum", lambda *a, **k: pytest.fail("fused where it cannot be"))
    kwargs = {"sampling dropout": {"dropout": "standard", "p": 0.3}, "rate readout": {"readout": "rate"},
              "loop backend": {"neuron_options": {"backend": "loop"}}, "penalty neuron": {"neuron": "penalty"},
              "switched off": {}}[case]
    model = SpikingMLP([64, 32, 10], T=6, seed=0, **kwargs).train()
    model.fuse_readout = case != "switched off"
    model(torch.rand(3, 64)).sum().backward()

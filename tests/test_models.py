"""Models: shapes, recording, dropout slots, seeding, argument checks."""

from __future__ import annotations

import pytest
import torch

from snnlab.dropout import make_dropout
from snnlab.models import CNN, MLP, DelayedSNN, PenaltySNN, SpikingCNN, SpikingMLP, build_model


def test_spiking_mlp_shapes_and_recording():
    model = SpikingMLP([64, 32, 16, 10], T=6, seed=0)
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == (5, 10)
    with model.record() as rec:
        model(x)
        model(x[:3])
    assert rec.layers == ["hidden1", "hidden2", "output"]
    assert rec.spikes["hidden1"].shape == (6, 8, 32)
    assert rec.membrane["hidden2"].shape == (6, 8, 16)
    assert set(rec.spikes["hidden1"].unique().tolist()) <= {0.0, 1.0}
    # membrane is the pre-reset potential: a spike happens exactly where it crosses the threshold
    assert torch.equal(rec.spikes["hidden1"] > 0, rec.membrane["hidden1"] > 1.0)


def test_recording_is_off_by_default_and_does_not_change_outputs():
    model = SpikingMLP([64, 32, 10], T=5, seed=1).eval()
    x = torch.rand(4, 64)
    a = model(x)
    with model.record():
        b = model(x)
    assert torch.equal(a, b)
    assert model._recording is None


def test_direct_encoding_matches_explicit_repeat():
    """The first GEMM computed once and broadcast equals running it at every step."""
    m = SpikingMLP([64, 20, 10], T=4, seed=3).eval()
    x = torch.rand(3, 64)
    cur = m.linears[0](x).unsqueeze(0).repeat(4, 1, 1)
    with m.record() as rec:
        m(x)
    assert torch.equal(rec.spikes["hidden1"], m.neurons[0](cur))


@pytest.mark.parametrize("encoding", ["rate", "latency", "noisy_repeat"])
def test_spiking_mlp_encodings(encoding):
    m = SpikingMLP([64, 16, 10], T=5, encoding=encoding, seed=0)
    out = m(torch.rand(4, 64))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_seed_gives_identical_initialisation_and_leaves_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = SpikingMLP([64, 16, 10], seed=7)
    after = torch.rand(1)
    b = SpikingMLP([64, 16, 10], seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_dropout_slots_are_filled_and_reseeded():
    m = SpikingMLP([64, 32, 32, 10], T=4, dropout="temporal", p=0.3, seed=0)
    assert [d.name for d in m.dropouts] == ["temporal", "temporal"]
    m2 = SpikingMLP([64, 32, 10], T=4, dropout=[make_dropout("standard", 0.2)], seed=0)
    assert m2.dropouts[0].name == "standard"
    empty = SpikingMLP([64, 32, 10], T=4)
    assert empty.dropouts[0].name == "none"


def test_rescale_none_scales_next_layer_at_inference():
    torch.manual_seed(0)
    m = SpikingMLP([64, 32, 10], T=4, dropout="temporal", p=0.4, dropout_options={"rescale": "none"}, seed=0).eval()
    ref = SpikingMLP([64, 32, 10], T=4, seed=0).eval()
    x = torch.rand(3, 64)
    with m.record() as rec:
        out = m(x)
    spikes = rec.spikes["hidden1"]
    lin = m.linears[1]
    expected_cur = torch.nn.functional.linear(spikes * 0.6, lin.weight, lin.bias)
    v, acc = torch.zeros(3, 10), torch.zeros(3, 10)
    for c in expected_cur.unbind(0):
        v = 0.9 * v + c
        acc = acc + v
    assert torch.allclose(out, acc / 4, atol=1e-6)
    assert not torch.allclose(out, ref(x))


def test_spiking_cnn_and_ann_baselines():
    x = torch.rand(2, 3, 16, 16)
    snn = SpikingCNN((3, 16, 16), channels=(4, 8), hidden=12, n_classes=10, T=3, dropout="dropout2d", p=0.2, seed=0)
    assert snn(x).shape == (2, 10)
    with snn.record() as rec:
        snn(x)
    assert rec.spikes["conv1"].shape == (3, 2, 4, 16, 16)
    assert rec.spikes["fc"].shape == (3, 2, 12)
    assert CNN((3, 16, 16), (4, 8), 12, 10)(x).shape == (2, 10)
    assert MLP([64, 32, 10], dropout_p=0.2)(torch.rand(2, 64)).shape == (2, 10)


def test_reference_networks_forward():
    x = torch.rand(3, 64)
    p = PenaltySNN([64, 32, 10], T=5, seed=0)
    d = DelayedSNN([64, 32, 10], T=8, seed=0)
    for m in (p, d):
        out = m(x)
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        with m.record() as rec:
            m(x)
        assert "hidden1" in rec.spikes


def test_build_model_by_name():
    assert isinstance(build_model("spiking_mlp", [64, 16, 10], T=3, dropout="standard", p=0.1), SpikingMLP)
    ann = build_model("mlp", [64, 16, 10], T=3, neuron="lif", encoding="rate", dropout="standard", p=0.1)
    assert isinstance(ann, MLP) and any(isinstance(m, torch.nn.Dropout) for m in ann.modules())
    cnn = build_model("spiking_cnn", (4, 8, 12, 10), input_shape=(3, 16, 16), T=2)
    assert isinstance(cnn, SpikingCNN)
    with pytest.raises(ValueError, match="kind"):
        build_model("transformer", [64, 10])
    with pytest.raises(ValueError, match="input_shape"):
        build_model("cnn", (4, 12, 10))
    with pytest.raises(ValueError, match="ANN baseline"):
        build_model("mlp", [64, 16, 10], dropout="temporal", p=0.1)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(sizes=[64, -3, 10]), ValueError, r"sizes\[1\]"),
        (dict(sizes=[64]), ValueError, "at least 2"),
        (dict(sizes="64,10"), TypeError, "sequence"),
        (dict(sizes=[64, 10], T=0), ValueError, "T=0"),
        (dict(sizes=[64, 10], encoding="morse"), ValueError, "encoding"),
        (dict(sizes=[64, 16, 10], neuron="izhikevich"), ValueError, "izhikevich"),
        (dict(sizes=[64, 16, 10], readout="max"), ValueError, "readout"),
        (dict(sizes=[64, 16, 10], dropout="gaussian", p=0.1), ValueError, "gaussian"),
        (dict(sizes=[64, 16, 10], p=0.3), ValueError, "without a dropout method"),
        (dict(sizes=[64, 16, 10], dropout="standard", p=1.0), ValueError, "p=1.0"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    sizes = kwargs.pop("sizes")
    with pytest.raises(exc, match=match):
        SpikingMLP(sizes, **kwargs)


def test_wrong_input_shape():
    m = SpikingMLP([64, 16, 10], T=3)
    with pytest.raises(ValueError, match="expects 64"):
        m(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match="at least 2 dims"):
        m(torch.rand(64))
    with pytest.raises(ValueError, match="per-sample shape"):
        SpikingCNN((3, 16, 16), (4,), 8, 10, T=2)(torch.rand(2, 1, 16, 16))

"""snnlab.models.spiking: SpikingMLP and SpikingCNN (shapes, recording, neurons, encodings, readouts, arguments)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnlab.blocks import ConvSynapse, LinearSynapse
from snnlab.models import READOUTS, SpikingCNN, SpikingMLP
from snnlab.neurons import LIF, LeakyIntegrator, PenaltyNeuron


def test_spiking_mlp_shapes_and_recording() -> None:
    model = SpikingMLP([64, 32, 16, 10], T=6, seed=0)
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == (5, 10)
    with model.record() as rec:
        model(x)
        model(x[:3])
    assert rec.layers == ["hidden1", "hidden2", "output"]
    assert rec.spikes["hidden1"].shape == (6, 8, 32)
    assert rec.membrane["hidden2"].shape == (6, 8, 16)
    assert rec.membrane["output"].shape == (6, 8, 10)
    assert set(rec.spikes["hidden1"].unique().tolist()) <= {0.0, 1.0}
    # membrane is the pre-reset potential: a spike happens exactly where it crosses the threshold
    assert torch.equal(rec.spikes["hidden1"] > 0, rec.membrane["hidden1"] > 1.0)


def test_spiking_mlp_structure() -> None:
    m = SpikingMLP([64, 32, 10], T=3, neuron_options={"beta": 0.5, "reset": "zero"}, output_beta=0.8, seed=0)
    (block,) = m.blocks
    assert isinstance(block.synapse, LinearSynapse) and isinstance(block.neuron, LIF)
    assert float(block.neuron.beta) == 0.5 and block.neuron.reset == "zero"
    assert isinstance(m.readout.neuron, LeakyIntegrator) and m.readout.neuron.beta == 0.8
    assert m.readout.logits == "mean" and m.readout_kind == "membrane"


def test_readout_logits_equal_the_integrators_mean() -> None:
    m = SpikingMLP([64, 32, 10], T=5, seed=0).eval()
    x = torch.rand(3, 64)
    with m.record() as rec:
        out = m(x)
    # the readout's running mean vs torch.mean of its recorded trace: float32 rounding only
    torch.testing.assert_close(out, rec.membrane["output"].mean(0), rtol=0, atol=1e-6)


def test_rate_readout_counts_spikes() -> None:
    assert READOUTS == ("membrane", "rate")
    m = SpikingMLP([64, 32, 10], T=6, readout="rate", seed=0)
    assert isinstance(m.readout.neuron, LIF) and m.readout.logits == "count"
    with m.record() as rec:
        out = m(torch.rand(4, 64))
    assert torch.equal(out, rec.spikes["output"].sum(0))
    assert out.shape == (4, 10) and ((out >= 0) & (out <= 6) & (out == out.round())).all()


@pytest.mark.parametrize("encoding", ["rate", "latency", "noisy_repeat"])
def test_spiking_mlp_encodings(encoding: str) -> None:
    m = SpikingMLP([64, 16, 10], T=5, encoding=encoding, seed=0)
    out = m(torch.rand(4, 64))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("neuron", ["penalty", "first_spike"])
def test_spiking_mlp_with_other_neurons(neuron: str) -> None:
    m = SpikingMLP([64, 16, 10], T=5, neuron=neuron, dropout="membrane", p=0.2, seed=0).train()
    out = m(torch.rand(4, 64))
    out.sum().backward()
    assert out.shape == (4, 10) and torch.isfinite(m.blocks[0].synapse.weight.grad).all()
    if neuron == "penalty":
        assert isinstance(m.blocks[0].neuron, PenaltyNeuron)


def test_fused_backend_model_equals_loop_model() -> None:
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(1))
    outs = []
    for backend in ("loop", "fused"):
        m = SpikingMLP([64, 32, 10], T=6, neuron_options={"backend": backend}, dropout="membrane", p=0.3, seed=0)
        out = m.train()(x)
        F.cross_entropy(out, y).backward()
        outs.append((out, m.blocks[0].synapse.weight.grad))
    # the fused recurrence rounds beta*v + x differently (float32)
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(sizes=[64, -3, 10]), ValueError, r"sizes\[1\]"),
        (dict(sizes=[64]), ValueError, "at least 2"),
        (dict(sizes="64,10"), TypeError, "sequence"),
        (dict(sizes=[64, 10], T=0), ValueError, "T=0"),
        (dict(sizes=[64, 10], encoding="morse"), ValueError, "encoding"),
        (dict(sizes=[64, 16, 10], neuron="izhikevich"), ValueError, "izhikevich"),
        (dict(sizes=[64, 16, 10], neuron_options={"decay": 0.5}), ValueError, "unknown option"),
        (dict(sizes=[64, 16, 10], readout="max"), ValueError, "readout"),
        (dict(sizes=[64, 16, 10], dropout="gaussian", p=0.1), ValueError, "gaussian"),
        (dict(sizes=[64, 16, 10], p=0.3), ValueError, "without a dropout method"),
        (dict(sizes=[64, 16, 10], dropout="standard", p=1.0), ValueError, "p=1.0"),
        (dict(sizes=[64, 16, 10], output_beta=5.0), ValueError, r"output_beta=5.0 is not allowed; it must lie in \[0.0, 1.0\]"),
        (dict(sizes=[64, 16, 10], output_beta=float("nan")), ValueError, "output_beta=nan"),
        (dict(sizes=[64, 16, 10], output_beta=-0.1), ValueError, "output_beta=-0.1"),
        (dict(sizes=[64, 16, 10], output_beta="0.9"), TypeError, "output_beta must be a real number"),
        (dict(sizes=[64, 16, 10], readout="rate", output_beta=1.5), ValueError, "output_beta=1.5"),
        (dict(sizes=[64, 16, 10], encoding_options={"gain": 2.0}), ValueError, "for encoding 'direct'; allowed: none"),
        (dict(sizes=[64, 16, 10], encoding="rate", encoding_options={"gain": -1.0}), ValueError, "gain=-1.0"),
        (dict(sizes=[64, 16, 10], neuron_options=[("beta", 0.5)]), TypeError, "neuron_options must be a dict"),
        (dict(sizes=[64, 16, 10], dropout="standard", p=0.1, dropout_options="x"), TypeError, "dropout_options must be a dict"),
    ],
)
def test_bad_arguments(kwargs, exc, match) -> None:
    sizes = kwargs.pop("sizes")
    with pytest.raises(exc, match=match):
        SpikingMLP(sizes, **kwargs)


# --------------------------------------------------------------------------- SpikingCNN


def test_spiking_cnn_shapes_and_recording() -> None:
    x = torch.rand(2, 3, 16, 16)
    snn = SpikingCNN((3, 16, 16), channels=(4, 8), hidden=12, n_classes=10, T=3, dropout="dropout2d", p=0.2, seed=0)
    assert snn(x).shape == (2, 10)
    with snn.record() as rec:
        snn(x)
    assert rec.layers == ["conv1", "conv2", "fc", "output"]
    assert rec.spikes["conv1"].shape == (3, 2, 4, 16, 16)  # recorded before pooling
    assert rec.spikes["conv2"].shape == (3, 2, 8, 8, 8)
    assert rec.spikes["fc"].shape == (3, 2, 12)
    assert [b.pool for b in snn.blocks] == [2, 2, None]
    assert all(isinstance(b.synapse, ConvSynapse) for b in snn.blocks[:2])
    assert snn.blocks[2].synapse.in_features == 8 * 4 * 4
    assert [d.key for d in snn.dropouts] == ["dropout2d"] * 3


def test_spiking_cnn_trains_a_step_with_every_slot() -> None:
    snn = SpikingCNN((2, 8, 8), channels=(3,), hidden=6, n_classes=4, T=3, dropout="synaptic", p=0.2, seed=0).train()
    loss = F.cross_entropy(snn(torch.rand(5, 2, 8, 8)), torch.tensor([0, 1, 2, 3, 0]))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in snn.parameters())
    assert all(d.last_probabilities is not None for d in snn.dropouts)
    q = snn.dropouts[0].last_probabilities
    assert q.shape == (3, 8, 8) and torch.equal(q, q[:, :1, :1].expand_as(q))  # one probability per channel


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (((3, 16),), {}, "at least 3"),
        (((3, 16, 16, 1),), {}, r"\(C, H, W\)"),
        (((3, 2, 2), (4, 8)), {}, "too small"),
        (((3, 16, 16), ()), {}, "channels"),
        (((3, 16, 16), (4,), 0), {}, "hidden"),
        (((3, 16, 16), (4,), 8, 0), {}, "n_classes"),
    ],
)
def test_spiking_cnn_bad_arguments(args, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SpikingCNN(*args, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(output_beta=5.0), dict(output_beta=float("nan")), dict(encoding_options={"keep": 1.0})])
def test_spiking_cnn_refuses_bad_readout_leak_and_encoding_options(kwargs) -> None:
    with pytest.raises(ValueError, match="output_beta=|for encoding 'direct'"):
        SpikingCNN((1, 8, 8), (2,), 4, 3, T=2, **kwargs)


def test_output_beta_bounds_are_accepted() -> None:
    for beta in (0.0, 1.0, 1):
        assert SpikingMLP([4, 3, 2], T=2, output_beta=beta, seed=0)(torch.rand(2, 4)).isfinite().all()

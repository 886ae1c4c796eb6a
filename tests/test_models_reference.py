"""snnlab.models.reference: the write-up's PenaltySNN and the paper's DelayedSNN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnlab.blocks import DelayedLinear
from snnlab.dropout.dropconnect import MaskedSynapse
from snnlab.models import DelayedSNN, PenaltySNN
from snnlab.neurons import FirstSpike, PenaltyNeuron


@pytest.mark.parametrize("cls, T", [(PenaltySNN, 5), (DelayedSNN, 8)])
def test_reference_networks_forward_and_record(cls, T) -> None:
    x = torch.rand(3, 64)
    m = cls([64, 32, 10], T=T, seed=0)
    out = m(x)
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    with m.record() as rec:
        m(x)
    assert rec.layers == ["hidden1", "output"]
    assert rec.spikes["hidden1"].shape == (T, 3, 32)
    assert rec.membrane["output"].shape == (T, 3, 10)


def test_penalty_snn_structure() -> None:
    m = PenaltySNN([64, 32, 16, 10], T=4, decay=0.8, threshold=1.5, penalty_threshold=2.0, keep=0.7, seed=0)
    assert m.encoding == "noisy_repeat" and m.encoding_options == {"keep": 0.7}
    assert m.layer_names == ["hidden1", "hidden2", "output"]
    for n in [b.neuron for b in m.blocks] + [m.readout.neuron]:
        assert isinstance(n, PenaltyNeuron) and n.params() == (0.8, 1.5, 2.0)
    assert all(not b.synapse.bias.any() for b in m.blocks)  # xavier weights, zero biases
    assert m.readout.logits == "trace_mean"
    with m.record() as rec:
        out = m(torch.rand(2, 64))
    assert torch.equal(out, rec.membrane["output"].mean(0))  # the delayed inner state, averaged over time


def test_delayed_snn_structure() -> None:
    m = DelayedSNN([64, 32, 10], T=8, delays=(0, 1), tau=3.0, threshold=0.8, seed=0)
    (block,) = m.blocks
    assert m.encoding == "latency"
    assert isinstance(block.synapse, DelayedLinear) and block.synapse.delays == (0, 1) and block.synapse.tau == 3.0
    assert isinstance(block.neuron, FirstSpike) and block.neuron.threshold == 0.8
    assert m.readout.neuron is None and isinstance(m.readout.synapse, DelayedLinear)
    with m.record() as rec:
        out = m(torch.rand(4, 64))
    assert rec.spikes["hidden1"].sum(0).max() <= 1  # fire once
    assert torch.equal(out, rec.membrane["output"].mean(0))
    with pytest.raises(ValueError, match="3-layer"):
        DelayedSNN([64, 32, 16, 10])
    with pytest.raises(ValueError, match="at least 3"):
        DelayedSNN([64, 10])


@pytest.mark.parametrize("cls, T", [(PenaltySNN, 5), (DelayedSNN, 8)])
@pytest.mark.parametrize("method", ["temporal", "membrane"])
def test_reference_networks_train_with_dropout(cls, T, method) -> None:
    m = cls([64, 32, 10], T=T, dropout=method, p=0.3, seed=0).train()
    loss = F.cross_entropy(m(torch.rand(8, 64)), torch.arange(8) % 10)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())
    assert m.dropouts[0].last_stats.method == method


def test_delayed_snn_with_dropconnect_masks_its_readout_and_trains() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 64, generator=g), torch.randint(0, 10, (16,), generator=g)
    m = DelayedSNN([64, 32, 10], T=8, dropout="dropconnect", p=0.3, seed=0).train()
    assert isinstance(m.readout.synapse, MaskedSynapse) and isinstance(m.readout.synapse.inner, DelayedLinear)
    assert m.readout.synapse.method is m.dropouts[0]
    before = m.readout.synapse.weight.detach().clone()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    w = m.readout.synapse.weight
    assert torch.isfinite(loss) and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(w, before)
    stats = m.dropouts[0].last_stats
    assert stats.method == "dropconnect" and abs(stats.dropped_fraction - 0.3) < 0.05  # 10*128 synapses
    with torch.no_grad():
        assert not torch.equal(m(x), m(x))  # a fresh synapse mask per forward
        m.eval()
        assert torch.equal(m(x), m(x))


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: PenaltySNN([4, 8, 3], init_gain=float("nan")), ValueError, "init_gain=nan"),
        (lambda: PenaltySNN([4, 8, 3], keep="0.5"), TypeError, "keep must be a real number"),
        (lambda: PenaltySNN([4, 8, 3], keep=0.0), ValueError, "keep=0.0"),
        (lambda: PenaltySNN([4, 8, 3], decay=5.0), ValueError, "decay=5.0"),
        (lambda: PenaltySNN([4, 8, 3], seed=1.5), TypeError, "seed must be an integer"),
        (lambda: PenaltySNN([4, 8, 3], dropout="standard", p=0.1, dropout_options=[1]), TypeError, "dropout_options must be a dict"),
        (lambda: DelayedSNN([4, 8, 3], delays=3), TypeError, "delays must be a sequence"),
        (lambda: DelayedSNN([4, 8, 3], tau=float("nan")), ValueError, "tau=nan"),
        (lambda: DelayedSNN([4, 8, 3], seed="1"), TypeError, "seed must be an integer"),
    ],
)
def test_reference_network_arguments_are_checked(make, exc, match) -> None:
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("cls", [PenaltySNN, DelayedSNN])
def test_reference_networks_refuse_non_finite_inputs(cls) -> None:
    x = torch.rand(2, 4)
    x[1, 3] = float("nan")
    with pytest.raises(ValueError, match=r"x contains 1 non-finite value\(s\) \(1 NaN"):
        cls([4, 8, 3], T=3, seed=0)(x)

"""``snnlab/analysis/energy.py``: synaptic operations of tiny networks counted by hand, ANN MACs, Pareto fronts."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from snnlab.analysis import energy as en
from snnlab.models.ann import CNN, MLP
from snnlab.models.spiking import SpikingCNN, SpikingMLP

# beta = 1 (no leak), reset by subtraction, threshold 1: a constant current 0.6 gives v = 0.6, 1.2 (spike,
# -> 0.2), 0.8, 1.4 (spike): 2 spikes in T = 4 steps; a current of 10 spikes at every step; -10 never.
LIF = {"beta": 1.0, "reset": "subtract", "threshold": 1.0}


def _set_layer(synapse: torch.nn.Linear, bias: list[float], weight: float = 1e-4) -> None:
    """Tiny non-zero weights (every synapse exists, fan-out = the full width) and a dominating bias."""
    with torch.no_grad():
        synapse.weight.fill_(weight)
        synapse.bias.copy_(torch.tensor(bias))


def test_synaptic_operations_of_a_tiny_mlp_match_a_count_by_hand() -> None:
    model = SpikingMLP([2, 3, 4, 2], T=4, neuron_options=LIF, seed=0)
    _set_layer(model.blocks[0].synapse, [0.6, 0.6, -10.0])  # hidden1: neurons 0, 1 spike twice each
    _set_layer(model.blocks[1].synapse, [10.0, -10.0, 10.0, 0.6])  # hidden2: 4 + 0 + 4 + 2 spikes
    _set_layer(model.readout.synapse, [0.0, 0.0], weight=1.0)
    x = torch.rand(5, 2)
    with model.record() as rec:
        model.eval()
        model(x)
    assert rec.spikes["hidden1"].sum((0, 2)).tolist() == [4.0] * 5  # the spike counts the hand count assumes
    assert rec.spikes["hidden2"].sum((0, 2)).tolist() == [10.0] * 5
    sops = en.synaptic_operations(model, x, batch_size=2)  # batches of 2, 2, 1 average to the per-sample value
    assert list(sops) == ["hidden1", "hidden2"]  # direct encoding: the analogue input is not counted
    assert sops["hidden1"] == pytest.approx(4 * 4)  # 4 spikes x fan-out 4 (hidden2's width)
    assert sops["hidden2"] == pytest.approx(10 * 2)  # 10 spikes x fan-out 2 (the classes)
    assert model.training is False


def test_a_missing_synapse_lowers_the_fan_out_and_the_mode_is_restored() -> None:
    model = SpikingMLP([2, 3, 2], T=4, neuron_options=LIF, seed=0)
    _set_layer(model.blocks[0].synapse, [0.6, 10.0, -10.0])  # 2 + 4 spikes
    _set_layer(model.readout.synapse, [0.0, 0.0], weight=1.0)
    with torch.no_grad():
        model.readout.synapse.weight[1, 1] = 0.0  # neuron 1 reaches only one output
    model.train()
    assert en.synaptic_operations(model, torch.rand(3, 2)) == {"hidden1": pytest.approx(2 * 2 + 4 * 1)}
    assert model.training is True


def test_rate_encoded_inputs_are_counted_as_the_input_layer() -> None:
    model = SpikingMLP([6, 3, 2], T=5, encoding="rate", neuron_options=LIF, seed=1)
    x = torch.rand(4, 6)
    sops = en.synaptic_operations(model, x)
    model.reseed(1)  # the same input spikes again: count them by hand
    spikes = model._encode(model._prepare_input(x))[0]
    assert sops["input"] == pytest.approx(float(spikes.sum()) / 4 * 3)


def test_conv_operations_are_exact_at_the_borders() -> None:
    model = SpikingCNN((1, 8, 8), channels=(1, 2), hidden=3, n_classes=2, T=2, neuron_options=LIF, seed=0)
    conv1 = model.blocks[0].synapse
    with torch.no_grad():  # conv1: batch norm output 10 everywhere -> every unit spikes at every step
        conv1.norm.weight.zero_()
        conv1.norm.bias.fill_(10.0)
        model.blocks[1].synapse.conv.weight.fill_(0.5)  # every tap of conv2 exists
    sops = en.synaptic_operations(model, torch.rand(3, 1, 8, 8))
    # conv1's spikes are pooled to 1 x 4 x 4 ones; conv2 (3x3, padding 1, 2 output channels) gets them.
    # Per output position, the taps landing inside the 4x4 input: 4 corners x 4, 8 edges x 6, 4 inner x 9.
    per_step = 2 * (4 * 4 + 8 * 6 + 4 * 9)
    assert sops["conv1"] == pytest.approx(2 * per_step)
    assert set(sops) == {"conv1", "conv2", "fc"}


def test_synaptic_operations_refuses_bad_arguments() -> None:
    model = SpikingMLP([2, 3, 2], T=2, seed=0)
    with pytest.raises(TypeError, match="model"):
        en.synaptic_operations(MLP([2, 3, 2]), torch.rand(2, 2))
    with pytest.raises(TypeError, match="x"):
        en.synaptic_operations(model, [[0.1, 0.2]])
    with pytest.raises(ValueError, match="x"):
        en.synaptic_operations(model, torch.rand(0, 2))
    with pytest.raises(ValueError, match="batch_size"):
        en.synaptic_operations(model, torch.rand(2, 2), batch_size=0)


def test_ann_macs_from_sizes_and_models() -> None:
    assert en.ann_macs([784, 800, 10]) == 784 * 800 + 800 * 10
    assert en.ann_macs(MLP([784, 800, 10])) == 784 * 800 + 800 * 10
    assert en.ann_macs(SpikingMLP([784, 800, 10], T=2, seed=0)) == 784 * 800 + 800 * 10
    # conv1: 2 x 1 x 9 per position on 8x8; conv2: 3 x 2 x 9 on 4x4; fc: (3*2*2) x 5; out: 5 x 4
    expected = 2 * 9 * 64 + 3 * 2 * 9 * 16 + 12 * 5 + 5 * 4
    assert en.ann_macs(CNN((1, 8, 8), channels=(2, 3), hidden=5, n_classes=4)) == expected
    assert en.ann_macs(SpikingCNN((1, 8, 8), channels=(2, 3), hidden=5, n_classes=4, T=2, seed=0)) == expected
    with pytest.raises(TypeError, match="model_or_sizes"):
        en.ann_macs("784-800-10")
    with pytest.raises(ValueError, match="sizes"):
        en.ann_macs([784])


def test_pareto_front_keeps_the_non_dominated_rows() -> None:
    frame = pd.DataFrame({
        "label": ["a", "b", "c", "d", "e", "f", "g"],
        "synops": [100.0, 200.0, 150.0, 300.0, 100.0, float("nan"), 300.0],
        "test_acc": [0.90, 0.95, 0.89, 0.97, 0.92, 0.99, 0.97],
    })
    front = en.pareto_front(frame)
    # e beats a (same cost, more accurate); c is dominated by e; f has no cost; d and g tie exactly.
    assert front["label"].tolist() == ["e", "b", "d", "g"]
    assert en.pareto_front(frame, x="synops", y="test_acc").index.tolist() == [4, 1, 3, 6]
    assert en.pareto_front(frame.iloc[:0]).empty
    with pytest.raises(ValueError, match="frame"):
        en.pareto_front(frame, x="energy")
    with pytest.raises(TypeError, match="frame"):
        en.pareto_front(frame.to_dict())


def test_energy_table_and_sentences_follow_the_numbers() -> None:
    frame = pd.DataFrame({"label": ["none", "standard", "temporal", "none", "standard", "temporal"],
                          "seed": [0, 0, 0, 1, 1, 1], "synops": [100.0, 120.0, 70.0, 110.0, 100.0, 90.0],
                          "test_acc": [0.90, 0.95, 0.85, 0.92, 0.93, 0.87]})
    table = en.energy_table(frame)
    assert list(table["label"]) == ["none", "standard", "temporal"] and list(table["seeds"]) == [2, 2, 2]
    assert table["synops"].tolist() == [105.0, 110.0, 80.0]
    assert table["on_front"].tolist() == [True, True, True]
    text = en.energy_sentences(table, layer_macs=200, total_macs=1000)
    assert text[0].startswith("Synaptic operations per inference range from 80 (temporal) to 110 (standard): "
                              "0.40x to 0.55x the 200 multiply-accumulates")
    assert "its total of 1e+03 includes the input layer's 800" in text[0]
    assert text[1] == ("The Pareto front (fewest operations for the accuracy, means over seeds): temporal (80 SOPs, 86.0%), "
                       "none (105 SOPs, 91.0%), standard (110 SOPs, 94.0%).")
    assert text[2] == "The base SNN (none) is on the front."
    assert text[3] == "Against the base SNN: standard +5% operations, +3.0 pp accuracy; temporal -24% operations, -5.0 pp accuracy."
    dominated = en.energy_table(frame.assign(test_acc=[0.80, 0.95, 0.85, 0.80, 0.93, 0.87]))
    assert dominated["on_front"].tolist() == [False, True, True]
    assert en.energy_sentences(dominated, layer_macs=200)[2] == ("The base SNN (none) is not on the front: temporal uses "
                                                                 "no more operations at no lower accuracy.")
    with pytest.raises(ValueError, match="layer_macs"):
        en.energy_sentences(table, layer_macs=0)
    with pytest.raises(ValueError, match="lacks"):
        en.energy_table(frame.drop(columns="synops"))
    with pytest.raises(TypeError, match="label"):
        en.energy_table(frame, label=3)

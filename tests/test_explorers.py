"""``snnlab/explorers.py``: condition draws and the probability-map explorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_condition_draws_and_probability_explorer() -> None:
    from snnlab.explorers import LayerBatch, ProbabilityMapExplorer, conditioning_quantity, draw_condition, stats_frame

    g = torch.Generator().manual_seed(0)
    membrane = torch.rand(6, 8, 20, generator=g) * torch.linspace(0.2, 1.5, 20)
    spikes = (membrane > 1.0).float()
    batch = LayerBatch(spikes, membrane, torch.rand(20, 5, generator=g), torch.rand(3, 20, generator=g))
    protect = draw_condition(batch, "membrane", 0.3, options={"favor": "protect"})
    drop = draw_condition(batch, "membrane", 0.3, options={"favor": "drop"})
    assert protect.label == "membrane_protect" and float(protect.probabilities.mean()) == pytest.approx(0.3, abs=1e-5)
    x, _ = conditioning_quantity(batch, "membrane")
    order = np.argsort(x)
    assert protect.probabilities[order[-1]] < protect.probabilities[order[0]]  # the most driven is protected
    assert drop.probabilities[order[-1]] > drop.probabilities[order[0]]
    same = draw_condition(batch, "membrane", 0.3, options={"favor": "protect"})
    torch.testing.assert_close(same.output, protect.output)  # seeded
    dc = draw_condition(batch, "dropconnect", 0.3)
    assert dc.masked_weight is not None and torch.equal(dc.output, spikes)
    frame = stats_frame([protect, dc, draw_condition(batch, "none", 0.3)])
    assert frame["label"].tolist() == ["membrane_protect", "dropconnect"]
    explorer = ProbabilityMapExplorer(batch, p=0.3)
    explorer.method.value = "synaptic"
    explorer.favor.value = "drop"
    d = explorer.update()
    assert d.label == "synaptic_drop" and "synaptic_drop" in explorer.summary.value
    with pytest.raises(ValueError, match="next_weight"):
        LayerBatch(spikes, membrane, torch.rand(20, 5), torch.rand(3, 7))


# ------------------------------------------------------------------ everything read from the registry


def _batch(seed: int = 0):
    from snnlab.explorers import LayerBatch

    g = torch.Generator().manual_seed(seed)
    membrane = torch.rand(6, 8, 20, generator=g) * torch.linspace(0.2, 1.5, 20)
    return LayerBatch((membrane > 1.0).float(), membrane, torch.rand(20, 5, generator=g), torch.rand(30, 20, generator=g))


def test_record_layer_reads_a_spiking_model() -> None:
    from snnlab.explorers import record_layer
    from snnlab.models import SpikingMLP

    model = SpikingMLP([12, 16, 8, 3], T=5, neuron_options={"threshold": 0.7}, seed=0)
    model.train()
    batch = record_layer(model, torch.rand(4, 12, generator=torch.Generator().manual_seed(1)), layer="hidden2")
    assert batch.spikes.shape == batch.membrane.shape == (5, 4, 8)
    assert batch.weight.shape == (8, 16) and batch.next_weight.shape == (3, 8)
    assert batch.threshold == pytest.approx(0.7) == float(model.block("hidden2").neuron.threshold)
    assert model.training  # the model's mode is restored
    with pytest.raises(ValueError, match="layer='hidden9' is not a hidden layer"):
        record_layer(model, torch.rand(4, 12), layer="hidden9")
    with pytest.raises(TypeError, match="model must be a spiking model"):
        record_layer(torch.nn.Linear(3, 2), torch.rand(4, 3))


def test_every_condition_of_the_grid_draws_like_a_dropout_slot() -> None:
    from snnlab.analysis.statistics import study_conditions
    from snnlab.dropout import method_info
    from snnlab.explorers import draw_condition, stats_frame

    batch = _batch()
    draws = [draw_condition(batch, m, 0.3, options=o) for m, o in study_conditions()]
    frame = stats_frame(draws)
    assert frame["label"].tolist() == [d.label for d in draws]
    for d in draws:
        info = method_info(d.method)
        assert (d.masked_weight is not None) == (info.acts_on == "synapses")
        assert (d.probabilities is not None) == info.probability_map
        assert d.output.shape == batch.spikes.shape


def test_dropconnect_masks_the_next_weight_and_reports_the_spikes_it_cuts() -> None:
    from snnlab.explorers import draw_condition

    batch = _batch()
    d = draw_condition(batch, "dropconnect", 0.3, seed=4)
    w = d.masked_weight
    assert w.shape == batch.next_weight.shape and 0.1 < float((w == 0).float().mean()) < 0.5
    kept = w != 0
    torch.testing.assert_close(w[kept], batch.next_weight[kept] / 0.7)
    assert torch.equal(d.output, batch.spikes)
    assert 0.0 < d.stats.spikes_removed < 1.0  # the wrapped synapse saw the spikes it transmits
    again = draw_condition(batch, "dropconnect", 0.3, seed=4)
    assert torch.equal(again.masked_weight, w)


def test_conditioning_quantity_is_the_methods_own_score() -> None:
    from snnlab.dropout import make_dropout, methods
    from snnlab.explorers import conditioning_quantity, layer_context

    batch = _batch()
    for method in methods(probability_map=True):
        values, label = conditioning_quantity(batch, method)
        drop = make_dropout(method, 0.0)
        expected = drop.scores(layer_context(batch, drop)).expand(20)
        np.testing.assert_allclose(values, expected.numpy(), rtol=1e-6)
        assert label == drop.score_label
    np.testing.assert_allclose(conditioning_quantity(batch, "membrane")[0], batch.membrane.mean((0, 1)).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="method='temporal' has no per-neuron probability map; allowed: 'membrane'"):
        conditioning_quantity(batch, "temporal")


def test_probability_map_explorer_lists_the_probability_map_methods() -> None:
    from snnlab.dropout import methods
    from snnlab.explorers import ProbabilityMapExplorer

    explorer = ProbabilityMapExplorer(_batch(), p=0.3)
    assert tuple(explorer.method.options) == methods(probability_map=True) and explorer.method.value == "membrane"
    explorer.method.value = "activity"
    assert explorer.update().label == "activity_protect"
    with pytest.raises(ValueError, match="method='temporal' has no per-neuron probability map"):
        ProbabilityMapExplorer(_batch(), method="temporal")
    with pytest.raises(ValueError, match="favor='keep' is not known"):
        ProbabilityMapExplorer(_batch(), favor="keep")


def test_describe_conditions_reads_the_registry() -> None:
    from snnlab.analysis.statistics import study_conditions
    from snnlab.dropout import method_info
    from snnlab.explorers import describe_conditions

    table = describe_conditions()
    assert table.equals(describe_conditions(study_conditions()))
    assert list(table.columns) == ["label", "conditions on", "direction", "causal", "needs", "acts on"]
    rows = table.set_index("label")
    assert rows.loc["membrane_drop", "conditions on"] == method_info("membrane").conditions_on
    assert rows.loc["membrane_drop", "needs"] == "membrane" and rows.loc["synaptic_protect", "needs"] == "weight"
    assert rows.loc["activity", "direction"] == "protect" and rows.loc["standard", "direction"] == "—"
    assert rows.loc["activity", "causal"] == "no" and rows.loc["activity_causal", "causal"] == "yes"
    assert rows.loc["synaptic_drop", "causal"] == "yes" and rows.loc["membrane_drop_causal", "direction"] == "drop"
    assert rows.loc["dropconnect", "acts on"] == "synapses" and rows.loc["temporal", "needs"] == "spikes only"


def test_probability_explorer_front_end_keeps_its_colour_and_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every update reaches the front end without gaps (issue 15: a figure updated before display
    lost its marker colours): the dots stay in the method's colour, the dotted line and the panel
    title follow the controls."""
    from test_widgets import FrontEnd, python_colours

    from snnlab.explorers import ProbabilityMapExplorer
    from snnlab.plots.style import method_color

    front = FrontEnd(monkeypatch)
    explorer = ProbabilityMapExplorer(_batch(), method="membrane", p=0.3)
    explorer.drop_rate.value = 0.5
    assert front.colours(explorer.figure) == python_colours(explorer.figure) == [(method_color("membrane"), None)]
    explorer.method.value = "synaptic"
    assert front.colours(explorer.figure) == [(method_color("synaptic"), None)]
    layout = explorer.figure.layout
    assert [s.y0 for s in layout.shapes] == [0.5] and layout.annotations[0].text == "synaptic_protect"
    assert "nominal p = 0.5" in layout.title.text
    assert np.asarray(front.models[id(explorer.figure)][0]["y"]).mean() == pytest.approx(0.5, abs=1e-4)

"""``snnlab/widgets.py``: the simulation behind the explorers, one-draw dropout, and explorers whose
controls update their live figures; every list of methods comes from the registry."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from snnlab.dropout import available, method_info, methods
from snnlab.plots.style import method_color
from snnlab.widgets import MaskStatsExplorer, NeuronExplorer, apply_dropout, simulate_population, spike_methods


def test_simulate_population_is_seeded_and_none_is_identity() -> None:
    a = simulate_population(method="none", seed=3, T=40, n_neurons=10)
    b = simulate_population(method="none", seed=3, T=40, n_neurons=10)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.outputs, a.spikes) and a.stats is None
    silent = simulate_population(method="none", amplitude=0.0, T=40, n_neurons=10)
    assert silent.spikes.sum() == 0
    with pytest.raises(ValueError, match="beta"):
        simulate_population(beta=1.5)


def test_apply_dropout_reports_stats_of_the_draw() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(20, 8, 50, generator=g) < 0.2).float()
    out, stats = apply_dropout("standard", 0.4, spikes, seed=1)
    assert stats is not None and stats.p == 0.4
    dropped = ((spikes != 0) & (out == 0)).sum() / (spikes != 0).sum()
    assert stats.spikes_removed == pytest.approx(float(dropped), abs=1e-6)
    out2, _ = apply_dropout("standard", 0.4, spikes, seed=1)
    assert torch.equal(out, out2)
    with pytest.raises(ValueError, match="method"):
        apply_dropout("nope", 0.1, spikes)


def test_neuron_explorer_sliders_update_the_live_figure() -> None:
    ex = NeuronExplorer(methods=("none",), method="none", T=50, n_neurons=12)
    assert isinstance(ex.figure, go.FigureWidget)
    before = np.asarray(ex.figure.data[0].y).copy()
    ex.amplitude.value = 0.5
    after = np.asarray(ex.figure.data[0].y)
    assert not np.allclose(before, after)  # the membrane trace moved with the input amplitude
    ex.threshold.value = 2.0
    assert list(ex.figure.data[1].y) == [2.0, 2.0]
    kept_before = len(ex.figure.data[3].x)
    ex.beta.value = 0.5
    assert len(ex.figure.data[3].x) != kept_before  # less integration, different spike count


def test_neuron_explorer_drop_rate_and_method() -> None:
    ex = NeuronExplorer(method="standard", p=0.0, T=50, n_neurons=12, amplitude=0.4)
    assert len(ex.figure.data[4].x) == 0  # p = 0 removes nothing
    ex.drop_rate.value = 0.5
    assert len(ex.figure.data[4].x) > 0
    ex.method.value = "alpha"
    assert ex.figure.data[3].marker.color == method_color("alpha")
    assert "alpha at p = 0.50" in ex.figure.layout.title.text
    assert set(ex.methods) == set(spike_methods())


def test_mask_stats_explorer_updates_bars_and_colour() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(16, 8, 40, generator=g) < 0.15).float()
    ex = MaskStatsExplorer(spikes, methods=("standard", "alpha"), p=0.1)
    y_low = np.asarray(ex.figure.data[0].y)
    ex.drop_rate.value = 0.6
    y_high = np.asarray(ex.figure.data[0].y)
    assert y_high[0] > y_low[0]  # more of the mask drops at the higher rate
    ex.method.value = "alpha"
    assert ex.figure.data[0].marker.color == method_color("alpha")
    assert np.asarray(ex.figure.data[1].x).min() < 0  # alpha hands on negative values
    with pytest.raises(ValueError, match="spikes"):
        MaskStatsExplorer(torch.zeros(4, 4))


def test_every_spike_method_runs_in_the_explorer_simulation() -> None:
    for method in spike_methods():
        r = simulate_population(method=method, p=0.3, T=30, n_neurons=10)
        assert r.outputs.shape == r.spikes.shape == (30, 10)
        assert (r.stats is None) == (method == "none")


# ------------------------------------------------------------------ lists and flags from the registry


def test_spike_methods_are_the_registry_spike_methods() -> None:
    assert spike_methods() == methods(acts_on="spikes")
    assert "dropconnect" not in spike_methods() and spike_methods()[0] == "none"
    assert spike_methods(["alpha", "dropconnect", "nope", "standard"]) == ("standard", "alpha")  # registry order
    with pytest.raises(TypeError, match="candidates must be a sequence of method names"):
        spike_methods("standard")


def test_classic_methods_name_is_read_from_the_registry() -> None:
    import snnlab.widgets as w

    assert w.CLASSIC_METHODS == methods(family="classic") == ("standard", "dropout2d", "feature_alpha", "alpha")
    with pytest.raises(AttributeError, match="no attribute 'SHAPED_METHODS'"):
        w.SHAPED_METHODS  # noqa: B018


def test_apply_dropout_hands_each_method_the_context_it_declares() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(10, 8, 30, generator=g) < 0.3).float()
    membrane = torch.randn(10, 8, 30, generator=g)
    weight = torch.randn(30, 5, generator=g)
    for method in spike_methods():
        info = method_info(method)
        if info.membrane is not None:
            with pytest.raises(ValueError, match="pass membrane="):
                apply_dropout(method, 0.3, spikes, weight=weight)
        if info.needs_weight:
            with pytest.raises(ValueError, match="pass weight="):
                apply_dropout(method, 0.3, spikes, membrane=membrane)
        out, stats = apply_dropout(method, 0.3, spikes, membrane=membrane, weight=weight)
        assert out.shape == spikes.shape and (stats is None) == (info.family == "baseline")
    with pytest.raises(ValueError, match="p="):
        apply_dropout("standard", 1.0, spikes)


def test_mask_stats_explorer_offers_every_method_usable_with_the_context() -> None:
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(8, 4, 20, generator=g) < 0.2).float()
    spikes_only = MaskStatsExplorer(spikes)
    expected = tuple(m for m in spike_methods() if method_info(m).family != "baseline"
                     and method_info(m).membrane is None and not method_info(m).needs_weight)
    assert spikes_only.methods == expected and "temporal" in expected and "membrane" not in expected
    full = MaskStatsExplorer(spikes, membrane=torch.randn(8, 4, 20, generator=g), weight=torch.randn(20, 6, generator=g))
    assert full.methods == tuple(m for m in spike_methods() if method_info(m).family != "baseline")
    for method in full.methods:
        full.method.value = method
        assert full.figure.data[0].marker.color == method_color(method)
    with pytest.raises(ValueError, match="leaves no registered dropout method usable"):
        MaskStatsExplorer(spikes, methods=("membrane",))
    assert set(available()) >= set(full.methods)

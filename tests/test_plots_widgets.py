"""Figures of notebooks 01-02 and the widget explorers: real data in the traces, callbacks that update them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from snnlab import plots
from snnlab.neurons import LIF
from snnlab.plots.neurons import as_array
from snnlab.plots.style import method_color
from snnlab.widgets import MaskStatsExplorer, NeuronExplorer, apply_dropout, simulate_population, spike_methods


def _lif_trace(T: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    current = torch.full((T, 1, 1), 0.3)
    spikes, membrane = LIF(0.9).forward_trace(current)
    return current[:, 0, 0].numpy(), membrane[:, 0, 0].numpy(), spikes[:, 0, 0].numpy()


# ------------------------------------------------------------------ argument checks


def test_as_array_rejects_wrong_type_and_rank() -> None:
    with pytest.raises(TypeError, match="current"):
        as_array("current", "abc", 1)
    with pytest.raises(ValueError, match="membrane.*dimension"):
        as_array("membrane", np.zeros((3, 4)), 1)
    assert as_array("x", torch.ones(2, 3), 2).shape == (2, 3)


def test_trace_lengths_must_agree() -> None:
    cur, mem, spk = _lif_trace()
    with pytest.raises(ValueError, match="time lengths differ"):
        plots.lif_trace_figure(cur, mem[:-1], spk)


def test_dataframe_figures_name_missing_columns() -> None:
    with pytest.raises(ValueError, match="silent_neurons"):
        plots.sparsity_figure(pd.DataFrame({"layer": ["h1"], "silent_steps": [0.9]}))
    with pytest.raises(TypeError, match="frame"):
        plots.mask_stats_figure({"method": ["standard"]})  # type: ignore[arg-type]


# ------------------------------------------------------------------ neuron figures


def test_lif_trace_figure_marks_the_real_spikes() -> None:
    cur, mem, spk = _lif_trace()
    fig = plots.lif_trace_figure(cur, mem, spk, threshold=1.0)
    assert isinstance(fig, go.Figure)
    spike_trace = next(tr for tr in fig.data if tr.name == "spike")
    np.testing.assert_array_equal(np.asarray(spike_trace.x), np.nonzero(spk)[0])
    assert spk.sum() > 0 and f"{int(spk.sum())} spikes" in fig.layout.title.text
    np.testing.assert_allclose(np.asarray(fig.data[1].y), mem)
    assert fig.layout.xaxis3.title.text == "time (steps)"
    assert "a.u." in fig.layout.yaxis2.title.text


def test_compare_and_other_neuron_figures_build() -> None:
    cur, mem, spk = _lif_trace()
    runs = {"subtract": (mem, spk), "zero": (mem * 0.5, np.zeros_like(spk))}
    fig = plots.lif_compare_figure(cur, runs)
    names = [tr.name for tr in fig.data if tr.name]
    assert any(n.startswith("subtract (") for n in names) and any(n.startswith("zero (0 spikes") for n in names)
    t_ms = np.arange(len(cur)) * 0.1
    assert isinstance(plots.hh_lif_figure(t_ms, cur, mem * 100 - 65, mem, spk), go.Figure)
    assert isinstance(plots.ann_vs_snn_figure(cur, np.maximum(cur, 0), spk), go.Figure)
    assert isinstance(plots.penalty_trace_figure(cur, mem, np.maximum(mem - 1, 0), threshold=1.0, penalty_threshold=0.5), go.Figure)
    assert isinstance(plots.kernel_figure(t_ms, {"d=0": mem, "d=2": np.roll(mem, 2)}), go.Figure)
    assert isinstance(plots.image_figure(np.random.rand(8, 8)), go.Figure)


def test_raster_grid_and_rate_histogram_use_the_data() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random((20, 10)) < 0.2).astype(float)
    fig = plots.raster_grid_figure({"rate": a, "latency": np.zeros_like(a)})
    t, n = np.nonzero(a)
    np.testing.assert_array_equal(np.asarray(fig.data[0].x), t)
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), n)
    assert "latency: 0 spikes" in fig.layout.annotations[1].text
    rates = np.array([0.0, 0.0, 0.1, 0.5])
    h = plots.rate_histogram_figure({"hidden": rates})
    assert "50% silent" in h.data[0].name


# ------------------------------------------------------------------ dropout figures


def test_mask_raster_counts_removed_and_created_values() -> None:
    spikes = np.zeros((5, 4))
    spikes[[0, 1, 2], [0, 1, 2]] = 1.0
    out = spikes.copy()
    out[1, 1] = 0.0  # one removed spike
    out[4, 3] = -1.7  # a non-zero value without a spike (alpha-like)
    fig = plots.mask_raster_figure(spikes, {"alpha": out})
    assert fig.layout.annotations[0].text == "alpha: 1/3 spikes removed"
    by_name = {tr.name: tr for tr in fig.data}
    assert list(by_name["removed spike"].x) == [1] and list(by_name["non-zero output without a spike"].y) == [3]
    assert by_name["kept spike"].marker.color == method_color("alpha")
    # alpha dropout does not zero a dropped spike, it turns it into a negative current: still removed
    out[2, 2] = -1.06
    fig = plots.mask_raster_figure(spikes, {"alpha": out})
    assert fig.layout.annotations[0].text == "alpha: 2/3 spikes removed"
    assert list(fig.data[0].x) == [0]  # the one kept spike
    with pytest.raises(ValueError, match="shape"):
        plots.mask_raster_figure(spikes, {"alpha": out[:3]})


def test_stats_figures_use_method_colours() -> None:
    frame = pd.DataFrame({
        "method": ["standard", "standard", "alpha", "alpha"], "p": [0.1, 0.3, 0.1, 0.3],
        "dropped_fraction": [0.1, 0.3, 0.1, 0.3], "spikes_removed": [0.1, 0.3, 0.1, 0.3],
        "silent_fraction": [0.8, 0.8, 0.8, 0.8], "membrane_change": [0.1, 0.2, 0.5, 0.9], "rate_change": [0, -0.1, 0.3, 0.6],
    })
    fig = plots.mask_stats_figure(frame)
    colours = {tr.name: tr.line.color for tr in fig.data if tr.name in ("standard", "alpha")}
    assert colours == {"standard": method_color("standard"), "alpha": method_color("alpha")}
    fig2 = plots.next_layer_effect_figure(frame)
    np.testing.assert_allclose(np.asarray(fig2.data[1].y), [0.0, -0.1])
    sp = plots.sparsity_figure(pd.DataFrame({"layer": ["h1", "h2"], "silent_steps": [0.9, 0.8], "silent_neurons": [0.4, 0.3]}))
    assert list(sp.data[1].y) == [0.4, 0.3]


def test_output_values_figure_counts_distinct_values() -> None:
    p = 0.5
    vals = np.array([0.0, 0.0, 2.0, 2.0, 2.0, 0.0])
    fig = plots.output_values_figure({"standard": vals, "alpha": np.array([-1.0, 0.5, 1.3])}, p=p)
    assert fig.data[0].name == "standard (2 distinct values)"
    np.testing.assert_allclose(np.asarray(fig.data[0].y), [0.5, 0.5])


# ------------------------------------------------------------------ simulation behind the explorer


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


# ------------------------------------------------------------------ widgets: moving a control changes the figure


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

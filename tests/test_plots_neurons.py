"""``snnlab/plots/neurons.py``: the spike-dynamics figures of notebook 01 carry the real data."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from snnlab import plots
from snnlab.neurons import LIF
from snnlab.plots.neurons import as_array


def _lif_trace(T: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    current = torch.full((T, 1, 1), 0.3)
    spikes, membrane, _ = LIF(0.9).run(current, trace=True)
    return current[:, 0, 0].numpy(), membrane[:, 0, 0].numpy(), spikes[:, 0, 0].numpy()


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
    assert "latency<br>0 spikes" in fig.layout.annotations[1].text
    rates = np.array([0.0, 0.0, 0.1, 0.5])
    h = plots.rate_histogram_figure({"hidden": rates})
    assert "50% silent" in h.data[0].name

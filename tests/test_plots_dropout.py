"""``snnlab/plots/dropout.py``: the figures of the case against classic dropout (mask rasters, mask
statistics, output values, sparsity) use the data and the study's method colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnlab import plots
from snnlab.plots.style import method_color


def test_dataframe_figures_name_missing_columns() -> None:
    with pytest.raises(ValueError, match="silent_neurons"):
        plots.sparsity_figure(pd.DataFrame({"layer": ["h1"], "silent_steps": [0.9]}))
    with pytest.raises(TypeError, match="frame"):
        plots.mask_stats_figure({"method": ["standard"]})  # type: ignore[arg-type]


def test_mask_raster_counts_removed_and_created_values() -> None:
    spikes = np.zeros((5, 4))
    spikes[[0, 1, 2], [0, 1, 2]] = 1.0
    out = spikes.copy()
    out[1, 1] = 0.0  # one removed spike
    out[4, 3] = -1.7  # a non-zero value without a spike (alpha-like)
    fig = plots.mask_raster_figure(spikes, {"alpha": out})
    assert fig.layout.annotations[0].text == "alpha<br>1/3 spikes removed"  # two short lines: no overlap
    by_name = {tr.name: tr for tr in fig.data}
    assert list(by_name["removed spike"].x) == [1] and list(by_name["non-zero output without a spike"].y) == [3]
    assert by_name["kept spike"].marker.color == method_color("alpha")
    # alpha dropout does not zero a dropped spike, it turns it into a negative current: still removed
    out[2, 2] = -1.06
    fig = plots.mask_raster_figure(spikes, {"alpha": out})
    assert fig.layout.annotations[0].text == "alpha<br>2/3 spikes removed"
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


def test_mask_fractions_are_drawn_on_the_whole_percent_axis() -> None:
    """A share that hardly moves with p (0.384 to 0.385) is a flat line on 0–100%, not a trend on an
    axis of a tenth of a point; subplot titles are small enough not to run into each other."""
    frame = pd.DataFrame({"method": ["standard"] * 3, "p": [0.1, 0.3, 0.5], "dropped_fraction": [0.1, 0.3, 0.5],
                          "spikes_removed": [0.1, 0.3, 0.5], "silent_fraction": [0.3841, 0.3849, 0.3845]})
    fig = plots.mask_stats_figure(frame)
    for axis in (fig.layout.yaxis, fig.layout.yaxis2, fig.layout.yaxis3):
        assert tuple(axis.range) == (0.0, 1.0) and axis.tickformat == ".0%"
    assert all(a.font.size <= 13 for a in fig.layout.annotations)
    values = plots.mask_stats_figure(frame.assign(out_mean=[0.2, 0.3, 0.4]), stats=("out_mean",))
    assert values.layout.yaxis.range is None  # a value, not a fraction: autoscaled


def test_raster_titles_fit_side_by_side_panels() -> None:
    spikes = np.zeros((4, 3))
    spikes[0, 0] = 1.0
    fig = plots.mask_raster_figure(spikes, {m: spikes for m in ("standard", "temporal", "membrane_protect",
                                                                 "membrane_drop")})
    longest_line = max(len(line) for a in fig.layout.annotations for line in a.text.split("<br>"))
    assert longest_line <= 20 and all(a.font.size <= 13 for a in fig.layout.annotations)


def test_removed_spikes_have_a_colour_no_method_has() -> None:
    from snnlab.dropout import available, method_info
    from snnlab.plots.dropout import CREATED_COLOR, REMOVED_COLOR

    colours = {method_info(k).color.lower() for k in available() if k != "none"}
    from snnlab.plots.neurons import SPIKE_COLOR

    assert REMOVED_COLOR.lower() not in colours | {CREATED_COLOR.lower(), SPIKE_COLOR.lower()}

"""``snnlab/plots/uncertainty.py``: reliability diagrams and the Pareto figure draw the tables' numbers
with the registry's labels and colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from snnlab.analysis.uncertainty import expected_calibration_error, reliability_bins
from snnlab.dropout import label_color, method_info
from snnlab.plots import uncertainty as pu

PROBS = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45], [0.2, 0.8]])
LABELS = np.array([0, 1, 1, 0, 1])


def _bins() -> dict[str, pd.DataFrame]:
    return {"standard": reliability_bins(PROBS, LABELS, n_bins=5),
            "none": reliability_bins(PROBS[:, ::-1], LABELS, n_bins=5)}


def test_reliability_figure_panels_bars_and_diagonal() -> None:
    bins = _bins()
    fig = pu.reliability_figure(bins)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2 * 3  # per method: accuracy bars, gap bars, diagonal
    acc = [t for t in fig.data if t.type == "bar" and t.name == method_info("standard").label][0]
    used = bins["standard"][bins["standard"]["count"] > 0]
    np.testing.assert_allclose(acc.y, used["accuracy"])
    np.testing.assert_allclose(acc.x, (used["lower"] + used["upper"]) / 2)
    assert label_color("standard") is not None
    assert acc.marker.color.startswith("rgba(")  # the registry colour, slightly transparent
    diagonals = [t for t in fig.data if t.name == "calibrated"]
    assert len(diagonals) == 2 and list(diagonals[0].x) == [0, 1] and list(diagonals[0].y) == [0, 1]
    ece = expected_calibration_error(PROBS, LABELS, n_bins=5)
    assert f"ECE {100 * ece:.1f}%" in fig.layout.annotations[0].text
    assert fig.layout.yaxis.tickformat.endswith("%") and fig.layout.xaxis.tickformat.endswith("%")
    assert list(fig.layout.yaxis.range) == [0.0, 1.0]


def test_reliability_figure_overlay_uses_registry_colours() -> None:
    fig = pu.reliability_figure(_bins(), overlay=True)
    lines = {t.legendgroup or t.name: t for t in fig.data}
    assert lines["standard"].line.color == label_color("standard")
    assert lines["none"].line.color == label_color("none")
    assert lines["standard"].name.startswith(method_info("standard").label + " (ECE ")
    used = _bins()["none"].query("count > 0")
    np.testing.assert_allclose(lines["none"].x, used["confidence"])
    np.testing.assert_allclose(lines["none"].y, used["accuracy"])
    assert list(lines["calibrated"].y) == [0, 1]
    assert fig.layout.yaxis.tickformat.endswith("%")


def test_reliability_figure_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match="bins_by_method"):
        pu.reliability_figure([reliability_bins(PROBS, LABELS)])
    with pytest.raises(ValueError, match="bins_by_method"):
        pu.reliability_figure({})
    with pytest.raises(ValueError, match="accuracy"):
        pu.reliability_figure({"standard": reliability_bins(PROBS, LABELS).drop(columns="accuracy")})
    with pytest.raises(ValueError, match="cols"):
        pu.reliability_figure(_bins(), cols=0)


def _results() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["none", "standard", "standard", "temporal", "ann"],
        "synops": [4000.0, 2500.0, 2600.0, 1000.0, float("nan")],
        "test_acc": [0.97, 0.975, 0.96, 0.95, 0.98],
    })


def test_pareto_figure_log_axis_front_and_colours() -> None:
    fig = pu.pareto_figure(_results(), ann_macs=784 * 800 + 800 * 10)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.tickformat.endswith("%")
    by_name = {t.name: t for t in fig.data}
    front = by_name["Pareto front"]
    assert list(front.x) == [1000.0, 2500.0] and list(front.y) == [0.95, 0.975]
    assert list(front.customdata) == ["temporal", "standard"]
    assert by_name[method_info("standard").label].marker.color == label_color("standard")
    assert len(by_name[method_info("standard").label].x) == 2
    assert "ann" not in by_name  # no operations count: not on a log axis
    assert fig.layout.shapes[0].x0 == 784 * 800 + 800 * 10  # the ANN reference line
    assert fig.layout.annotations[0].x == pytest.approx(np.log10(784 * 800 + 800 * 10))  # log axis: log10 position
    assert front.marker.line.width == 2 and front.line.shape == "hv"  # ringed points, a staircase


def test_pareto_figure_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="synops"):
        pu.pareto_figure(_results().drop(columns="synops"))
    with pytest.raises(ValueError, match="ann_macs"):
        pu.pareto_figure(_results(), ann_macs=-1.0)
    with pytest.raises(ValueError, match="synops"):
        pu.pareto_figure(_results().assign(synops=0.0))
    with pytest.raises(TypeError, match="frame"):
        pu.pareto_figure(_results().to_dict())

"""``snnlab/plots/mask_averaging.py``: the figures draw the frames' numbers with the registry's labels and colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from snnlab.analysis import mask_averaging as ma
from snnlab.dropout import label_color, method_info
from snnlab.plots import mask_averaging as pm


def _noise_frame() -> pd.DataFrame:
    rows = []
    for key in ma.default_methods():
        kind = "consistent" if method_info(key).time_consistent else "per_step"
        for p in (0.2, 0.5):
            for T in (2, 8, 32):
                pred = ma.relative_noise(p, T, 0.9, mask=kind)
                rows.append({"T": T, "p": p, "method": key, "membrane_noise": pred * 1.01, "membrane_noise_se": 0.01,
                             "count_cv": 0.5 * pred, "beta": 0.9, "summary": "final"})
    return pd.DataFrame(rows)


def test_noise_vs_T_figure_lines_points_and_registry_styles() -> None:
    frame = _noise_frame()
    fig = pm.noise_vs_T_figure(frame)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2 * 2 * 3  # per p panel and method: analytic line, measured points, spike counts
    per_step, consistent = ma.default_methods()
    by_name = {}
    for tr in fig.data:
        by_name.setdefault(tr.name, []).append(tr)
    line = by_name[f"{method_info(per_step).label}: variance argument"][0]
    assert line.line.color == label_color(per_step)
    assert list(line.x) == list(range(1, 33))
    assert line.y[7] == pytest.approx(ma.relative_noise(0.2, 8, 0.9, mask="per_step"))
    points = by_name[f"{method_info(consistent).label}: measured on a LIF layer"][1]  # the p = 0.5 panel
    assert points.marker.color == label_color(consistent)
    np.testing.assert_allclose(points.y, [1.01, 1.01, 1.01])
    np.testing.assert_allclose(points.error_y.array, [0.02, 0.02, 0.02])  # ± 2 standard errors
    assert [a.text for a in fig.layout.annotations][:2] == ["p = 0.2", "p = 0.5"]
    assert "T" in fig.layout.xaxis4.title.text


def test_noise_vs_T_figure_rejects_bad_frames() -> None:
    frame = _noise_frame()
    with pytest.raises(ValueError, match="count_cv"):
        pm.noise_vs_T_figure(frame.drop(columns="count_cv"))
    mixed = frame.copy()
    mixed.loc[0, "beta"] = 0.5
    with pytest.raises(ValueError, match="beta"):
        pm.noise_vs_T_figure(mixed)
    with pytest.raises(TypeError, match="frame"):
        pm.noise_vs_T_figure(frame.to_dict())  # type: ignore[arg-type]


def _training_frame() -> pd.DataFrame:
    per_step, consistent = ma.default_methods()
    rows = []
    for T in (4, 16):
        for seed in (0, 1):
            rows.append({"T": T, "p": 0.0, "method": "none", "seed": seed, "train_loss": 0.1, "firing_rate": 0.3})
            for p in (0.2, 0.5):
                rows.append({"T": T, "p": p, "method": per_step, "seed": seed, "train_loss": 0.1 + 0.1 * p + 0.01 * seed,
                             "firing_rate": 0.3})
                rows.append({"T": T, "p": p, "method": consistent, "seed": seed, "train_loss": 0.1 + p, "firing_rate": 0.3 - 0.2 * p})
    return pd.DataFrame(rows)


def test_training_vs_p_figure_means_over_seeds_and_baseline_line() -> None:
    fig = pm.training_vs_p_figure(_training_frame())
    per_step, consistent = ma.default_methods()
    named = [tr for tr in fig.data if tr.name == method_info(per_step).label]
    assert len(named) == 2 * 2  # one per (metric, T) panel
    assert named[0].line.color == label_color(per_step)
    np.testing.assert_allclose(named[0].y, [0.125, 0.155])  # mean over the two seeds
    np.testing.assert_allclose(named[0].error_y.array, np.std([0.12, 0.13], ddof=1) * np.ones(2))
    baseline = [tr for tr in fig.data if tr.name == method_info("none").label]
    assert baseline and baseline[0].line.dash == "dash"
    assert len(fig.layout.shapes) == 2 * 2 and fig.layout.shapes[0].y0 == pytest.approx(0.1)
    assert fig.layout.yaxis.title.text == pm.TRAINING_LABELS["train_loss"]
    assert [a.text for a in fig.layout.annotations] == ["T = 4", "T = 16"]
    with pytest.raises(ValueError, match="metrics"):
        pm.training_vs_p_figure(_training_frame(), metrics=())
    with pytest.raises(ValueError, match="test_acc"):
        pm.training_vs_p_figure(_training_frame(), metrics=("test_acc",))


def test_equivalent_p_figure() -> None:
    table = ma.noise_table((2, 10, 50), (0.1, 0.3, 0.5))
    fig = pm.equivalent_p_figure(table)
    per_step, consistent = ma.default_methods()
    assert len(fig.data) == 1 + 3
    assert fig.data[0].line.color == label_color(consistent) and method_info(consistent).label in fig.data[0].name
    assert fig.data[1].name == f"{method_info(per_step).label}, T = 2"
    np.testing.assert_allclose(fig.data[3].y, [ma.equivalent_consistent_p(p, 50, 0.9) for p in (0.1, 0.3, 0.5)])
    with pytest.raises(ValueError, match="methods"):
        pm.equivalent_p_figure(table, methods=(consistent, per_step))
    with pytest.raises(ValueError, match="equivalent_p"):
        pm.equivalent_p_figure(table.drop(columns="equivalent_p"))


def test_training_accuracy_is_on_a_percent_axis_ranged_from_the_data() -> None:
    frame = _training_frame().assign(train_acc=lambda d: 0.9 + 0.01 * d["p"])
    fig = pm.training_vs_p_figure(frame, metrics=("train_acc",))
    lo, hi = fig.layout.yaxis.range
    assert fig.layout.yaxis.tickformat.endswith("%") and 0.0 <= lo < 0.9 < 0.905 < hi <= 1.0
    assert hi - lo >= 0.01  # seed noise is not stretched over the axis

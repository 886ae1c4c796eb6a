"""``snnlab/plots/results.py``: the result figures build from tidy frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnlab.analysis import importance as imp


def test_result_figures_build_from_tidy_frames() -> None:
    from snnlab import plots

    rng = np.random.default_rng(0)
    hist = pd.DataFrame([{"label": m, "setting": "digits · spiking_mlp", "seed": s, "epoch": e,
                          "train_loss": 1.0 / e + 0.01 * rng.random(), "test_acc": 0.9 + 0.01 * rng.random()}
                         for m in ("none", "standard") for s in range(3) for e in range(1, 4)])
    fig = plots.curves_figure(hist, metrics=("train_loss", "test_acc"), facet="setting")
    assert len(fig.data) == 2 * 2 * 2  # metrics x labels x (band + line)
    band = fig.data[0]
    assert band.fill == "toself" and len(band.x) == 6
    frame = hist[hist.epoch == 3].assign(p=lambda d: np.where(d.label == "none", 0.0, 0.3), gap=0.05)
    bars = plots.bars_figure(frame, values=["test_acc", "gap"], facet="setting")
    assert list(bars.data[0].x) == ["none", "standard"] and bars.data[0].error_y.array is not None
    # an order that repeats a label (baselines listed first, then every label) draws it once
    again = plots.bars_figure(frame, values=["test_acc"], facet="setting", order=["none", "none", "standard"])
    assert list(again.data[0].x) == ["none", "standard"]
    assert len(plots.curves_figure(hist, metrics=("test_acc",), facet="setting", order=["none", "none"]).data) == 4
    vs_p = plots.metric_vs_p_figure(frame, facet="setting")
    assert any(t.name == "none (p = 0)" for t in vs_p.data)
    membership = imp.top_k_membership({"a": [3.0, 2.0, 1.0], "b": [1.0, 2.0, 3.0]}, 2)
    heat = plots.membership_heatmap(membership)
    assert np.isnan(heat.data[0].z[0][list(membership.columns).index(2)])  # neuron 2 is not in a's top-2
    agree = imp.rank_agreement({"a": [3.0, 2.0, 1.0], "b": [1.0, 2.0, 3.0], "c": [3.0, 1.0, 2.0]}, k=1)
    assert len(plots.stability_figure(agree.assign(comparison="pairs")).data) == 2
    assert len(plots.importance_scatter_figure([1.0, 2.0, 3.0], [0.0, 0.1, 0.2], k=1).data[1].x) == 1
    with pytest.raises(ValueError, match="history"):
        plots.curves_figure(hist.drop(columns="epoch"), facet="setting")


def test_paired_forest_figure_draws_each_distinct_condition_with_its_interval() -> None:
    from snnlab import plots

    table = pd.DataFrame({
        "setting": ["a", "a", "a", "b"], "label": ["standard", "dropout2d", "temporal", "standard"],
        "mean_diff": [-0.004, float("nan"), 0.001, 0.002], "ci_low": [-0.006, float("nan"), -0.001, -0.004],
        "ci_high": [-0.002, float("nan"), 0.003, 0.008], "verdict": ["hurts", "duplicate", "equivalent", "inconclusive"],
        "margin": [0.005] * 4, "n": [5, 5, 5, 5],
    })
    fig = plots.paired_forest_figure(table)
    points = [t for t in fig.data if t.type == "scatter"]
    assert sorted(p.name for p in points) == ["equivalent", "hurts", "inconclusive"]  # no duplicate
    hurts = next(p for p in points if p.name == "hurts")
    assert list(hurts.x) == [pytest.approx(-0.4)] and list(hurts.error_x.array) == [pytest.approx(0.2)]
    with pytest.raises(ValueError, match="margin"):
        plots.paired_forest_figure(table.drop(columns="margin"))


def test_metric_vs_p_draws_the_baseline_line_even_when_it_comes_first() -> None:
    from snnlab import plots

    frame = pd.DataFrame({"label": ["none", "standard", "standard"], "p": [0.0, 0.2, 0.5],
                          "test_acc": [0.9, 0.88, 0.85], "dataset": ["digits"] * 3})
    fig = plots.metric_vs_p_figure(frame)
    assert len(fig.layout.shapes) >= 1  # the base network's reference line

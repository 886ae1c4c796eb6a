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
    # a panel holding only the baseline's line still has a p axis from the grid, and a percent axis
    only_base = plots.metric_vs_p_figure(pd.concat([frame, pd.DataFrame(
        {"label": ["none"], "p": [0.0], "test_acc": [0.8], "dataset": ["cifar"]})]))
    assert tuple(only_base.layout.xaxis2.range) == pytest.approx((-0.02, 0.52))
    assert only_base.layout.yaxis2.tickformat.endswith("%") and 0.0 <= only_base.layout.yaxis2.range[0]


def _final(accuracies: dict[str, list[float]], setting: str = "digits · spiking_mlp") -> pd.DataFrame:
    return pd.DataFrame([{"label": m, "setting": setting, "seed": s, "p": 0.0 if m == "none" else 0.3,
                          "test_acc": a, "train_acc_eval": a + 0.01, "gap_eval": 0.01}
                         for m, accs in accuracies.items() for s, a in enumerate(accs)])


def test_accuracy_vs_p_is_in_percent_with_a_range_from_the_data() -> None:
    """Accuracies within a tenth of a point of each other get a 1-point axis, never −50% to 150%."""
    from snnlab import plots

    frame = _final({"none": [0.9841, 0.9843], "standard": [0.9844, 0.9846]})
    fig = plots.metric_vs_p_figure(frame, facet="setting")
    lo, hi = fig.layout.yaxis.range
    assert fig.layout.yaxis.tickformat == ".1%"
    assert 0.0 <= lo < 0.9841 and 0.9846 < hi <= 1.0 and hi - lo == pytest.approx(0.01)
    wide = plots.metric_vs_p_figure(_final({"none": [0.2, 0.9], "standard": [0.5, 0.99]}), facet="setting")
    assert wide.layout.yaxis.range[0] >= 0.0 and wide.layout.yaxis.range[1] <= 1.0


def test_curves_and_bars_use_percent_and_pp_and_titles_that_do_not_overlap() -> None:
    from snnlab import plots

    hist = pd.DataFrame([{"label": m, "setting": st, "seed": s, "epoch": e, "train_loss": 1.0 / e,
                          "test_acc": 0.90 + 0.01 * e}
                         for st in ("digits · 256 · spiking_mlp", "mnist · 1000 · delayed_snn")
                         for m in ("none", "standard") for s in range(2) for e in range(1, 4)])
    curves = plots.curves_figure(hist, metrics=("train_loss", "test_acc"), facet="setting")
    titles = [a.text for a in curves.layout.annotations]
    assert titles[:2] == ["digits · 256 · spiking_mlp", "mnist · 1000 · delayed_snn"]
    assert all(t == "" for t in titles[2:])  # the row's metric is its y-axis title, not a second title row
    assert curves.layout.yaxis3.tickformat.endswith("%") and curves.layout.yaxis.tickformat is None
    frame = pd.concat([_final({"none": [0.98, 0.97], "standard": [0.96, 0.97]}, "a · spiking_mlp"),
                       _final({"none": [0.60, 0.62], "standard": [0.61, 0.63]}, "b · delayed_snn")])
    bars = plots.bars_figure(frame, values=["train_acc_eval", "test_acc", "gap_eval"], facet="setting")
    assert [a.text.replace("<br>", " ") for a in bars.layout.annotations if a.textangle != 90 and a.text] == [
        "training accuracy (eval mode)", "test accuracy", "train (eval mode) − test accuracy (pp)"]
    assert sorted(a.text for a in bars.layout.annotations if a.textangle == 90) == ["a · spiking_mlp", "b · delayed_snn"]
    assert bars.layout.yaxis.tickformat.endswith("%") and bars.layout.yaxis.range[0] == 0.0
    gap = [t for t in bars.data if t.yaxis == "y3"][0]
    assert list(gap.y) == pytest.approx([1.0, 1.0])  # the gap in percentage points, not a fraction
    assert all(a.font.size <= 13 for a in bars.layout.annotations)


def test_forest_legend_says_the_verdict_is_holm_corrected() -> None:
    from snnlab import plots

    table = pd.DataFrame({"setting": ["a", "b"], "label": ["standard", "standard"], "mean_diff": [0.004, 0.001],
                          "ci_low": [0.001, -0.002], "ci_high": [0.007, 0.004], "verdict": ["inconclusive"] * 2,
                          "margin": [0.002] * 2, "confidence": [0.95] * 2})
    fig = plots.paired_forest_figure(table)
    assert "Holm" in fig.layout.legend.title.text
    assert "not corrected" in fig.layout.xaxis2.title.text and fig.layout.xaxis.title.text is None
    assert fig.layout.xaxis.ticksuffix == " pp"


def test_probability_maps_wrap_into_rows_of_four() -> None:
    from snnlab import plots

    x = np.linspace(0, 1, 5)
    maps = {f"method_{i}_with_a_long_name": (x, np.full(5, 0.3), "mean membrane potential") for i in range(8)}
    fig = plots.probability_map_figure(maps, p=0.3)
    assert fig.layout.xaxis4.domain[1] == pytest.approx(1.0) and fig.layout.xaxis5.domain[0] == pytest.approx(0.0)
    assert fig.layout.yaxis5.domain[1] < fig.layout.yaxis.domain[0]  # a second row

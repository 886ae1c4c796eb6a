"""Analysis helpers against hand-computed values and SciPy references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from snnlab.analysis import importance as imp
from snnlab.analysis import sparsity as sp
from snnlab.analysis import statistics as st

# ------------------------------------------------------------------ statistics


def test_summarize_matches_hand_computation() -> None:
    s = st.summarize([1.0, 2.0, 3.0, 4.0])
    assert s.n == 4 and s.mean == pytest.approx(2.5)
    assert s.std == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, ddof=1
    assert s.sem == pytest.approx(math.sqrt(5 / 3) / 2)
    t = 3.182446305284263  # t_{0.975, 3}
    assert s.ci_low == pytest.approx(2.5 - t * s.sem)
    assert s.ci_high == pytest.approx(2.5 + t * s.sem)
    assert s.half_width == pytest.approx(t * s.sem)


def test_summarize_single_value_has_nan_spread() -> None:
    s = st.summarize([0.9])
    assert s.mean == 0.9 and math.isnan(s.std) and math.isnan(s.ci_low)


@pytest.mark.parametrize("bad, exc", [([], ValueError), ("abc", TypeError), ([1.0, float("nan")], ValueError), ([[1, 2], [3, 4]], ValueError)])
def test_summarize_rejects_bad_input(bad, exc) -> None:
    with pytest.raises(exc, match="values"):
        st.summarize(bad)


def test_summarize_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        st.summarize([1, 2, 3], confidence=1.0)


def test_welch_matches_scipy_and_hand_ci() -> None:
    a = [0.91, 0.93, 0.92, 0.95, 0.94]
    b = [0.90, 0.88, 0.91, 0.89]
    w = st.welch_test(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert w.t == pytest.approx(ref.statistic)
    assert w.p_value == pytest.approx(ref.pvalue)
    va, vb = np.var(a, ddof=1) / 5, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 3)
    assert w.df == pytest.approx(df)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert w.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (w.ci_low, w.ci_high) == pytest.approx((w.diff - half, w.diff + half))
    # SciPy's own CI of the difference (Welch) agrees
    ci = ref.confidence_interval(0.95)
    assert (w.ci_low, w.ci_high) == pytest.approx((ci.low, ci.high))
    for alt in ("less", "greater"):
        assert st.welch_p_value(a, b, alternative=alt) == pytest.approx(sps.ttest_ind(a, b, equal_var=False, alternative=alt).pvalue)


def test_welch_undefined_cases_are_nan() -> None:
    assert math.isnan(st.welch_test([1.0], [1.0, 2.0]).p_value)
    w = st.welch_test([1.0, 1.0], [2.0, 2.0])
    assert w.diff == -1.0 and math.isnan(w.p_value)
    with pytest.raises(ValueError, match="alternative"):
        st.welch_test([1, 2], [3, 4], alternative="both")


def test_holm_hand_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(st.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(st.holm([0.5, 0.6]), [1.0, 1.0])
    out = st.holm([0.01, float("nan"), 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="p_values"):
        st.holm([1.2])


def test_cohens_d_and_hedges_g() -> None:
    a, b = [2.0, 4.0, 6.0], [1.0, 2.0, 3.0]
    pooled = math.sqrt((2 * 4.0 + 2 * 1.0) / 4)  # var a = 4, var b = 1
    d = (4.0 - 2.0) / pooled
    assert st.cohens_d(a, b) == pytest.approx(d)
    assert st.hedges_g(a, b) == pytest.approx(d * (1 - 3 / (4 * 6 - 9)))
    assert math.isnan(st.cohens_d([1.0, 1.0], [1.0, 1.0]))


def _fake_results(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for method, mu in (("none", 0.90), ("standard", 0.80), ("temporal", 0.905), ("alpha", 0.99)):
        for seed in range(6):
            rows.append({"method": method, "seed": seed, "test_acc": mu + 0.002 * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_compare_to_baseline_table_and_sentence() -> None:
    df = _fake_results(np.random.default_rng(0))
    table = st.compare_to_baseline(df, metric="test_acc")
    assert table["method"].tolist() == ["none", "standard", "temporal", "alpha"]
    verdict = dict(zip(table["method"], table["verdict"]))
    assert (verdict["none"], verdict["standard"], verdict["alpha"]) == ("baseline", "hurts", "helps")
    assert verdict["temporal"] in ("helps", "indistinguishable")
    row = table.set_index("method").loc["standard"]
    ref = sps.ttest_ind(df[df.method == "standard"].test_acc, df[df.method == "none"].test_acc, equal_var=False)
    assert row["p_value"] == pytest.approx(ref.pvalue)
    np.testing.assert_allclose(table["p_holm"].iloc[1:], st.holm(table["p_value"].iloc[1:].tolist()))
    assert row["diff_ci_high"] < 0
    text = st.verdict_sentence(table)
    assert "standard" in text and "worsen" in text and "alpha" in text and "improve" in text
    # lower-is-better flips the direction (e.g. for loss)
    flipped = st.compare_to_baseline(df, metric="test_acc", higher_is_better=False)
    assert flipped.set_index("method").loc["standard", "verdict"] == "helps"


def test_compare_to_baseline_single_seed_and_errors() -> None:
    df = pd.DataFrame({"method": ["none", "standard"], "test_acc": [0.9, 0.8]})
    table = st.compare_to_baseline(df, metric="test_acc")
    assert table["verdict"].tolist() == ["baseline", "too few seeds"]
    assert "cannot be judged" in st.verdict_sentence(table)
    with pytest.raises(ValueError, match="baseline"):
        st.compare_to_baseline(df, metric="test_acc", baseline="ann")
    with pytest.raises(ValueError, match="metric"):
        st.compare_to_baseline(df, metric="acc")


# ------------------------------------------------------------------ importance


def test_outgoing_weight_norm_is_column_l2() -> None:
    w = torch.tensor([[3.0, 0.0, 1.0], [4.0, 1.0, 0.0]])  # [out=2, hidden=3]
    torch.testing.assert_close(imp.outgoing_weight_norm(w), torch.tensor([5.0, 1.0, 1.0]))
    conv = torch.zeros(2, 3, 2, 2)
    conv[:, 1] = 1.0
    torch.testing.assert_close(imp.outgoing_weight_norm(conv), torch.tensor([0.0, math.sqrt(8), 0.0]))
    with pytest.raises(ValueError, match="weight"):
        imp.outgoing_weight_norm(torch.zeros(3))
    delayed = torch.zeros(2, 3 * 2)  # [out, hidden * K] viewed as (out, hidden, K)
    delayed.view(2, 3, 2)[:, 1, :] = 1.0
    torch.testing.assert_close(imp.outgoing_weight_norm(delayed, synapses_per_neuron=2), torch.tensor([0.0, 2.0, 0.0]))


def test_rank_topk_and_overlap() -> None:
    s = [0.1, 0.9, 0.5, 0.9, 0.0]
    assert imp.rank_neurons(s).tolist() == [1, 3, 2, 0, 4]  # tie 1/3 -> lower ID first
    assert imp.top_k(s, 2).tolist() == [1, 3]
    assert imp.top_k_overlap(s, [0.9, 0.8, 0.0, 0.0, 0.0], 2) == 0.5
    assert imp.chance_overlap(100, 10) == 0.1
    with pytest.raises(ValueError, match="k=6"):
        imp.top_k(s, 6)
    with pytest.raises(ValueError, match="same neurons"):
        imp.top_k_overlap(s, [1.0, 2.0], 1)


def test_kendall_tau_against_hand_and_scipy() -> None:
    # 4 items, one discordant pair out of 6 -> (5 - 1) / 6
    assert imp.kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    assert imp.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 50).astype(float)  # ties -> tau-b
    b = a + rng.normal(0, 2, 50)
    assert imp.kendall_tau(a, b) == pytest.approx(sps.kendalltau(a, b).statistic)
    assert math.isnan(imp.kendall_tau([1, 1, 1], [1, 2, 3]))


def test_membership_ids_table_concentration_and_agreement() -> None:
    scores = {"none": [4.0, 3.0, 2.0, 1.0], "standard": [1.0, 2.0, 3.0, 4.0], "same": [4.0, 3.0, 2.0, 1.0]}
    ids = imp.top_ids_table(scores, k=2)
    assert ids.loc["none"].tolist() == [0, 1] and ids.loc["standard"].tolist() == [3, 2]
    m = imp.top_k_membership(scores, 2)
    assert list(m.columns) == [0, 1, 2, 3]  # 0 and 1 are in two top-2 sets
    assert m.loc["standard"].tolist() == [0, 0, 2, 1]
    assert imp.top_k_concentration([4.0, 3.0, 2.0, 1.0], 2) == pytest.approx(0.7)
    agree = imp.rank_agreement(scores, k=2).set_index(["a", "b"])
    assert agree.loc[("none", "same"), "kendall_tau"] == pytest.approx(1.0)
    assert agree.loc[("none", "standard"), "kendall_tau"] == pytest.approx(-1.0)
    assert agree.loc[("none", "standard"), "top_k_overlap"] == 0.0
    assert agree["chance"].eq(0.5).all()
    with pytest.raises(ValueError, match="same neurons"):
        imp.top_k_membership({"a": [1.0, 2.0], "b": [1.0]}, 1)


class _TwoLayer(nn.Module):
    """Hidden ReLU layer of 4 units; the readout copies hidden units to classes."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, 4, bias=False)
        self.out = nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.0, 0.0]]))
            self.out.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x))) + torch.tensor([0.0, 1e-3])


def test_ablation_importance_by_hand() -> None:
    model = _TwoLayer()
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 0, 1, 1])
    before = model.out.weight.detach().clone()
    drop = imp.ablation_importance(model, model.out.weight, x, y)
    # silencing unit 0 ties class 0 with class 1 (+1e-3 bias) -> both class-0 samples wrong: drop 0.5
    np.testing.assert_allclose(drop, [0.5, 0.0, 0.0, 0.0])
    torch.testing.assert_close(model.out.weight, before)  # restored
    loss = imp.ablation_importance(model, model.out.weight, x, y, metric="loss", neurons=[1, 3])
    assert loss[0] > 0 and loss[1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="parameter of model"):
        imp.ablation_importance(model, torch.zeros(2, 4), x, y)
    with pytest.raises(ValueError, match="neurons"):
        imp.ablation_importance(model, model.out.weight, x, y, neurons=[4])


# ------------------------------------------------------------------ sparsity / synaptic operations


def test_sparsity_rates_and_silence() -> None:
    s = torch.zeros(2, 2, 3)  # [T, B, N]
    s[0, 0, 0] = 1.0
    s[1, 0, 0] = 2.0  # a rescaled spike still counts as one event
    s[1, 1, 1] = 1.0
    assert sp.firing_rate(s) == pytest.approx(3 / 12)
    assert sp.sparsity(s) == pytest.approx(9 / 12)
    torch.testing.assert_close(sp.neuron_rates(s), torch.tensor([0.5, 0.25, 0.0]))
    assert sp.silent_fraction(s) == pytest.approx(4 / 6)
    assert sp.dead_fraction(s) == pytest.approx(1 / 3)
    summary = sp.spike_summary({"hidden": s})
    assert summary["hidden"]["rate"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="spikes"):
        sp.firing_rate(torch.zeros(3, 4))


def test_synaptic_operations_linear_and_conv() -> None:
    s = torch.zeros(2, 2, 3)
    s[0, 0, 0] = 1.0
    s[1, 0, 0] = 1.0
    s[1, 1, 2] = 1.0
    w = torch.ones(5, 3)
    w[0, 2] = 0.0  # neuron 2 reaches only 4 synapses
    torch.testing.assert_close(sp.fan_out(w), torch.tensor([5.0, 5.0, 4.0]))
    assert sp.synaptic_operations(s, w) == pytest.approx((2 * 5 + 4) / 2)
    conv = torch.ones(4, 2, 3, 3)
    sc = torch.zeros(1, 1, 2, 4, 4)
    sc[0, 0, 1, 2, 2] = 1.0
    assert sp.synaptic_operations(sc, conv) == pytest.approx(4 * 9)
    with pytest.raises(ValueError, match="spikes"):
        sp.synaptic_operations(s, torch.ones(5, 4))


def test_estimated_and_dense_operations() -> None:
    assert sp.estimated_synaptic_operations(0.1, 100, 10.0, 25) == pytest.approx(2500.0)
    assert sp.mlp_synaptic_operations([0.1], [64, 100, 10], 25) == pytest.approx(2500.0)
    assert sp.mlp_synaptic_operations({"h1": 0.1, "h2": 0.2}, [4, 10, 5, 2], 2) == pytest.approx(0.1 * 10 * 2 * 5 + 0.2 * 5 * 2 * 2)
    assert sp.dense_operations([784, 800, 10]) == 784 * 800 + 800 * 10
    with pytest.raises(ValueError, match="rates"):
        sp.mlp_synaptic_operations([0.1, 0.2], [64, 100, 10], 25)
    with pytest.raises(ValueError, match="rate"):
        sp.estimated_synaptic_operations(-0.1, 1, 1.0, 1)


def test_condition_labels() -> None:
    assert st.condition_label("membrane", (("favor", "drop"),)) == "membrane_drop"
    assert st.condition_label("standard", model="mlp") == "ann_standard"
    assert st.condition_label("none", model="mlp") == "ann"
    frame = pd.DataFrame({"method": ["none", "synaptic"], "method_options": [(), (("favor", "protect"),)],
                          "model": ["spiking_mlp", "spiking_mlp"]})
    assert st.label_conditions(frame).tolist() == ["none", "synaptic_protect"]


def test_rank_stability_and_importance_shift() -> None:
    rng = np.random.default_rng(0)
    init = {0: rng.random(20), 1: rng.random(20)}
    scores = {("none", 0): init[0] * 2, ("none", 1): init[1] * 2,  # training kept the init order exactly
              ("standard", 0): init[0][::-1].copy(), ("standard", 1): init[1] * 3}
    frame = imp.rank_stability(scores, init, k=5)
    assert set(frame["comparison"]) == {"init vs trained", "between methods", "across seeds"}
    row = frame[(frame.comparison == "init vs trained") & (frame.label == "none") & (frame.seed_a == 0)].iloc[0]
    assert row["kendall_tau"] == pytest.approx(1.0) and row["top_k_overlap"] == 1.0 and row["chance"] == 0.25
    between = frame[frame.comparison == "between methods"].set_index("seed_a")
    assert between.loc[0, "kendall_tau"] == pytest.approx(imp.kendall_tau(init[0], init[0][::-1]))
    assert between.loc[1, "kendall_tau"] == pytest.approx(1.0)
    assert len(frame[frame.comparison == "across seeds"]) == 2  # one seed pair per label
    shift = imp.importance_shift(scores, k=5).set_index("label")
    assert shift.loc["none", "tau_mean"] == pytest.approx(1.0) and shift.loc["none", "norm_ratio_mean"] == pytest.approx(1.0)
    assert shift.loc["standard", "seeds"] == 2
    with pytest.raises(ValueError, match="baseline"):
        imp.importance_shift(scores, k=5, baseline="ann")


# ------------------------------------------------------------------ figures and the explorer


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
    table = st.compare_to_baseline(frame, metric="test_acc", group="label")
    assert list(plots.results_table_figure(table, group="label").data[0].cells.values[0]) == ["none", "standard"]
    membership = imp.top_k_membership({"a": [3.0, 2.0, 1.0], "b": [1.0, 2.0, 3.0]}, 2)
    heat = plots.membership_heatmap(membership)
    assert np.isnan(heat.data[0].z[0][list(membership.columns).index(2)])  # neuron 2 is not in a's top-2
    agree = imp.rank_agreement({"a": [3.0, 2.0, 1.0], "b": [1.0, 2.0, 3.0], "c": [3.0, 1.0, 2.0]}, k=1)
    assert len(plots.stability_figure(agree.assign(comparison="pairs")).data) == 2
    assert len(plots.importance_scatter_figure([1.0, 2.0, 3.0], [0.0, 0.1, 0.2], k=1).data[1].x) == 1
    with pytest.raises(ValueError, match="history"):
        plots.curves_figure(hist.drop(columns="epoch"), facet="setting")


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

"""``snnlab/analysis/statistics.py``: summaries, Welch, Holm, effect sizes, baseline comparisons
and condition labels, against hand-computed values and SciPy references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from snnlab.analysis import statistics as st


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


def test_condition_labels() -> None:
    assert st.condition_label("membrane", (("favor", "drop"),)) == "membrane_drop"
    assert st.condition_label("standard", model="mlp") == "ann_standard"
    assert st.condition_label("none", model="mlp") == "ann"
    frame = pd.DataFrame({"method": ["none", "synaptic"], "method_options": [(), (("favor", "protect"),)],
                          "model": ["spiking_mlp", "spiking_mlp"]})
    assert st.label_conditions(frame).tolist() == ["none", "synaptic_protect"]


# ------------------------------------------------------------------ the study's conditions, from the registry

CLASSIC = (("standard", ()), ("dropout2d", ()), ("feature_alpha", ()), ("alpha", ()))
SNN_AWARE = (
    ("temporal", ()),
    ("membrane", (("favor", "protect"),)), ("membrane", (("favor", "drop"),)),
    ("membrane", (("favor", "protect"), ("window", "causal"))), ("membrane", (("favor", "drop"), ("window", "causal"))),
    ("synaptic", (("favor", "protect"),)), ("synaptic", (("favor", "drop"),)),
    ("activity", ()), ("activity", (("window", "causal"),)), ("dropconnect", ()),
)


def test_study_conditions_are_the_registry_grid_in_the_study_order() -> None:
    from snnlab.dropout import conditions

    assert st.study_conditions() == tuple((c.method, c.options) for c in conditions())
    assert st.study_conditions()[: len(CLASSIC + SNN_AWARE)] == CLASSIC + SNN_AWARE
    assert st.study_conditions("classic") == st.CLASSIC_CONDITIONS == CLASSIC
    assert st.study_conditions("snn_aware")[: len(SNN_AWARE)] == st.SNN_AWARE_CONDITIONS[: len(SNN_AWARE)] == SNN_AWARE
    with pytest.raises(ValueError, match="family='modern' is not known"):
        st.study_conditions("modern")
    with pytest.raises(AttributeError, match="no attribute 'SHAPED_CONDITIONS'"):
        st.SHAPED_CONDITIONS  # noqa: B018


def test_condition_label_delegates_to_the_registry() -> None:
    labels = [st.condition_label(m, o) for m, o in CLASSIC + SNN_AWARE]
    assert labels == ["standard", "dropout2d", "feature_alpha", "alpha", "temporal", "membrane_protect",
                      "membrane_drop", "membrane_protect_causal", "membrane_drop_causal", "synaptic_protect",
                      "synaptic_drop", "activity", "activity_causal", "dropconnect"]
    assert st.condition_label("membrane", {"favor": "drop", "p_max": 0.5}) == "membrane_drop"
    assert st.condition_label("none", (("favor", "drop"),)) == "none"
    assert st.condition_label("membrane", (("favor", "drop"),), model="cnn") == "ann_membrane"
    with pytest.raises(ValueError, match="dropout method 'gaussian' is not known; allowed: 'none'"):
        st.condition_label("gaussian")
    with pytest.raises(TypeError, match="method must be a string"):
        st.condition_label(None)  # type: ignore[arg-type]


def test_comparison_specs_default_to_the_study_grid() -> None:
    from snnlab.study import TrialSpec

    base = TrialSpec(dataset="digits", sizes=(16,), T=2, epochs=1, device="cpu")
    specs = st.comparison_specs(base, p_values=[0.2, 0.4], seeds=[0, 1])
    assert specs == st.comparison_specs(base, conditions=st.study_conditions(), p_values=[0.2, 0.4], seeds=[0, 1])
    per_seed = 1 + 2 * len(st.study_conditions()) + 1 + 2  # base, grid x p, ANN none, ANN standard x p
    assert len(specs) == 2 * per_seed
    first = [(s.method, s.method_options) for s in specs[1:1 + 2 * len(st.study_conditions()):2]]
    assert first == list(st.study_conditions())
    assert [s.model for s in specs[per_seed - 3:per_seed]] == ["mlp"] * 3

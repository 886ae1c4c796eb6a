"""``snnlab/analysis/paired.py``: paired differences, paired t / Wilcoxon / TOST against SciPy, Holm over
the family of distinct methods (duplicates shown once), verdicts and the sentences built from them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from snnlab.analysis import paired as pa
from snnlab.dropout import method_info

pytestmark = pytest.mark.filterwarnings("error")  # no warning may leak from any computation here

# Fixed inputs: eight per-seed baseline values and the differences of a condition (no ties, no zeros).
BASE = np.array([0.951, 0.944, 0.948, 0.957, 0.940, 0.953, 0.946, 0.950])
D = np.array([0.0031, -0.0012, 0.0047, 0.0068, 0.0019, 0.0092, 0.0040, -0.0055])


def _frame(diffs: dict[str, np.ndarray], base: np.ndarray = BASE, **extra: object) -> pd.DataFrame:
    rows = [dict(method="none", seed=s, test_acc=float(b), **extra) for s, b in enumerate(base)]
    for method, d in diffs.items():
        rows += [dict(method=method, seed=s, test_acc=float(b + x), **extra) for s, (b, x) in enumerate(zip(base, d))]
    return pd.DataFrame(rows)


# --- one paired test against SciPy -------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_paired_test_matches_scipy(confidence: float) -> None:
    x, margin, alpha = BASE + D, 0.004, 0.05
    r = pa.paired_test(x - BASE, margin=margin, confidence=confidence, alpha=alpha)
    ref = sps.ttest_rel(x, BASE)
    assert r.n == 8 and r.mean == pytest.approx(np.mean(x - BASE)) and r.sd == pytest.approx(np.std(x - BASE, ddof=1))
    assert r.t_statistic == pytest.approx(ref.statistic) and r.p_value_t == pytest.approx(ref.pvalue)
    sem = sps.sem(x - BASE)
    assert (r.ci_low, r.ci_high) == pytest.approx(sps.t.interval(confidence, 7, loc=r.mean, scale=sem))
    assert (r.ci_low, r.ci_high) == pytest.approx(tuple(ref.confidence_interval(confidence)))
    equivalence = sps.t.interval(1 - 2 * alpha, 7, loc=r.mean, scale=sem)
    assert (r.equivalence_ci_low, r.equivalence_ci_high) == pytest.approx(equivalence)
    w = sps.wilcoxon(x, BASE)  # no ties, no zeros: SciPy's exact test
    assert r.n_wilcoxon == 8 and r.wilcoxon_statistic == w.statistic and r.p_value_wilcoxon == pytest.approx(w.pvalue)
    lower = sps.ttest_1samp(x - BASE, -margin, alternative="greater").pvalue
    upper = sps.ttest_1samp(x - BASE, margin, alternative="less").pvalue
    assert r.p_value_tost_lower == pytest.approx(lower) and r.p_value_tost_upper == pytest.approx(upper)
    assert r.p_value_tost == pytest.approx(max(lower, upper))
    # TOST rejects exactly when the 1 - 2 alpha interval lies inside ±margin
    assert r.within_margin == (-margin < r.equivalence_ci_low and r.equivalence_ci_high < margin) == (r.p_value_tost < alpha)


def test_wilcoxon_with_ties_and_zeros_matches_scipy() -> None:
    d = np.array([0.002, -0.001, 0.002, 0.0, 0.004, 0.003, 0.001, 0.004])  # ties and one zero
    r = pa.paired_test(d, margin=0.01)
    ref = sps.wilcoxon(d, zero_method="wilcox")  # SciPy: exhaustive permutation test for n <= 13 with ties
    assert r.n_wilcoxon == 7
    assert r.wilcoxon_statistic == ref.statistic and r.p_value_wilcoxon == pytest.approx(ref.pvalue)


def test_wilcoxon_is_nan_when_it_could_never_reach_alpha() -> None:
    d = D[:5]  # 5 non-zero differences: the smallest two-sided p is 2/32 = 0.0625 > 0.05
    assert math.isnan(pa.paired_test(d, margin=0.01).p_value_wilcoxon)
    r = pa.paired_test(d, margin=0.01, alpha=0.1)  # reachable at alpha = 0.1
    assert r.p_value_wilcoxon == pytest.approx(sps.wilcoxon(d).pvalue)
    # zeros do not count: 6 values with one zero is 5 ranks
    assert math.isnan(pa.paired_test(np.r_[0.0, D[:5]], margin=0.01).p_value_wilcoxon)


def test_zero_variance_differences_are_handled_without_warnings() -> None:
    zero = pa.paired_test([0.0] * 5, margin=0.002)
    assert (zero.mean, zero.sd, zero.ci_low, zero.ci_high) == (0.0, 0.0, 0.0, 0.0)
    assert zero.p_value_t == 1.0 and zero.p_value_tost == 0.0 and zero.verdict == "equivalent"
    assert math.isnan(zero.p_value_wilcoxon) and zero.n_wilcoxon == 0
    small = pa.paired_test([0.001] * 5, margin=0.002)  # a constant shift inside the margin
    assert small.t_statistic == math.inf and small.p_value_t == 0.0 and small.verdict == "helps"
    assert small.within_margin and (small.ci_low, small.ci_high) == (0.001, 0.001)
    big = pa.paired_test([-0.01] * 5, margin=0.002)
    assert big.t_statistic == -math.inf and big.p_value_tost == 1.0 and not big.within_margin and big.verdict == "hurts"
    one = pa.paired_test([0.003], margin=0.002)
    assert one.n == 1 and one.mean == 0.003 and math.isnan(one.ci_low) and math.isnan(one.p_value_t)
    assert one.verdict == "inconclusive"


def test_paired_test_verdicts_and_direction() -> None:
    assert pa.paired_test(D + 0.01, margin=0.002).verdict == "helps"
    assert pa.paired_test(D - 0.02, margin=0.002).verdict == "hurts"
    assert pa.paired_test(D - 0.02, margin=0.002, higher_is_better=False).verdict == "helps"  # a loss went down
    assert pa.paired_test(D / 100, margin=0.002).verdict == "equivalent"
    assert pa.paired_test(D, margin=0.002).verdict == "inconclusive"


@pytest.mark.parametrize("kwargs, name", [
    (dict(margin=0.0), "margin"), (dict(margin=-0.1), "margin"), (dict(margin=0.1, confidence=1.0), "confidence"),
    (dict(margin=0.1, confidence=0.0), "confidence"), (dict(margin=0.1, alpha=0.5), "alpha"),
    (dict(margin=0.1, higher_is_better="yes"), "higher_is_better"),
])
def test_paired_test_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        pa.paired_test(D, **kwargs)


@pytest.mark.parametrize("bad", [[], "abc", [0.1, float("nan")], [[0.1, 0.2]]])
def test_paired_test_rejects_bad_differences(bad) -> None:
    with pytest.raises((ValueError, TypeError), match="differences"):
        pa.paired_test(bad, margin=0.1)


# --- Holm ---------------------------------------------------------------------------------------------


def test_holm_adjust_matches_hand_computation() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    np.testing.assert_allclose(pa.holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(pa.holm_adjust([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    out = pa.holm_adjust([0.02, float("nan"), 0.01])  # NaN stays NaN and does not count
    assert math.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.02])


# --- differences ----------------------------------------------------------------------------------


def test_paired_differences_keeps_only_shared_pairs_in_registry_order() -> None:
    frame = _frame({"temporal": D, "standard": -D})
    frame = frame[~((frame["method"] == "temporal") & (frame["seed"] == 3))]  # temporal lacks seed 3
    frame = frame[~((frame["method"] == "none") & (frame["seed"] == 7))]  # the baseline lacks seed 7
    out = pa.paired_differences(frame, metric="test_acc")
    assert list(out.columns) == ["method", "seed", "value", "baseline_value", "difference"]
    assert list(dict.fromkeys(out["method"])) == ["standard", "temporal"]  # registry order
    assert out.loc[out["method"] == "standard", "seed"].tolist() == list(range(7))
    assert out.loc[out["method"] == "temporal", "seed"].tolist() == [0, 1, 2, 4, 5, 6]
    t = out[out["method"] == "temporal"]
    np.testing.assert_allclose(t["difference"], t["value"] - t["baseline_value"])
    np.testing.assert_allclose(t["difference"], D[[0, 1, 2, 4, 5, 6]], atol=1e-12)


def test_paired_differences_by_groups_pair_within_each_setting() -> None:
    frame = pd.concat([_frame({"standard": D}, dataset="a"), _frame({"standard": 2 * D}, BASE + 0.01, dataset="b")])
    out = pa.paired_differences(frame, metric="test_acc", by=("dataset",))
    assert list(out.columns[:1]) == ["dataset"] and len(out) == 16
    np.testing.assert_allclose(out.loc[out["dataset"] == "b", "difference"], 2 * D, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="missing"), "metric='missing'"), (dict(metric="test_acc", group="model"), "group='model'"),
    (dict(metric="test_acc", pair="trial"), "pair='trial'"), (dict(metric="test_acc", by=("dataset",)), "by='dataset'"),
    (dict(metric="test_acc", baseline="ann"), "baseline='ann'"),
])
def test_paired_differences_errors_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pa.paired_differences(_frame({"standard": D}), **kwargs)


def test_paired_differences_rejects_duplicated_rows_and_non_finite_values() -> None:
    frame = _frame({"standard": D})
    with pytest.raises(ValueError, match=r"share \(method, seed\)"):
        pa.paired_differences(pd.concat([frame, frame.iloc[[3]]]), metric="test_acc")
    bad = frame.copy()
    bad.loc[2, "test_acc"] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        pa.paired_differences(bad, metric="test_acc")
    two = pd.concat([frame.assign(dataset="a"), frame[frame["method"] != "none"].assign(dataset="b")])
    with pytest.raises(ValueError, match=r"baseline='none' has no rows for dataset"):
        pa.paired_differences(two, metric="test_acc", by="dataset")
    with pytest.raises(TypeError, match="frame"):
        pa.paired_differences(frame.to_dict(), metric="test_acc")


# --- the family and the table -----------------------------------------------------------------------


def _study_frame() -> pd.DataFrame:
    """An MLP-like study: dropout2d repeats standard, feature_alpha repeats alpha, bit for bit."""
    std, alp = -D - 0.004, 3 * D
    return _frame({"standard": std, "dropout2d": std, "alpha": alp, "feature_alpha": alp, "temporal": D / 50,
                   "membrane": D})


def test_duplicates_are_shown_once_and_count_once_in_holm() -> None:
    table = pa.compare_paired(_study_frame(), metric="test_acc", margin=0.002)
    rows = table.set_index("condition")
    assert rows.loc["dropout2d", "verdict"] == "duplicate" and rows.loc["dropout2d", "duplicate_of"] == "standard"
    # the copy that stays is the one first in registry order (feature_alpha is registered before alpha)
    assert rows.loc["alpha", "verdict"] == "duplicate" and rows.loc["alpha", "duplicate_of"] == "feature_alpha"
    assert math.isnan(rows.loc["dropout2d", "p_value_t"]) and math.isnan(rows.loc["dropout2d", "p_value_holm"])
    distinct = ["standard", "feature_alpha", "temporal", "membrane"]
    assert (table["family_size"] == 4).all()
    assert (rows.loc[distinct, "duplicate_of"] == "").all()
    np.testing.assert_allclose(rows.loc[distinct, "p_value_holm"], pa.holm_adjust(rows.loc[distinct, "p_value_t"].tolist()))
    # the smallest of the four p-values is multiplied by 4, not by 6
    p_std = rows.loc["standard", "p_value_t"]
    assert rows.loc["standard", "p_value_holm"] == pytest.approx(min(1.0, 4 * p_std))
    sentences = pa.verdict_sentences(table)
    dup = [s for s in sentences if "identical to" in s]
    assert len(dup) == 2 and "Dropout2d (per step) is identical to standard (per step) on every seed (8 seeds)" in dup[0]


def test_build_family_needs_equality_on_every_pair() -> None:
    diffs = pa.paired_differences(_frame({"standard": D, "dropout2d": np.r_[D[:7], D[7] + 1e-9], "alpha": D}),
                                  metric="test_acc")
    fam = pa.build_family(diffs)
    assert fam.duplicates == (("alpha", "standard"),) and fam.tested == ("standard", "dropout2d") and fam.size == 2
    assert fam.duplicate_of("alpha") == "standard" and fam.duplicate_of("standard") is None
    # a member is kept over a non-member with the same values, whatever the order
    fam = pa.build_family(diffs[diffs["method"] != "dropout2d"], members=("alpha",))
    assert fam.tested == ("alpha",) and fam.duplicates == (("standard", "alpha"),)


def test_labels_come_from_the_registry_and_other_rows_are_outside_the_family() -> None:
    frame = _frame({"standard": -D - 0.004, "ann": D + 0.01, "membrane_protect": D})
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002).set_index("condition")
    assert table.loc["standard", "label"] == method_info("standard").label
    assert table.loc["standard", "baseline_label"] == method_info("none").label
    assert table.loc["ann", "label"] == "ann" and table.loc["ann", "verdict"] == "not in family"
    assert math.isnan(table.loc["ann", "p_value_holm"]) and not math.isnan(table.loc["ann", "p_value_t"])
    assert table.loc["membrane_protect", "label"] == "membrane-shaped (protect)"  # a variant of a method: in the family
    assert table["family_size"].iloc[0] == 2
    explicit = pa.compare_paired(frame, metric="test_acc", margin=0.002, family=["standard"]).set_index("condition")
    assert explicit.loc["membrane_protect", "verdict"] == "not in family" and explicit["family_size"].iloc[0] == 1
    assert explicit.loc["standard", "p_value_holm"] == pytest.approx(explicit.loc["standard", "p_value_t"])


def test_verdicts_of_constructed_data() -> None:
    frame = _frame({"standard": D - 0.02, "temporal": D / 50, "membrane": D + 0.01, "alpha": D})
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002).set_index("condition")
    assert table["verdict"].to_dict() == {"standard": "hurts", "alpha": "inconclusive", "temporal": "equivalent",
                                          "membrane": "helps"}
    loss = pa.compare_paired(frame, metric="test_acc", margin=0.002, higher_is_better=False).set_index("condition")
    assert loss.loc["standard", "verdict"] == "helps" and loss.loc["membrane", "verdict"] == "hurts"
    # Holm makes the family's verdicts stricter than one test alone: a borderline p is not enough
    assert (table["p_value_holm"] >= table["p_value_t"]).all()


def test_conditions_without_enough_pairs_are_inconclusive() -> None:
    frame = _frame({"standard": D})
    frame = pd.concat([frame, pd.DataFrame([dict(method="temporal", seed=99, test_acc=0.9),
                                            dict(method="alpha", seed=0, test_acc=0.9)])])
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002).set_index("condition")
    assert table.loc["temporal", "n"] == 0 and table.loc["temporal", "verdict"] == "inconclusive"
    assert table.loc["alpha", "n"] == 1 and table.loc["alpha", "verdict"] == "inconclusive"
    assert table["family_size"].iloc[0] == 1  # only standard could be tested
    text = pa.verdict_sentences(table.reset_index())
    assert any("0 seeds pair with no dropout, too few for a test" in s for s in text)


def test_by_groups_get_their_own_holm_family() -> None:
    frame = pd.concat([_frame({"standard": D - 0.02, "temporal": D}, dataset="a"),
                       _frame({"standard": D - 0.02}, dataset="b")])
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002, by=("dataset",))
    assert list(table.columns[:2]) == ["dataset", "condition"]
    assert table.groupby("dataset")["family_size"].first().to_dict() == {"a": 2, "b": 1}
    b = table[table["dataset"] == "b"].iloc[0]
    assert b["p_value_holm"] == pytest.approx(b["p_value_t"])
    assert all(s.split(":")[0] in ("a", "b") for s in pa.verdict_sentences(table))  # one grouping column: its value leads


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(margin=0.0), ValueError, "margin"), (dict(margin=-1.0), ValueError, "margin"),
    (dict(margin=0.002, confidence=1.5), ValueError, "confidence"),
    (dict(margin=0.002, alpha=0.0), ValueError, "alpha"),
    (dict(margin=0.002, metric="test_loss"), ValueError, "metric='test_loss'"),
    (dict(margin=0.002, baseline="nothing"), ValueError, "baseline='nothing'"),
    (dict(margin=0.002, by="dataset"), ValueError, "by='dataset'"),
    (dict(margin=0.002, family="standard"), TypeError, "family"),
])
def test_compare_paired_rejects_bad_arguments(kwargs: dict, exc: type, match: str) -> None:
    args = dict(metric="test_acc") | kwargs
    with pytest.raises(exc, match=match):
        pa.compare_paired(_frame({"standard": D}), **args)


# --- sentences ----------------------------------------------------------------------------------------


def test_sentences_are_computed_from_the_numbers() -> None:
    frame = _frame({"standard": D - 0.02, "temporal": D / 50, "alpha": D})
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002)
    rows = table.set_index("condition")
    hurt, inconclusive, equivalent = pa.verdict_sentences(table)  # registry order: standard, alpha, temporal
    s = rows.loc["standard"]
    assert hurt.startswith("Standard (per step) lowers test accuracy by ")
    assert f"by {abs(s['mean_diff']) * 100:.2f} pp" in hurt
    assert f"95% CI {-s['ci_high'] * 100:.2f} to {-s['ci_low'] * 100:.2f}" in hurt
    assert "over 3 methods" in hurt and "8 seeds" in hurt
    assert f"Wilcoxon p={s['p_value_wilcoxon']:.2g}" in hurt
    a = rows.loc["alpha"]
    assert "inconclusive" in inconclusive
    assert "includes both effects larger than the margin (±0.2 pp) and no effect" in inconclusive
    assert f"{a['ci_low'] * 100:+.2f} to {a['ci_high'] * 100:+.2f} pp" in inconclusive
    assert "is equivalent to no dropout on test accuracy within ±0.2 pp" in equivalent
    # change the numbers: the sentences follow
    frame2 = _frame({"standard": D + 0.03, "temporal": D / 50, "alpha": D})
    table2 = pa.compare_paired(frame2, metric="test_acc", margin=0.005)
    helped = pa.verdict_sentences(table2, metric_label="accuracy")[0]
    s2 = table2.set_index("condition").loc["standard"]
    assert helped.startswith("Standard (per step) raises accuracy by ") and f"{s2['mean_diff'] * 100:.2f} pp" in helped
    assert helped != hurt and "±0.5 pp" in pa.verdict_sentences(table2)[2]
    # units: a fraction reported as a fraction
    raw = pa.verdict_sentences(table, unit="", unit_scale=1.0, decimals=4, pair_noun="run")[0]
    assert f"by {abs(s['mean_diff']):.4f} (95% CI" in raw and "8 runs" in raw


def test_a_significant_effect_inside_the_margin_says_so() -> None:
    table = pa.compare_paired(_frame({"standard": np.full(8, 0.001)}), metric="test_acc", margin=0.002)
    (text,) = pa.verdict_sentences(table)
    assert table["verdict"].iloc[0] == "helps" and "lies within ±0.2 pp, so the effect is smaller than the margin" in text
    table = pa.compare_paired(_frame({"standard": np.full(8, 0.004)}), metric="test_acc", margin=0.002)
    assert "smaller than the margin" not in pa.verdict_sentences(table)[0]


def test_verdict_sentences_rejects_other_tables() -> None:
    with pytest.raises(ValueError, match="compare_paired"):
        pa.verdict_sentences(pd.DataFrame({"method": ["standard"], "verdict": ["helps"]}))


def test_inconclusive_sentence_names_holm_when_only_the_correction_fails() -> None:
    table = pa.compare_paired(_frame({"standard": D + 0.002, "temporal": D, "membrane": -D}), metric="test_acc",
                              margin=0.002)
    s = table.set_index("condition").loc["standard"]
    assert s["p_value_t"] < 0.05 < s["p_value_holm"] and s["verdict"] == "inconclusive"
    text = pa.verdict_sentences(table)[0]
    assert "excludes no effect, but the paired t-test is not significant after Holm's correction over 3 methods" in text
    assert f"adjusted p={s['p_value_holm']:.2g}" in text


def test_rows_outside_the_family_are_described_not_judged() -> None:
    table = pa.compare_paired(_frame({"standard": D, "ann": D + 0.01}), metric="test_acc", margin=0.002)
    text = pa.verdict_sentences(table)[1]
    a = table.set_index("condition").loc["ann"]
    assert text.startswith("Ann vs no dropout on test accuracy: not in the pre-registered family, so not judged")
    assert f"mean difference {a['mean_diff'] * 100:+.2f} pp" in text


# --- the table a reader sees --------------------------------------------------------------------------


def test_verdict_table_names_the_correction_and_agrees_with_its_interval() -> None:
    """An uncorrected interval that excludes 0 next to "inconclusive": the verdict column says it is
    Holm-corrected, the basis says Holm did not reject; differences are in pp; the verdicts are
    compare_paired's own."""
    table = pa.compare_paired(_frame({"standard": D + 0.002, "dropout2d": D + 0.002, "temporal": D, "membrane": -D}),
                              metric="test_acc", margin=0.002)
    shown = pa.verdict_table(table)
    verdict_col = "verdict (Holm-corrected paired t, α=0.05; else TOST ±0.20 pp)"
    assert verdict_col in shown.columns and list(shown[verdict_col]) == list(table["verdict"])
    row = shown.set_index("method").loc["standard (per step)"]
    s = table.set_index("condition").loc["standard"]
    assert s["ci_low"] > 0 and s["verdict"] == "inconclusive"
    assert row["Δ test accuracy (pp)"] == pytest.approx(round(s["mean_diff"] * 100, 2))
    assert row["95% CI (pp)"] == f"{s['ci_low'] * 100:+.2f} to {s['ci_high'] * 100:+.2f}"
    assert row["basis"].startswith(f"95% CI excludes 0 (uncorrected), but Holm-adjusted p={s['p_value_holm']:.2g} ≥ 0.05 "
                                   "(3 methods)")
    dup = shown.set_index("method").loc["Dropout2d (per step)"]
    assert dup["basis"] == "identical to standard (per step) on every seed: reported once" and dup["95% CI (pp)"] == ""
    includes = shown.set_index("method").loc["temporal (held over the window)", "basis"]
    assert includes.startswith("95% CI includes 0; TOST p=")


def test_verdict_table_bases_for_every_verdict() -> None:
    frame = _frame({"standard": D - 0.02, "temporal": D / 50, "membrane": D + 0.01, "alpha": D, "ann": D + 0.003})
    table = pa.compare_paired(frame, metric="test_acc", margin=0.002)
    basis = dict(zip(table["condition"], pa.verdict_table(table)["basis"]))
    assert basis["standard"].startswith("Holm-adjusted p=") and "< 0.05 (4 methods)" in basis["standard"]
    assert basis["temporal"].startswith("TOST p") and "90% CI inside ±0.20 pp" in basis["temporal"]
    assert basis["ann"] == "not in the pre-registered family: tested, not judged"
    few = pa.compare_paired(pd.concat([_frame({"standard": D}), pd.DataFrame([dict(method="alpha", seed=0, test_acc=0.9)])]),
                            metric="test_acc", margin=0.002)
    assert pa.verdict_table(few)["basis"].iloc[-1] == "1 seed: too few for a test"
    # several margins: the verdict column says "±margin" and a margin column gives each
    two = pd.concat([pa.compare_paired(_frame({"standard": D}, dataset="a"), metric="test_acc", margin=0.002, by="dataset"),
                     pa.compare_paired(_frame({"standard": D}, dataset="b"), metric="test_acc", margin=0.005, by="dataset")])
    shown = pa.verdict_table(two)
    assert "verdict (Holm-corrected paired t, α=0.05; else TOST ±margin)" in shown.columns
    assert list(shown["margin (pp)"]) == [0.2, 0.5] and list(shown["dataset"]) == ["a", "b"]
    with pytest.raises(ValueError, match="compare_paired"):
        pa.verdict_table(pd.DataFrame({"verdict": ["helps"]}))

"""``snnlab/analysis/narrative.py``: every sentence follows the numbers. Each test builds the tables a
notebook shows, checks the sentence, changes the numbers and checks that the sentence changes with them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnlab.analysis import importance as imp
from snnlab.analysis import narrative

CLASSIC = ("standard", "dropout2d", "feature_alpha", "alpha")


def _notebook02_tables() -> dict[str, pd.DataFrame]:
    """Tables shaped like notebook 02's, with dropout2d == standard and feature_alpha == alpha."""
    sparsity = pd.DataFrame([{"layer": "hidden1", "silent_steps": 0.94, "silent_neurons": 0.83, "firing_rate": 0.06},
                             {"layer": "hidden2", "silent_steps": 0.99, "silent_neurons": 0.98, "firing_rate": 0.01}])
    masks, effects = [], []
    for m in (*CLASSIC, "temporal"):
        for p in (0.1, 0.3, 0.5):
            masks.append({"method": m, "p": p, "silent_fraction": 0.8, "spikes_removed": p})
            per_step = m != "temporal"
            effects.append({"method": m, "p": p, "membrane_change": p * (1.0 if per_step else 1.1),
                            "rate_change": (8.0 if "alpha" in m else 0.4) * p})
    values = pd.DataFrame([
        {"method": m, "distinct_values": 3 if "alpha" in m else 2, "min": -1.06 if "alpha" in m else 0.0,
         "max": 1.32 if "alpha" in m else 1 / 0.7, "share_negative": 0.3 if "alpha" in m else 0.0,
         "share_nonzero_where_silent": 1.0 if "alpha" in m else 0.0} for m in CLASSIC])
    return {"sparsity": sparsity, "masks": pd.DataFrame(masks), "values": values, "effects": pd.DataFrame(effects)}


def _conclusion02(t: dict[str, pd.DataFrame], **kw) -> list[str]:
    return narrative.classic_dropout_conclusion(t["sparsity"], t["masks"], t["values"], t["effects"], p=0.3,
                                                spikes_per_sample=kw.pop("spikes_per_sample", 10.0), classic=CLASSIC, **kw)


def test_classic_dropout_conclusion_follows_the_numbers() -> None:
    t = _notebook02_tables()
    text = _conclusion02(t)
    assert len(text) == 5
    assert text[0].startswith("**`hidden1` of the trained SNN is sparse**: 94.0%")
    assert text[1].startswith("**Most of every classic mask lands on silent neurons**: at p = 0.3, 80%")
    assert "`standard` removes 30.0% of the spikes" in text[1] and "about 3.0 of the 10.0 spikes" in text[1]
    assert "`dropout2d` gave the same numbers as `standard` and `alpha` as `feature_alpha`" in text[1]
    assert text[2].startswith("**None of the 4 classic methods hands on spikes at p = 0.3**")
    assert "`feature_alpha` and `alpha`: 3 distinct values between -1.06 and 1.32, 30% of the entries negative" in text[2]
    assert "moves `hidden2`'s membrane potential less than a time-consistent `temporal` mask**: by 30.0% against 33.0%" in text[2 + 1]
    assert "across the 3 rates p = 0.1, 0.3 and 0.5 it moves it less at all 3." in text[3]
    assert "`feature_alpha` and `alpha` change `hidden2`'s firing rate most: by +240% (`standard`: +12%)" in text[3]
    assert "all 4 classic methods hand on values that are not spikes" in text[4]

    # a dense layer, masks on active neurons, binary outputs, a per-step mask that moves the membrane more
    t["sparsity"].loc[0, "silent_steps"] = 0.3
    t["masks"]["silent_fraction"] = 0.2
    t["values"]["distinct_values"], t["values"]["min"], t["values"]["max"], t["values"]["share_negative"] = 2, 0.0, 1.0, 0.0
    t["effects"].loc[t["effects"].method != "temporal", "membrane_change"] *= 2
    text = _conclusion02(t, spikes_per_sample=20.0)
    assert text[0].startswith("**`hidden1` of the trained SNN is not sparse**: 30.0%") and "(not more than half)" in text[0]
    assert text[1].startswith("**Most of every classic mask lands on neurons that fire**: at p = 0.3, 20%")
    assert "about 6.0 of the 20.0 spikes" in text[1]
    assert text[2] == "**Every classic method hands on spikes (only 0 and 1) at p = 0.3**."
    assert "moves `hidden2`'s membrane potential more than" in text[3] and "more at all 3" in text[3]
    assert "none of the 4 classic methods hands on values that are not spikes" in text[4]


def test_classic_dropout_conclusion_mixed_and_degenerate_cases() -> None:
    t = _notebook02_tables()
    masks = t["masks"]
    masks.loc[masks.method.isin(["feature_alpha", "alpha"]), "silent_fraction"] = 0.4  # half the methods on active
    t["effects"].loc[(t["effects"].method == "standard") | (t["effects"].method == "dropout2d"), "membrane_change"] = 0.33
    t["effects"]["rate_change"] = float("nan")  # hidden2 silent without dropout
    text = _conclusion02(t)
    assert "Most of the masks of 2 of the 4 classic methods (`standard` and `dropout2d`) land on silent neurons" in text[1]
    assert "40%–80% of the dropped" in text[1]
    assert "membrane potential as much as a time-consistent" in text[3]  # equal at the precision shown
    assert "the relative change of its firing rate is undefined" in text[3]
    with pytest.raises(ValueError, match="values lacks"):
        narrative.classic_dropout_conclusion(t["sparsity"], t["masks"], t["values"].drop(columns="min"), t["effects"],
                                             p=0.3, spikes_per_sample=1.0, classic=CLASSIC)
    with pytest.raises(ValueError, match="p=0.2"):
        narrative.classic_dropout_conclusion(t["sparsity"], t["masks"], t["values"], t["effects"], p=0.2,
                                             spikes_per_sample=1.0, classic=CLASSIC)
    with pytest.raises(ValueError, match="layer='hidden9'"):
        _conclusion02(t, layer="hidden9")
    with pytest.raises(ValueError, match="per_step"):
        _conclusion02(t, per_step="temporal")
    with pytest.raises(ValueError, match="classic"):
        narrative.classic_dropout_conclusion(t["sparsity"], t["masks"], t["values"], t["effects"], p=0.3,
                                             spikes_per_sample=1.0, classic=())


def test_paper_table_remarks_read_the_ids() -> None:
    remarks = narrative.paper_table_remarks(imp.paper_table2())
    assert remarks[0].startswith("The largest ID printed is 127, so the hidden layer has at least n = 128 neurons")
    assert "is a permutation of the first 10 neuron IDs, 0–9" in remarks[1]
    assert "1/C(n, 10) ≤ 1/C(128, 10) = 4.4e-15" in remarks[1]
    assert "may not be a ranking of trained weights at all" in remarks[1] and "possibility, not a finding" in remarks[1]
    assert "contains 3 of the IDs 0–9" in remarks[2] and "lie between 112 and 127" in remarks[2]
    assert "share 3 IDs (1, 5, 9): a top-10 overlap of 0.3, against ≤ 0.078" in remarks[3]
    # a list that is not the first IDs: no claim about it; a larger largest ID changes n and the chance
    other = pd.DataFrame([[9, 8, 3, 2, 0, 1, 4, 5, 6, 17], [300, 127, 121, 122, 116, 118, 113, 9, 1, 5]],
                         index=["a", "b"], columns=range(1, 11))
    remarks = narrative.paper_table_remarks(other)
    assert "at least n = 301 neurons" in remarks[0]
    assert not any("permutation" in r or "may not be a ranking" in r for r in remarks)
    assert "contains 9 of the IDs 0–9" in remarks[1]
    # the suggestion is made only when the chance is below `unlikely`
    small = pd.DataFrame([[1, 0], [3, 2]], index=["x", "y"], columns=[1, 2])  # n = 4: chance 1/C(4, 2) = 1/6
    remarks = narrative.paper_table_remarks(small)
    assert "= 1.7e-01" in remarks[1] and "may not be a ranking" not in remarks[1]
    assert "share 0 IDs: a top-2 overlap of 0.0" in remarks[-1]
    with pytest.raises(TypeError, match="table"):
        narrative.paper_table_remarks(pd.DataFrame())


def test_own_table_remarks() -> None:
    ids = imp.top_ids_table({"none": [5.0, 4, 3, 2, 1, 0], "a": [0.0, 1, 2, 3, 4, 5]}, k=2)
    lines = narrative.own_table_remarks(ids, n=6, reference_ids=[1, 0])
    assert lines[0] == "Overlap of each top-2 with the `none` top-2 (chance 0.33 for n = 6): `a` 0.0."
    assert lines[1].startswith("The `none` top-2 contains 2 of the first 2 IDs 0–1 (0.67 expected")
    assert lines[1].endswith("; the paper's “Without dropout” list contains 2 of them.")
    ids = imp.top_ids_table({"none": [0.0, 1, 2, 3, 4, 5], "a": [0.0, 1, 2, 3, 4, 6]}, k=2)
    lines = narrative.own_table_remarks(ids, n=6)
    assert "`a` 1.0" in lines[0] and "contains 0 of the first 2 IDs" in lines[1] and "paper" not in lines[1]
    with pytest.raises(ValueError, match="baseline='base'"):
        narrative.own_table_remarks(ids, n=6, baseline="base")


def _notebook05_tables(n_seeds: int, spread: float, tau: float = 0.6) -> dict[str, pd.DataFrame]:
    """Tables shaped like notebook 05's, from per-seed values around ``tau`` with ``spread``."""
    rng = np.random.default_rng(0)
    rows = []
    for kind, level in (("init vs trained", tau), ("between methods", tau), ("across seeds", 0.0)):
        for s in range(n_seeds):
            for label in ("standard", "alpha"):
                a, b = (s, s) if kind != "across seeds" else (s, s + 1)
                if kind == "across seeds" and s + 1 >= n_seeds:
                    continue
                value = level + spread * rng.standard_normal() - (0.5 if label == "alpha" and kind == "between methods" else 0)
                rows.append({"comparison": kind, "label": label, "seed_a": a, "seed_b": b, "kendall_tau": value,
                             "top_k_overlap": min(1.0, max(0.0, value)), "chance": 0.1})
    agreement = pd.DataFrame(rows)
    scores = {}
    for s in range(n_seeds):
        base = rng.random(40) + 0.1
        scores[("none", s)] = base
        scores[("standard", s)] = base + rng.normal(0, 0.02, 40)
        scores[("dropout2d", s)] = scores[("standard", s)]
        scores[("alpha", s)] = rng.random(40) * 0.8 + 0.1
    shift = imp.importance_shift(scores, k=4)
    ablation = pd.DataFrame([{"label": "none", "neurons": 40, "tau": 0.3, "p_value": 0.01},
                             {"label": "alpha", "neurons": 40, "tau": 0.05, "p_value": 0.6}])
    return {"intervals": imp.stability_intervals(agreement), "shift": shift, "ablation": ablation,
            "duplicates": imp.identical_conditions(scores)}


def _conclusion05(t: dict, **kw) -> list[str]:
    return narrative.importance_conclusion(t["intervals"], t["shift"], t["ablation"], k=4, n=40,
                                           paper_overlap=kw.pop("paper_overlap", 0.3), duplicates=t["duplicates"], **kw)


def test_importance_conclusion_judges_by_intervals() -> None:
    t = _notebook05_tables(5, spread=0.05)
    lines = _conclusion05(t)
    text = "\n".join(lines)
    assert lines[0].startswith("- Each trained model against its own initialisation: τ = 0.6")
    assert "over 5 seeds); the interval lies above 0, the τ of unrelated rankings: training keeps part" in lines[0]
    assert "1 of 2 methods keep a ranking measurably closer to the base's than unrelated rankings (τ interval above 0: `standard`)" in text
    assert "1 is not distinguishable from unrelated rankings (`alpha` τ = " in text
    assert "The lowest mean τ against the base SNN is `alpha`'s" in text
    assert "over 2 disjoint seed pairs) against 0 for unrelated rankings, and a top-4 overlap of" in text
    assert "1 of 2 methods have a top-4 as far from the base's as the paper's lists" in text
    assert "τ = 0.30 for the base SNN (Kendall test p = 0.01)" in text and "measurably associated" in text
    assert "p < 0.05 for 1 of 2 conditions" in text
    assert "`dropout2d` has the same outgoing weights as `standard` on every seed" in text
    assert "`dropout2d`" not in lines[1]  # a duplicate is not counted as a method of its own
    # noisy seeds: the init interval includes 0; the ablation test is not significant; paper overlap threshold moves
    t = _notebook05_tables(5, spread=0.8, tau=0.1)
    t["ablation"]["p_value"] = [0.4, 0.6]
    lines = _conclusion05(t, paper_overlap=0.0)
    assert "the interval includes 0, the τ of unrelated rankings: no trace of the initial order is measurable" in lines[0]
    text = "\n".join(lines)
    assert "no association with what silencing a neuron costs is measurable (p ≥ 0.05)" in text
    assert "p < 0.05 for 0 of 2 conditions" in text


def test_importance_conclusion_with_one_seed_judges_nothing() -> None:
    t = _notebook05_tables(1, spread=0.05)
    lines = _conclusion05(t)
    text = "\n".join(lines)
    assert "(1 seed: no interval, so no judgement)" in lines[0]
    assert "with 1 seed there is no interval, so no method is judged" in text
    assert "Models of different seeds are not compared: that needs at least two seeds." in text
    assert "measurably closer" not in text and "How much rather than which" not in text
    with pytest.raises(ValueError, match="shift lacks"):
        narrative.importance_conclusion(t["intervals"], t["shift"].drop(columns="tau_ci_low"), t["ablation"],
                                        k=4, n=40, paper_overlap=0.3)
    with pytest.raises(ValueError, match="paper_overlap"):
        _conclusion05(t, paper_overlap=1.5)

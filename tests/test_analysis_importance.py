"""``snnlab/analysis/importance.py``: importance scores, rank comparisons, ablation and rank stability
against hand-computed values and SciPy references; ``train_models`` on a real tiny trial."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from snnlab.analysis import importance as imp


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


def test_train_models_trains_through_the_runner_and_keeps_the_init(tmp_path, tiny_trial: dict[str, Any]) -> None:
    from snnlab.study import ResultsStore, TrialSpec, run_trial
    from snnlab.study.runner import build_trial_model

    base = TrialSpec(seed=4, **{**tiny_trial, "epochs": 1, "T": 3})
    specs = [base, base.replace(method="standard", p=0.2)]
    store = ResultsStore(tmp_path / "r.sqlite")
    trained = imp.train_models(specs, store=store)
    assert [t.spec for t in trained] == specs and [t.label for t in trained] == ["none", "standard"]
    assert all(isinstance(t, imp.TrainedModel) and not t.model.training for t in trained)
    assert trained[0].test is trained[1].test  # one test split for identical data
    # the history is run_trial's (same data, seeding, build and training)
    plain = run_trial(specs[1])
    pd.testing.assert_frame_equal(trained[1].history.drop(columns="seconds"), plain.history.drop(columns="seconds"))
    # init_outgoing: the outgoing weights of the model as built, before training (same seed, same init)
    torch.manual_seed(base.seed)
    fresh = build_trial_model(base, trained[0].test.input_shape, trained[0].test.n_classes).outgoing_weights()
    for t in trained:
        assert set(t.init_outgoing) == set(fresh) == set(t.model.outgoing_weights())
        for name, w in fresh.items():
            torch.testing.assert_close(t.init_outgoing[name], w.detach(), rtol=0, atol=0)
            assert not torch.equal(t.init_outgoing[name], t.model.outgoing_weights()[name].detach())
    # with a store, every result is written as run_trials would
    assert store.keys() == {s.key for s in specs}
    assert store.get(specs[1]).final["test_acc"] == pytest.approx(plain.final["test_acc"])
    with pytest.raises(TypeError, match=r"specs\[0\]"):
        imp.train_models(["none"])
    with pytest.raises(TypeError, match="store"):
        imp.train_models(specs, store=str(tmp_path / "r.sqlite"))


def test_kendall_p_value_is_scipys() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(30)
    b = a + rng.normal(0, 0.3, 30)
    assert imp.kendall_p_value(a, b) == pytest.approx(sps.kendalltau(a, b).pvalue)
    assert math.isnan(imp.kendall_p_value([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


def test_paper_table2_as_printed_and_the_first_ids() -> None:
    table = imp.paper_table2()
    assert list(table.index) == ["Without dropout", "With dropout"] and list(table.columns) == list(range(1, 11))
    assert table.loc["Without dropout"].tolist() == [9, 8, 3, 2, 0, 1, 4, 5, 6, 7]
    assert table.loc["With dropout"].tolist() == [112, 127, 121, 122, 116, 118, 113, 9, 1, 5]
    assert imp.first_ids_probability(128, 10) == pytest.approx(1 / math.comb(128, 10))
    assert imp.first_ids_probability(128, 10) == pytest.approx(4.408e-15, rel=1e-3)
    assert imp.first_ids_probability(5, 5) == 1.0
    with pytest.raises(ValueError, match="k=11"):
        imp.first_ids_probability(10, 11)
    c = imp.check_id_list(table.loc["Without dropout"], n=128)  # a pandas row works
    assert c.is_first_ids and c.first_ids == 10 and c.min_n == 10 and c.n == 128 and c.k == 10
    assert c.ascending_tail == 6  # ... 0, 1, 4, 5, 6, 7
    assert c.expected_first_ids == pytest.approx(100 / 128)
    assert c.chance_first_ids == pytest.approx(imp.first_ids_probability(128, 10))
    d = imp.check_id_list([112, 127, 121, 122, 116, 118, 113, 9, 1, 5])  # n: the smallest the IDs allow
    assert not d.is_first_ids and d.first_ids == 3 and d.n == d.min_n == 128 and d.ascending_tail == 2
    assert imp.check_id_list([2, 0, 1]).is_first_ids and not imp.check_id_list([0, 1, 3]).is_first_ids
    with pytest.raises(ValueError, match="n=100"):
        imp.check_id_list([112, 5], n=100)
    with pytest.raises(ValueError, match="distinct"):
        imp.check_id_list([1, 1])
    with pytest.raises(TypeError, match="integer"):
        imp.check_id_list([0.5, 1])
    with pytest.raises(TypeError, match="ids"):
        imp.check_id_list("0123")


def test_disjoint_seed_pairs() -> None:
    assert imp.disjoint_seed_pairs([2, 0, 1, 1]) == [(0, 1)]
    assert imp.disjoint_seed_pairs(range(5)) == [(0, 1), (2, 3)]
    assert imp.disjoint_seed_pairs([7]) == []


def _agreement(n_seeds: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict, dict]:
    init = {s: rng.random(30) for s in range(n_seeds)}
    scores = {(label, s): np.abs(init[s] + rng.normal(0, noise, 30))
              for label, noise in (("none", 0.1), ("a", 0.2), ("b", 0.5)) for s in range(n_seeds)}
    return imp.rank_stability(scores, init, k=5), scores, init


def test_stability_intervals_use_independent_units() -> None:
    agreement, _, _ = _agreement(5, np.random.default_rng(0))
    by_kind = imp.stability_intervals(agreement).set_index("comparison")
    assert list(by_kind.index) == ["init vs trained", "between methods", "across seeds"]
    # between methods: per seed, the mean over the labels, then the t interval over the 5 seeds
    between = agreement[agreement.comparison == "between methods"]
    per_seed = between.groupby("seed_a")["kendall_tau"].mean()
    x = per_seed.to_numpy()
    half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    row = by_kind.loc["between methods"]
    assert row["n"] == 5 and row["rows"] == 10 and row["unit"] == "seed"
    assert row["tau_mean"] == pytest.approx(x.mean())
    assert (row["tau_ci_low"], row["tau_ci_high"]) == pytest.approx((x.mean() - half, x.mean() + half))
    assert row["chance"] == pytest.approx(5 / 30) and row["confidence"] == 0.95
    # across seeds: only the disjoint pairs (0, 1) and (2, 3), not all 10 pairs of 5 seeds
    across = by_kind.loc["across seeds"]
    assert across["unit"] == "seed pair" and across["n"] == 2 and across["rows"] == 2 * 3
    used = agreement[(agreement.comparison == "across seeds")
                     & agreement[["seed_a", "seed_b"]].apply(tuple, axis=1).isin([(0, 1), (2, 3)])]
    assert across["tau_mean"] == pytest.approx(used["kendall_tau"].mean())
    by_label = imp.stability_intervals(agreement, by="label", confidence=0.9)
    one = by_label[(by_label.comparison == "between methods") & (by_label.label == "b")].iloc[0]
    vals = between[between.label == "b"]["kendall_tau"].to_numpy()
    half = sps.t.ppf(0.95, 4) * vals.std(ddof=1) / math.sqrt(5)
    assert one["n"] == 5 and one["tau_ci_high"] == pytest.approx(vals.mean() + half)
    # three seeds: one disjoint pair across seeds, so no interval there
    three, _, _ = _agreement(3, np.random.default_rng(1))
    row = imp.stability_intervals(three).set_index("comparison").loc["across seeds"]
    assert row["n"] == 1 and math.isnan(row["tau_ci_low"]) and not math.isnan(row["tau_mean"])
    with pytest.raises(ValueError, match="by="):
        imp.stability_intervals(agreement, by="seed")
    with pytest.raises(ValueError, match="confidence"):
        imp.stability_intervals(agreement, confidence=1.5)
    with pytest.raises(ValueError, match="rank_stability"):
        imp.stability_intervals(agreement.drop(columns="chance"))


def test_importance_shift_intervals_and_identical_conditions() -> None:
    _, scores, _ = _agreement(4, np.random.default_rng(2))
    scores.update({("copy", s): scores[("a", s)].copy() for s in range(4)})
    shift = imp.importance_shift(scores, k=5).set_index("label")
    taus = np.array([imp.kendall_tau(scores[("none", s)], scores[("b", s)]) for s in range(4)])
    half = sps.t.ppf(0.975, 3) * taus.std(ddof=1) / 2.0
    row = shift.loc["b"]
    assert row["seeds"] == 4 and row["tau_mean"] == pytest.approx(taus.mean())
    assert (row["tau_ci_low"], row["tau_ci_high"]) == pytest.approx((taus.mean() - half, taus.mean() + half))
    assert {"norm_ratio_ci_low", "concentration_ci_high", "confidence"} <= set(shift.columns)
    assert imp.identical_conditions(scores) == {"copy": "a"}
    one_seed = imp.importance_shift({k: v for k, v in scores.items() if k[1] == 0}, k=5)
    assert one_seed["tau_ci_low"].isna().all()
    with pytest.raises(TypeError, match="scores"):
        imp.identical_conditions({})

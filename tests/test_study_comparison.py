"""snnlab.study.comparison: the tuned, paired comparison design (selection on validation only)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from snnlab.study import TrialSpec
from snnlab.study import comparison as cmp
from snnlab.study.comparison import (ComparisonDesign, Setting, condition_specs, lr_specs, select_lr, select_p,
                                     size_label, trials_at_tuned_lr, tuned_trials)

MLP = Setting("digits", "spiking_mlp", 1000)
FULL = Setting("digits", "spiking_mlp", None)


def base_of(setting: Setting) -> TrialSpec:
    return TrialSpec(dataset=setting.dataset, model=setting.network, sizes=(16,), T=4, epochs=2, lr=1e-2, seed=0,
                     device="cpu")


def design(**changes) -> ComparisonDesign:
    args = dict(settings=(MLP,), conditions=(("standard", ()), ("temporal", ())), p_grid=(0.1, 0.5), seeds=(0, 1, 2),
                val_fraction=0.2, lr_factors=(0.5, 1.0))
    args.update(changes)
    return ComparisonDesign(**args)


def test_settings_and_labels() -> None:
    assert MLP.label == "digits · 1k · spiking_mlp" and FULL.label == "digits · full · spiking_mlp"
    assert size_label(1500) == "1500" and size_label(60000) == "60k"
    with pytest.raises(ValueError, match="network='resnet'"):
        Setting("digits", "resnet")
    with pytest.raises(ValueError, match="dataset"):
        Setting("imagenet", "spiking_mlp")
    with pytest.raises(ValueError, match="train_size"):
        Setting("digits", "spiking_mlp", 0)


@pytest.mark.parametrize("changes, match", [
    ({"p_grid": ()}, "p_grid is empty"),
    ({"p_grid": (0.0,)}, "p_grid entry"),
    ({"val_fraction": 1.5}, "val_fraction"),
    ({"val_fraction": 0.0}, "val_fraction"),
    ({"seeds": ()}, "seeds is empty"),
    ({"lr_factors": ()}, "lr_factors is empty"),
    ({"settings": ()}, "settings is empty"),
    ({"conditions": (("none", ()),)}, "must not include 'none'"),
])
def test_bad_designs_are_clear_errors(changes, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        design(**changes)


def test_stage_specs() -> None:
    d = design()
    lrs = lr_specs(d, base_of)
    assert len(lrs) == 2 * 3
    assert {s.lr for s in lrs} == {5e-3, 1e-2}
    assert all(s.method == "none" and s.val_fraction == 0.2 and s.select == "best_val" and s.train_subset == 1000
               and s.train_eval_size == 2048 for s in lrs)
    conds = condition_specs(d, base_of, {MLP: 5e-3})
    assert len(conds) == 2 * 2 * 3
    assert {(s.method, s.p) for s in conds} == set(itertools.product(("standard", "temporal"), (0.1, 0.5)))
    assert all(s.lr == 5e-3 for s in conds)
    assert d.n_trials == len(lrs) + len(conds)
    with pytest.raises(ValueError, match="no tuned learning rate"):
        condition_specs(d, base_of, {})


def _frame(val: dict, test: dict) -> pd.DataFrame:
    """Trials (method, p, lr) -> per-seed val/test accuracies; test deliberately ranks the other way."""
    rows = []
    for (method, p, lr), v in val.items():
        for seed in (0, 1, 2):
            rows.append(dict(dataset="digits", model="spiking_mlp", train_subset=1000, method=method, p=p, lr=lr,
                             seed=seed, method_options=(), val_acc=v + 0.001 * seed,
                             test_acc=test[(method, p, lr)] + 0.001 * seed))
    return pd.DataFrame(rows)


def test_selection_reads_validation_never_test() -> None:
    d = design()
    val = {("none", 0.0, 5e-3): 0.90, ("none", 0.0, 1e-2): 0.80,
           ("standard", 0.1, 5e-3): 0.91, ("standard", 0.5, 5e-3): 0.85,
           ("temporal", 0.1, 5e-3): 0.88, ("temporal", 0.5, 5e-3): 0.88}  # a tie: the smaller p wins
    test = {k: 1.0 - v for k, v in val.items()}  # the reverse order: a selection on test would pick the others
    frame = _frame(val, test)
    lrs = select_lr(frame, d, base_of)
    assert lrs == {MLP: 5e-3}
    chosen = select_p(frame, d, lrs).set_index("label")
    assert chosen.loc["standard", "p"] == 0.1 and chosen.loc["temporal", "p"] == 0.1
    assert chosen.loc["standard", "seeds"] == 3
    assert chosen.loc["standard", "curve"] == pytest.approx({0.1: 0.911, 0.5: 0.851})
    tuned = tuned_trials(frame, select_p(frame, d, lrs), lrs)
    assert sorted(set(zip(tuned["label"], tuned["p"]))) == [("none", 0.0), ("standard", 0.1), ("temporal", 0.1)]
    assert (tuned["lr"] == 5e-3).all() and len(tuned) == 9
    assert set(tuned["setting"]) == {MLP.label}
    sweep = trials_at_tuned_lr(frame, lrs)  # the base at its tuned rate and every condition at every p
    assert len(sweep) == 3 * 5 and set(sweep["label"]) == {"none", "standard", "temporal"}


def test_selection_changes_with_the_numbers() -> None:
    d = design()
    val = {("none", 0.0, 5e-3): 0.80, ("none", 0.0, 1e-2): 0.90,
           ("standard", 0.1, 1e-2): 0.85, ("standard", 0.5, 1e-2): 0.91,
           ("temporal", 0.1, 1e-2): 0.90, ("temporal", 0.5, 1e-2): 0.80}
    frame = _frame(val, val)
    lrs = select_lr(frame, d, base_of)
    assert lrs == {MLP: 1e-2}
    chosen = select_p(frame, d, lrs).set_index("label")
    assert chosen.loc["standard", "p"] == 0.5 and chosen.loc["temporal", "p"] == 0.1


def test_missing_trials_and_columns_are_clear_errors() -> None:
    d = design()
    with pytest.raises(ValueError, match="needs a 'val_acc' column"):
        select_lr(pd.DataFrame({"dataset": [], "model": [], "train_subset": [], "method": [], "p": [], "seed": [],
                                "lr": []}), d, base_of)
    frame = _frame({("none", 0.0, 5e-3): 0.9}, {("none", 0.0, 5e-3): 0.9})
    with pytest.raises(ValueError, match="no base trials at lr=0.01"):
        select_lr(frame, d, base_of)
    with pytest.raises(ValueError, match="no trials of standard"):
        select_p(frame, d, {MLP: 5e-3})


def _tuned() -> pd.DataFrame:
    rows = []
    for setting, gap in (("digits · 300 · spiking_mlp", 0.08), ("digits · full · spiking_mlp", 0.02)):
        for seed in (0, 1, 2):
            rows.append(dict(setting=setting, method="none", seed=seed, train_acc_eval=0.99, val_acc=0.97,
                             test_acc=0.99 - gap - 0.001 * seed, gap_eval=gap + 0.001 * seed))
    return pd.DataFrame(rows)


def test_regime_table_and_sentences_follow_the_numbers() -> None:
    from snnlab.study.comparison import regime_sentences, regime_table

    regime = regime_table(_tuned())
    assert list(regime["setting"]) == ["digits · 300 · spiking_mlp", "digits · full · spiking_mlp"]
    assert regime.loc[0, "gap_eval"] == pytest.approx(0.081) and regime.loc[0, "seeds"] == 3
    text = " ".join(regime_sentences(regime))
    assert "a gap of 8.10 pp" in text and "widest in digits · 300" in text
    flipped = _tuned()
    flipped.loc[flipped["setting"].str.contains("full"), "gap_eval"] += 0.2
    assert "widest in digits · full" in " ".join(regime_sentences(regime_table(flipped)))
    with pytest.raises(ValueError, match="gap_eval"):
        regime_table(_tuned().drop(columns="gap_eval"))


def test_conclusion_counts_verdicts_and_names_methods() -> None:
    from snnlab.study.comparison import comparison_conclusion

    table = pd.DataFrame({"setting": ["s"] * 4, "label": ["standard", "dropout2d", "temporal", "alpha"],
                          "verdict": ["hurts", "duplicate", "equivalent", "hurts"],
                          "mean_diff": [-0.004, float("nan"), 0.0005, -0.05], "margin": [0.005] * 4})
    regime = pd.DataFrame({"setting": ["s"], "gap_eval": [0.03]})
    (sentence,) = comparison_conclusion(regime, table)
    assert "of 3 distinct methods" in sentence and "2 hurts" in sentence and "1 equivalent" in sentence
    assert "hurt: alpha (-5.00 pp), standard (-0.40 pp)" in sentence and "base gap 3.00 pp" in sentence
    table.loc[2, "verdict"], table.loc[2, "mean_diff"] = "helps", 0.006
    (changed,) = comparison_conclusion(regime, table)
    assert "help: temporal (+0.60 pp)" in changed and changed != sentence


@pytest.mark.slow
def test_both_stages_end_to_end_for_every_network(tmp_path) -> None:
    """The whole design on digits, every network of the paper profile: stage 1, stage 2, the
    selection, the tuned trials and the paired table (tiny sizes: this checks the wiring)."""
    from snnlab.analysis.paired import compare_paired
    from snnlab.study import ResultsStore, run_trials

    def tiny(setting: Setting) -> TrialSpec:
        sizes = (4, 8, 16) if setting.network == "spiking_cnn" else (24,)
        spec = TrialSpec(dataset="digits", model=setting.network, sizes=sizes, T=4, epochs=1, lr=1e-2, seed=0,
                         device="cpu", batch_size=64, test_subset=100)
        return spec if setting.network in ("spiking_mlp", "spiking_cnn") else spec.replace(neuron=None, encoding=None)

    settings = tuple(Setting("digits", net, 200) for net in ("spiking_mlp", "spiking_cnn", "delayed_snn", "penalty_snn"))
    d = ComparisonDesign(settings=settings, conditions=(("standard", ()), ("membrane", (("window", "causal"),))),
                         p_grid=(0.3,), seeds=(0, 1), val_fraction=0.2, lr_factors=(1.0,), train_eval_size=64)
    store = ResultsStore(tmp_path / "s.sqlite")
    first = run_trials(lr_specs(d, tiny), store, progress=False)
    assert first.ok, first.summary()
    lrs = select_lr(first.frame(), d, tiny)
    second = run_trials(condition_specs(d, tiny, lrs), store, progress=False)
    assert second.ok, second.summary()
    frame = pd.concat([first.frame(), second.frame()], ignore_index=True)
    assert frame["val_acc"].notna().all() and frame["gap_eval"].notna().all()
    tuned = tuned_trials(frame, select_p(frame, d, lrs), lrs)
    assert len(tuned) == len(settings) * 3 * 2
    table = compare_paired(tuned, metric="test_acc", margin=0.01, group="label", by=("setting",))
    assert set(table["setting"]) == {s.label for s in settings} and (table["n"] == 2).all()


def test_lr_edge_sentences_flag_a_rate_at_the_end_of_its_grid() -> None:
    table = pd.DataFrame({"setting": ["a", "a", "a", "b", "b", "b"], "lr": [5e-4, 1e-3, 2e-3, 5e-4, 1e-3, 2e-3],
                          "chosen": [False, False, True, False, True, False]})
    assert cmp.lr_edge_sentences(table) == [
        "a: the chosen learning rate 0.002 is the largest of the grid (0.0005, 0.001, 0.002); a larger one might "
        "validate better, and every condition is compared at this one."]
    low = table.assign(chosen=[True, False, False, False, True, False])
    assert "is the smallest of the grid" in cmp.lr_edge_sentences(low)[0]

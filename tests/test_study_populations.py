"""Populations in the runner: grouping, sizing, and each member stored as its own trial."""

from __future__ import annotations

import pytest

from snnlab.study import ResultsStore, TrialSpec
from snnlab.study.populations import group_key, group_specs, population_size, train_population
from snnlab.study.runner import run_trials

BASE = TrialSpec(dataset="digits", train_subset=160, test_subset=48, sizes=(16,), T=4, epochs=2, method="standard",
                 p=0.2, device="cpu", batch_size=32)


def test_groups_differ_only_in_seed_p_and_numeric_options():
    a = BASE.replace(seed=1, p=0.1)
    assert group_key(a) == group_key(BASE.replace(seed=7, p=0.4))
    assert group_key(BASE.replace(method="membrane", method_options={"favor": "drop", "p_max": 0.9})) == \
        group_key(BASE.replace(method="membrane", method_options={"favor": "drop", "p_max": 0.8}))
    assert group_key(BASE.replace(method="membrane", method_options={"favor": "drop"})) != \
        group_key(BASE.replace(method="membrane", method_options={"favor": "protect"}))
    for other in (BASE.replace(method="temporal"), BASE.replace(T=5), BASE.replace(lr=0.01), BASE.replace(sizes=(8,))):
        assert group_key(other) != group_key(BASE)
    specs = [BASE.replace(seed=s) for s in range(5)] + [BASE.replace(method="temporal", seed=s) for s in range(2)]
    groups = group_specs(specs, 2)
    assert [len(g) for g in groups] == [2, 2, 1, 2]
    assert [s for g in groups for s in g] == specs
    with pytest.raises(ValueError, match="max_population"):
        group_specs(specs, 0)


def test_population_size_on_cpu():
    assert population_size(BASE) == 4
    assert population_size(BASE, max_population=9) == 9
    with pytest.raises(ValueError, match="max_population"):
        population_size(BASE, max_population=0)


def test_population_executor_stores_the_standalone_results(tmp_path):
    specs = [BASE.replace(seed=s, p=p) for s in (0, 1) for p in (0.1, 0.3)]
    pop = run_trials(specs, ResultsStore(tmp_path / "pop.sqlite"), executor="population", progress=False)
    one = run_trials(specs, ResultsStore(tmp_path / "one.sqlite"), executor="local", progress=False)
    assert pop.trained == one.trained == 4
    a, b = pop.frame().set_index("key"), one.frame().set_index("key")
    assert set(a.index) == {s.key for s in specs} == set(b.index)  # same spec keys: a member is its trial
    for key in a.index:
        # float32: the stacked GEMM rounds differently (~1e-7), which may flip a spike in a long run;
        # these short runs agree to a few test images at most.
        assert abs(a.loc[key, "test_acc"] - b.loc[key, "test_acc"]) <= 2 / 48
    result = pop.store.get(specs[0])
    assert result.env["population"] == 4 and result.env["population_seconds"] > 0


def test_population_resumes_per_member_and_reports_failures(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    specs = [BASE.replace(seed=s) for s in range(3)]
    run_trials(specs[:1], store, executor="population", progress=False)
    report = run_trials(specs, store, executor="population", progress=False)
    assert (report.reused, report.trained) == (1, 2)
    bad = [BASE.replace(dataset="mnist", seed=s, train_subset=10) for s in range(2)]
    report = run_trials(bad, ResultsStore(tmp_path / "bad.sqlite"), executor="population", progress=False,
                        keep_going=True, max_population=2)
    assert len(report.failed) == 2 and report.trained == 0


def test_train_population_refuses_mixed_groups():
    with pytest.raises(ValueError, match="differ only in seed"):
        train_population([BASE, BASE.replace(method="temporal")])
    with pytest.raises(ValueError, match="at least one"):
        train_population([])


def test_trial_fn_cannot_run_populations(tmp_path):
    with pytest.raises(ValueError, match="one trial at a time"):
        run_trials([BASE], ResultsStore(tmp_path / "r.sqlite"), executor="population", trial_fn=lambda s, **k: None)


def test_population_with_validation_selects_each_members_epoch_as_its_trial(tmp_path):
    """The members of a population with val_fraction get the standalone trial's validation set and
    selection: the same keys, validation curves and selected epochs as trials run one by one."""
    tuned = BASE.replace(val_fraction=0.2, train_eval_size=64, epochs=3, train_subset=None)
    specs = [tuned.replace(seed=s, p=p) for s, p in ((0, 0.1), (1, 0.3))]
    pop = run_trials(specs, ResultsStore(tmp_path / "pop.sqlite"), executor="population", progress=False)
    one = run_trials(specs, ResultsStore(tmp_path / "one.sqlite"), executor="local", progress=False)
    a, b = pop.frame().set_index("key"), one.frame().set_index("key")
    assert set(a.index) == {s.key for s in specs} == set(b.index)
    for key in a.index:
        assert a.loc[key, "select"] == "best_val" and a.loc[key, "epoch"] == a.loc[key, "best_epoch"]
        assert a.loc[key, "best_epoch"] == b.loc[key, "best_epoch"]
        assert abs(a.loc[key, "val_acc"] - b.loc[key, "val_acc"]) <= 2 / 269  # float32: a spike may flip
        assert abs(a.loc[key, "test_acc"] - b.loc[key, "test_acc"]) <= 2 / 48
    assert len(pop.history()) == 2 * 3 and pop.history()["val_acc"].notna().all()


def test_a_killed_population_goes_on_from_its_checkpoint_with_its_members(tmp_path, monkeypatch):
    import snnlab.population as population
    from snnlab.study.runner import checkpoint_folder

    specs = [BASE.replace(seed=s, p=p, epochs=3) for s, p in ((0, 0.1), (1, 0.2), (2, 0.3))]
    whole = run_trials(specs, ResultsStore(tmp_path / "whole.sqlite"), executor="population", progress=False)

    store = ResultsStore(tmp_path / "killed.sqlite")
    evaluate, calls = population.evaluate_population, {"n": 0}

    def killed_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 2's test pass: epoch 1 is checkpointed, epoch 2 is lost
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(population, "evaluate_population", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_trials(specs, store, executor="population", progress=False)
    monkeypatch.setattr(population, "evaluate_population", evaluate)
    folder = checkpoint_folder(store)
    assert folder == tmp_path / "killed.checkpoints" and len(list(folder.glob("population-*.pt"))) == 1
    assert store.keys() == set()

    # a smaller population size now: the checkpointed population is still formed with its three members
    report = run_trials(specs, store, executor="population", progress=False, max_population=2)
    assert report.trained == 3 and store.get(specs[0]).env["population"] == 3
    a, b = store.frame().set_index("key"), whole.frame().set_index("key")
    for key in a.index:  # the same numbers as the run never killed
        for column in ("train_loss", "test_loss", "test_acc"):
            assert a.loc[key, column] == b.loc[key, column], column
    assert not folder.exists()  # each checkpoint removed once its results were stored, then the empty folder

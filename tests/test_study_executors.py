"""``snnlab/study/executors.py``: the executors behind ``run_trials`` (``local`` is covered by
tests/test_study_runner.py; here ``ray`` against ``local``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from snnlab.study import ResultsStore, TrialSpec, grid, run_trials


@pytest.mark.ray
def test_ray_executor_matches_the_local_one(tmp_path, monkeypatch, tiny_trial: dict[str, Any]) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_raylet_start_wait_time_s", "180")  # a busy 2-core CI machine starts Ray slowly
    specs = grid(TrialSpec(method="standard", p=0.2, **tiny_trial), seed=[0, 1, 2, 3])
    local = ResultsStore(tmp_path / "local.sqlite")
    run_trials(specs, local, progress=False)
    remote = ResultsStore(tmp_path / "ray.sqlite")
    report = run_trials(specs, remote, executor="ray", num_cpus=2, progress=False)
    assert report.trained == 4 and report.ok
    cols = ["key", "train_loss", "train_acc", "test_loss", "test_acc"]
    a = local.frame()[cols].sort_values("key").reset_index(drop=True)
    b = remote.frame()[cols].sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert len(remote.history()) == 4 * tiny_trial["epochs"]
    # One task per population: the same four trials as two populations of two, on Ray.
    pops = ResultsStore(tmp_path / "ray-populations.sqlite")
    report = run_trials(specs, pops, executor="ray", num_cpus=2, progress=False, populations=True, max_population=2)
    assert report.trained == 4 and report.ok
    c = pops.frame()[cols].sort_values("key").reset_index(drop=True)
    assert list(c["key"]) == list(a["key"])
    assert (c["test_acc"] - a["test_acc"]).abs().max() <= 2 / 100  # float32 stacked GEMMs: a spike may flip
    assert {pops.get(s).env["population"] for s in specs} == {2}

"""``snnlab/study/executors.py``: the executors behind ``run_trials`` (``local`` is covered by
tests/test_study_runner.py; here ``ray`` against ``local``, and the Ray options, timeout and session
with a stand-in ``ray`` module, so they run without Ray installed)."""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import Any

import pandas as pd
import pytest

from snnlab.study import ResultsStore, TrialSpec, grid, run_trials
from snnlab.study.executors import check_ray_options, ray_session, run_populations, run_ray


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


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"num_cpus": 0}, ValueError, "num_cpus=0"),
        ({"num_cpus": -2}, ValueError, "num_cpus=-2"),
        ({"num_cpus": 1.5}, TypeError, "num_cpus must be an integer"),
        ({"num_cpus": True}, TypeError, "num_cpus must be an integer"),
        ({"address": ""}, ValueError, "address=''"),
        ({"address": 6379}, TypeError, "address must be a string"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
    ],
)
def test_bad_ray_options_fail_before_ray_is_imported(monkeypatch, options: dict, error: type, names: str) -> None:
    """Checked first, so the message is the same whether Ray is installed or not (here: hidden)."""
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    full = {"address": None, "num_cpus": None, **options}
    with pytest.raises(error, match=re.escape(names)):
        check_ray_options(**full)
    with pytest.raises(error, match=re.escape(names)):
        run_ray([], lambda *a, **k: None, data_root=None, progress=False, on_result=print, on_error=print, **full)


def test_ray_missing_is_an_import_error_naming_the_extra(tmp_path, monkeypatch, tiny_trial: dict[str, Any]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'snnlab\[cluster\]'"):
        run_trials([TrialSpec(**tiny_trial)], ResultsStore(tmp_path / "r.sqlite"), executor="ray", progress=False)


class FakeRay:
    """Stands in for the ``ray`` module: ``init`` with an address hangs (like an unreachable cluster) until released."""

    def __init__(self, initialized: bool = False) -> None:
        self.initialized = initialized
        self.release = threading.Event()
        self.calls: list[str] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address: str | None = None, **kwargs: Any) -> None:
        self.calls.append(f"init {address}")
        if address is not None:
            self.release.wait(30)
        self.initialized = True

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.initialized = False


def test_an_unreachable_ray_address_times_out(monkeypatch) -> None:
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    started = time.perf_counter()
    try:
        with pytest.raises(TimeoutError, match=r"address='10\.9\.8\.7:6379': no Ray cluster answered within 0\.3 s"):
            with ray_session(address="10.9.8.7:6379", timeout=0.3):
                pytest.fail("connected to an unreachable address")
        assert time.perf_counter() - started < 10
        assert ray.calls == ["init 10.9.8.7:6379"]
    finally:
        ray.release.set()


def test_ray_session_starts_and_stops_a_local_ray_and_leaves_a_running_one(monkeypatch) -> None:
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    with ray_session(num_cpus=2) as started:
        assert started and ray.initialized
    assert ray.calls == ["init None", "shutdown"] and not ray.initialized
    running = FakeRay(initialized=True)
    monkeypatch.setitem(sys.modules, "ray", running)
    with ray_session(address="10.9.8.7:6379") as started:
        assert not started
    assert running.calls == [] and running.initialized


def test_a_failing_ray_connection_raises_its_own_error(monkeypatch) -> None:
    ray = FakeRay()

    def refuse(address: str | None = None, **kwargs: Any) -> None:
        raise ConnectionError(f"could not connect to {address}")

    ray.init = refuse
    monkeypatch.setitem(sys.modules, "ray", ray)
    with pytest.raises(ConnectionError, match="could not connect to 10.9.8.7:6379"):
        with ray_session(address="10.9.8.7:6379", timeout=5):
            pass


def test_run_populations_asks_take_right_before_each_group() -> None:
    """take trims a group to what this run claimed (or skips it); only what it returns is trained."""
    specs = grid(TrialSpec(method="standard", p=0.2, epochs=1), seed=[0, 1, 2, 3])
    groups = [specs[:2], specs[2:]]
    trained: list[list[int]] = []
    results: list[int] = []

    def fn(group: list[TrialSpec], **_: Any) -> list[Any]:
        trained.append([s.seed for s in group])
        rows = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0, "test_acc": 0.5, "seconds": 0.0}]
        from snnlab.study.store import TrialResult

        return [TrialResult(spec=s, history=pd.DataFrame(rows), final=dict(rows[0]), seconds=0.0, device="cpu")
                for s in group]

    def take(group: list[TrialSpec]) -> list[TrialSpec]:
        return [] if group[0].seed == 0 else group[1:]

    run_populations(groups, fn, data_root=None, progress=False, on_result=lambda r: results.append(r.spec.seed),
                    on_error=lambda spec, error: pytest.fail(str(error)), take=take)
    assert trained == [[3]] and results == [3]

"""``snnlab/study/runner.py``: run_trial / train_trial / run_trials: resumable sweeps, no retraining,
crash safety, real tiny trials."""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from snnlab.study import ResultsStore, TrainedTrial, TrialFailed, TrialSpec, grid, run_trial, run_trials, train_trial
from snnlab.study.store import ResultNotSaved, StoreError, TrialResult, load_result_file, new_owner

TESTS = Path(__file__).resolve().parent


def fake_result(spec: TrialSpec) -> TrialResult:
    """A deterministic stand-in for a trained trial (no torch work)."""
    rows = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "test_loss": 1.0 / e,
             "test_acc": 0.5 + 0.001 * spec.seed, "seconds": 0.0} for e in range(1, spec.epochs + 1)]
    return TrialResult(spec=spec, history=pd.DataFrame(rows), final=dict(rows[-1]), seconds=0.0, device="cpu")


class CountingTrial:
    """A trial_fn that records which specs it ran."""

    def __init__(self, fail_seed: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_seed = fail_seed

    def __call__(self, spec: TrialSpec, *, data_root: str | None = None, progress: bool = False) -> TrialResult:
        self.calls.append(spec.key)
        if spec.seed == self.fail_seed:
            raise RuntimeError(f"boom on seed {spec.seed}")
        return fake_result(spec)


def sweep_specs(n: int, epochs: int = 3) -> list[TrialSpec]:
    return grid(TrialSpec(method="standard", p=0.2, epochs=epochs), seed=list(range(n)))


def test_finished_trials_are_never_run_again(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    specs = sweep_specs(5)
    first = CountingTrial()
    report = run_trials(specs[:3], store, trial_fn=first, progress=False)
    assert (report.trained, report.reused, len(first.calls)) == (3, 0, 3)
    second = CountingTrial()
    report = run_trials(specs + specs[:1], store, trial_fn=second, progress=False)  # a duplicate spec too
    assert (report.trained, report.reused) == (2, 3)
    assert second.calls == [specs[3].key, specs[4].key]
    assert report.frame()["key"].tolist() == [s.key for s in specs]
    third = CountingTrial()
    assert run_trials(specs, store, trial_fn=third, progress=False).trained == 0 and third.calls == []


def test_two_sweeps_on_one_store_keep_every_row(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    a = sweep_specs(4)
    b = grid(TrialSpec(method="temporal", p=0.5, epochs=2), seed=[0, 1, 2])
    run_trials(a, store, trial_fn=CountingTrial(), progress=False)
    run_trials(b + a[:2], store, trial_fn=CountingTrial(), progress=False)
    frame = store.frame()
    assert sorted(frame["key"]) == sorted(s.key for s in a + b)
    hist = store.history()
    assert len(hist) == 4 * 3 + 3 * 2
    assert not hist.duplicated(["key", "epoch"]).any()


def test_a_failing_trial_stops_or_is_reported_with_keep_going(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    specs = sweep_specs(4)
    with pytest.raises(TrialFailed, match="boom on seed 2"):
        run_trials(specs, store, trial_fn=CountingTrial(fail_seed=2), progress=False)
    assert {s.seed for s in specs if store.has(s)} == {0, 1}  # finished before the failure: kept
    report = run_trials(specs, store, trial_fn=CountingTrial(fail_seed=2), progress=False, keep_going=True)
    assert report.trained == 1 and report.reused == 2 and not report.ok
    assert [s.seed for s, _ in report.failed] == [2] and "boom" in report.failed[0][1]
    assert not store.has(specs[2]) and store.has(specs[3])


def test_wrong_arguments_are_rejected(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match="executor"):
        run_trials(sweep_specs(1), store, executor="dask")
    with pytest.raises(TypeError, match=r"specs\[1\]"):
        run_trials([TrialSpec(), "nope"], store, trial_fn=CountingTrial())
    with pytest.raises(TrialFailed, match="expected a TrialResult"):
        run_trials(sweep_specs(1), store, trial_fn=lambda spec, **_: None, progress=False)


SLOW_SWEEP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_study_runner import fake_result, sweep_specs
    from snnlab.study import ResultsStore, run_trials

    gate = Path({gate!r})

    def slow_trial(spec, *, data_root=None, progress=False):
        # trials from seed 6 on wait for a gate file that never appears: the parent kills us there
        while spec.seed >= 6 and not gate.exists():
            time.sleep(0.05)
        time.sleep(0.02)
        return fake_result(spec)

    run_trials(sweep_specs(12), ResultsStore({store!r}), trial_fn=slow_trial, progress=False)
    """
)


def test_a_sweep_killed_midway_resumes_without_loss_or_duplicates(tmp_path) -> None:
    store_path = tmp_path / "r.sqlite"
    script = tmp_path / "sweep.py"
    script.write_text(SLOW_SWEEP.format(tests=str(TESTS), gate=str(tmp_path / "never"), store=str(store_path)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if store_path.exists():
                with sqlite3.connect(store_path, timeout=30) as conn:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    if "trials" in tables:
                        done = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'done'").fetchone()[0]
            if done >= 6:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert done == 6
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = ResultsStore(store_path)
    assert store.integrity_check() == "ok"
    assert len(store) == 6
    stale = store.running()  # the killed process's claim on seed 6: its owner is gone, so it is taken over
    assert stale["key"].tolist() == [sweep_specs(12)[6].key] and stale["owner"].str.contains(f":{proc.pid}:").all()
    resume = CountingTrial()
    report = run_trials(sweep_specs(12), store, trial_fn=resume, progress=False)
    assert (report.trained, report.reused, len(resume.calls)) == (6, 6, 6)
    specs = sweep_specs(12)
    assert sorted(resume.calls) == sorted(s.key for s in specs[6:])
    frame = store.frame()
    assert sorted(frame["key"]) == sorted(s.key for s in specs)
    hist = store.history()
    assert len(hist) == 12 * 3 and not hist.duplicated(["key", "epoch"]).any()
    assert (hist.groupby("key")["epoch"].apply(sorted).map(tuple) == (1, 2, 3)).all()
    assert store.running().empty


def test_run_trial_trains_a_real_tiny_network_deterministically(tiny_trial: dict[str, Any]) -> None:
    spec = TrialSpec(method="temporal", p=0.3, seed=1, **tiny_trial)
    first = run_trial(spec)
    again = run_trial(spec)
    assert first.spec == spec and first.device == "cpu" and first.seconds > 0
    assert first.history["epoch"].tolist() == [1, 2]
    assert {"train_loss", "train_acc", "test_loss", "test_acc"} <= set(first.final)
    assert first.final["train_loss"] == again.final["train_loss"]
    assert first.final["test_acc"] == again.final["test_acc"]
    assert first.env["torch"] and first.env["snnlab"]
    other_seed = run_trial(spec.replace(seed=2))
    assert other_seed.final["train_loss"] != first.final["train_loss"]


def test_run_trial_builds_the_other_model_kinds(tiny_trial: dict[str, Any]) -> None:
    ann = run_trial(TrialSpec(model="mlp", method="standard", p=0.2, **{**tiny_trial, "epochs": 1}))
    assert 0.0 <= ann.final["test_acc"] <= 1.0
    cnn = run_trial(TrialSpec(model="spiking_cnn", **{**tiny_trial, "epochs": 1, "sizes": (4, 8, 16), "T": 2}))
    assert 0.0 <= cnn.final["test_acc"] <= 1.0
    with pytest.raises(ValueError, match="sizes"):
        run_trial(TrialSpec(model="spiking_cnn", **{**tiny_trial, "sizes": (16,)}))


def test_train_trial_returns_the_model_and_the_run_trial_result(tiny_trial: dict[str, Any]) -> None:
    import torch

    from snnlab.data import SplitData

    spec = TrialSpec(method="standard", p=0.2, seed=3, **{**tiny_trial, "epochs": 1, "T": 3})
    seen: list[dict[str, torch.Tensor]] = []

    def on_model(model: torch.nn.Module) -> None:  # called once, after the build, before training
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    trained = train_trial(spec, on_model=on_model)
    assert isinstance(trained, TrainedTrial) and isinstance(trained.model, torch.nn.Module)
    with pytest.raises(AttributeError):
        trained.model = None  # frozen
    assert isinstance(trained.train, SplitData) and isinstance(trained.test, SplitData)
    assert (len(trained.train), len(trained.test)) == (spec.train_subset, spec.test_subset)
    assert trained.train.name == trained.test.name == "digits"
    assert len(seen) == 1
    after = trained.model.state_dict()
    assert any(not torch.equal(seen[0][k], after[k]) for k in after)  # the hook saw the untrained model
    plain = run_trial(spec)
    timing = {"seconds", "total_seconds"}  # wall time: the only fields that differ between two runs

    def untimed(final: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in final.items() if k not in timing}

    assert trained.result.spec == plain.spec and untimed(trained.result.final) == untimed(plain.final)
    assert set(plain.final) >= {"train_loss", "test_acc"}
    pd.testing.assert_frame_equal(trained.result.history.drop(columns="seconds"), plain.history.drop(columns="seconds"))
    with pytest.raises(TypeError, match="on_model"):
        train_trial(spec, on_model="print")
    with pytest.raises(TypeError, match="spec must be a TrialSpec"):
        train_trial(spec.to_json())


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def _ids_of(data) -> set[bytes]:
    """Samples as their pixel bytes (digits has a few duplicate images, so compare as sets of rows)."""
    return {row.numpy().tobytes() for row in data.x.flatten(1).cpu()}


def test_load_trial_data_carves_a_fixed_validation_set_from_the_training_split() -> None:
    from snnlab.study.runner import load_trial_data

    plain = load_trial_data(TrialSpec(train_subset=200, test_subset=100, device="cpu"))
    assert plain.val is None and (len(plain.train), len(plain.test)) == (200, 100)
    base = TrialSpec(val_fraction=0.2, test_subset=100, device="cpu")
    small = load_trial_data(base.replace(train_subset=300, seed=1))
    large = load_trial_data(base.replace(train_subset=800, seed=5, method="standard", p=0.3))
    whole = load_trial_data(base)
    assert torch_equal(small.val.x, large.val.x) and torch_equal(small.val.x, whole.val.x)  # one validation set
    assert torch_equal(small.test.x, plain.test.x)  # the test set is untouched
    assert (len(small.train), len(large.train)) == (300, 800) and len(whole.train) + len(whole.val) == 1347
    val = _ids_of(small.val)
    assert _ids_of(small.train) <= _ids_of(large.train) <= _ids_of(whole.train)  # growing only adds samples
    assert not _ids_of(whole.train) & val
    with pytest.raises(ValueError, match="train_subset=1200 is larger than the"):
        load_trial_data(base.replace(train_subset=1200))


def test_run_trial_with_validation_reports_the_selected_epoch(tiny_trial: dict[str, Any]) -> None:
    spec = TrialSpec(method="standard", p=0.3, seed=1, val_fraction=0.2, train_eval_size=100,
                     **{**tiny_trial, "epochs": 3})
    trained = train_trial(spec)
    result = trained.result
    hist = result.history.set_index("epoch")
    best = max(hist.index, key=lambda e: (hist.loc[e, "val_acc"], -hist.loc[e, "val_loss"], -e))
    assert result.final["best_epoch"] == best and result.final["epoch"] == best and spec.select == "best_val"
    for name in ("test_acc", "test_loss", "val_acc", "train_acc_eval"):
        assert result.final[name] == hist.loc[best, name]
    assert result.final["gap_eval"] == pytest.approx(hist.loc[best, "train_acc_eval"] - hist.loc[best, "test_acc"])
    assert trained.val is not None and len(trained.train) == 200 and len(trained.val) == 269


@pytest.mark.parametrize(
    ("model", "neuron", "encoding"),
    [("spiking_mlp", "lif", "direct"), ("delayed_snn", "first_spike", "latency"), ("penalty_snn", "penalty", "noisy_repeat")],
)
def test_the_spec_records_the_neuron_and_encoding_the_model_runs(model: str, neuron: str, encoding: str) -> None:
    from snnlab.study.runner import build_trial_model

    spec = TrialSpec(model=model, sizes=(16,), T=4)
    built = build_trial_model(spec, (1, 8, 8), 10)
    assert (spec.neuron, spec.encoding) == (neuron, encoding)
    assert (built.blocks[0].neuron.key, built.encoding) == (neuron, encoding)


# ---------------------------------------------------------------------- claims and results kept
def test_trials_claimed_by_a_live_process_are_left_to_it_and_stale_claims_taken_over(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite", claim_timeout=30.0)
    specs = sweep_specs(4)
    other = new_owner()
    assert store.claim(specs[1], other) and store.claim(specs[2], other)
    with sqlite3.connect(store.path) as conn:  # the claim on seed 2 has not been refreshed for too long
        conn.execute("UPDATE trials SET heartbeat = heartbeat - 31 WHERE key = ?", (specs[2].key,))
    first = CountingTrial()
    report = run_trials(specs, store, trial_fn=first, progress=False)
    assert sorted(first.calls) == sorted(s.key for s in (specs[0], specs[2], specs[3]))
    assert report.trained == 3 and report.elsewhere == [specs[1]] and report.ok
    assert "1 being trained by another process" in report.summary()
    assert store.running()["owner"].tolist() == [other]
    with sqlite3.connect(store.path) as conn:  # the store records who trained each trial
        owners = dict(conn.execute("SELECT key, owner FROM trials WHERE status = 'done'").fetchall())
    assert len(set(owners.values())) == 1 and other not in owners.values()
    store.put(fake_result(specs[1]))  # the other process finishes: a rerun has nothing left to do
    again = CountingTrial()
    assert run_trials(specs, store, trial_fn=again, progress=False).reused == 4 and again.calls == []


def test_a_failing_trial_releases_its_claim_and_heartbeats_keep_claims_alive(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite", claim_timeout=0.2)
    specs = sweep_specs(2)
    beats: list[tuple[float, float]] = []

    def slow(spec: TrialSpec, *, data_root: str | None = None, progress: bool = False) -> TrialResult:
        time.sleep(0.5)  # longer than claim_timeout: only the heartbeat thread keeps the claim
        row = store.running().iloc[0]
        beats.append((row["started_at"], row["heartbeat"]))
        assert not store.claim(spec, new_owner())  # still live for everybody else
        if spec.seed == 1:
            raise RuntimeError("boom")
        return fake_result(spec)

    report = run_trials(specs, store, trial_fn=slow, progress=False, keep_going=True)
    assert report.trained == 1 and [s.seed for s, _ in report.failed] == [1]
    assert all(beat > started for started, beat in beats)
    assert store.running().empty and store.has(specs[0]) and not store.has(specs[1])


def test_a_result_the_store_cannot_take_is_kept_and_reported(tmp_path, monkeypatch) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    specs = sweep_specs(3)

    def disk_full_for_seed_1(self, row, epoch_rows):
        if row["seed"] == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real_write(self, row, epoch_rows)

    real_write = ResultsStore._write
    monkeypatch.setattr(ResultsStore, "_write", disk_full_for_seed_1)
    with pytest.raises(TrialFailed, match="disk is full.*kept in") as info:
        run_trials(specs, store, trial_fn=CountingTrial(), progress=False)
    assert isinstance(info.value.__cause__, ResultNotSaved)
    kept = info.value.__cause__.saved_to
    assert kept.parent == tmp_path and load_result_file(kept).spec == specs[1]
    assert store.has(specs[0]) and not store.has(specs[1]) and store.running().empty
    report = run_trials(specs, store, trial_fn=CountingTrial(), progress=False, keep_going=True)
    assert report.trained == 1 and [s.seed for s, _ in report.failed] == [1]
    saved = Path(report.failed[0][1].split("kept in ")[1].split(" ")[0])
    assert saved.is_file() and load_result_file(saved).final == fake_result(specs[1]).final
    monkeypatch.undo()
    assert store.put(load_result_file(saved)) and len(store) == 3


def test_run_trials_validates_the_store_before_training(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    for extra in ("", "-wal", "-shm"):
        Path(f"{store.path}{extra}").unlink(missing_ok=True)
    store.path.write_bytes(b"garbage" * 100)  # the file went bad after the store was opened
    calls = CountingTrial()
    with pytest.raises(StoreError, match="not an SQLite database"):
        run_trials(sweep_specs(2), store, trial_fn=calls, progress=False)
    assert calls.calls == []


def _logged_trial(spec: TrialSpec, *, log: str, data_root: str | None = None, progress: bool = False) -> TrialResult:
    """run_trial that first appends the trial's key to ``log`` (one line per training started)."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {spec.key}\n")
    return run_trial(spec, data_root=data_root, progress=progress)


def _sweep_worker(store_path: str, log: str, specs: list[TrialSpec], start: Any) -> None:
    """One of several processes sweeping the same store (started together at ``start``, a barrier)."""
    import torch

    torch.set_num_threads(1)
    store = ResultsStore(store_path)
    start.wait(timeout=60)
    run_trials(specs, store, trial_fn=functools.partial(_logged_trial, log=log), progress=False, executor="local")


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_sweeps_on_one_store_train_each_trial_exactly_once(tmp_path, workers: int) -> None:
    # the plain-loop LIF: no C kernel to compile in every fresh process
    base = TrialSpec(dataset="digits", sizes=(16,), T=4, epochs=1, train_subset=200, test_subset=100, device="cpu",
                     neuron_options={"backend": "loop"})
    specs = [base.replace(seed=s) for s in range(2 * workers)]
    store_path, log = str(tmp_path / "r.sqlite"), str(tmp_path / "trained.log")
    ResultsStore(store_path)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    procs = [ctx.Process(target=_sweep_worker, args=(store_path, log, specs[i:] + specs[:i], start))
             for i in range(workers)]  # each starts at another trial, then meets the others' claims
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * workers
    lines = Path(log).read_text().split()
    trained = lines[1::2]
    assert sorted(trained) == sorted(s.key for s in specs)  # every trial trained, none twice
    store = ResultsStore(store_path)
    assert sorted(store.keys()) == sorted(s.key for s in specs) and store.running().empty
    assert len(store.history()) == len(specs)


def test_start_by_starts_nothing_after_it(tmp_path) -> None:
    """Trials pending when start_by has passed are not started (local and population executors)."""
    store = ResultsStore(tmp_path / "r.sqlite")
    specs = sweep_specs(3, epochs=1)
    counting = CountingTrial()
    report = run_trials(specs, store, trial_fn=counting, progress=False, start_by=time.time() - 1)
    assert counting.calls == [] and report.trained == 0 and report.not_started == specs
    assert "3 not started (start_by passed)" in report.summary() and store.running().empty
    pop = run_trials(specs, store, executor="population", progress=False, start_by=time.time() - 1)
    assert pop.trained == 0 and pop.not_started == specs and len(store) == 0
    later = run_trials(specs, store, trial_fn=CountingTrial(), progress=False, start_by=time.time() + 600)
    assert later.trained == 3 and later.not_started == []
    with pytest.raises(ValueError, match="start_by"):
        run_trials(specs, store, progress=False, start_by=-5.0)


def test_the_auto_executor_uses_populations_where_they_pay() -> None:
    """On a CPU, populations for spiking MLPs only (measured faster per member there); a list with any
    other network trains trial by trial."""
    from snnlab.study.runner import CPU_POPULATION_MODELS, populations_pay

    mlps = [TrialSpec(dataset="digits", model="spiking_mlp", seed=s, device="cpu") for s in range(3)]
    assert CPU_POPULATION_MODELS == ("spiking_mlp",)
    assert populations_pay(mlps)
    assert not populations_pay([*mlps, TrialSpec(dataset="digits", model="delayed_snn", device="cpu")])
    assert not populations_pay([TrialSpec(dataset="digits", model="penalty_snn", device="cpu")])

"""``snnlab.study.campaign``: the tuned comparison's trials trained without notebooks (resumable, parallel)."""

from __future__ import annotations

import pytest

from snnlab.study import comparison as cmp
from snnlab.study import notebook_config
from snnlab.study.campaign import (comparison_coverage, designs_to_run, finished_settings, select_settings,
                                   train_comparison, trains_missing)


@pytest.fixture()
def cfg(tmp_path):
    return notebook_config("smoke", device="cpu", store_path=tmp_path / "s.sqlite", data_root=tmp_path / "data")


def test_select_settings_keeps_the_matching_settings_and_names_the_choices(tmp_path) -> None:
    with pytest.warns(RuntimeWarning):
        paper = notebook_config("paper", device="cpu", store_path=tmp_path / "s.sqlite", data_root=tmp_path)
    designs = select_settings(paper.comparison_designs(), ["mnist · 1k"])
    assert [s.label for d in designs for s in d.settings] == [
        "mnist · 1k · spiking_mlp", "mnist · 1k · delayed_snn", "mnist · 1k · penalty_snn"]
    assert select_settings(paper.comparison_designs(), None) == paper.comparison_designs()
    with pytest.raises(ValueError, match="matches no setting.*cifar10 · 5k · spiking_cnn"):
        select_settings(paper.comparison_designs(), ["imagenet"])
    with pytest.raises(TypeError, match="settings"):
        select_settings(paper.comparison_designs(), "mnist")


def test_train_comparison_trains_exactly_the_notebook_trials_once(cfg) -> None:
    lines: list[str] = []
    report = train_comparison(cfg, log=lines.append)
    assert report.complete and report.stopped is None
    (design,) = cfg.comparison_designs()
    stage1 = cmp.lr_specs(design, cfg.network_spec)
    lrs = cmp.select_lr(cfg.store().frame(), design, cfg.network_spec)
    stage2 = cmp.condition_specs(design, cfg.network_spec, lrs)
    assert cfg.store().keys() == {s.key for s in stage1 + stage2}  # what notebook 04 asks for, nothing else
    assert [s.trained for s in report.stages] == [len(stage1), len(stage2)]
    again = train_comparison(cfg, log=lines.append)  # resumes: nothing left to train
    assert again.complete and [s.trained for s in again.stages] == [0, 0]
    assert [s.stored_before for s in again.stages] == [len(stage1), len(stage2)]
    assert "every trial is in the store" in again.summary()
    coverage = comparison_coverage(cfg)
    assert [(c["stage"], c["stored"] == c["trials"]) for c in coverage] == [("learning rates", True),
                                                                           ("conditions", True)]
    assert coverage[1]["lr"] == lrs[design.settings[0]]


@pytest.mark.slow
def test_workers_share_the_trials_through_the_store(cfg) -> None:
    report = train_comparison(cfg, workers=2, time_limit=600, log=lambda line: None)
    assert report.complete
    assert sum(s.trained for s in report.stages) == len(cfg.store().keys()) == 3


def test_a_time_limit_stops_the_run_and_a_rerun_goes_on(cfg) -> None:
    stopped = train_comparison(cfg, workers=2, time_limit=0.01, log=lambda line: None)
    assert not stopped.complete and stopped.stopped == "time limit reached"
    assert "run the same command again" in stopped.summary()
    coverage = comparison_coverage(cfg)
    assert coverage[1]["lr"] is None or coverage[1]["stored"] < coverage[1]["trials"]
    assert train_comparison(cfg, log=lambda line: None).complete


@pytest.mark.slow
def test_a_worker_stopped_at_the_time_limit_leaves_no_leaked_semaphore(tmp_path) -> None:
    """A worker killed mid-trial used to leave a semaphore behind, and Python's resource tracker printed
    a warning after the CLI's last line. The worker now leaves through SystemExit, so its finalizers run."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "snnlab", "trials", "--profile", "smoke", "--device", "cpu", "--time-limit", "9",
            "--store", str(tmp_path / "s.sqlite"), "--data-root", str(tmp_path / "data")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 3, done.stderr  # stopped by its time limit, a rerun goes on
    assert "time limit reached" in done.stdout
    assert "leaked" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_sigterm_in_a_worker_becomes_a_system_exit() -> None:
    import signal

    from snnlab.study.campaign import _exit_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stop:
            _exit_on_sigterm(signal.SIGTERM, None)
        assert stop.value.code == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # a second one cannot break the clean-up
    finally:
        signal.signal(signal.SIGTERM, before)


def test_without_its_own_start_limit_an_early_stop_is_reported_as_the_time_limit() -> None:
    """The start limit defaults to the time limit but is kept on the wall clock: when it is passed a moment
    before the monotonic deadline, the run has still stopped for its time limit (CI once saw the other text)."""
    import time

    from snnlab.study.campaign import StageReport, _why

    stage = StageReport("learning rates", 1, 0)
    later, past = time.perf_counter() + 60.0, time.time() - 1.0
    assert _why(stage, later, past, own_start_limit=False) == "time limit reached"
    assert _why(stage, later, past, own_start_limit=True).startswith("start limit reached")
    assert _why(stage, time.perf_counter() - 1.0, past, own_start_limit=True) == "time limit reached"


def test_bad_arguments_are_named(cfg) -> None:
    with pytest.raises(ValueError, match="workers"):
        train_comparison(cfg, workers=0)
    with pytest.raises(ValueError, match="time_limit"):
        train_comparison(cfg, time_limit=-1)


def test_finished_settings_need_both_stages_complete() -> None:
    coverage = [
        {"setting": "a", "stage": "learning rates", "trials": 3, "stored": 3},
        {"setting": "a", "stage": "conditions", "trials": 6, "stored": 6},
        {"setting": "b", "stage": "learning rates", "trials": 3, "stored": 3},
        {"setting": "b", "stage": "conditions", "trials": 6, "stored": 5},
        {"setting": "c", "stage": "learning rates", "trials": 3, "stored": 0},
        {"setting": "c", "stage": "conditions", "trials": 6, "stored": 0},
    ]
    assert finished_settings(coverage) == ["a"]


def test_trains_missing_by_default_unless_a_gpu_profile_runs_on_a_cpu(cfg, tmp_path) -> None:
    assert trains_missing(cfg, None) and not trains_missing(cfg, False)
    with pytest.warns(RuntimeWarning):
        paper = notebook_config("paper", device="cpu", store_path=tmp_path / "p.sqlite", data_root=tmp_path)
    assert not trains_missing(paper, None) and trains_missing(paper, True)
    with pytest.raises(TypeError, match="train_missing"):
        trains_missing(cfg, "no")


def test_designs_to_run_keeps_only_finished_settings_when_not_training(cfg) -> None:
    lines: list[str] = []
    assert designs_to_run(cfg, True) == cfg.comparison_designs()
    with pytest.raises(ValueError, match="no setting of profile 'smoke' has all its trials"):
        designs_to_run(cfg, False, log=lines.append)
    assert lines and "digits · 256 · spiking_mlp: not every trial is in the store" in lines[0]
    train_comparison(cfg, log=lambda line: None)
    assert designs_to_run(cfg, False, log=lines.append) == cfg.comparison_designs()


def test_a_start_limit_starts_nothing_new_and_says_so(cfg) -> None:
    report = train_comparison(cfg, start_limit=0.0, log=lambda line: None)
    assert not report.complete and report.stopped.startswith("start limit reached")
    assert len(cfg.store().keys()) == 0 and cfg.store().running().empty  # nothing claimed, nothing half-done
    with pytest.raises(ValueError, match="start_limit=20 is after time_limit=10"):
        train_comparison(cfg, time_limit=10, start_limit=20)

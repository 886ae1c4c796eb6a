"""Training a profile's tuned comparison without notebooks: ``snnlab trials``.

Notebook 04 trains its trials in two stages (``snnlab.study.comparison``): the base network at
every learning rate, then every condition at every drop rate at the learning rate stage 1 chose.
``train_comparison`` runs exactly those trials (the same specs, so the notebook finds them all in the
store and trains nothing) from a script or the CLI, for the runs that take hours: on a GPU lent for a
few minutes at a time, or in the background on a CPU.

* **Resumable.** Every trial is stored the moment it finishes; a run stopped at any point (its time
  limit, a kill, the end of a lease) goes on where it stopped when run again.
* **Parallel.** ``workers`` processes share the stage's trials through the store's claims (each
  trial trained exactly once). On a GPU a small SNN leaves the device idle between its many small
  kernel launches; several processes, each training populations, fill it.
* **Bounded.** ``time_limit`` seconds: when they are spent the workers are stopped, and what they
  finished stays in the store; stage 2 starts only when stage 1 is complete (it needs stage 1's choice).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snnlab.study.spec import TrialSpec
from snnlab.validation import check_float, check_int

if TYPE_CHECKING:
    from snnlab.study.comparison import ComparisonDesign
    from snnlab.study.profiles import StudyConfig

STAGES = ("learning rates", "conditions")


@dataclass
class StageReport:
    """One stage of a run: its trials, how many were already stored, trained now, failed, and its time."""

    name: str
    trials: int
    stored_before: int
    trained: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False

    def line(self) -> str:
        """One line: ``stage: trained / trials (stored before), failures, seconds, complete or not``."""
        state = "complete" if self.complete else "incomplete"
        fails = f", {len(self.failed)} failed" if self.failed else ""
        return (f"{self.name}: {self.trials} trials, {self.stored_before} already stored, {self.trained} trained "
                f"now{fails}, {self.seconds:.0f} s, {state}")


@dataclass
class CampaignReport:
    """What ``train_comparison`` did: one ``StageReport`` per stage reached, and why it stopped (None: done)."""

    stages: list[StageReport]
    stopped: str | None
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether every trial of both stages is in the store."""
        return len(self.stages) == len(STAGES) and all(s.complete for s in self.stages)

    def summary(self) -> str:
        """The stages' lines and the outcome, for a person."""
        lines = [s.line() for s in self.stages]
        if self.complete:
            lines.append(f"every trial is in the store ({self.seconds:.0f} s)")
        else:
            lines.append(f"stopped: {self.stopped or 'incomplete'} after {self.seconds:.0f} s; run the same command "
                         "again to go on (finished trials are kept)")
        return "\n".join(lines)


def select_settings(designs: Sequence[ComparisonDesign], settings: Sequence[str] | None) -> list[ComparisonDesign]:
    """``designs`` reduced to the settings whose label contains one of ``settings`` (e.g. ``"mnist · 1k"``,
    ``"delayed_snn"``); None keeps all. A filter that matches nothing is a ValueError listing the labels."""
    import dataclasses

    if settings is None:
        return list(designs)
    if isinstance(settings, str) or not all(isinstance(s, str) and s.strip() for s in settings):
        raise TypeError(f"settings must be a list of non-empty strings or None, got {settings!r}")
    labels = [s.label for d in designs for s in d.settings]
    out = []
    for design in designs:
        kept = tuple(s for s in design.settings if any(f.strip() in s.label for f in settings))
        if kept:
            out.append(dataclasses.replace(design, settings=kept))
    if not out:
        raise ValueError(f"settings={list(settings)!r} matches no setting of the profile; its settings: "
                         f"{', '.join(labels)}")
    return out


def train_comparison(
    cfg: StudyConfig,
    *,
    settings: Sequence[str] | None = None,
    workers: int = 1,
    time_limit: float | None = None,
    start_limit: float | None = None,
    executor: str = "auto",
    max_population: int | None = None,
    log: Callable[[str], None] = print,
) -> CampaignReport:
    """Train every trial of ``cfg``'s tuned comparison (both stages; only ``settings`` if given) into its store.

    ``workers`` processes (1: in this process) run each stage's pending trials with ``run_trials``
    (``executor``, ``max_population``); ``time_limit`` seconds bound the whole run (None: no bound): the
    workers are stopped then, and a population they were training is lost. ``start_limit`` seconds
    (default: ``time_limit``): no population or trial starts after them, so that a run can end with
    nothing half-trained (set it to the time limit minus one population's training time).
    ``log`` gets a line per stage and per finished worker.
    """
    from snnlab.study import comparison as cmp

    workers = check_int("workers", workers, minimum=1)
    if time_limit is not None:
        time_limit = check_float("time_limit", time_limit, low=0.0, low_inclusive=False)
    if start_limit is not None:
        start_limit = check_float("start_limit", start_limit, low=0.0)
        if time_limit is not None and start_limit > time_limit:
            raise ValueError(f"start_limit={start_limit:g} is after time_limit={time_limit:g}; allowed: "
                             "0 <= start_limit <= time_limit")
    start_after = start_limit if start_limit is not None else time_limit
    t0, wall0 = time.perf_counter(), time.time()  # both limits count from the same instant
    start_by = None if start_after is None else wall0 + start_after
    deadline = None if time_limit is None else t0 + time_limit
    own_start_limit = start_limit is not None and start_limit != time_limit
    designs = select_settings(cfg.comparison_designs(), settings)
    store = cfg.store()
    reports: list[StageReport] = []

    stage1 = [s for d in designs for s in cmp.lr_specs(d, cfg.network_spec)]
    first = _run_stage(STAGES[0], stage1, cfg, workers, deadline, start_by, executor, max_population, log)
    reports.append(first)
    if not first.complete:
        return CampaignReport(reports, _why(first, deadline, start_by, own_start_limit), time.perf_counter() - t0)
    frame1 = store.frame()
    lrs = {k: v for d in designs for k, v in cmp.select_lr(frame1, d, cfg.network_spec).items()}
    for setting, lr in lrs.items():
        log(f"{setting.label}: learning rate {lr:g}")
    stage2 = [s for d in designs for s in cmp.condition_specs(d, cfg.network_spec, lrs)]
    second = _run_stage(STAGES[1], stage2, cfg, workers, deadline, start_by, executor, max_population, log)
    reports.append(second)
    return CampaignReport(reports, None if second.complete else _why(second, deadline, start_by, own_start_limit),
                          time.perf_counter() - t0)


def _why(stage: StageReport, deadline: float | None, start_by: float | None, own_start_limit: bool) -> str:
    """Why a stage ended incomplete. Without a start limit of its own the start limit is the time limit,
    so passing it is reported as the time limit (the two clocks may disagree by microseconds)."""
    if deadline is not None and time.perf_counter() >= deadline:
        return "time limit reached"
    if start_by is not None and time.time() >= start_by:
        return "start limit reached (nothing new starts after it)" if own_start_limit else "time limit reached"
    if stage.failed:
        return f"{len(stage.failed)} trial(s) failed in stage {stage.name!r}: {stage.failed[0]}"
    return f"stage {stage.name!r} has trials claimed by another process"


def _run_stage(name: str, specs: list[TrialSpec], cfg: StudyConfig, workers: int, deadline: float | None,
               start_by: float | None, executor: str, max_population: int | None,
               log: Callable[[str], None]) -> StageReport:
    store = cfg.store()
    keys = {s.key for s in specs}
    before = len(keys & store.keys())
    report = StageReport(name, len(keys), before)
    t0 = time.perf_counter()
    log(f"stage {name}: {len(keys)} trials, {before} already stored, {workers} worker(s)")
    if before < len(keys) and (deadline is None or time.perf_counter() < deadline) and \
            (start_by is None or time.time() < start_by):
        args = ([s.to_json() for s in specs], str(store.path), cfg.data_root, executor, max_population, start_by)
        if workers == 1 and deadline is None:
            outcome = _worker(*args)
            report.failed.extend(outcome["failed"])
        else:
            report.failed.extend(_run_workers(args, workers, deadline, log))
    report.seconds = time.perf_counter() - t0
    done = keys & store.keys()
    report.trained = len(done) - before
    report.complete = len(done) == len(keys)
    log(report.line())
    return report


def _run_workers(args: tuple[Any, ...], workers: int, deadline: float | None, log: Callable[[str], None]) -> list[str]:
    """Start ``workers`` processes on ``args``; wait until they end or the deadline passes (then stop them)."""
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(queue, *args), daemon=True) for _ in range(workers)]
    for i, proc in enumerate(procs):
        proc.start()
        if i == 0:
            time.sleep(0.5)  # the first one claims its population before the others look
    failed: list[str] = []
    reported: set[int] = set()
    finished = 0
    while finished < len(procs):
        timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
        if timeout is not None and timeout <= 0:
            break
        try:
            outcome = queue.get(timeout=min(timeout, 5.0) if timeout is not None else 5.0)
        except Exception:  # noqa: BLE001 - queue.Empty: look at the processes again
            if not any(p.is_alive() for p in procs) and queue.empty():
                break
            continue
        finished += 1
        reported.add(outcome["pid"])
        failed.extend(outcome["failed"])
        log(f"  worker {outcome['pid']}: {outcome['trained']} trained, {len(outcome['failed'])} failed, "
            f"{outcome['seconds']:.0f} s" + (f" ({outcome['error']})" if outcome.get("error") else ""))
    stopped: set[int | None] = set()
    for proc in procs:
        if proc.is_alive():
            stopped.add(proc.pid)
            proc.terminate()  # its finished trials are stored; its claims are taken over by the next run
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():  # it did not stop within 10 s of SIGTERM
            proc.kill()
            proc.join(timeout=10)
        if proc.pid not in reported and proc.pid not in stopped and proc.exitcode not in (0, None):
            failed.append(f"worker process {proc.pid} ended with exit code {proc.exitcode} before reporting "
                          "(its claims are taken over by the next run)")
    queue.close()
    queue.join_thread()
    return failed


def _worker_main(queue: Any, *args: Any) -> None:
    # Stopped at the time limit (SIGTERM): leave through SystemExit, so that the process's finalizers run and
    # the semaphores it created (tqdm's lock, for one) are released, not reported as leaked at shutdown.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    outcome = _worker(*args)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # done: a stop now would only interrupt the exit's own clean-up
    queue.put(outcome)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: a second signal must not interrupt the clean-up
    raise SystemExit(128 + signum)


def _worker(spec_json: list[str], store_path: str, data_root: str, executor: str,
            max_population: int | None, start_by: float | None) -> dict[str, Any]:
    """Run ``run_trials`` on the specs (keep going past failures); a summary dict for the parent."""
    from snnlab.study.runner import run_trials
    from snnlab.study.store import ResultsStore

    t0 = time.perf_counter()
    specs = [TrialSpec.from_json(s) for s in spec_json]
    try:
        report = run_trials(specs, ResultsStore(store_path), executor=executor, data_root=data_root, progress=False,
                            keep_going=True, max_population=max_population, start_by=start_by)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
        return {"pid": os.getpid(), "trained": 0, "failed": [f"{type(error).__name__}: {error}"],
                "seconds": time.perf_counter() - t0, "error": f"{type(error).__name__}: {error}"}
    return {"pid": os.getpid(), "trained": report.trained,
            "failed": [f"{spec.label()}: {message}" for spec, message in report.failed],
            "seconds": time.perf_counter() - t0, "error": None}


def comparison_coverage(cfg: StudyConfig, keys: set[str] | None = None) -> list[dict[str, Any]]:
    """How much of ``cfg``'s tuned comparison is finished: one record per setting and stage with
    ``setting``, ``stage``, ``trials`` (expected) and ``stored`` (finished in ``cfg``'s store, or among
    ``keys``). Stage 2's trials exist only once stage 1 has chosen the learning rate: until then its
    ``stored`` is 0 and ``lr`` None."""
    from snnlab.study import comparison as cmp

    if keys is None:
        keys = cfg.store().keys()
    frame = cfg.store().frame()
    records = []
    for design in cfg.comparison_designs():
        for setting in design.settings:
            one = select_settings([design], [setting.label])[0]
            stage1 = {s.key for s in cmp.lr_specs(one, cfg.network_spec)}
            done1 = len(stage1 & keys)
            lr = None
            n2 = len(design.conditions) * len(design.p_grid) * len(design.seeds)
            done2 = 0
            if done1 == len(stage1):
                lr = cmp.select_lr(frame, one, cfg.network_spec)[setting]
                stage2 = {s.key for s in cmp.condition_specs(one, cfg.network_spec, {setting: lr})}
                n2, done2 = len(stage2), len(stage2 & keys)
            records.append({"setting": setting.label, "stage": STAGES[0], "trials": len(stage1), "stored": done1,
                            "lr": None})
            records.append({"setting": setting.label, "stage": STAGES[1], "trials": n2, "stored": done2, "lr": lr})
    return records


def finished_settings(coverage: list[dict[str, Any]]) -> list[str]:
    """Labels of the settings whose two stages are complete in ``coverage`` (``comparison_coverage``)."""
    by: dict[str, list[bool]] = {}
    for record in coverage:
        by.setdefault(record["setting"], []).append(record["trials"] > 0 and record["stored"] == record["trials"])
    return [s for s, done in by.items() if len(done) == 2 and all(done)]


def trains_missing(cfg: StudyConfig, train_missing: bool | None) -> bool:
    """Whether notebook 04 trains the trials its store lacks: ``train_missing`` when given; by default
    (None) yes, unless the profile is sized for a GPU and this machine has none (a laptop then renders
    the shipped results instead of starting days of training)."""
    from snnlab.study.profiles import get_profile

    if train_missing is not None:
        if not isinstance(train_missing, bool):
            raise TypeError(f"train_missing must be True, False or None (decide by the device), got {train_missing!r}")
        return train_missing
    return not (get_profile(cfg.profile).wants_gpu and cfg.device == "cpu")


def designs_to_run(cfg: StudyConfig, train_missing: bool | None = None,
                   log: Callable[[str], None] = print) -> list[ComparisonDesign]:
    """The comparison designs notebook 04 runs: all of them when it trains what is missing
    (``trains_missing``), else only the settings whose every trial is in the store, each setting left
    out named in one line to ``log``. ValueError when nothing is left to show."""
    designs = cfg.comparison_designs()
    if trains_missing(cfg, train_missing):
        return designs
    finished = finished_settings(comparison_coverage(cfg))
    kept = []
    for design in designs:
        settings = tuple(s for s in design.settings if s.label in finished)
        for s in design.settings:
            if s.label not in finished:
                log(f"{s.label}: not every trial is in the store; left out (train_missing=False, or profile "
                    f"{cfg.profile!r} on a CPU: run `snnlab trials --profile {cfg.profile}` on a GPU)")
        if settings:
            import dataclasses

            kept.append(dataclasses.replace(design, settings=settings))
    if not kept:
        raise ValueError(f"no setting of profile {cfg.profile!r} has all its trials in {cfg.store_path}; train them "
                         "(train_missing=True, or `snnlab trials`) or import shipped results first")
    return kept

"""Running trials: ``run_trial`` trains one spec; ``run_trials`` runs a list resumably into a store.

``train_trial`` is ``run_trial`` that also returns the trained model and its data (for analyses
that need weights, e.g. ``snnlab.analysis.importance.train_models``); both train identically.

``run_trials`` asks the store which specs are already finished, runs only the rest through an
executor (``local``: in this process; ``ray``: one Ray task per trial), and writes each result
the moment it arrives. Only this (the driver) process writes the database; workers just return
``TrialResult``s. Because every trial is written in one transaction, a sweep killed at any
point resumes where it stopped with no lost, duplicated or half-written trial.

Several processes may run sweeps on one store: a trial is claimed in the store (``ResultsStore.claim``)
right before it is trained (``local``: trial by trial; ``population``: group by group; ``ray``: all
pending trials when they are submitted), a background thread refreshes the claims' heartbeats, and a
trial claimed by another live process is left to it (``RunReport.elsewhere``). A result the store
cannot take is kept in a side file (``ResultNotSaved``) and reported as a failure naming that file.

The ``population`` executor writes each population's training state after every epoch into
``checkpoint_folder(store)``; a run started again after a kill continues those populations from
their last finished epoch (same members, same result bit for bit) instead of from the start.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from snnlab.study.spec import TrialSpec, options_dict
from snnlab.study.store import ResultNotSaved, ResultsStore, TrialResult, new_owner
from snnlab.validation import check_choice, check_float, check_int

if TYPE_CHECKING:  # torch and the data module are imported lazily at run time (a fast CLI start)
    from torch import nn

    from snnlab.data import SplitData

EXECUTORS = ("auto", "local", "population", "ray")
DATA_SEED = 0  # subsets are drawn with a fixed seed: every trial (and seed) sees the same data


class TrialFn(Protocol):
    """What runs one trial: ``run_trial`` or a test double with the same call signature."""

    def __call__(self, spec: TrialSpec, *, data_root: str | None = None, progress: bool = False) -> TrialResult: ...


def environment() -> dict[str, Any]:
    """Library versions, host and GPU model (None without CUDA) of this process (stored with every
    trial for provenance)."""
    import numpy
    import torch

    import snnlab

    return {
        "snnlab": snnlab.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def model_sizes(spec: TrialSpec, n_features: int, n_classes: int) -> tuple[int, ...]:
    """Full ``build_model`` sizes for ``spec``: inputs and classes from the data around the hidden sizes."""
    if spec.model in ("spiking_cnn", "cnn"):
        if len(spec.sizes) < 2:
            raise ValueError(
                f"sizes={spec.sizes} is too short for model {spec.model!r}: give (channels..., hidden), "
                "e.g. (32, 64, 256)"
            )
        return (*spec.sizes, n_classes)
    return (n_features, *spec.sizes, n_classes)


def build_trial_model(spec: TrialSpec, input_shape: tuple[int, ...], n_classes: int) -> Any:
    """The untrained model of ``spec`` for data of ``input_shape`` (C, H, W) and ``n_classes``."""
    from snnlab.models import build_model

    n_features = 1
    for d in input_shape:
        n_features *= int(d)
    options: dict[str, Any] = dict(options_dict(spec.model_options))
    # neuron/encoding options only when given: the reference networks (penalty_snn, delayed_snn)
    # fix their neuron and encoding and reject options for them.
    if spec.neuron_options:
        options["neuron_options"] = options_dict(spec.neuron_options)
    if spec.encoding_options:
        options["encoding_options"] = options_dict(spec.encoding_options)
    options.update(
        neuron=spec.neuron,
        T=spec.T,
        encoding=spec.encoding,
        dropout=spec.method,
        p=spec.p,
        dropout_options={"rescale": spec.rescale, **options_dict(spec.method_options)},
        seed=spec.seed,
    )
    if spec.model in ("spiking_cnn", "cnn"):
        options["input_shape"] = tuple(input_shape)
    return build_model(spec.model, model_sizes(spec, n_features, n_classes), **options)


@dataclass(frozen=True)
class TrialData:
    """The data of one trial: what it trains on, validates on (None without ``val_fraction``) and tests on."""

    train: SplitData
    val: SplitData | None
    test: SplitData


def load_trial_data(spec: TrialSpec, *, data_root: str | os.PathLike[str] | None = None, device: Any = "auto",
                    progress: bool = False) -> TrialData:
    """Load the train/validation/test data of ``spec`` onto ``device``, the same for every trial of a comparison.

    Without ``val_fraction``: ``load_dataset``'s training subset of ``train_subset`` samples drawn with
    ``DATA_SEED`` (as before v4). With it: the whole training split is divided by
    ``snnlab.data.split_validation`` (stratified, fixed seed ``VALIDATION_SEED``, whatever the trial's
    seed), then ``train_subset`` samples are drawn with ``DATA_SEED`` from the training part, so a
    larger ``train_subset`` only adds training samples and the validation set never changes. The test
    set (``test_subset`` drawn with ``DATA_SEED``) is never used for validation.
    """
    from snnlab.data import load_dataset, random_subset, split_validation
    from snnlab.device import resolve_device
    from snnlab.train import on_device

    if not isinstance(spec, TrialSpec):
        raise TypeError(f"spec must be a TrialSpec, got {type(spec).__name__}")
    test = load_dataset(spec.dataset, "test", root=data_root, subset=spec.test_subset, device=device,
                        seed=DATA_SEED, progress=progress)
    if spec.val_fraction is None:
        train = load_dataset(spec.dataset, "train", root=data_root, subset=spec.train_subset, device=device,
                             seed=DATA_SEED, progress=progress)
        return TrialData(train=train, val=None, test=test)
    # split on the host: the whole training split never sits on the device next to its parts
    full = load_dataset(spec.dataset, "train", root=data_root, device="cpu", progress=progress)
    train, val = split_validation(full, spec.val_fraction)
    del full
    if spec.train_subset is not None:
        if spec.train_subset > len(train):
            raise ValueError(
                f"train_subset={spec.train_subset} is larger than the {len(train)} training samples of {spec.dataset} "
                f"left after val_fraction={spec.val_fraction} ({len(val)} for validation); "
                f"allowed: train_subset <= {len(train)} or None"
            )
        train = random_subset(train, spec.train_subset, seed=DATA_SEED)
    dev = resolve_device(device)
    return TrialData(train=on_device(train, dev), val=on_device(val, dev), test=test)


@dataclass(frozen=True)
class TrainedTrial:
    """A trial trained in this process, with what the store does not keep: the model itself
    (trained, left in the mode ``fit`` leaves it in; with ``select="best_val"`` holding the weights
    of the selected epoch) and the train/test (and validation) ``SplitData`` it used."""

    result: TrialResult
    model: nn.Module
    train: SplitData
    test: SplitData
    val: SplitData | None = None


def train_trial(
    spec: TrialSpec,
    *,
    data_root: str | os.PathLike[str] | None = None,
    progress: bool = False,
    on_model: Callable[[nn.Module], None] | None = None,
) -> TrainedTrial:
    """Train ``spec`` from scratch and return its result with the trained model and its data.

    Loads the data (``load_trial_data``: fixed seeds, so every trial sees the same samples),
    seeds torch with ``spec.seed``, builds the model, calls ``on_model(model)`` (if given: e.g. to
    copy the initial weights; it must not change the model or draw from torch's global RNG if the
    result is to match ``run_trial``), then trains with ``snnlab.train.fit``, evaluating after
    every epoch (validation and eval-mode training metrics as the spec asks; the result is the
    epoch ``spec.select`` picks). Nothing is written anywhere.
    """
    import torch

    from snnlab.device import resolve_device
    from snnlab.train import fit

    if not isinstance(spec, TrialSpec):
        raise TypeError(f"spec must be a TrialSpec, got {type(spec).__name__}")
    if on_model is not None and not callable(on_model):
        raise TypeError(f"on_model must be callable (model) -> None or None, got {type(on_model).__name__}")
    started = time.time()
    t0 = time.perf_counter()
    device = resolve_device(spec.device)
    data = load_trial_data(spec, data_root=data_root, device=device, progress=progress)
    torch.manual_seed(spec.seed)
    model = build_trial_model(spec, data.train.input_shape, data.train.n_classes)
    if on_model is not None:
        on_model(model)
    history = fit(model, data.train, data.test, epochs=spec.epochs, lr=spec.lr, batch_size=spec.batch_size,
                  seed=spec.seed, device=device, progress=progress, weight_decay=spec.weight_decay, val=data.val,
                  select=spec.select, train_eval_size=spec.train_eval_size)
    seconds = time.perf_counter() - t0
    result = TrialResult(spec=spec, history=history.to_frame(), final=dict(history.final), seconds=seconds,
                         device=device.type, started_at=started, finished_at=time.time(), env=environment())
    return TrainedTrial(result=result, model=model, train=data.train, test=data.test, val=data.val)


def run_trial(spec: TrialSpec, *, data_root: str | os.PathLike[str] | None = None, progress: bool = False) -> TrialResult:
    """Train ``spec`` from scratch and return its result (nothing is written anywhere).

    ``train_trial(spec, ...).result``: the model and data are dropped (the store keeps metrics,
    not weights); see ``train_trial`` for the seeding and data.
    """
    return train_trial(spec, data_root=data_root, progress=progress).result


@dataclass
class RunReport:
    """What ``run_trials`` did: how many trials it trained, reused from the store, and which failed."""

    specs: list[TrialSpec]
    store: ResultsStore
    trained: int = 0
    reused: int = 0
    failed: list[tuple[TrialSpec, str]] = field(default_factory=list)
    seconds: float = 0.0
    elsewhere: list[TrialSpec] = field(default_factory=list)  # claimed by another live process: left to it
    not_started: list[TrialSpec] = field(default_factory=list)  # pending when ``start_by`` had passed

    def frame(self) -> pd.DataFrame:
        """One row per finished trial of this run (fresh or reused), from the store, in spec order."""
        keys = [s.key for s in self.specs]
        frame = self.store.frame()
        frame = frame[frame["key"].isin(keys)]
        order = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        return frame.sort_values("key", key=lambda col: col.map(order)).reset_index(drop=True)

    def history(self) -> pd.DataFrame:
        """One row per (trial, epoch) of this run's finished trials."""
        hist = self.store.history()
        return hist[hist["key"].isin({s.key for s in self.specs})].reset_index(drop=True)

    @property
    def ok(self) -> bool:
        """True when no trial failed."""
        return not self.failed

    def summary(self) -> str:
        """One line: counts and time."""
        text = f"{len(self.specs)} trial(s): {self.trained} trained, {self.reused} reused from {self.store.path}"
        if self.elsewhere:
            text += f", {len(self.elsewhere)} being trained by another process"
        if self.not_started:
            text += f", {len(self.not_started)} not started (start_by passed)"
        if self.failed:
            text += f", {len(self.failed)} FAILED"
        return text + f" ({self.seconds:.1f} s)"


def _unique(specs: Iterable[TrialSpec]) -> list[TrialSpec]:
    """Specs in order without duplicates (by key), type-checked."""
    seen: dict[str, TrialSpec] = {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, TrialSpec):
            raise TypeError(f"specs[{i}] must be a TrialSpec, got {type(spec).__name__} ({spec!r})")
        seen.setdefault(spec.key, spec)
    return list(seen.values())


class _NotClaimed(Exception):
    """Raised inside ``run_trials`` for a trial that is finished or claimed by another process (not a failure)."""


class _Claims:
    """This run's claims on the store: taken before training, heartbeats from a background thread,
    released when a trial fails or the run stops (a finished trial's row becomes ``done``)."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.owner = new_owner()
        self.held: dict[str, TrialSpec] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="snnlab-claims-heartbeat", daemon=True)

    def __enter__(self) -> _Claims:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for spec in list(self.held.values()):
            self.drop(spec)

    def _beat(self) -> None:
        interval = max(0.05, self.store.claim_timeout / 4)
        while not self._stop.wait(interval):
            with self._lock:
                specs = list(self.held.values())
            try:
                self.store.heartbeat(specs, self.owner)
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried; the claim only goes stale later
                continue

    def take(self, spec: TrialSpec) -> bool:
        """Claim ``spec``; whether this run may train it."""
        if not self.store.claim(spec, self.owner):
            return False
        with self._lock:
            self.held[spec.key] = spec
        return True

    def done(self, spec: TrialSpec) -> None:
        """``spec``'s result is in the store: nothing left to release."""
        with self._lock:
            self.held.pop(spec.key, None)

    def drop(self, spec: TrialSpec) -> None:
        """Release the claim on ``spec`` (it failed, or the run stops before training it)."""
        with self._lock:
            held = self.held.pop(spec.key, None)
        if held is not None:
            try:
                self.store.release(spec, self.owner)
            except Exception:  # noqa: BLE001 - an unreleased claim goes stale and is taken over later
                pass


def run_trials(
    specs: Sequence[TrialSpec] | Iterable[TrialSpec],
    store: ResultsStore,
    *,
    executor: str = "auto",
    address: str | None = None,
    num_cpus: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    progress: bool = True,
    trial_fn: TrialFn | Callable[..., TrialResult] | None = None,
    keep_going: bool = False,
    max_population: int | None = None,
    populations: bool | None = None,
    start_by: float | None = None,
) -> RunReport:
    """Run every spec not yet finished in ``store``; persist each result as it completes.

    ``executor``: ``"local"`` (in this process, one after another), ``"population"`` (pending
    specs that differ only in seed, p and numeric method options train together as populations
    of at most ``max_population`` members, K chosen from the device's free memory on CUDA; each
    member is stored as its own trial), ``"ray"`` (one task per trial, or per population when
    ``populations`` is True, on the cluster at ``address`` or a local Ray with ``num_cpus``), or
    ``"auto"`` (``population`` where it pays, ``populations_pay``: on CUDA, and on a CPU for spiking
    MLPs; ``local`` otherwise). ``trial_fn``
    replaces ``run_trial`` (tests use it to count calls; it forces one trial at a time). A failing
    trial stops the run with its error unless ``keep_going``, in which case it is listed in
    ``report.failed``. Finished trials are skipped, so a killed run resumes per trial.

    Each trial is claimed in the store before it is trained; one claimed by another live process is
    skipped and listed in ``report.elsewhere`` (see the module docstring). The store is validated
    (``ResultsStore.check``) before anything is trained. A result the store cannot take
    (``ResultNotSaved``: it is kept in a side file) is a failure like any other, its message naming the file.

    ``start_by`` (Unix time; ``local`` and ``population`` executors): no trial or population starts
    after it, and those left are listed in ``report.not_started``. When a GPU lease is about to end, an
    idle minute is better than a trial killed half-way (a trial is stored only when it ends; a population
    killed half-way keeps its finished epochs in its checkpoint, ``checkpoint_folder(store)``).
    """
    from snnlab.study.executors import run_local, run_populations, run_ray
    from snnlab.study.populations import checkpointed_groups, group_specs, population_size, train_population

    check_choice("executor", executor, EXECUTORS)
    if max_population is not None:
        check_int("max_population", max_population, minimum=1)
    if start_by is not None:
        check_float("start_by", start_by, low=0.0)
    if not isinstance(store, ResultsStore):
        raise TypeError(f"store must be a ResultsStore, got {type(store).__name__}")
    if trial_fn is not None and not callable(trial_fn):
        raise TypeError(f"trial_fn must be callable or None, got {type(trial_fn).__name__}")
    fn = trial_fn if trial_fn is not None else run_trial
    data_root = None if data_root is None else os.fspath(data_root)
    specs = _unique(specs)
    store.check()
    t0 = time.perf_counter()
    done = store.keys()
    todo = [s for s in specs if s.key not in done]
    report = RunReport(specs=specs, store=store, reused=len(specs) - len(todo))
    stored = f" ({report.reused} of {len(specs)} already stored)" if report.reused else ""
    claims = _Claims(store)

    def not_claimed(spec: TrialSpec) -> None:
        if store.has(spec):
            report.reused += 1
        else:
            report.elsewhere.append(spec)

    def claimed(units: list[list[TrialSpec]]) -> list[list[TrialSpec]]:
        """Each unit reduced to the specs this run claimed; empty units dropped."""
        out = []
        for unit in units:
            mine = []
            for spec in unit:
                if claims.take(spec):
                    mine.append(spec)
                else:
                    not_claimed(spec)
            if mine:
                out.append(mine)
        return out

    def late() -> bool:
        return start_by is not None and time.time() > start_by

    def claimed_fn(spec: TrialSpec, **kwargs: Any) -> TrialResult:
        if late():
            raise _NotStarted(spec.key)
        if not claims.take(spec):
            raise _NotClaimed(spec.key)
        return fn(spec, **kwargs)

    def on_result(result: TrialResult) -> None:
        try:
            store.put(result, owner=claims.owner)
        except ResultNotSaved as error:
            on_error(result.spec, error)
            return
        claims.done(result.spec)
        report.trained += 1

    def on_error(spec: TrialSpec, error: BaseException) -> None:
        if isinstance(error, _NotClaimed):
            not_claimed(spec)
            return
        if isinstance(error, _NotStarted):
            report.not_started.append(spec)
            return
        claims.drop(spec)
        message = f"{type(error).__name__}: {error}"
        if not keep_going:
            raise TrialFailed(spec, message) from error
        report.failed.append((spec, message))

    try:
        with claims:
            if executor == "auto":
                executor = "population" if todo and trial_fn is None and populations_pay(todo) else "local"
            use_populations = executor == "population" or (executor == "ray" and bool(populations))
            if use_populations and trial_fn is not None:
                raise ValueError("trial_fn trains one trial at a time; it cannot be combined with populations")
            if todo and use_populations:
                size = population_size(todo[0], max_population=max_population, data_root=data_root)
                checkpoints = checkpoint_folder(store) if executor == "population" else None
                groups = checkpointed_groups(checkpoints, todo)  # killed populations first, with their members
                resumed = {s.key for g in groups for s in g}
                groups += [list(g) for g in group_specs([s for s in todo if s.key not in resumed], size)]
                if executor == "population":
                    def take(group: list[TrialSpec]) -> list[TrialSpec]:  # right before the group trains
                        if late():
                            report.not_started.extend(s for s in group if not store.has(s))
                            return []
                        return [s for unit in claimed([group]) for s in unit]

                    run_populations(groups, train_population, data_root=data_root, progress=progress,
                                    on_result=on_result, on_error=on_error, take=take, desc=f"trials{stored}",
                                    checkpoints=str(checkpoints))
                    with contextlib.suppress(OSError):  # the folder, once no population left a checkpoint in it
                        checkpoints.rmdir()
                else:
                    run_ray(claimed(groups), train_population, address=address, num_cpus=num_cpus,
                            data_root=data_root, progress=progress, on_result=on_result, on_error=on_error,
                            populations=True)
            elif todo:
                if executor == "local":
                    run_local(todo, claimed_fn, data_root=data_root, progress=progress, on_result=on_result,
                              on_error=on_error, desc=f"trials{stored}")
                else:
                    mine = [spec for unit in claimed([[s] for s in todo]) for spec in unit]
                    run_ray(mine, fn, address=address, num_cpus=num_cpus, data_root=data_root, progress=progress,
                            on_result=on_result, on_error=on_error)
    finally:
        report.seconds = time.perf_counter() - t0
    return report


def checkpoint_folder(store: ResultsStore) -> Path:
    """Where ``run_trials`` keeps the per-epoch checkpoints of the populations it trains into ``store``:
    ``<store name without suffix>.checkpoints`` next to the store (``runs/results.checkpoints``)."""
    return store.path.with_name(f"{store.path.stem}.checkpoints")


CPU_POPULATION_MODELS = ("spiking_mlp",)  # measured faster per member as populations on a CPU (README)


def populations_pay(specs: Sequence[TrialSpec]) -> bool:
    """Whether the ``auto`` executor trains ``specs`` as populations: on CUDA always; on a CPU when every
    spec is a network measured faster per member there (``CPU_POPULATION_MODELS``: the spiking MLP,
    1.2x per member at MNIST size and 2x or more at the digits sizes, ``snnlab bench population``)."""
    from snnlab.device import resolve_device

    device = resolve_device(specs[0].device).type
    if device == "cuda":
        return True
    return device == "cpu" and all(s.model in CPU_POPULATION_MODELS for s in specs)


class _NotStarted(Exception):
    """Internal: ``start_by`` had passed when a trial was about to start (not a failure)."""


class TrialFailed(RuntimeError):
    """A trial raised; carries the spec and the original error text (finished trials are already stored)."""

    def __init__(self, spec: TrialSpec, message: str) -> None:
        super().__init__(f"trial {spec.label()} (key {spec.key[:12]}) failed: {message}")
        self.spec = spec
        self.message = message

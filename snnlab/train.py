"""Training and evaluation: ``fit`` returns a tidy per-epoch ``History``; ``evaluate`` one pass.

Same seed, same device -> identical history on CPU: the batch order comes from a generator
seeded by ``seed`` and the model's encoding/dropout streams are reseeded from it.
A run whose loss becomes non-finite stops, keeps the epochs already measured and is marked
``diverged`` (the alpha variants can break training: that is a result, not a crash). The
training step never waits for the device: losses, accuracies and finiteness accumulate there
and are read once per epoch (a diverged run keeps the parameters it had before its first
non-finite loss and is stopped at the end of that epoch).

Fair tuning (docs/design.md, "The comparison"): ``fit(..., val=...)`` also evaluates a validation
set (carved from the training data, ``snnlab.data.split_validation``) after every epoch, in eval
mode, and keeps on the device a copy of the weights of the best validation epoch so far (highest
validation accuracy; ties go to the lower validation loss, then to the earlier epoch). With
``select="best_val"`` those weights are restored at the end and the run's result (``History.final``)
is the record of that epoch: its test metrics are those of the selected weights, measured when that
epoch ended. The per-epoch test accuracy stays in the history for learning curves; nothing is ever
selected on it. ``train_eval_size`` adds the eval-mode (dropout off) training loss and accuracy per
epoch, on a fixed seeded subset of the training data (``TRAIN_EVAL_SEED``, at most that many
samples), next to the running in-training numbers (dropout on), so that the train-test gap of a
dropout condition is not distorted. These extra evaluations draw from a stochastic encoding's
stream as the test evaluation does, so a run that measures them is reproducible but is not the
same run as one that does not (the study records them in the spec).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from snnlab.cpu_memory import keep_freed_memory
from snnlab.data import SplitData, iterate_batches, random_subset
from snnlab.device import resolve_device
from snnlab.validation import check_bool, check_choice, check_finite, check_float, check_int, check_seed

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency
    tqdm = None

SELECTIONS = ("last", "best_val")
TRAIN_EVAL_SEED = 0  # fixed: every trial measures its eval-mode training metrics on the same samples
# Optional per-epoch metrics: a column of the history only when the run measured them.
EXTRA_METRICS = ("train_loss_eval", "train_acc_eval", "val_loss", "val_acc")


@dataclass(frozen=True)
class EvalResult:
    """Loss, accuracy and mean spike rate per spiking layer of one pass over a data set."""

    loss: float
    accuracy: float
    spike_rates: dict[str, float]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch.

    ``train_loss``/``train_acc`` are averaged over the epoch's batches in train mode (dropout on);
    ``train_loss_eval``/``train_acc_eval`` (eval mode, dropout off, on a fixed training subset) and
    ``val_loss``/``val_acc`` are None when the run did not measure them.
    """

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    spike_rates: dict[str, float]
    seconds: float
    train_loss_eval: float | None = None
    train_acc_eval: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None


@dataclass
class History:
    """Per-epoch records of a training run; ``to_frame()`` gives one row per epoch.

    ``select`` is how the run's result was chosen (``"last"`` epoch or ``"best_val"``);
    ``best_epoch`` the epoch of the best validation accuracy (None without validation).
    """

    records: list[EpochRecord] = field(default_factory=list)
    diverged: bool = False
    select: str = "last"
    best_epoch: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch: epoch, train_loss, train_acc, test_loss, test_acc, the measured ones of
        train_loss_eval, train_acc_eval, val_loss, val_acc, then seconds and ``rate_<layer>``."""
        rows = []
        for r in self.records:
            row = {k: getattr(r, k) for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")}
            row.update({k: getattr(r, k) for k in EXTRA_METRICS if getattr(r, k) is not None})
            row["seconds"] = r.seconds
            row.update({f"rate_{k}": v for k, v in r.spike_rates.items()})
            rows.append(row)
        cols = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
        return pd.DataFrame(rows, columns=None if rows else cols)

    @property
    def selected_epoch(self) -> int | None:
        """The epoch whose weights and metrics are the run's result (None when no epoch finished)."""
        if not self.records:
            return None
        if self.select == "best_val" and self.best_epoch is not None:
            return self.best_epoch
        return self.records[-1].epoch

    @property
    def final(self) -> dict[str, float]:
        """The run's result: the row of ``selected_epoch`` (the last epoch unless ``select="best_val"``),
        plus ``diverged`` and ``total_seconds``; with validation also ``best_epoch`` and
        ``epochs_trained``; with eval-mode training metrics also ``gap_eval`` (``train_acc_eval -
        test_acc``). Only ``diverged`` when no epoch finished."""
        if not self.records:
            return {"diverged": float(self.diverged)}
        frame = self.to_frame()
        out = frame[frame["epoch"] == self.selected_epoch].iloc[0].to_dict()
        out["diverged"] = float(self.diverged)
        out["total_seconds"] = float(sum(r.seconds for r in self.records))
        if self.best_epoch is not None:
            out["best_epoch"] = int(self.best_epoch)
            out["epochs_trained"] = len(self.records)
        if "train_acc_eval" in out:
            out["gap_eval"] = float(out["train_acc_eval"] - out["test_acc"])
        return out

    def observe(self, record: EpochRecord) -> bool:
        """Append ``record``; return whether its validation accuracy is the best so far (then it is
        ``best_epoch``). Ties go to the lower validation loss, then to the earlier epoch."""
        self.records.append(record)
        if record.val_acc is None:
            return False
        if self.best_epoch is not None:
            best = next(r for r in self.records if r.epoch == self.best_epoch)
            if (record.val_acc, -record.val_loss) <= (best.val_acc, -best.val_loss):
                return False
        self.best_epoch = record.epoch
        return True


def check_data(name: str, data: SplitData) -> None:
    """``data`` must be a non-empty ``SplitData`` with finite inputs and labels among its classes
    (``0 <= y < n_classes``). Checked once per call of ``fit``/``evaluate``, where the data enters:
    the two reads are the only device->host syncs, never one per training step."""
    if not isinstance(data, SplitData):
        raise TypeError(f"{name} must be a snnlab.data.SplitData (from load_dataset), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty; allowed: at least one sample")
    check_finite(f"{name}.x", data.x)
    n = data.n_classes
    outside = (data.y < 0) | (data.y >= n)
    if bool(outside.any()):
        wrong = data.y[outside].unique().cpu().tolist()
        raise ValueError(f"{name}.y holds label(s) {wrong[:10]}{' ...' if len(wrong) > 10 else ''} outside the "
                         f"{n} classes of {data.name!r} {data.classes[:10]}; allowed: 0 <= y < {n}")


def check_logits(logits: torch.Tensor, data: SplitData) -> None:
    """The model's logits ``[B, classes]`` must have a column for every class of ``data`` (shape only: no sync)."""
    if logits.dim() != 2 or logits.shape[1] < data.n_classes:
        raise ValueError(f"the model's output has shape {tuple(logits.shape)} but {data.name!r} has {data.n_classes} "
                         f"classes; allowed: logits [B, classes] with at least {data.n_classes} columns "
                         f"(build the model with {data.n_classes} outputs)")


def on_device(data: SplitData, device: torch.device) -> SplitData:
    """``data`` with its tensors on ``device`` (the same object when they already are)."""
    if data.x.device == device:
        return data
    return dataclasses.replace(data, x=data.x.to(device), y=data.y.to(device))


def evaluate(model: nn.Module, data: SplitData, *, batch_size: int = 512, device: str | torch.device | None = None) -> EvalResult:
    """Mean cross-entropy, accuracy and spike rates of ``model`` on ``data`` (eval mode, no grad)."""
    check_data("data", data)
    check_int("batch_size", batch_size, minimum=1)
    dev = next(model.parameters()).device if device is None else resolve_device(device)
    model.to(dev)
    data = on_device(data, dev)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=dev)  # accumulated on the device: one read at the end
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    n = 0
    recorder = model.record(kind="rates") if hasattr(model, "record") else None
    try:
        with torch.no_grad():
            rec = recorder.__enter__() if recorder is not None else None
            try:
                for xb, yb in iterate_batches(data, batch_size, shuffle=False):
                    logits = model(xb)
                    check_logits(logits, data)
                    total_loss += F.cross_entropy(logits, yb, reduction="sum").double()
                    correct += (logits.argmax(1) == yb).sum()
                    n += len(yb)
            finally:
                if recorder is not None:
                    recorder.__exit__(None, None, None)
    finally:
        model.train(was_training)
    rates = {k: v for k, v in rec.rates.items()} if rec is not None else {}
    return EvalResult(float(total_loss) / n, int(correct) / n, rates)


class BestWeights:
    """An on-device copy of the weights (parameters and buffers) of each member's best epoch so far.

    ``save(which)`` copies the live weights of the members flagged in ``which`` (one bool per
    member; one entry for a single network), ``restore(which)`` copies them back. No host sync:
    the flags come from the validation metrics, already read once per epoch. In a population,
    member k of a stacked tensor is its k-th block of rows (as in ``ParameterGuard``); 0-d tensors
    are shared by all members (fixed neuron constants) and left alone.
    """

    def __init__(self, model: nn.Module, members: int | None) -> None:
        live = list(model.state_dict(keep_vars=True).values())
        if members is not None:
            live = [t for t in live if t.dim() >= 1 and t.shape[0] % members == 0]
        self.members = members
        self.live = live
        self.saved = [t.detach().clone() for t in live]

    def save(self, which: list[bool]) -> None:
        self._copy(self.saved, [t.detach() for t in self.live], which)

    def restore(self, which: list[bool]) -> None:
        self._copy([t.detach() for t in self.live], self.saved, which)

    def _copy(self, dst: list[torch.Tensor], src: list[torch.Tensor], which: list[bool]) -> None:
        if not any(which):
            return
        with torch.no_grad():
            if self.members is None:
                for d, s in zip(dst, src):
                    d.copy_(s)
                return
            flags = torch.tensor(which, dtype=torch.bool)
            for d, s in zip(dst, src):
                keep = flags.to(d.device).repeat_interleave(d.shape[0] // self.members).view(-1, *([1] * (d.dim() - 1)))
                d.copy_(torch.where(keep, s, d))


def check_tuning(val: SplitData | None, select: str, train_eval_size: int | None) -> None:
    """Check the fair-tuning arguments of ``fit``/``fit_population``."""
    if val is not None:
        check_data("val", val)
    check_choice("select", select, SELECTIONS)
    if select == "best_val" and val is None:
        raise ValueError("select='best_val' needs validation data (val=...); allowed without it: 'last'")
    if train_eval_size is not None:
        check_int("train_eval_size", train_eval_size, minimum=1)


def train_probe(train: SplitData, train_eval_size: int | None) -> SplitData | None:
    """The fixed training samples of the eval-mode training metrics: all of ``train`` when it has at
    most ``train_eval_size`` samples, else a subset drawn with ``TRAIN_EVAL_SEED`` (None: not measured)."""
    if train_eval_size is None:
        return None
    if train_eval_size >= len(train):
        return train
    return random_subset(train, train_eval_size, seed=TRAIN_EVAL_SEED)


class ParameterGuard:
    """Keeps parameters where a training step made them non-finite, without a host sync per step.

    Before each optimiser step ``save()`` snapshots the parameters; after it ``restore(alive)``
    puts back the snapshot of every member whose ``alive`` flag is False (a bool tensor ``[K]`` on
    the device, a 0-d one for one network): a diverged run keeps the parameters it had before its
    first non-finite loss, as if it had stopped there, while the step itself never waits for the
    device. Member k of a stacked parameter is its k-th block of rows (``shape[0] // K`` each).
    """

    def __init__(self, params: list[torch.nn.Parameter], members: int | None) -> None:
        self.params, self.members = params, members
        self._saved: list[torch.Tensor] = []

    def save(self) -> None:
        self._saved = [p.detach().clone() for p in self.params]

    def restore(self, alive: torch.Tensor) -> None:
        with torch.no_grad():
            for p, old in zip(self.params, self._saved):
                if self.members is None:
                    keep = alive
                else:
                    keep = alive.repeat_interleave(p.shape[0] // self.members).view(-1, *([1] * (p.dim() - 1)))
                p.copy_(torch.where(keep, p, old))


def fit(
    model: nn.Module,
    train: SplitData,
    test: SplitData,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    weight_decay: float = 0.0,
    callback: Callable[[EpochRecord], None] | None = None,
    on_step: Callable[[torch.Tensor], None] | None = None,
    val: SplitData | None = None,
    select: str = "last",
    train_eval_size: int | None = None,
) -> History:
    """Train ``model`` with Adam and cross-entropy; evaluate on ``test`` after every epoch.

    Returns the ``History`` (also when training diverges: the run stops at the first
    non-finite loss, keeps the finished epochs and sets ``history.diverged``). ``on_step`` gets
    each step's loss (a device tensor, detached; reading it is the caller's sync, not the loop's).
    ``val``: a validation set (from the training data) evaluated after every epoch; the weights of
    the best validation epoch are kept on the device and, with ``select="best_val"``, restored at
    the end (``history.final`` is then that epoch's record). ``train_eval_size``: also measure the
    training loss and accuracy in eval mode on at most that many fixed training samples.
    Without ``val`` and ``train_eval_size`` the run is exactly the one of earlier versions.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_data("train", train)
    check_data("test", test)
    check_int("epochs", epochs, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    check_int("batch_size", batch_size, minimum=1)
    check_seed("seed", seed)
    check_bool("progress", progress)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    for name, fn in (("callback", callback), ("on_step", on_step)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
    check_tuning(val, select, train_eval_size)
    dev = resolve_device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # no page faults for big buffers every step (snnlab.cpu_memory)
    model.to(dev)
    train, test = on_device(train, dev), on_device(test, dev)
    val = None if val is None else on_device(val, dev)
    probe = train_probe(train, train_eval_size)
    if hasattr(model, "reseed"):
        model.reseed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History(select=select)
    best = BestWeights(model, None) if val is not None else None
    steps_per_epoch = math.ceil(len(train) / batch_size)
    bar = None
    if progress and tqdm is not None:
        bar = tqdm(total=epochs * steps_per_epoch, desc=type(model).__name__, unit="batch", leave=False)
    guard = ParameterGuard([p for p in model.parameters() if p.requires_grad], None)
    alive = torch.ones((), dtype=torch.bool, device=dev)
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            # Sums stay on the device; the loop never waits for it (one read per epoch below).
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            n = 0
            for xb, yb in iterate_batches(train, batch_size, shuffle=True, generator=gen):
                logits = model(xb)
                check_logits(logits, train)
                loss = F.cross_entropy(logits, yb)
                alive = alive & torch.isfinite(loss.detach())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                guard.save()
                opt.step()
                guard.restore(alive)
                loss_sum += loss.detach().double() * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
                if on_step is not None:
                    on_step(loss.detach())
                n += len(yb)
                if bar is not None:
                    bar.update(1)
            if not bool(alive):
                history.diverged = True
                warnings.warn(f"training diverged in epoch {epoch} (a non-finite loss); stopping with "
                              f"{len(history.records)} finished epoch(s)", RuntimeWarning, stacklevel=2)
                break
            ev = evaluate(model, test)
            extra = {}
            if val is not None:
                ev_val = evaluate(model, val)
                extra.update(val_loss=ev_val.loss, val_acc=ev_val.accuracy)
            if probe is not None:
                ev_train = evaluate(model, probe)
                extra.update(train_loss_eval=ev_train.loss, train_acc_eval=ev_train.accuracy)
            rec = EpochRecord(epoch, float(loss_sum) / n, int(correct) / n, ev.loss, ev.accuracy, ev.spike_rates,
                              time.perf_counter() - t0, **extra)
            if history.observe(rec) and best is not None:
                best.save([True])
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{rec.train_loss:.3f}", test_acc=f"{rec.test_acc:.3f}")
            if callback is not None:
                callback(rec)
    finally:
        if bar is not None:
            bar.close()
    if best is not None and select == "best_val" and history.best_epoch is not None:
        best.restore([True])
    return history

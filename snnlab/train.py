"""Training and evaluation: ``fit`` returns a tidy per-epoch ``History``; ``evaluate`` one pass.

Same seed, same device -> identical history on CPU: the batch order comes from a generator
seeded by ``seed`` and the model's encoding/dropout streams are reseeded from it.
A run whose loss becomes non-finite stops, keeps the epochs already measured and is marked
``diverged`` (the alpha variants can break training: that is a result, not a crash). The
training step never waits for the device: losses, accuracies and finiteness accumulate there
and are read once per epoch (a diverged run keeps the parameters it had before its first
non-finite loss and is stopped at the end of that epoch).
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

from snnlab.data import SplitData, iterate_batches
from snnlab.device import resolve_device
from snnlab.validation import check_float, check_int

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency
    tqdm = None


@dataclass(frozen=True)
class EvalResult:
    """Loss, accuracy and mean spike rate per spiking layer of one pass over a data set."""

    loss: float
    accuracy: float
    spike_rates: dict[str, float]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch (train metrics are averaged over the epoch's batches in train mode)."""

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    spike_rates: dict[str, float]
    seconds: float


@dataclass
class History:
    """Per-epoch records of a training run; ``to_frame()`` gives one row per epoch."""

    records: list[EpochRecord] = field(default_factory=list)
    diverged: bool = False

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for r in self.records:
            row = {k: v for k, v in dataclasses.asdict(r).items() if k != "spike_rates"}
            row.update({f"rate_{k}": v for k, v in r.spike_rates.items()})
            rows.append(row)
        cols = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
        return pd.DataFrame(rows, columns=None if rows else cols)

    @property
    def final(self) -> dict[str, float]:
        """Metrics of the last epoch (empty when no epoch finished), plus ``diverged``."""
        if not self.records:
            return {"diverged": float(self.diverged)}
        last = self.to_frame().iloc[-1].to_dict()
        last["diverged"] = float(self.diverged)
        last["total_seconds"] = float(sum(r.seconds for r in self.records))
        return last


def check_data(name: str, data: SplitData) -> None:
    """``data`` must be a non-empty ``SplitData`` with finite inputs (checked once per call, not per step)."""
    if not isinstance(data, SplitData):
        raise TypeError(f"{name} must be a snnlab.data.SplitData (from load_dataset), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} is empty")
    if not torch.isfinite(data.x).all():
        raise ValueError(f"{name}.x contains NaN or infinite values; clean the data before training")


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
) -> History:
    """Train ``model`` with Adam and cross-entropy; evaluate on ``test`` after every epoch.

    Returns the ``History`` (also when training diverges: the run stops at the first
    non-finite loss, keeps the finished epochs and sets ``history.diverged``). ``on_step`` gets
    each step's loss (a device tensor, detached; reading it is the caller's sync, not the loop's).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_data("train", train)
    check_data("test", test)
    check_int("epochs", epochs, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    check_int("batch_size", batch_size, minimum=1)
    check_int("seed", seed)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    for name, fn in (("callback", callback), ("on_step", on_step)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
    dev = resolve_device(device)
    model.to(dev)
    train, test = on_device(train, dev), on_device(test, dev)
    if hasattr(model, "reseed"):
        model.reseed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
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
                return history
            ev = evaluate(model, test)
            rec = EpochRecord(epoch, float(loss_sum) / n, int(correct) / n, ev.loss, ev.accuracy, ev.spike_rates,
                              time.perf_counter() - t0)
            history.records.append(rec)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{rec.train_loss:.3f}", test_acc=f"{rec.test_acc:.3f}")
            if callback is not None:
                callback(rec)
    finally:
        if bar is not None:
            bar.close()
    return history

"""Population training: K trials of one architecture trained at once as one ``PopulationModel``.

``fit_population`` is ``snnlab.train.fit`` for K members at a time: member k sees its own batch
order (a permutation per epoch from a generator seeded with its seed, as ``fit`` draws it), its own
encoding and dropout streams (reseeded from its seed), and its own loss; the optimised loss is the
sum of the members' mean losses, so each member's gradient is its standalone gradient, and one
Adam over the stacked parameters is K independent Adams (Adam is elementwise). Metrics and
finiteness accumulate on the device and are read once per epoch; a member whose loss becomes
non-finite keeps its last finite parameters, stops getting history records and is marked
diverged, while the others go on.

With ``val`` (and ``select``, ``train_eval_size``) each member is evaluated and selected exactly as
``fit`` does it for its standalone trial: the validation and eval-mode training passes run in the
same order and batches, each member's best validation epoch is tracked on its own, its weights
are kept on the device (``BestWeights``, member rows of the stacked tensors) and, with
``select="best_val"``, restored at the end, also for a member that diverged (its last finite
weights stay frozen until then, and it stays marked).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from snnlab.checkpoints import (
    history_from,
    history_state,
    load_checkpoint,
    restore_rng_streams,
    rng_streams,
    save_checkpoint,
)
from snnlab.cpu_memory import keep_freed_memory
from snnlab.data import SplitData
from snnlab.device import resolve_device
from snnlab.models.population import PopulationModel
from snnlab.train import (
    BestWeights,
    EpochRecord,
    EvalResult,
    History,
    ParameterGuard,
    check_data,
    check_tuning,
    on_device,
    train_probe,
)
from snnlab.validation import check_float, check_int

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency
    tqdm = None


def _member_losses(logits: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
    """Cross-entropy per member: ``logits [K, B, C]``, ``y [K, B]`` -> ``[K]`` (mean or sum over B)."""
    K, B = y.shape
    per = F.cross_entropy(logits.reshape(K * B, -1), y.reshape(K * B), reduction="none").view(K, B)
    return per.mean(1) if reduction == "mean" else per.sum(1)


def evaluate_population(model: PopulationModel, data: SplitData, *, batch_size: int = 512) -> list[EvalResult]:
    """Every member's loss, accuracy and spike rates on ``data`` (eval mode, no grad; the same batches for all)."""
    if not isinstance(model, PopulationModel):
        raise TypeError(f"model must be a PopulationModel, got {type(model).__name__}")
    check_data("data", data)
    check_int("batch_size", batch_size, minimum=1)
    dev = next(model.parameters()).device
    data = on_device(data, dev)
    K = model.members
    was_training = model.training
    model.eval()
    loss = torch.zeros(K, dtype=torch.float64, device=dev)
    correct = torch.zeros(K, dtype=torch.int64, device=dev)
    n = 0
    try:
        with torch.no_grad(), model.record(kind="rates") as rec:
            for start in range(0, len(data), batch_size):
                xb, yb = data.x[start:start + batch_size], data.y[start:start + batch_size]
                xs = xb.unsqueeze(0).expand(K, *xb.shape)
                ys = yb.unsqueeze(0).expand(K, *yb.shape)
                logits = model(xs)
                loss += _member_losses(logits, ys, "sum").double()
                correct += (logits.argmax(-1) == ys).sum(1)
                n += len(yb)
    finally:
        model.train(was_training)
    rates = rec.member_rates
    loss_l, correct_l = loss.tolist(), correct.tolist()
    return [EvalResult(loss_l[k] / n, correct_l[k] / n, {name: r[k] for name, r in rates.items()}) for k in range(K)]


def fit_population(
    model: PopulationModel,
    train: SplitData,
    test: SplitData,
    *,
    epochs: int,
    seeds: Sequence[int],
    lr: float = 1e-3,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    progress: bool = True,
    weight_decay: float = 0.0,
    on_step: Callable[[torch.Tensor], None] | None = None,
    val: SplitData | None = None,
    select: str = "last",
    train_eval_size: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    fingerprint: str = "",
) -> list[History]:
    """Train every member of ``model`` as ``fit`` trains a standalone model with seed ``seeds[k]``.

    Returns one ``History`` per member (``seconds`` is the population's wall time per epoch).
    ``on_step`` gets each step's member losses ``[K]`` (a device tensor, detached). ``val``,
    ``select`` and ``train_eval_size`` as in ``fit``, per member.

    ``checkpoint``: a file the training state is written to after every epoch and, when it exists
    and was written for this run (``fingerprint``, e.g. the members' spec keys, plus the seeds and
    settings here), continued from: the result is the same, bit for bit, as a run never stopped
    (``snnlab.checkpoints``). The caller removes the file once the results are safe.
    """
    if not isinstance(model, PopulationModel):
        raise TypeError(f"model must be a PopulationModel, got {type(model).__name__}")
    check_data("train", train)
    check_data("test", test)
    check_int("epochs", epochs, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    check_int("batch_size", batch_size, minimum=1)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be callable or None, got {type(on_step).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__} ({checkpoint!r})")
    if not isinstance(fingerprint, str):
        raise TypeError(f"fingerprint must be a string, got {type(fingerprint).__name__} ({fingerprint!r})")
    check_tuning(val, select, train_eval_size)
    K = model.members
    if isinstance(seeds, (str, bytes)) or len(seeds) != K:
        raise ValueError(f"seeds must list one seed per member ({K}), got {seeds!r}")
    seeds = [check_int(f"seeds[{k}]", s) for k, s in enumerate(seeds)]
    dev = resolve_device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # no page faults for the [T, K, B, N] buffers every step (snnlab.cpu_memory)
    model.to(dev)
    train, test = on_device(train, dev), on_device(test, dev)
    val = None if val is None else on_device(val, dev)
    probe = train_probe(train, train_eval_size)
    model.reseed(seeds)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    guard = ParameterGuard([p for p in model.parameters() if p.requires_grad], K)
    histories = [History(select=select) for _ in range(K)]
    best = BestWeights(model, K) if val is not None else None
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    reported = [False] * K
    n_train = len(train)
    run_id = (f"{fingerprint}|K={K}|seeds={seeds}|epochs={epochs}|lr={lr!r}|batch_size={batch_size}|"
              f"weight_decay={weight_decay!r}|select={select}|train_eval_size={train_eval_size}|n_train={n_train}|"
              f"val={None if val is None else len(val)}")
    first_epoch = 1
    saved = None if checkpoint is None else load_checkpoint(checkpoint, run_id)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        for g, state in zip(gens, saved["batch_order"], strict=True):
            g.set_state(state)
        restore_rng_streams(model, saved["streams"], dev)
        histories = [history_from(h) for h in saved["histories"]]
        if best is not None:
            for dst, src in zip(best.saved, saved["best"], strict=True):
                dst.copy_(src)
        alive = saved["alive"].to(dev)
        reported = [bool(r) for r in saved["reported"]]
        first_epoch = int(saved["epoch"]) + 1
    batches = math.ceil(n_train / batch_size)
    bar = None
    if progress and tqdm is not None:
        bar = tqdm(total=epochs * batches, initial=(first_epoch - 1) * batches, desc=f"population of {K}", unit="batch",
                   leave=False)
    try:
        for epoch in range(first_epoch, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            # Each member's permutation, drawn exactly as iterate_batches draws it for fit().
            order = torch.stack([torch.randperm(n_train, generator=g) for g in gens]).to(dev)
            loss_sum = torch.zeros(K, dtype=torch.float64, device=dev)
            correct = torch.zeros(K, dtype=torch.int64, device=dev)
            n = 0
            for start in range(0, n_train, batch_size):
                idx = order[:, start:start + batch_size]
                xb, yb = train.x[idx], train.y[idx]
                logits = model(xb)
                losses = _member_losses(logits, yb, "mean")
                alive = alive & torch.isfinite(losses.detach())
                opt.zero_grad(set_to_none=True)
                torch.where(alive, losses, torch.zeros_like(losses)).sum().backward()
                guard.save()
                opt.step()
                guard.restore(alive)
                loss_sum += losses.detach().double() * yb.shape[1]
                correct += (logits.detach().argmax(-1) == yb).sum(1)
                n += yb.shape[1]
                if on_step is not None:
                    on_step(losses.detach())
                if bar is not None:
                    bar.update(1)
            alive_now = alive.tolist()
            if not any(alive_now):
                _report_divergence(histories, alive_now, reported, epoch)
                break
            evals = evaluate_population(model, test)
            extras: list[dict[str, float]] = [{} for _ in range(K)]
            if val is not None:
                for k, ev in enumerate(evaluate_population(model, val)):
                    extras[k].update(val_loss=ev.loss, val_acc=ev.accuracy)
            if probe is not None:
                for k, ev in enumerate(evaluate_population(model, probe)):
                    extras[k].update(train_loss_eval=ev.loss, train_acc_eval=ev.accuracy)
            seconds = time.perf_counter() - t0
            losses_l, correct_l = loss_sum.tolist(), correct.tolist()
            improved = [False] * K
            for k in range(K):
                if alive_now[k]:
                    improved[k] = histories[k].observe(EpochRecord(
                        epoch, losses_l[k] / n, correct_l[k] / n, evals[k].loss, evals[k].accuracy,
                        evals[k].spike_rates, seconds, **extras[k]))
            if best is not None:
                best.save(improved)
            _report_divergence(histories, alive_now, reported, epoch)
            if checkpoint is not None:
                save_checkpoint(checkpoint, {
                    "fingerprint": run_id, "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "batch_order": [g.get_state() for g in gens], "streams": rng_streams(model),
                    "histories": [history_state(h) for h in histories],
                    "best": [t.detach() for t in best.saved] if best is not None else [],
                    "alive": alive.detach().cpu(), "reported": list(reported)})
            if bar is not None:
                bar.set_postfix(epoch=epoch, alive=f"{sum(alive_now)}/{K}")
    finally:
        if bar is not None:
            bar.close()
    if best is not None and select == "best_val":
        best.restore([h.best_epoch is not None for h in histories])
    return histories


def _report_divergence(histories: list[History], alive: list[bool], reported: list[bool], epoch: int) -> None:
    for k, ok in enumerate(alive):
        if not ok and not reported[k]:
            reported[k] = True
            histories[k].diverged = True
            warnings.warn(f"member {k} diverged in epoch {epoch} (a non-finite loss); it keeps "
                          f"{len(histories[k].records)} finished epoch(s), the others go on", RuntimeWarning, stacklevel=3)

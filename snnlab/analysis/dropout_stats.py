"""What dropout does to spikes, aggregated over a data set: the numbers behind the motivation notebook."""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import Tensor, nn

from snnlab.dropout.base import DropoutStats, SpikeDropout
from snnlab.validation import check_int

STAT_FIELDS = ("dropped_fraction", "spikes_removed", "silent_fraction", "out_mean", "out_min", "out_max")
COLUMNS = ("layer", "method", "p", "rescale", "n_batches", "n_samples") + STAT_FIELDS


def _slots(model: nn.Module) -> list[tuple[str, SpikeDropout]]:
    """(layer name, dropout module) pairs: ``model.dropouts`` named by ``model.layer_names`` when present."""
    drops = getattr(model, "dropouts", None)
    if isinstance(drops, (tuple, list, nn.ModuleList)) and drops and all(isinstance(d, SpikeDropout) for d in drops):
        names = list(getattr(model, "layer_names", []))
        return [(names[i] if i < len(names) else f"slot{i}", d) for i, d in enumerate(drops)]
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SpikeDropout)]


def _inputs(data: object) -> Tensor:
    x = getattr(data, "x", data)  # a SplitData or a plain tensor of inputs [N, ...]
    if not isinstance(x, Tensor):
        raise TypeError(f"data must be a SplitData or a torch.Tensor of inputs [N, ...], got {type(data).__name__}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"data must hold a non-empty batch of inputs [N, ...], got shape {tuple(x.shape)}")
    return x


def dropout_stats_over(
    model: nn.Module, data: object, *, batch_size: int = 256, n_batches: int | None = None
) -> pd.DataFrame:
    """Run ``model`` over ``data`` with its dropout sampling and aggregate every slot's ``last_stats``.

    ``data`` is a ``SplitData`` (its ``x``) or a tensor of inputs; batches are taken in order
    (the first ``n_batches`` of ``batch_size``, all when None). The model runs in train mode
    (masks are drawn, which advances the dropout modules' generators) under ``torch.no_grad``;
    every module's mode is restored afterwards. Returns one row per dropout slot with columns
    ``layer, method, p, rescale, n_batches, n_samples`` and the ``DropoutStats`` fields: fractions
    and ``out_mean`` are sample-weighted means of the per-batch values (NaN batches skipped),
    ``out_min``/``out_max`` the extremes. The empty ``none`` slot reports nothing: NaN stats.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int("batch_size", batch_size, minimum=1)
    if n_batches is not None:
        check_int("n_batches", n_batches, minimum=1)
    x_all = _inputs(data)
    slots = _slots(model)
    param = next(model.parameters(), None)
    device = param.device if param is not None else x_all.device
    sums = [dict.fromkeys(STAT_FIELDS, 0.0) for _ in slots]
    weights = [dict.fromkeys(STAT_FIELDS, 0.0) for _ in slots]
    lo = [math.inf for _ in slots]
    hi = [-math.inf for _ in slots]
    modes = {m: m.training for m in model.modules()}
    done, seen = 0, 0
    try:
        model.train()
        with torch.no_grad():
            for start in range(0, x_all.shape[0], batch_size):
                if n_batches is not None and done >= n_batches:
                    break
                xb = x_all[start:start + batch_size].to(device)
                for _, d in slots:
                    d.clear_stats()  # a stale value must not count for this batch
                model(xb)
                n = xb.shape[0]
                for i, (_, d) in enumerate(slots):
                    st: DropoutStats | None = d.last_stats
                    if st is None:
                        continue
                    for f in STAT_FIELDS[:4]:
                        v = getattr(st, f)
                        if not math.isnan(v):
                            sums[i][f] += v * n
                            weights[i][f] += n
                    if not math.isnan(st.out_min):
                        lo[i] = min(lo[i], st.out_min)
                        hi[i] = max(hi[i], st.out_max)
                done += 1
                seen += n
    finally:
        for m, training in modes.items():
            m.train(training)
    rows = []
    for i, (name, d) in enumerate(slots):
        row = {"layer": name, "method": d.key, "p": d.p, "rescale": d.rescale, "n_batches": done, "n_samples": seen}
        for f in STAT_FIELDS[:4]:
            row[f] = sums[i][f] / weights[i][f] if weights[i][f] > 0 else math.nan
        row["out_min"] = lo[i] if lo[i] != math.inf else math.nan
        row["out_max"] = hi[i] if hi[i] != -math.inf else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


__all__ = ["COLUMNS", "dropout_stats_over"]

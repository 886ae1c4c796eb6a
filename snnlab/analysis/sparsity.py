"""Sparsity of spike trains and synaptic operations (an energy proxy).

A synaptic operation (SOP) is one spike event arriving at one synapse: an accumulate in the next
layer. Per sample, ``SOPs = sum over t and neurons of [spike != 0] * fan_out(neuron)``. Events are
counted (``!= 0``), not weighted by value: a spike rescaled to 1/(1-p) by inverted dropout is still
one event. The dense ANN of the same shape performs one multiply-accumulate (MAC) per weight per
sample; SOPs are cheaper (accumulate only) and the comparison is a proxy, not a power measurement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from snnlab.validation import check_float, check_int


def _spikes(spikes: Tensor, *, min_dim: int = 3) -> Tensor:
    if not isinstance(spikes, Tensor):
        raise TypeError(f"spikes must be a torch.Tensor [T, B, ...], got {type(spikes).__name__}")
    if spikes.dim() < min_dim:
        raise ValueError(f"spikes must be time-major [T, B, units...] (at least {min_dim} dims), got shape {tuple(spikes.shape)}")
    return spikes.detach()


def firing_rate(spikes: Tensor) -> float:
    """Mean number of spike events per (t, sample, unit): the layer's firing probability per step."""
    s = _spikes(spikes)
    return float((s != 0).float().mean())


def sparsity(spikes: Tensor) -> float:
    """Fraction of (t, sample, unit) entries without a spike (1 - firing rate)."""
    return 1.0 - firing_rate(spikes)


def neuron_rates(spikes: Tensor) -> Tensor:
    """Firing rate of every unit (mean of spike events over time and batch): shape ``spikes.shape[2:]``."""
    s = _spikes(spikes)
    return (s != 0).float().mean(dim=(0, 1))


def silent_fraction(spikes: Tensor) -> float:
    """Fraction of (sample, unit) pairs with no spike in the whole window (per-sample silence)."""
    s = _spikes(spikes)
    return float(((s != 0).sum(dim=0) == 0).float().mean())


def dead_fraction(spikes: Tensor) -> float:
    """Fraction of units that never spike for any sample at any step (dead neurons on this batch)."""
    s = _spikes(spikes)
    return float(((s != 0).sum(dim=(0, 1)) == 0).float().mean())


def fan_out(weight: Tensor) -> Tensor:
    """Outgoing connections per unit of the layer that ``weight`` reads.

    Linear ``[out, in]``: the number of non-zero entries of column ``i`` (``[in]``). Convolution
    ``[oc, ic, kh, kw]``: non-zero taps per input channel (``[ic]``), i.e. what one spike at an
    interior position reaches with stride 1 (borders and strides are ignored: an upper bound).
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() not in (2, 4):
        raise ValueError(f"weight must be 2-D [out, in] or 4-D [oc, ic, kh, kw], got shape {tuple(weight.shape)}")
    w = weight.detach() != 0
    dims = [d for d in range(w.dim()) if d != 1]
    return w.sum(dim=dims).float()


def synaptic_operations(spikes: Tensor, weight: Tensor) -> float:
    """Mean synaptic operations per sample caused by ``spikes`` ``[T, B, units...]`` arriving through
    ``weight`` (the layer reading them): spike events times the fan-out of the unit that fired.

    For a linear reader the spikes' unit axis must match ``weight.shape[1]``; for a convolution the
    spikes are ``[T, B, C, H, W]`` with ``C == weight.shape[1]``.
    """
    s = _spikes(spikes)
    fo = fan_out(weight).to(s.device)
    if weight.dim() == 2:
        if s.dim() != 3 or s.shape[2] != weight.shape[1]:
            raise ValueError(f"spikes [T, B, {weight.shape[1]}] must match the linear weight {tuple(weight.shape)}; got {tuple(s.shape)}")
        events = (s != 0).float().sum(dim=(0, 1))
    else:
        if s.dim() != 5 or s.shape[2] != weight.shape[1]:
            raise ValueError(f"spikes [T, B, {weight.shape[1]}, H, W] must match the conv weight {tuple(weight.shape)}; got {tuple(s.shape)}")
        events = (s != 0).float().sum(dim=(0, 1, 3, 4))
    return float((events * fo).sum() / s.shape[1])


def estimated_synaptic_operations(rate: float, n_units: int, fan_out_per_unit: float, T: int) -> float:
    """SOPs per sample from a stored mean firing rate: ``rate * n_units * T * fan_out``.

    For results read back from the store, where only per-layer rates are kept; it equals
    ``synaptic_operations`` when every unit has the same fan-out.
    """
    rate = check_float("rate", rate, low=0.0)
    n_units = check_int("n_units", n_units, minimum=0)
    fan = check_float("fan_out_per_unit", fan_out_per_unit, low=0.0)
    T = check_int("T", T, minimum=1)
    return rate * n_units * T * fan


def mlp_synaptic_operations(rates: Mapping[str, float] | Sequence[float], sizes: Sequence[int], T: int) -> float:
    """SOPs per sample of a spiking MLP with layer ``sizes`` (input, hidden..., output) from the
    mean firing rate of each hidden layer (in order): hidden layer ``l`` fans out to ``sizes[l+2]``.

    The input layer is not counted (with direct encoding it carries analogue values, a dense GEMM).
    """
    values = list(rates.values()) if isinstance(rates, Mapping) else list(rates)
    sizes = [check_int("sizes[i]", s, minimum=1) for s in sizes]
    if len(sizes) < 3:
        raise ValueError(f"sizes must list input, at least one hidden layer and output; got {sizes}")
    if len(values) != len(sizes) - 2:
        raise ValueError(f"rates must give one rate per hidden layer ({len(sizes) - 2}); got {len(values)}")
    return sum(estimated_synaptic_operations(float(r), sizes[i + 1], float(sizes[i + 2]), T) for i, r in enumerate(values))


def dense_operations(sizes: Sequence[int]) -> int:
    """Multiply-accumulates per sample of the dense ANN with layer ``sizes``: the sum of ``n_in * n_out``."""
    sizes = [check_int("sizes[i]", s, minimum=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size; got {sizes}")
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


@torch.no_grad()
def spike_summary(recorded: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
    """Per recorded layer: firing rate, sparsity, per-sample silent fraction and dead fraction."""
    if not isinstance(recorded, Mapping):
        raise TypeError(f"recorded must be a mapping layer -> spikes [T, B, ...], got {type(recorded).__name__}")
    return {
        name: {"rate": firing_rate(s), "sparsity": sparsity(s), "silent": silent_fraction(s), "dead": dead_fraction(s)}
        for name, s in recorded.items()
    }


SYNOPS_MODELS = ("spiking_mlp", "penalty_snn")


def trial_synaptic_operations(frame: pd.DataFrame, *, n_classes: int = 10) -> pd.Series:
    """Estimated SOPs per sample for every trial row of a store frame (columns ``model``, ``sizes``,
    ``T`` and ``rate_hidden<i>``): each hidden layer's stored mean rate times its width, T and its
    fan-out (the next hidden width, or ``n_classes``). NaN for models whose fan-out is not a plain
    layer width (``spiking_cnn``, ``delayed_snn``) and for the ANN rows (see ``dense_operations``)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("model", "sizes", "T") if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}; columns: {list(frame.columns)}")
    n_classes = check_int("n_classes", n_classes, minimum=1)
    values = []
    for _, row in frame.iterrows():
        sizes = tuple(row["sizes"])
        cols = [f"rate_hidden{i + 1}" for i in range(len(sizes))]
        if row["model"] not in SYNOPS_MODELS or any(c not in frame.columns or pd.isna(row[c]) for c in cols):
            values.append(float("nan"))
            continue
        values.append(mlp_synaptic_operations([float(row[c]) for c in cols], (1, *sizes, n_classes), int(row["T"])))
    return pd.Series(values, index=frame.index, name="synops", dtype=float)

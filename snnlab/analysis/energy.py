"""Energy proxies measured on a model: synaptic operations per inference, the equivalent ANN's
multiply-accumulates, and the accuracy/operations Pareto front of a results table.

A synaptic operation (SOP) is one spike event arriving at one synapse (an accumulate), as in
``snnlab.analysis.sparsity``; here the events are counted where they arrive, on the input of the
synapse each spiking layer drives, during a real eval-mode forward (after dropout's inference
scaling and max pooling, exactly what the next layer receives).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlab.analysis.sparsity import dense_operations
from snnlab.analysis.sparsity import synaptic_operations as linear_synaptic_operations
from snnlab.blocks import ConvSynapse, DelayedLinear, LinearSynapse
from snnlab.models.ann import CNN, MLP
from snnlab.models.base import SpikingModel
from snnlab.validation import check_frame, check_int


def _conv_synaptic_operations(spikes: Tensor, conv: nn.Conv2d) -> float:
    """Exact SOPs per sample of spike events ``[T, B, C, H, W]`` through ``conv``: the accumulates an
    event-driven convolution performs, i.e. the number of (event, non-zero weight, output position)
    triples with ``conv``'s own stride, padding and dilation (border positions reach fewer outputs)."""
    events = (spikes.detach() != 0).to(conv.weight.dtype)
    T, B = events.shape[:2]
    reach = (conv.weight.detach() != 0).to(conv.weight.dtype)
    out = F.conv2d(events.reshape(T * B, *events.shape[2:]), reach, stride=conv.stride, padding=conv.padding,
                   dilation=conv.dilation, groups=conv.groups)
    return float(out.sum()) / B


def _layer_synaptic_operations(spikes: Tensor, synapse: nn.Module) -> float:
    """SOPs per sample of ``spikes [T, B, ...]`` arriving at ``synapse`` (unwrapped)."""
    if isinstance(synapse, ConvSynapse):
        return _conv_synaptic_operations(spikes, synapse.conv)
    if isinstance(synapse, LinearSynapse):
        return linear_synaptic_operations(spikes.reshape(*spikes.shape[:2], -1), synapse.weight)
    if isinstance(synapse, DelayedLinear):  # K delayed connections per pair: [out, in*K] -> [out*K, in]
        w = synapse.weight.detach().view(synapse.out_features, synapse.in_features, synapse.taps)
        return linear_synaptic_operations(spikes, w.permute(0, 2, 1).reshape(-1, synapse.in_features))
    raise TypeError(f"synaptic operations are defined for LinearSynapse, ConvSynapse and DelayedLinear; "
                    f"got a {type(synapse).__name__}")


@torch.no_grad()
def synaptic_operations(model: SpikingModel, x: Tensor, *, batch_size: int = 256) -> dict[str, float]:
    """Synaptic operations per inference of every spiking layer of ``model`` on the inputs ``x[N, ...]``:
    the spike events the layer delivers to the synapse it drives, times the synapses each event
    reaches, summed over the T steps and averaged over the N samples (eval mode, no dropout sampling).

    Convention: an event is a non-zero output (a spike rescaled by dropout is still one event).
    ``LinearSynapse``: an event reaches the non-zero weights of its column (``out_features`` for a dense
    layer). ``ConvSynapse``: an event at one position reaches ``out_channels x`` the kernel taps that
    land on an output position, counted exactly with the convolution's stride and padding (so a border
    event reaches fewer than ``out_channels x kh x kw``); events are counted after max pooling, as the
    next layer receives them. ``DelayedLinear``: each of the K delayed connections counts. Keys: the
    hidden layer names, plus ``"input"`` when the encoding turns the input into spikes; with direct
    encoding the analogue input is a dense product (see ``ann_macs``) and is not counted.
    """
    if not isinstance(model, SpikingModel):
        raise TypeError(f"model must be a snnlab SpikingModel (SpikingMLP, SpikingCNN, ...), got {type(model).__name__}")
    if model.members is not None:
        raise ValueError(f"model is a population of {model.members} networks; pass one network")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor batch [N, ...], got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch [N, ...] with at least 2 dims, got shape {tuple(x.shape)}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    readers = [("input", model.blocks[0])] + [(b.name, nxt) for b, nxt in zip(model.blocks, list(model.blocks[1:]) + [model.readout])]
    totals = {name: 0.0 for name, _ in readers}
    seen = {name: False for name, _ in readers}
    current: dict[str, float] = {}

    def hook_for(name: str, layer: nn.Module) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            current[name] = current.get(name, 0.0) + _layer_synaptic_operations(args[0], layer.synapse.unwrapped)
            seen[name] = True
        return hook

    device = next(model.parameters()).device
    # A block's synapse sees the spikes it is called with; the readout may multiply their time sum
    # instead of calling its synapse, so it is hooked itself (its input is those spikes). The fused
    # readout is turned off: the last layer must write the events counted here.
    targets = [layer if layer is model.readout else layer.synapse for _, layer in readers]
    handles = [t.register_forward_pre_hook(hook_for(name, layer), with_kwargs=True) for t, (name, layer) in zip(targets, readers)]
    was_training, was_fused = model.training, model.fuse_readout
    model.eval()
    model.fuse_readout = False
    try:
        for chunk in torch.split(x, batch_size):
            current.clear()
            model(chunk.to(device))
            for name, value in current.items():
                totals[name] += value * chunk.shape[0]
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        model.fuse_readout = was_fused
    return {name: totals[name] / x.shape[0] for name, _ in readers if seen[name]}


def ann_macs(model_or_sizes: MLP | CNN | nn.Module | Sequence[int]) -> int:
    """Multiply-accumulates per inference of the equivalent ANN: for layer ``sizes`` ``[in, hidden...,
    out]`` the sum of ``n_in * n_out`` (``sparsity.dense_operations``); for a model (an ANN, or a spiking
    model whose ANN twin is meant), every ``nn.Linear`` weight once per sample, and every convolution's
    ``out_channels x in_channels/groups x kh x kw`` once per output position (measured with a forward
    pass on one zero input). Biases and batch normalisation are not counted."""
    if isinstance(model_or_sizes, nn.Module):
        return _module_macs(model_or_sizes)
    if isinstance(model_or_sizes, (str, bytes)) or not isinstance(model_or_sizes, Sequence):
        raise TypeError(f"model_or_sizes must be a model (nn.Module) or a sequence of layer widths, got "
                        f"{type(model_or_sizes).__name__} ({model_or_sizes!r})")
    return dense_operations(model_or_sizes)


@torch.no_grad()
def _module_macs(model: nn.Module) -> int:
    if isinstance(model, SpikingModel) and model.members is not None:
        raise ValueError(f"model is a population of {model.members} networks; pass one network")
    total = 0
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for m in model.modules():
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
        elif isinstance(m, DelayedLinear):
            total += m.out_features * m.in_features * m.taps
    if convs:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ValueError(f"counting a convolution's MACs needs the model's input_shape (C, H, W); "
                             f"{type(model).__name__} has none")
        positions: dict[int, int] = {}

        def hook_for(conv: nn.Conv2d) -> Any:
            def hook(module: nn.Module, args: Any, out: Tensor) -> None:
                positions[id(conv)] = out.shape[-2] * out.shape[-1]
            return hook

        # A ConvSynapse's forward calls F.conv2d with its (possibly masked) weight, not its Conv2d module
        # (its static() does call the module): hook both.
        owners = {id(m.conv): m for m in model.modules() if isinstance(m, ConvSynapse)}
        handles = [c.register_forward_hook(hook_for(c)) for c in convs]
        handles += [owners[id(c)].register_forward_hook(hook_for(c)) for c in convs if id(c) in owners]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            model(torch.zeros(1, *shape, device=device))
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
        for c in convs:
            kh, kw = c.kernel_size
            total += c.out_channels * (c.in_channels // c.groups) * kh * kw * positions[id(c)]
    return int(total)


def pareto_front(frame: pd.DataFrame, x: str = "synops", y: str = "test_acc") -> pd.DataFrame:
    """The rows of ``frame`` not dominated in (least ``x``, greatest ``y``): no other row has ``x`` <= and
    ``y`` >= with one strict. Sorted by ``x``; rows with a missing or non-finite value are left out;
    rows tied on both values are all kept."""
    if not isinstance(x, str) or not isinstance(y, str):
        raise TypeError(f"x and y must be column names (strings), got x={x!r}, y={y!r}")
    check_frame("frame", frame, [x, y], allow_empty=True)
    xs = pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    order = [i for i in np.lexsort((-ys, xs)) if ok[i]]  # by x ascending, then y descending
    keep: list[int] = []
    best = -np.inf
    best_x = np.nan
    for i in order:
        if ys[i] > best:
            keep.append(i)
            best, best_x = ys[i], xs[i]
        elif ys[i] == best and xs[i] == best_x:  # an exact tie of a front row
            keep.append(i)
    return frame.iloc[keep]



def energy_table(frame: pd.DataFrame, *, label: str = "label", x: str = "synops", y: str = "test_acc") -> pd.DataFrame:
    """One row per condition ``label`` (in order of first appearance): ``x`` and ``y`` averaged over its
    rows (the seeds), with ``seeds`` (how many rows) and ``on_front`` (whether the condition's means lie
    on the ``pareto_front``)."""
    for name, value in (("label", label), ("x", x), ("y", y)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a column name (string), got {value!r}")
    check_frame("frame", frame, [label, x, y])
    grouped = frame.groupby(label, sort=False)
    out = grouped[[x, y]].mean().join(grouped.size().rename("seeds")).reset_index()
    front = pareto_front(out, x=x, y=y)
    out["on_front"] = out.index.isin(front.index)
    return out


def energy_sentences(table: pd.DataFrame, *, layer_macs: float, total_macs: float | None = None,
                     baseline: str = "none") -> list[str]:
    """Sentences computed from ``energy_table`` (``label``, ``synops``, ``test_acc``, ``on_front``): the range
    of synaptic operations against the equivalent ANN's ``layer_macs`` (its multiply-accumulates in the
    layers the SOPs are counted in; ``total_macs`` with the input layer, which a directly encoded SNN
    computes densely too), the Pareto front, whether the base SNN is on it (or who dominates it) and
    each method's change of operations and accuracy against the base SNN."""
    check_frame("table", table, ["label", "synops", "test_acc", "on_front"])
    for name, value in (("layer_macs", layer_macs), ("total_macs", total_macs)):
        if value is None and name == "total_macs":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of multiply-accumulates, got {value!r}")
    lo = table.loc[table["synops"].idxmin()]
    hi = table.loc[table["synops"].idxmax()]
    line = (f"Synaptic operations per inference range from {lo['synops']:.3g} ({lo['label']}) to {hi['synops']:.3g} "
            f"({hi['label']}): {lo['synops'] / layer_macs:.2f}x to {hi['synops'] / layer_macs:.2f}x the "
            f"{layer_macs:.3g} multiply-accumulates the equivalent ANN performs in the same layers")
    if total_macs is not None:
        line += (f" (its total of {total_macs:.3g} includes the input layer's {total_macs - layer_macs:.3g}, a dense "
                 f"product the directly encoded SNN performs as well and which is not counted here)")
    out = [line + ". An operation count is a proxy for energy: an accumulate costs less than a multiply-accumulate."]
    front = table[table["on_front"].astype(bool)].sort_values("synops")
    out.append("The Pareto front (fewest operations for the accuracy, means over seeds): " + ", ".join(
        f"{r['label']} ({r['synops']:.3g} SOPs, {100 * r['test_acc']:.1f}%)" for _, r in front.iterrows()) + ".")
    base = table[table["label"] == baseline]
    if not base.empty:
        b = base.iloc[0]
        if bool(b["on_front"]):
            out.append(f"The base SNN ({baseline}) is on the front.")
        else:
            dom = table[(table["synops"] <= b["synops"]) & (table["test_acc"] >= b["test_acc"])
                        & ((table["synops"] < b["synops"]) | (table["test_acc"] > b["test_acc"]))]
            verb = "uses" if len(dom) == 1 else "use"
            out.append(f"The base SNN ({baseline}) is not on the front: {', '.join(dom['label'])} {verb} no more "
                       f"operations at no lower accuracy.")
        others = table[table["label"] != baseline]
        if not others.empty and b["synops"] > 0:
            change = (others["synops"] / b["synops"] - 1.0) * 100
            acc = (others["test_acc"] - b["test_acc"]) * 100
            out.append("Against the base SNN: " + "; ".join(
                f"{lb} {c:+.0f}% operations, {a:+.1f} pp accuracy" for lb, c, a in zip(others["label"], change, acc)) + ".")
    return out


__all__ = ["ann_macs", "energy_sentences", "energy_table", "pareto_front", "synaptic_operations"]

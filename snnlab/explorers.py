"""SNN-aware dropout on a real batch: one draw of a condition on recorded spikes, what the method
conditions on, and an explorer (method + p picker) over the per-neuron drop-probability map.

``draw_condition`` applies one (method, options, p) to a hidden layer's recorded spikes exactly as
the model's dropout slot does in training (a ``LayerContext`` with what the method declares it
needs; the following synapse is called through ``method.wrap_next``, so a method that masks
synapses shows its masked weight) and returns the output, the mask statistics and, for the methods
with a probability map, the per-neuron drop probabilities. Every list of methods and every
description here is read from the dropout registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import Tensor, nn

from snnlab.analysis.statistics import condition_label, study_conditions
from snnlab.dropout import DropoutStats, LayerContext, SpikeDropout, make_dropout, method_info, methods
from snnlab.dropout.shaped import FAVORS
from snnlab.plots.results import probability_map_figure
from snnlab.validation import check_choice, check_float, check_int
from snnlab.widgets import update_live_figure


@dataclass(frozen=True)
class LayerBatch:
    """One hidden layer on one batch: spikes and membrane ``[T, B, N]``, the weight driving the
    layer ``[N, in]`` and the weight reading it ``[out, N]``, and the neurons' threshold."""

    spikes: Tensor
    membrane: Tensor
    weight: Tensor
    next_weight: Tensor
    threshold: float = 1.0

    def __post_init__(self) -> None:
        for name in ("spikes", "membrane"):
            t = getattr(self, name)
            if not isinstance(t, Tensor) or t.dim() != 3:
                raise ValueError(f"{name} must be a [T, B, N] tensor, got {getattr(t, 'shape', type(t).__name__)}")
        n = self.spikes.shape[2]
        if self.membrane.shape != self.spikes.shape:
            raise ValueError(f"membrane {tuple(self.membrane.shape)} must have the shape of spikes {tuple(self.spikes.shape)}")
        if not isinstance(self.weight, Tensor) or self.weight.dim() != 2 or self.weight.shape[0] != n:
            raise ValueError(f"weight must be [N={n}, in], got {getattr(self.weight, 'shape', None)}")
        if not isinstance(self.next_weight, Tensor) or self.next_weight.dim() != 2 or self.next_weight.shape[1] != n:
            raise ValueError(f"next_weight must be [out, N={n}], got {getattr(self.next_weight, 'shape', None)}")


def record_layer(model: nn.Module, x: Tensor, *, layer: str = "hidden1") -> LayerBatch:
    """Run ``model`` (eval, no dropout) on ``x`` and return ``layer``'s spikes, membrane and weights
    (the threshold is that of the layer's neuron, ``model.block(layer).neuron.threshold``)."""
    if not all(hasattr(model, name) for name in ("record", "outgoing_weights", "hidden_weights", "block")):
        raise TypeError(
            "model must be a spiking model with record(), hidden_weights(), outgoing_weights() and block(), "
            f"got {type(model).__name__}"
        )
    hidden = model.hidden_weights()
    if layer not in hidden:
        raise ValueError(f"layer={layer!r} is not a hidden layer of the model; allowed: {', '.join(map(repr, hidden))}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), model.record() as rec:
            model(x)
    finally:
        model.train(was_training)
    threshold = float(model.block(layer).neuron.threshold)
    return LayerBatch(rec.spikes[layer], rec.membrane[layer], hidden[layer].detach(),
                      model.outgoing_weights()[layer].detach(), threshold)


@dataclass(frozen=True)
class ConditionDraw:
    """One training-mode draw: ``output`` ``[T, B, N]`` (spikes after dropout; unchanged for
    dropconnect), ``masked_weight`` (dropconnect's masked next weight, else None), ``stats`` and
    ``probabilities`` ``[N]`` (shaped methods, else None)."""

    label: str
    method: str
    p: float
    output: Tensor
    masked_weight: Tensor | None
    stats: DropoutStats | None
    probabilities: Tensor | None


class _ProbeSynapse(nn.Module):
    """A linear synapse holding ``weight`` ``[out, N]`` that remembers the weight it was last called
    with: what ``wrap_next`` is handed, so that whatever a method does to the next synapse is seen."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.__dict__["used_weight"] = None  # a plain attribute, whatever the weight is (never a parameter)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        self.__dict__["used_weight"] = w
        return x @ w.T


def layer_context(batch: LayerBatch, drop: SpikeDropout) -> LayerContext:
    """The ``LayerContext`` a block would hand ``drop`` for this layer: the spikes, and only the
    membrane summary (``drop.membrane``: the trace or its time mean) and weights the method declares."""
    membrane = None
    if drop.membrane == "trace":
        membrane = batch.membrane
    elif drop.membrane == "mean":
        membrane = batch.membrane.mean(0, keepdim=True)
    return LayerContext(
        spikes=batch.spikes,
        membrane=membrane,
        weight=batch.weight if drop.needs_weight else None,
        next_weight=batch.next_weight,
    )


def draw_condition(
    batch: LayerBatch,
    method: str,
    p: float,
    *,
    options: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    seed: int = 0,
) -> ConditionDraw:
    """Apply ``method`` at rate ``p`` (with ``options``, e.g. ``favor``) to ``batch`` as a model's
    dropout slot would in training; seeded, so the same arguments give the same mask.

    The next synapse (``batch.next_weight``) is called through ``wrap_next`` with the dropped spikes:
    ``masked_weight`` is the weight it was called with when the method wraps that synapse
    (DropConnect), else None.
    """
    if not isinstance(batch, LayerBatch):
        raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
    check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    opts = dict(options)
    baseline = method_info(method).family == "baseline"
    drop = make_dropout(method, 0.0 if baseline else p, seed=check_int("seed", seed), **opts)
    drop.train()
    probe = _ProbeSynapse(batch.next_weight)
    synapse = drop.wrap_next(probe)
    with torch.no_grad():
        out = drop(layer_context(batch, drop))
        synapse(out)
    masked = None if synapse is probe or probe.used_weight is None else probe.used_weight.detach().clone()
    probs = getattr(drop, "last_probabilities", None)
    label = condition_label(method, opts)
    return ConditionDraw(label, method, float(p), out, masked, None if baseline else drop.last_stats,
                         None if probs is None else probs.detach().clone())


def conditioning_quantity(batch: LayerBatch, method: str) -> tuple[np.ndarray, str]:
    """What a method with a probability map scores each neuron by, on this batch: ``(values [N], axis label)``.

    Read from the method itself (its ``scores`` on the layer's context and its ``score_label``), so a
    newly registered shaped method needs nothing here.
    """
    if not isinstance(batch, LayerBatch):
        raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
    shaped = methods(probability_map=True)
    if method not in shaped:
        raise ValueError(f"method={method!r} has no per-neuron probability map; allowed: {', '.join(map(repr, shaped))}")
    drop = make_dropout(method, 0.0)
    with torch.no_grad():
        scores = drop.scores(layer_context(batch, drop))
    values = scores.detach().float().expand(batch.spikes.shape[2:]).cpu().numpy()
    return values, str(getattr(drop, "score_label", "score"))


def stats_frame(draws: Sequence[ConditionDraw]) -> pd.DataFrame:
    """``last_stats`` of several draws side by side: one row per condition (label, p and the fields)."""
    rows = []
    for d in draws:
        if d.stats is None:
            continue
        row = {"label": d.label, "p": d.p}
        row.update({k: v for k, v in asdict(d.stats).items() if k not in ("method", "p")})
        rows.append(row)
    if not rows:
        raise ValueError("none of the draws has statistics (only 'none' draws?)")
    return pd.DataFrame(rows)


class ProbabilityMapExplorer:
    """Pick a method with a per-neuron probability map (``methods(probability_map=True)``), its
    ``favor`` direction and ``p``: the per-neuron drop probability against what the method
    conditions on, recomputed on the recorded batch at every change."""

    def __init__(self, batch: LayerBatch, *, method: str | None = None, favor: str = "protect", p: float = 0.3,
                 seed: int = 0) -> None:
        if not isinstance(batch, LayerBatch):
            raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
        self.methods = methods(probability_map=True)
        if not self.methods:
            raise ValueError("no registered dropout method exposes a probability map (probability_map=True)")
        method = self.methods[0] if method is None else method
        if method not in self.methods:
            raise ValueError(f"method={method!r} has no per-neuron probability map; allowed: {', '.join(map(repr, self.methods))}")
        check_choice("favor", favor, FAVORS)
        self.batch, self.seed = batch, int(seed)
        style = {"description_width": "90px"}
        self.method = widgets.Dropdown(options=list(self.methods), value=method, description="method", style=style)
        self.favor = widgets.ToggleButtons(options=list(FAVORS), value=favor, description="favor", style=style)
        self.drop_rate = widgets.FloatSlider(value=check_float("p", p, low=0.05, high=0.9), min=0.05, max=0.9, step=0.05,
                                             description="drop rate p", style=style)
        self.summary = widgets.HTML()
        self.figure = go.FigureWidget(self._figure(self.draw()))
        for control in (self.method, self.favor, self.drop_rate):
            control.observe(self._on_change, names="value")
        self.ui = widgets.VBox([widgets.HBox([self.method, self.favor, self.drop_rate]), self.summary, self.figure])

    def draw(self) -> ConditionDraw:
        """One draw with the current controls (``favor`` only for methods that take it)."""
        takes_favor = "favor" in method_info(self.method.value).options
        self.favor.disabled = not takes_favor
        options = {"favor": self.favor.value} if takes_favor else {}
        return draw_condition(self.batch, self.method.value, self.drop_rate.value, options=options, seed=self.seed)

    def _figure(self, d: ConditionDraw) -> go.Figure:
        x, label = conditioning_quantity(self.batch, d.method)
        self.summary.value = (f"<i>{d.label} at p = {d.p:.2f}: mean drop probability {float(d.probabilities.mean()):.3f}, "
                              f"{d.stats.spikes_removed:.0%} of spikes removed, "
                              f"{d.stats.silent_fraction:.0%} of drops on silent (sample, neuron) pairs</i>")
        return probability_map_figure({d.label: (x, d.probabilities, label)}, p=d.p)

    def _on_change(self, change: dict) -> None:
        self.update()

    def update(self) -> ConditionDraw:
        """Redraw with the current controls and update the live figure in place."""
        d = self.draw()
        fresh = self._figure(d)
        new = fresh.data[0]
        update_live_figure(self.figure, {0: {"x": new.x, "y": new.y, "marker.color": new.marker.color}}, layout={
            "title.text": fresh.layout.title.text,
            "annotations": [a.to_plotly_json() for a in fresh.layout.annotations],
            "xaxis.title.text": fresh.layout.xaxis.title.text,
            "shapes": [shape.to_plotly_json() for shape in fresh.layout.shapes],
        })
        return d


def describe_conditions(conditions: Sequence[tuple[str, Sequence[tuple[str, Any]]]] | None = None) -> pd.DataFrame:
    """What each condition (default: the study's grid, ``study_conditions()``) conditions on, which
    direction it takes (the values of its naming options but ``window``), whether it is causal (its mask at step t uses nothing after t
    and no other sample: the instance says so, e.g. ``window="causal"``), what it needs from its
    layer and what it acts on, read from the registry (``method_info``) and the method instance."""
    if conditions is None:
        conditions = study_conditions()
    rows = []
    for method, options in conditions:
        info = method_info(method)
        opts = dict(options)
        module = make_dropout(method, 0.0, **opts)
        naming = [name for name in type(module).label_options if name != "window"]  # window: the causal column
        direction = ", ".join(str(opts.get(name, getattr(module, name, "—"))) for name in naming) or "—"
        needs = [name for name, flag in (("membrane", info.membrane is not None), ("weight", info.needs_weight)) if flag]
        rows.append({
            "label": condition_label(method, options),
            "conditions on": info.conditions_on,
            "direction": direction,
            "causal": "yes" if module.causal else "no",
            "needs": ", ".join(needs) or "spikes only",
            "acts on": info.acts_on,
        })
    return pd.DataFrame(rows)

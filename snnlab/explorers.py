"""SNN-aware dropout on a real batch: one draw of a condition on recorded spikes, what the method
conditions on, and an explorer (method + p picker) over the per-neuron drop-probability map.

``draw_condition`` applies one (method, options, p) to a hidden layer's recorded spikes exactly as
the model's dropout slot does in training (membrane and the layer's weight as context; for
``dropconnect`` the following layer's weight is masked) and returns the output, the mask
statistics and, for the shaped methods, the per-neuron drop probabilities.
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
from torch import Tensor

from snnlab.analysis.statistics import condition_label
from snnlab.dropout import DropoutStats, make_dropout
from snnlab.plots.results import probability_map_figure
from snnlab.validation import check_float, check_int


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


def record_layer(model: torch.nn.Module, x: Tensor, *, layer: str = "hidden1") -> LayerBatch:
    """Run ``model`` (eval, no dropout) on ``x`` and return ``layer``'s spikes, membrane and weights."""
    if not hasattr(model, "record") or not hasattr(model, "outgoing_weights"):
        raise TypeError(f"model must be a spiking model with record() and outgoing_weights(), got {type(model).__name__}")
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
    idx = list(hidden).index(layer)
    neuron = model.neurons[idx] if hasattr(model, "neurons") else None
    threshold = float(getattr(neuron, "threshold", 1.0)) if neuron is not None else 1.0
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


def draw_condition(
    batch: LayerBatch,
    method: str,
    p: float,
    *,
    options: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    seed: int = 0,
) -> ConditionDraw:
    """Apply ``method`` at rate ``p`` (with ``options``, e.g. ``favor``) to ``batch`` as a model's
    dropout slot would in training; seeded, so the same arguments give the same mask."""
    if not isinstance(batch, LayerBatch):
        raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
    check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    opts = dict(options)
    if method == "membrane":
        opts.setdefault("threshold", batch.threshold)
    drop = make_dropout(method, 0.0 if method == "none" else p, seed=check_int("seed", seed), **opts)
    drop.train()
    with torch.no_grad():
        out = drop(batch.spikes, membrane=batch.membrane if drop.needs_membrane else None,
                   weight=batch.weight if drop.needs_weight else None)
        masked = drop.mask_weight(batch.next_weight) if drop.acts_on == "synapses" else None
    probs = getattr(drop, "last_probabilities", None)
    label = condition_label(method, tuple(sorted((k, v) for k, v in opts.items() if k == "favor")))
    return ConditionDraw(label, method, float(p), out, masked, drop.last_stats if method != "none" else None,
                         None if probs is None else probs.detach().clone())


def conditioning_quantity(batch: LayerBatch, method: str) -> tuple[np.ndarray, str]:
    """What a shaped method scores each neuron by, on this batch: ``(values [N], axis label)``.

    ``membrane``: mean membrane / threshold; ``synaptic``: L2 norm of the incoming weights;
    ``activity`` (and any other method): firing rate on this batch.
    """
    if not isinstance(batch, LayerBatch):
        raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
    if method == "membrane":
        return (batch.membrane / batch.threshold).mean((0, 1)).cpu().numpy(), "mean membrane / threshold"
    if method == "synaptic":
        return batch.weight.norm(dim=1).cpu().numpy(), "incoming weight L2 norm"
    return (batch.spikes != 0).float().mean((0, 1)).cpu().numpy(), "firing rate (spikes / step)"


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
    """Pick a shaped method (both ``favor`` directions) and ``p``: the per-neuron drop probability
    against what the method conditions on, recomputed on the recorded batch at every change."""

    METHODS = ("membrane", "synaptic", "activity")

    def __init__(self, batch: LayerBatch, *, method: str = "membrane", favor: str = "protect", p: float = 0.3,
                 seed: int = 0) -> None:
        if not isinstance(batch, LayerBatch):
            raise TypeError(f"batch must be a LayerBatch (record_layer), got {type(batch).__name__}")
        if method not in self.METHODS:
            raise ValueError(f"method={method!r} is not a shaped method; allowed: {', '.join(map(repr, self.METHODS))}")
        self.batch, self.seed = batch, int(seed)
        style = {"description_width": "90px"}
        self.method = widgets.Dropdown(options=list(self.METHODS), value=method, description="method", style=style)
        self.favor = widgets.ToggleButtons(options=["protect", "drop"], value=favor, description="favor", style=style)
        self.drop_rate = widgets.FloatSlider(value=check_float("p", p, low=0.05, high=0.9), min=0.05, max=0.9, step=0.05,
                                             description="drop rate p", style=style)
        self.summary = widgets.HTML()
        self.figure = go.FigureWidget(self._figure(self.draw()))
        for control in (self.method, self.favor, self.drop_rate):
            control.observe(self._on_change, names="value")
        self.ui = widgets.VBox([widgets.HBox([self.method, self.favor, self.drop_rate]), self.summary, self.figure])

    def draw(self) -> ConditionDraw:
        """One draw with the current controls."""
        return draw_condition(self.batch, self.method.value, self.drop_rate.value,
                              options={"favor": self.favor.value}, seed=self.seed)

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
        f = self.figure
        with f.batch_update():
            f.data[0].x, f.data[0].y = fresh.data[0].x, fresh.data[0].y
            f.data[0].marker.color = fresh.data[0].marker.color
            f.layout.title = fresh.layout.title
            f.layout.annotations = fresh.layout.annotations
            f.layout.xaxis.title = fresh.layout.xaxis.title
            f.layout.shapes = fresh.layout.shapes
        return d


CONDITIONED_ON: dict[str, str] = {
    "standard": "nothing (Bernoulli per element, new every step)",
    "dropout2d": "nothing (per channel / feature, new every step)",
    "feature_alpha": "nothing (per feature, alpha values, new every step)",
    "alpha": "nothing (per element, alpha values, new every step)",
    "temporal": "nothing, but held over the whole window",
    "membrane": "mean membrane potential / threshold",
    "synaptic": "L2 norm of the neuron's incoming weights",
    "activity": "the neuron's firing rate in this forward",
    "dropconnect": "nothing (per synapse of the next layer, held over the window)",
}


def describe_conditions(conditions: Sequence[tuple[str, Sequence[tuple[str, Any]]]]) -> pd.DataFrame:
    """What each condition conditions on and how its mask is laid out, read from the registered
    classes (``needs_membrane``, ``needs_weight``, ``acts_on``) and ``CONDITIONED_ON``."""
    rows = []
    for method, options in conditions:
        module = make_dropout(method, 0.0)
        cls = type(module)
        opts = dict(options)
        rows.append({
            "label": condition_label(method, tuple(options)),
            "conditions on": CONDITIONED_ON.get(method, "see the method's docstring"),
            "direction": str(opts.get("favor", getattr(module, "favor", "—"))),
            "needs": ", ".join(n for n, flag in (("membrane", cls.needs_membrane), ("weight", cls.needs_weight)) if flag) or "spikes only",
            "acts on": cls.acts_on,
        })
    return pd.DataFrame(rows)

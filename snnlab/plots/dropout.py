"""Figures for the case against classic dropout on spikes: sparsity, mask statistics, output values, rasters.

Inputs are tidy ``pandas.DataFrame``s (one row per method and rate) or mappings
method -> array; colours come from ``snnlab.plots.style`` so a method looks the same in
every notebook. Every function returns a ``go.Figure`` and never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnlab.plots.neurons import ArrayLike, as_array, spike_times
from snnlab.plots.style import TEMPLATE, method_color, panel_chars, shrink_subplot_titles, wrap_title
from snnlab.validation import check_frame

STAT_LABELS: dict[str, str] = {
    "dropped_fraction": "fraction of mask entries dropped",
    "spikes_removed": "fraction of spikes removed",
    "silent_fraction": "fraction of drops on silent units",
    "out_mean": "mean output value",
    "out_min": "smallest output value",
    "out_max": "largest output value",
}
FRACTION_STATS = frozenset({"dropped_fraction", "spikes_removed", "silent_fraction"})
REMOVED_COLOR = "#ff00ff"  # magenta: no dropout method (standard is red) nor a spike (near-black) has it
CREATED_COLOR = "#7f7f7f"


def require_columns(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise naming ``name`` if ``frame`` is not a non-empty DataFrame holding every one of ``columns``."""
    check_frame(name, frame, columns)


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, height=height, legend=dict(orientation="h", y=-0.18))
    return fig


def sparsity_figure(
    frame: pd.DataFrame,
    *,
    title: str = "How silent is a trained SNN?",
) -> go.Figure:
    """Grouped bars per layer: the fraction of silent (neuron, step) pairs and of neurons silent all window.

    ``frame`` columns: ``layer``, ``silent_steps`` (fraction of (sample, neuron, step) with no spike),
    ``silent_neurons`` (fraction of (sample, neuron) pairs with no spike in the whole window).
    """
    require_columns("frame", frame, ["layer", "silent_steps", "silent_neurons"])
    fig = go.Figure()
    fig.add_bar(x=frame["layer"], y=frame["silent_steps"], name="silent (neuron, step) pairs", marker_color="#1f77b4",
                text=[f"{v:.1%}" for v in frame["silent_steps"]], textposition="outside")
    fig.add_bar(x=frame["layer"], y=frame["silent_neurons"], name="neurons silent over the whole window",
                marker_color="#aec7e8", text=[f"{v:.1%}" for v in frame["silent_neurons"]], textposition="outside")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="fraction", range=[0, 1.1], tickformat=".0%")
    fig.update_xaxes(title_text="layer")
    return _finish(fig, title, 420)


def mask_stats_figure(
    frame: pd.DataFrame,
    *,
    stats: Sequence[str] = ("dropped_fraction", "spikes_removed", "silent_fraction"),
    title: str = "Where do the classic masks land?",
) -> go.Figure:
    """One panel per statistic, a line per method against the nominal rate ``p``.

    ``frame``: one row per (method, p) (mean over batches), columns ``method``, ``p`` and each of ``stats``
    (names of ``DropoutStats`` fields). The first panel carries the y = p reference.

    A fraction is drawn on the whole 0–100% axis: a share that hardly moves with p (the share of drops
    on silent units) is a flat line there, not a trend stretched over an axis of a tenth of a point.
    """
    require_columns("frame", frame, ["method", "p", *stats])
    width = panel_chars(len(stats), 0.08)
    fig = make_subplots(rows=1, cols=len(stats), subplot_titles=[wrap_title(STAT_LABELS.get(s, s), width) for s in stats],
                        horizontal_spacing=0.08)
    shrink_subplot_titles(fig)
    p_all = np.sort(frame["p"].unique())
    for method, sub in frame.groupby("method", sort=False):
        sub = sub.sort_values("p")
        for j, stat in enumerate(stats, start=1):
            fig.add_scatter(x=sub["p"], y=sub[stat], mode="lines+markers", name=str(method), legendgroup=str(method),
                            showlegend=j == 1, line=dict(color=method_color(str(method))), cliponaxis=False,
                            row=1, col=j)
    fig.add_scatter(x=p_all, y=p_all, mode="lines", name="y = p", line=dict(color="#999999", dash="dot"), row=1, col=1)
    for j, stat in enumerate(stats, start=1):
        fig.update_xaxes(title_text="nominal drop rate p", row=1, col=j)
        if stat in FRACTION_STATS or "fraction" in stat:
            fig.update_yaxes(title_text="fraction", range=[0.0, 1.0], tickformat=".0%", row=1, col=j)
        else:
            fig.update_yaxes(title_text="value", row=1, col=j)
    return _finish(fig, title, 420)


def output_values_figure(
    values: Mapping[str, ArrayLike],
    *,
    p: float,
    title: str | None = None,
) -> go.Figure:
    """Distribution of the values a dropout layer hands on (method -> flat output array).

    Spikes are 0 or 1; after ``1/(1-p)`` rescaling they are 0 or ``1/(1-p)``, and the alpha variants add
    negative values. Bars show the share of outputs at each distinct value (rounded to 3 decimals).
    """
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty mapping method -> output values")
    fig = go.Figure()
    for method, v in values.items():
        arr = np.round(as_array(f"values[{method!r}]", v, (1, 2, 3)).ravel(), 3)
        uniq, counts = np.unique(arr, return_counts=True)
        fig.add_bar(x=uniq, y=counts / counts.sum(), name=f"{method} ({len(uniq)} distinct values)",
                    marker_color=method_color(method), width=0.04, opacity=0.8)
    fig.add_vline(x=1.0 / (1.0 - p), line=dict(color="#999999", dash="dot"),
                  annotation_text=f"1/(1-p) = {1.0 / (1.0 - p):.2f}")
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="output value (a spike is 1)")
    fig.update_yaxes(title_text="share of outputs", rangemode="tozero")
    return _finish(fig, title or f"What the next layer receives at p = {p:g}: no longer spikes", 440)


def mask_raster_figure(
    spikes: ArrayLike,
    outputs: Mapping[str, ArrayLike],
    *,
    title: str = "Per-step masks scatter holes; a time-consistent mask removes whole neurons",
    height: int = 440,
) -> go.Figure:
    """Rasters side by side, one panel per method, of one sample's ``[T, N]`` spikes after dropout.

    Kept spikes (output > 0) in the method's colour, removed spikes (output zeroed, or turned
    into a negative value by the alpha variants) as magenta crosses, and non-zero outputs where there
    was no spike (alpha variants) as grey dots.
    """
    spk = as_array("spikes", spikes, 2) != 0
    if not isinstance(outputs, Mapping) or not outputs:
        raise ValueError("outputs must be a non-empty mapping method -> [T, N] output")
    arrays = {m: as_array(f"outputs[{m!r}]", o, 2) for m, o in outputs.items()}
    for m, a in arrays.items():
        if a.shape != spk.shape:
            raise ValueError(f"outputs[{m!r}] has shape {a.shape}, spikes have {spk.shape}")
    titles = []
    for m, a in arrays.items():
        removed = int((spk & (a <= 0)).sum())
        titles.append(f"{m}<br>{removed}/{int(spk.sum())} spikes removed")  # two short lines: panels sit close
    fig = make_subplots(rows=1, cols=len(arrays), shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=titles)
    shrink_subplot_titles(fig)
    for i, (m, a) in enumerate(arrays.items(), start=1):
        kept_t, kept_n = spike_times(spk & (a > 0))
        rem_t, rem_n = spike_times(spk & (a <= 0))
        new_t, new_n = spike_times(~spk & (a != 0))
        fig.add_scatter(x=kept_t, y=kept_n, mode="markers", name="kept spike", legendgroup="kept", showlegend=i == 1,
                        marker=dict(symbol="line-ns-open", size=6, color=method_color(m)), row=1, col=i)
        fig.add_scatter(x=rem_t, y=rem_n, mode="markers", name="removed spike", legendgroup="removed",
                        showlegend=i == 1, marker=dict(symbol="x-thin-open", size=6, color=REMOVED_COLOR), row=1, col=i)
        if len(new_t):
            fig.add_scatter(x=new_t, y=new_n, mode="markers", name="non-zero output without a spike",
                            legendgroup="created", marker=dict(symbol="circle", size=2, color=CREATED_COLOR),
                            row=1, col=i)
        fig.update_xaxes(title_text="time (steps)", range=[-0.5, spk.shape[0] - 0.5], row=1, col=i)
    fig.update_yaxes(title_text="neuron", row=1, col=1)
    return _finish(fig, title, height)


def next_layer_effect_figure(
    frame: pd.DataFrame,
    *,
    title: str = "What the next layer feels",
) -> go.Figure:
    """Change in the next layer's membrane potential and firing rate against p, a line per method.

    ``frame`` columns: ``method``, ``p``, ``membrane_change`` (mean |Δ membrane| relative to no dropout),
    ``rate_change`` (relative change of the next layer's firing rate).
    """
    require_columns("frame", frame, ["method", "p", "membrane_change", "rate_change"])
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("mean |Δ membrane| / mean |membrane|", "relative change in firing rate"))
    shrink_subplot_titles(fig)
    for method, sub in frame.groupby("method", sort=False):
        sub = sub.sort_values("p")
        for j, col in enumerate(["membrane_change", "rate_change"], start=1):
            fig.add_scatter(x=sub["p"], y=sub[col], mode="lines+markers", name=str(method), legendgroup=str(method),
                            showlegend=j == 1, line=dict(color=method_color(str(method))), row=1, col=j)
    fig.add_hline(y=0.0, line=dict(color="#999999", dash="dot"), row=1, col=2)
    for j in (1, 2):
        fig.update_xaxes(title_text="nominal drop rate p", row=1, col=j)
    fig.update_yaxes(title_text="relative change", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="relative change", tickformat=".0%", row=1, col=2)
    return _finish(fig, title, 420)


def mask_snapshot_figure(
    stats: Mapping[str, float],
    values: ArrayLike,
    *,
    method: str,
    p: float,
) -> go.Figure:
    """The statistics of one (method, p) draw as bars, next to the histogram of its output values.

    ``stats`` maps ``DropoutStats`` fraction names to values; ``values`` are the outputs (any shape).
    ``MaskStatsExplorer`` wraps it in a ``go.FigureWidget`` and updates the two traces in place.
    """
    names = [k for k in ("dropped_fraction", "spikes_removed", "silent_fraction") if k in stats]
    if not names:
        raise ValueError(f"stats must hold at least one of dropped_fraction, spikes_removed, silent_fraction; got {list(stats)}")
    vals = as_array("values", values, (1, 2, 3)).ravel()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("mask statistics", "output values"), horizontal_spacing=0.12)
    shrink_subplot_titles(fig)
    fig.add_bar(x=[STAT_LABELS[k] for k in names], y=[float(stats[k]) for k in names], name=method,
                marker_color=method_color(method), text=[f"{float(stats[k]):.1%}" for k in names],
                textposition="outside", row=1, col=1)
    fig.add_histogram(x=vals, name="output values", marker_color=method_color(method), histnorm="probability",
                      nbinsx=40, row=1, col=2)
    fig.update_yaxes(title_text="fraction", range=[0, 1.15], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="share of outputs", type="log", row=1, col=2)
    fig.update_xaxes(title_text="output value (a spike is 1)", row=1, col=2)
    fig.update_layout(showlegend=False)
    return _finish(fig, f"{method} at p = {p:g}", 420)

"""Figures of uncertainty and energy: reliability diagrams per dropout method, and accuracy against
synaptic operations with the Pareto front (``snnlab.analysis.uncertainty``, ``snnlab.analysis.energy``).

Method colours come from the dropout registry through ``snnlab.plots.style.method_color``; condition
labels that are registry keys are shown by their registry label. Every function returns a ``go.Figure``
and never shows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnlab.analysis.energy import pareto_front
from snnlab.dropout import available, method_info
from snnlab.plots.dropout import require_columns
from snnlab.plots.style import (
    TEMPLATE,
    method_color,
    panel_chars,
    percent_axis,
    rgba,
    shrink_subplot_titles,
    wrap_title,
)

BIN_COLUMNS = ("lower", "upper", "confidence", "accuracy", "count")
REFERENCE_COLOR = "#444444"
FRONT_COLOR = "#222222"
GAP_COLOR = "rgba(127,127,127,0.25)"  # neutral: no method's colour


def display_name(label: str) -> str:
    """A condition label as shown in a legend: the registry's label for a registered key, else the label."""
    return method_info(label).label if label in available() else label


def _bins_ece(bins: pd.DataFrame) -> float:
    used = bins[bins["count"] > 0]
    n = float(used["count"].sum())
    return float((used["count"] * (used["accuracy"] - used["confidence"]).abs()).sum() / n) if n else float("nan")


def _check_bins(bins_by_method: Mapping[str, pd.DataFrame]) -> None:
    if not isinstance(bins_by_method, Mapping):
        raise TypeError(f"bins_by_method must be a mapping condition label -> reliability_bins table, "
                        f"got {type(bins_by_method).__name__}")
    if not bins_by_method:
        raise ValueError("bins_by_method is empty; give at least one method's reliability_bins table")
    for label, bins in bins_by_method.items():
        if not isinstance(label, str):
            raise TypeError(f"bins_by_method keys must be condition labels (strings), got {label!r}")
        require_columns(f"bins_by_method[{label!r}]", bins, BIN_COLUMNS)


def reliability_figure(
    bins_by_method: Mapping[str, pd.DataFrame],
    *,
    overlay: bool = False,
    cols: int = 3,
    title: str = "Reliability: accuracy against confidence (on the diagonal: calibrated)",
) -> go.Figure:
    """Reliability diagrams of ``bins_by_method`` (condition label -> ``reliability_bins`` table).

    ``overlay=False``: one panel per method, the accuracy of each non-empty confidence bin as a bar in the
    method's colour over the diagonal reference, the gap to it shaded, the ECE in the panel title.
    ``overlay=True``: one panel, a line per method through (mean confidence, accuracy) of its bins.
    Both axes in percent; hovering a bin shows its sample count.
    """
    _check_bins(bins_by_method)
    if not isinstance(overlay, bool):
        raise TypeError(f"overlay must be True or False, got {overlay!r}")
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols must be a positive number of panel columns, got {cols!r}")
    labels = list(bins_by_method)
    if overlay:
        fig = go.Figure()
        panels: list[tuple[int, int]] = [(1, 1)]
        for label in labels:
            b = bins_by_method[label]
            b = b[b["count"] > 0]
            fig.add_scatter(x=b["confidence"], y=b["accuracy"], mode="lines+markers", customdata=b["count"], legendgroup=label,
                            name=f"{display_name(label)} (ECE {100 * _bins_ece(bins_by_method[label]):.1f}%)",
                            line=dict(color=method_color(label)),
                            hovertemplate="confidence %{x:.1%}<br>accuracy %{y:.1%}<br>%{customdata} samples")
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated", line=dict(color=REFERENCE_COLOR, dash="dash"))
        height = 480
    else:
        ncols = min(cols, len(labels))
        nrows = math.ceil(len(labels) / ncols)
        spacing = 0.06
        width = panel_chars(ncols, spacing)
        titles = [wrap_title(f"{display_name(lb)}: ECE {100 * _bins_ece(bins_by_method[lb]):.1f}%", width) for lb in labels]
        height = 300 * nrows + 180
        # about 120 px between rows (their x-axis titles and the next row's panel titles), whatever the rows
        gap = min(0.2, 120 / max(1, height - 180)) if nrows > 1 else 0.1
        fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, horizontal_spacing=spacing,
                            vertical_spacing=gap, shared_yaxes=True)
        shrink_subplot_titles(fig)
        panels = []
        for i, label in enumerate(labels):
            r, c = i // ncols + 1, i % ncols + 1
            panels.append((r, c))
            b = bins_by_method[label]
            b = b[b["count"] > 0]
            color = method_color(label)
            centres = (b["lower"] + b["upper"]) / 2.0
            fig.add_bar(x=centres, y=b["accuracy"], width=b["upper"] - b["lower"], name=display_name(label),
                        legendgroup=label, marker=dict(color=rgba(color, 0.85), line=dict(color="white", width=1)),
                        customdata=np.c_[b["confidence"], b["count"]],
                        hovertemplate="confidence %{customdata[0]:.1%}<br>accuracy %{y:.1%}<br>%{customdata[1]} samples",
                        row=r, col=c)
            fig.add_bar(x=centres, y=b["confidence"] - b["accuracy"], base=b["accuracy"], width=b["upper"] - b["lower"],
                        name="gap to calibration", legendgroup="gap", showlegend=i == 0,
                        marker=dict(color=GAP_COLOR, pattern_shape="/", line=dict(color=REFERENCE_COLOR, width=1)),
                        hoverinfo="skip", row=r, col=c)
            fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated", legendgroup="calibrated",
                            showlegend=i == 0, line=dict(color=REFERENCE_COLOR, dash="dash"), row=r, col=c)
        fig.update_layout(barmode="overlay", bargap=0)
    for r, c in panels:
        where = {} if overlay else {"row": r, "col": c}
        fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="confidence", **where)
        percent_axis(fig, [0.0, 1.0], title="accuracy" if c == 1 else None, include_zero=True, **where)
    # the legend just under the last row's axis titles (a fixed fraction would leave a gap on tall grids)
    legend_y = -0.2 if overlay else -90 / max(1, height - 180)
    fig.update_layout(template=TEMPLATE, title=title, height=height, legend=dict(orientation="h", y=legend_y))
    return fig


def pareto_figure(
    frame: pd.DataFrame,
    *,
    x: str = "synops",
    y: str = "test_acc",
    label: str = "label",
    ann_macs: float | None = None,
    title: str = "Accuracy against synaptic operations: the Pareto front",
) -> go.Figure:
    """Accuracy (``y``, percent) against synaptic operations per inference (``x``, log axis): one point
    per row coloured by its condition ``label``, the non-dominated rows (``pareto_front``: fewest
    operations for the accuracy) ringed and joined by a line. ``ann_macs``: the equivalent ANN's
    multiply-accumulates per inference, drawn as a vertical reference (an accumulate is cheaper than a
    multiply-accumulate: the comparison is a proxy). Rows with a missing or non-positive ``x`` are
    left out (a log axis has no place for them)."""
    require_columns("frame", frame, [x, y, label])
    if ann_macs is not None and (isinstance(ann_macs, bool) or not isinstance(ann_macs, (int, float))
                                 or not math.isfinite(ann_macs) or ann_macs <= 0):
        raise ValueError(f"ann_macs must be a positive number (multiply-accumulates per inference) or None, got {ann_macs!r}")
    xs = pd.to_numeric(frame[x], errors="coerce")
    ys = pd.to_numeric(frame[y], errors="coerce")
    data = frame[(xs > 0) & np.isfinite(xs) & np.isfinite(ys)]
    if data.empty:
        raise ValueError(f"frame has no row with a positive, finite {x!r} and a finite {y!r}")
    front = pareto_front(data, x=x, y=y)
    fig = go.Figure()
    for lb in dict.fromkeys(data[label].astype(str)):
        sub = data[data[label].astype(str) == lb]
        fig.add_scatter(x=sub[x], y=sub[y], mode="markers", name=display_name(lb), legendgroup=lb,
                        marker=dict(color=method_color(lb), size=9, opacity=0.85),
                        hovertemplate=f"{lb}<br>{x} %{{x:.3s}}<br>{y} %{{y:.2%}}<extra></extra>")
    fig.add_scatter(x=front[x], y=front[y], mode="lines+markers", name="Pareto front", line=dict(color=FRONT_COLOR, shape="hv"),
                    marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(color=FRONT_COLOR, width=2)),
                    customdata=front[label].astype(str), hovertemplate="front: %{customdata}<extra></extra>")
    values = list(data[y].astype(float))
    if ann_macs is not None:
        fig.add_vline(x=float(ann_macs), line=dict(color=REFERENCE_COLOR, dash="dash"))
        # an annotation on a log axis takes log10 of its position (a shape takes the value itself)
        fig.add_annotation(x=math.log10(float(ann_macs)), y=1.0, yref="paper", xanchor="right", yanchor="bottom",
                           text="equivalent ANN: MACs / inference", showarrow=False, font=dict(color=REFERENCE_COLOR))
    fig.update_xaxes(type="log", title_text="synaptic operations / inference (log)" if x == "synops" else f"{x} (log)")
    percent_axis(fig, values, title="test accuracy" if y == "test_acc" else y)
    fig.update_layout(template=TEMPLATE, title=title, height=480, legend=dict(orientation="h", y=-0.2))
    return fig


__all__ = ["display_name", "pareto_figure", "reliability_figure"]

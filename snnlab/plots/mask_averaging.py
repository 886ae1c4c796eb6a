"""Figures of why per-step dropout masks do little in an SNN (``snnlab.analysis.mask_averaging``).

``noise_vs_T_figure``: the membrane noise of per-step vs time-consistent masks against T, the
variance argument as lines and the LIF measurement as points; ``training_vs_p_figure``: training
loss and hidden firing against p for each mask kind; ``equivalent_p_figure``: the time-consistent
drop rate a per-step mask amounts to. Method names and colours come from the dropout registry
(``method_info(key).label``, ``label_color`` through ``snnlab.plots.style.method_color``). Every
function returns a ``go.Figure`` and never shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnlab.analysis.mask_averaging import default_methods, relative_noise
from snnlab.dropout import method_info
from snnlab.plots.dropout import require_columns
from snnlab.plots.style import TEMPLATE, is_accuracy, method_color, percent_axis, rgba, shrink_subplot_titles

TRAINING_LABELS: dict[str, str] = {
    "train_loss": "final training loss",
    "train_acc": "final training accuracy",
    "test_loss": "test loss",
    "test_acc": "test accuracy",
    "firing_rate": "hidden firing rate (spikes / step)",
}


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, height=height, legend=dict(orientation="h", y=-0.2))
    return fig


def _single(name: str, frame: pd.DataFrame, column: str) -> object:
    values = frame[column].unique()
    if len(values) != 1:
        raise ValueError(f"{name} mixes several {column} values {list(values)}; plot one {column} at a time")
    return values[0].item() if isinstance(values[0], np.generic) else values[0]


def _kind(method: str) -> str:
    return "consistent" if method_info(method).time_consistent else "per_step"


def noise_vs_T_figure(
    frame: pd.DataFrame,
    *,
    title: str = "A fresh mask at every step averages out in the membrane; a mask held over the window does not",
) -> go.Figure:
    """One column per drop rate p. Top: the membrane noise (std over mask draws / mean) against T, the
    variance argument as a line and the LIF measurement as points with ± 2 standard errors. Bottom: how
    much the LIF's spike count varies over mask draws (coefficient of variation), measured.

    ``frame``: ``snnlab.analysis.mask_averaging.measure_lif_noise`` (one ``beta`` and ``summary``).
    """
    require_columns("frame", frame, ["T", "p", "method", "membrane_noise", "membrane_noise_se", "count_cv", "beta",
                                     "summary"])
    beta, summary = float(_single("frame", frame, "beta")), str(_single("frame", frame, "summary"))
    ps = sorted(frame["p"].unique())
    methods = list(dict.fromkeys(frame["method"].tolist()))
    T_line = np.arange(1, int(frame["T"].max()) + 1)
    fig = make_subplots(rows=2, cols=len(ps), shared_xaxes=True, vertical_spacing=0.1, horizontal_spacing=0.06,
                        subplot_titles=[f"p = {p:g}" for p in ps] + [""] * len(ps))
    shrink_subplot_titles(fig)
    for c, p in enumerate(ps, start=1):
        for method in methods:
            sub = frame[(frame["method"] == method) & np.isclose(frame["p"], p)].sort_values("T")
            if sub.empty:
                continue
            label, color, show = method_info(method).label, method_color(method), c == 1
            line = [relative_noise(float(p), int(T), beta, mask=_kind(method), summary=summary) for T in T_line]
            fig.add_scatter(x=T_line, y=line, mode="lines", name=f"{label}: variance argument", legendgroup=method,
                            showlegend=show, line=dict(color=color), row=1, col=c)
            fig.add_scatter(x=sub["T"], y=sub["membrane_noise"], mode="markers", name=f"{label}: measured on a LIF layer",
                            legendgroup=method, showlegend=show, marker=dict(color=color, size=8),
                            error_y=dict(type="data", array=2.0 * sub["membrane_noise_se"], visible=True), row=1, col=c)
            fig.add_scatter(x=sub["T"], y=sub["count_cv"], mode="lines+markers", name=f"{label}: spike count",
                            legendgroup=method, showlegend=False, line=dict(color=color, dash="dot"),
                            marker=dict(color=color, size=7, symbol="diamond"), row=2, col=c)
        fig.update_xaxes(title_text="time steps T", row=2, col=c)
        fig.update_yaxes(rangemode="tozero", row=1, col=c)
        fig.update_yaxes(rangemode="tozero", row=2, col=c)
    where = "at the last step" if summary == "final" else "averaged over the window"
    fig.update_yaxes(title_text=f"membrane noise {where}<br>(std / mean over mask draws)", row=1, col=1)
    fig.update_yaxes(title_text="spike-count variation<br>(std / mean over mask draws)", row=2, col=1)
    return _finish(fig, title, 640)


def training_vs_p_figure(
    frame: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("train_loss", "firing_rate"),
    title: str = "Training with each mask: a held mask regularises, a per-step mask barely registers",
) -> go.Figure:
    """One row per metric, one column per T: each dropout method against p (mean ± std over seeds);
    the no-dropout runs (the registry's baseline family) as a dashed horizontal line.

    ``frame``: ``snnlab.analysis.mask_averaging.measure_training``.
    """
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"metrics must be a non-empty sequence of column names, got {metrics!r}")
    require_columns("frame", frame, ["T", "p", "method", *metrics])
    Ts = sorted(frame["T"].unique())
    methods = list(dict.fromkeys(frame["method"].tolist()))
    fig = make_subplots(rows=len(metrics), cols=len(Ts), shared_xaxes=True, horizontal_spacing=0.05,
                        vertical_spacing=0.1, subplot_titles=[f"T = {T}" for T in Ts] + [""] * (len(metrics) - 1) * len(Ts))
    shrink_subplot_titles(fig)
    for r, metric in enumerate(metrics, start=1):
        for c, T in enumerate(Ts, start=1):
            shown_values: list[float] = []
            for method in methods:
                sub = frame[(frame["method"] == method) & (frame["T"] == T)]
                if sub.empty:
                    continue
                info = method_info(method)
                color, show = method_color(method), r == 1 and c == 1
                agg = sub.groupby("p")[metric].agg(["mean", "std"]).reset_index().sort_values("p")
                shown_values += [*(agg["mean"] - agg["std"].fillna(0.0)), *(agg["mean"] + agg["std"].fillna(0.0))]
                if info.family == "baseline":
                    fig.add_hline(y=float(agg["mean"].mean()), line=dict(color=color, dash="dash"), row=r, col=c,
                                  exclude_empty_subplots=False)
                    fig.add_scatter(x=[None], y=[None], mode="lines", name=info.label, legendgroup=method,
                                    showlegend=show, line=dict(color=color, dash="dash"), row=r, col=c)
                    continue
                fig.add_scatter(x=agg["p"], y=agg["mean"], mode="lines+markers", name=info.label, legendgroup=method,
                                showlegend=show, line=dict(color=color),
                                error_y=dict(type="data", array=agg["std"].fillna(0.0), visible=True), row=r, col=c)
            fig.update_xaxes(title_text="drop rate p" if r == len(metrics) else None, row=r, col=c)
            if is_accuracy(metric):  # percent, ranged from the data (at least 1 point: seed noise is not a trend)
                percent_axis(fig, shown_values, row=r, col=c)
        fig.update_yaxes(title_text=TRAINING_LABELS.get(metric, metric), row=r, col=1)
    return _finish(fig, title, 300 * len(metrics) + 140)


def equivalent_p_figure(
    table: pd.DataFrame,
    *,
    methods: tuple[str, str] | None = None,
    title: str = "A per-step mask at p is a much weaker time-consistent mask",
) -> go.Figure:
    """The time-consistent drop rate with the membrane noise of a per-step mask at p, a line per T,
    and the diagonal of the time-consistent mask itself.

    ``table``: ``snnlab.analysis.mask_averaging.noise_table``. ``methods``: the (per-step,
    time-consistent) methods whose registry labels and colours name the two mask kinds (default:
    ``default_methods()``); the T lines are the per-step method's colour, fainter for shorter windows.
    """
    require_columns("table", table, ["T", "p", "mask", "equivalent_p"])
    per_step, consistent = default_methods() if methods is None else methods
    for name, key, kind in (("methods[0]", per_step, "per_step"), ("methods[1]", consistent, "consistent")):
        if _kind(key) != kind:
            raise ValueError(f"{name}={key!r} is not a {kind.replace('_', '-')} method (its registry time_consistent "
                             f"is {method_info(key).time_consistent})")
    rows = table[table["mask"] == "per_step"]
    if rows.empty:
        raise ValueError("table has no per_step rows; build it with noise_table")
    Ts = sorted(rows["T"].unique())
    shades = [rgba(method_color(per_step), 0.35 + 0.65 * i / max(len(Ts) - 1, 1)) for i in range(len(Ts))]
    fig = go.Figure()
    p_all = np.sort(table["p"].unique())
    fig.add_scatter(x=p_all, y=p_all, mode="lines", name=f"{method_info(consistent).label} (p' = p)",
                    line=dict(color=method_color(consistent), dash="dash"))
    label = method_info(per_step).label
    for T, shade in zip(Ts, shades):
        sub = rows[rows["T"] == T].sort_values("p")
        fig.add_scatter(x=sub["p"], y=sub["equivalent_p"], mode="lines+markers", name=f"{label}, T = {T}",
                        line=dict(color=shade), marker=dict(size=6))
    fig.update_xaxes(title_text="drop rate p of the per-step mask", rangemode="tozero")
    fig.update_yaxes(title_text="time-consistent drop rate with the same noise", rangemode="tozero")
    return _finish(fig, title, 460)


__all__ = ["equivalent_p_figure", "noise_vs_T_figure", "training_vs_p_figure"]

"""Figures of the training comparison and the neuron-importance analysis.

Inputs are tidy frames from the results store (one row per trial, or per trial and epoch) with a
``label`` column naming the condition (``snnlab.analysis.statistics.label_conditions``), or the
tables of ``snnlab.analysis``. Spread over seeds is always shown (bands or error bars: ± one
sample standard deviation; a single seed has none). Every function returns a ``go.Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from snnlab.plots.dropout import require_columns
from snnlab.plots.neurons import ArrayLike, as_array
from snnlab.plots.style import (
    SUBPLOT_TITLE_SIZE,
    TEMPLATE,
    is_accuracy,
    is_accuracy_difference,
    method_color,
    panel_chars,
    percent_axis,
    rgba,
    shrink_subplot_titles,
    wrap_title,
)

METRIC_LABELS: dict[str, str] = {
    "train_loss": "training loss",
    "test_loss": "test loss",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "gap": "train − test accuracy (pp)",
    "gap_eval": "train (eval mode) − test accuracy (pp)",
    "spike_rate": "hidden spike rate",
    "synops": "synaptic operations / sample",
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "train_acc_eval": "training accuracy (eval mode)",
    "train_loss_eval": "training loss (eval mode)",
}

VERDICT_COLORS = {"helps": "#2a9d8f", "hurts": "#e76f51", "equivalent": "#457b9d", "inconclusive": "#8d8d8d"}
PP = 100.0  # an accuracy difference in [−1, 1] times PP is in percentage points


def _facet_label(fig: go.Figure, text: str, *, row: int, rows: int, spacing: float) -> None:
    """The facet value of a row, written vertically at the right edge of that row (as plotly express
    does), so the column titles above the first row stay short."""
    height = (1.0 - spacing * (rows - 1)) / rows
    y = 1.0 - (row - 1) * (height + spacing) - height / 2.0
    fig.add_annotation(text=wrap_title(str(text), 34), x=1.01, y=y, xref="paper", yref="paper", xanchor="left",
                       yanchor="middle", textangle=90, showarrow=False, font=dict(size=SUBPLOT_TITLE_SIZE))


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, height=height, legend=dict(orientation="h", y=-0.2))
    return fig


def _order(values: pd.Series, order: Sequence[str] | None) -> list:
    present = list(dict.fromkeys(values.tolist()))
    if order is None:
        return present
    return list(dict.fromkeys([v for v in order if v in present] + [v for v in present if v not in order]))


def mean_std(frame: pd.DataFrame, by: Sequence[str], value: str) -> pd.DataFrame:
    """Mean, sample std (NaN for one value) and count of ``value`` per group ``by`` (groups in order)."""
    require_columns("frame", frame, [*by, value])
    out = frame.groupby(list(by), sort=False)[value].agg(["mean", "std", "count"]).reset_index()
    return out


def curves_figure(
    history: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("train_loss", "test_acc"),
    group: str = "label",
    facet: str = "dataset",
    order: Sequence[str] | None = None,
    title: str = "Training curves (mean ± std over seeds)",
) -> go.Figure:
    """One row per metric, one column per ``facet`` value (dataset); a line per ``group`` over epochs
    with a ± std band over seeds. ``history``: one row per (trial, epoch), columns ``epoch``, ``group``,
    ``facet`` and the metrics."""
    require_columns("history", history, ["epoch", group, facet, *metrics])
    facets = list(dict.fromkeys(history[facet].tolist()))
    groups = _order(history[group], order)
    width = panel_chars(len(facets), 0.06)
    # the facet (setting) names the columns once, above the first row; each row's metric is its y-axis title
    titles = [wrap_title(str(f), width) for f in facets] + [""] * (len(metrics) - 1) * len(facets)
    fig = make_subplots(rows=len(metrics), cols=len(facets), shared_xaxes=True, horizontal_spacing=0.06,
                        vertical_spacing=0.08, subplot_titles=titles)
    shrink_subplot_titles(fig)
    for r, metric in enumerate(metrics, start=1):
        scale = PP if is_accuracy_difference(metric) else 1.0
        for c, fv in enumerate(facets, start=1):
            sub = history[history[facet] == fv]
            shown_values: list[float] = []
            for g in groups:
                gsub = sub[sub[group] == g]
                if gsub.empty:
                    continue
                agg = gsub.groupby("epoch")[metric].agg(["mean", "std"]).reset_index().sort_values("epoch")
                agg[["mean", "std"]] = agg[["mean", "std"]] * scale
                color = method_color(str(g))
                show = r == 1 and c == 1
                std = agg["std"].fillna(0.0)
                shown_values += [*(agg["mean"] - std), *(agg["mean"] + std)]
                if agg["std"].notna().any():
                    x = np.concatenate([agg["epoch"], agg["epoch"][::-1]])
                    y = np.concatenate([agg["mean"] + std, (agg["mean"] - std)[::-1]])
                    fig.add_scatter(x=x, y=y, mode="lines", fill="toself", fillcolor=rgba(color, 0.15), line=dict(width=0),
                                    hoverinfo="skip", showlegend=False, legendgroup=str(g), row=r, col=c)
                fig.add_scatter(x=agg["epoch"], y=agg["mean"], mode="lines+markers", name=str(g), legendgroup=str(g),
                                showlegend=show, line=dict(color=color), marker=dict(size=4), row=r, col=c)
            fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric) if c == 1 else None, row=r, col=c)
            if is_accuracy(metric):
                percent_axis(fig, shown_values, row=r, col=c)
    for c in range(1, len(facets) + 1):
        fig.update_xaxes(title_text="epoch", row=len(metrics), col=c)
    return _finish(fig, title, 300 * len(metrics) + 120)


def bars_figure(
    frame: pd.DataFrame,
    *,
    values: Sequence[str],
    group: str = "label",
    facet: str | None = None,
    order: Sequence[str] | None = None,
    title: str = "Per method (mean ± std over seeds)",
    log_y: Sequence[str] = (),
) -> go.Figure:
    """A bar per ``group`` (mean over seeds, error bar ± std), one panel per column of ``values``
    (and per ``facet`` value when given, as rows). Used for the train–test gap, spike rates and
    synaptic operations.

    The metrics name the columns once, above the first row; the facet value names each row at its
    right edge; the bars' labels are written under the last row only (the rows share them).
    Accuracies are on a percent axis from 0 (a bar's length is its value), accuracy differences (the
    train–test gap) in percentage points."""
    require_columns("frame", frame, [group, *values] + ([facet] if facet else []))
    facets = list(dict.fromkeys(frame[facet].tolist())) if facet else [None]
    groups = _order(frame[group], order)
    spacing = 0.08
    width = panel_chars(len(values), spacing)
    titles = [wrap_title(METRIC_LABELS.get(v, v), width) for v in values] + [""] * (len(facets) - 1) * len(values)
    v_spacing = min(0.06, 0.3 / max(len(facets) - 1, 1))
    fig = make_subplots(rows=len(facets), cols=len(values), subplot_titles=titles, horizontal_spacing=spacing,
                        vertical_spacing=v_spacing, shared_xaxes=True)
    shrink_subplot_titles(fig)
    for r, fv in enumerate(facets, start=1):
        sub = frame if fv is None else frame[frame[facet] == fv]
        for c, v in enumerate(values, start=1):
            scale = PP if is_accuracy_difference(v) else 1.0
            agg = mean_std(sub, [group], v).set_index(group)
            present = [g for g in groups if g in agg.index]
            means, stds = agg.loc[present, "mean"] * scale, agg.loc[present, "std"].fillna(0.0) * scale
            fig.add_bar(x=[str(g) for g in present], y=means, error_y=dict(type="data", array=stds, visible=True),
                        marker_color=[method_color(str(g)) for g in present], showlegend=False,
                        hovertext=[f"n={int(n)}" for n in agg.loc[present, "count"]], row=r, col=c)
            if v in log_y:
                fig.update_yaxes(type="log", row=r, col=c)
            elif is_accuracy(v):
                percent_axis(fig, [*(means + stds), *(means - stds)], row=r, col=c, include_zero=True)
        if fv is not None:
            _facet_label(fig, str(fv), row=r, rows=len(facets), spacing=v_spacing)
    return _finish(fig, title, 300 * len(facets) + 180)


def metric_vs_p_figure(
    frame: pd.DataFrame,
    *,
    metric: str = "test_acc",
    group: str = "label",
    facet: str = "dataset",
    baseline: str | None = "none",
    order: Sequence[str] | None = None,
    title: str = "Final test accuracy vs drop rate p (mean ± std over seeds)",
) -> go.Figure:
    """``metric`` against ``p``, a line per ``group`` with ± std error bars, a panel per ``facet`` value.
    Groups trained only at p = 0 (the base SNN, the ANN) are drawn as horizontal reference lines."""
    require_columns("frame", frame, ["p", group, facet, metric])
    facets = list(dict.fromkeys(frame[facet].tolist()))
    groups = _order(frame[group], order)
    width = panel_chars(len(facets), 0.06)
    fig = make_subplots(rows=1, cols=len(facets), subplot_titles=[wrap_title(str(f), width) for f in facets],
                        horizontal_spacing=0.06)
    shrink_subplot_titles(fig)
    p_max = max(float(pd.to_numeric(frame["p"]).max()), 0.1)
    for c, fv in enumerate(facets, start=1):
        sub = frame[frame[facet] == fv]
        shown_values: list[float] = []
        for g in groups:
            agg = mean_std(sub[sub[group] == g], ["p"], metric).sort_values("p") if (sub[group] == g).any() else None
            if agg is None or agg.empty:
                continue
            color = method_color(str(g))
            std = agg["std"].fillna(0.0)
            shown_values += [*(agg["mean"] - std), *(agg["mean"] + std)]
            if len(agg) == 1 and float(agg["p"].iloc[0]) == 0.0:
                m, s = float(agg["mean"].iloc[0]), agg["std"].iloc[0]
                fig.add_hline(y=m, line=dict(color=color, dash="dash" if g == baseline else "dot"), row=1, col=c,
                              exclude_empty_subplots=False)  # the panel may still be empty when the baseline comes first
                fig.add_scatter(x=[None], y=[None], mode="lines", name=f"{g} (p = 0)", legendgroup=str(g),
                                showlegend=c == 1, line=dict(color=color, dash="dash" if g == baseline else "dot"), row=1, col=c)
                if not np.isnan(s):
                    fig.add_hrect(y0=m - s, y1=m + s, fillcolor=rgba(color, 0.08), line_width=0, row=1, col=c,
                                  exclude_empty_subplots=False)
                continue
            fig.add_scatter(x=agg["p"], y=agg["mean"], mode="lines+markers", name=str(g), legendgroup=str(g),
                            showlegend=c == 1, line=dict(color=color),
                            error_y=dict(type="data", array=agg["std"].fillna(0.0), visible=True), row=1, col=c)
        # the p axis from the grid (0 included: the reference lines are the p = 0 conditions), never autoscaled
        # from an empty panel; an accuracy on a percent axis ranged from the data
        fig.update_xaxes(title_text="drop rate p", range=[-0.04 * p_max, 1.04 * p_max], row=1, col=c)
        if is_accuracy(metric):
            percent_axis(fig, shown_values, row=1, col=c)
    fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric), row=1, col=1)
    return _finish(fig, title, 460)


def paired_forest_figure(table: pd.DataFrame, *, facet: str | None = "setting", scale: float = 100.0,
                         unit: str = "pp", title: str = "Difference to the base network, paired by seed") -> go.Figure:
    """The tuned comparison at a glance (a ``snnlab.analysis.paired.compare_paired`` table): per
    condition its mean paired difference with the confidence interval, coloured by verdict, against
    zero and the shaded equivalence band ±margin; one panel per ``facet`` value. Duplicates (shown
    once in the table) are left out. The legend says what the verdict is based on (the Holm-adjusted
    paired t-test, then TOST), so an interval that excludes 0 next to "inconclusive" reads right:
    the interval is not corrected for the number of methods, the verdict is. Differences are in
    ``unit`` (``scale`` = 100: an accuracy difference in percentage points, never "%")."""
    require_columns("table", table, ["label", "mean_diff", "ci_low", "ci_high", "verdict", "margin"]
                    + ([facet] if facet else []))
    rows = table[table["verdict"] != "duplicate"]
    facets = list(dict.fromkeys(rows[facet].tolist())) if facet else [None]
    # heights in pixels: a panel per facet (a line per condition), a fixed gap for its title and ticks
    panel_px = [60 + 28 * len(rows if f is None else rows[rows[facet] == f]) for f in facets]
    gap_px, top_px, bottom_px = 70, 90, 150
    plot_px = sum(panel_px) + gap_px * (len(facets) - 1)
    fig = make_subplots(rows=len(facets), cols=1, shared_xaxes=True,
                        subplot_titles=[wrap_title(str(f), 90) if f is not None else "" for f in facets],
                        vertical_spacing=gap_px / plot_px if len(facets) > 1 else 0.0,
                        row_heights=[h / sum(panel_px) for h in panel_px])
    shrink_subplot_titles(fig)
    shown: set[str] = set()
    for r, fv in enumerate(facets, start=1):
        sub = rows if fv is None else rows[rows[facet] == fv]
        margin = float(sub["margin"].iloc[0]) * scale if len(sub) else 0.0
        fig.add_vrect(x0=-margin, x1=margin, fillcolor="#457b9d", opacity=0.12, line_width=0, row=r, col=1,
                      exclude_empty_subplots=False)
        fig.add_vline(x=0.0, line=dict(color="#444444", width=1), row=r, col=1, exclude_empty_subplots=False)
        for verdict, part in sub.groupby("verdict", sort=False):
            fig.add_scatter(
                x=part["mean_diff"] * scale, y=part["label"].astype(str), mode="markers",
                marker=dict(size=9, color=VERDICT_COLORS.get(str(verdict), "#333333")),
                error_x=dict(type="data", symmetric=False, array=(part["ci_high"] - part["mean_diff"]) * scale,
                             arrayminus=(part["mean_diff"] - part["ci_low"]) * scale, visible=True),
                name=str(verdict), legendgroup=str(verdict), showlegend=str(verdict) not in shown, row=r, col=1,
                hovertext=[f"n={n}" for n in part.get("n", [""] * len(part))],
            )
            shown.add(str(verdict))
        fig.update_yaxes(autorange="reversed", row=r, col=1)
        fig.update_xaxes(ticksuffix=f" {unit}" if unit else "", row=r, col=1)
    level = ""
    if "confidence" in rows.columns and len(rows) and rows["confidence"].nunique() == 1:
        level = f"{float(rows['confidence'].iloc[0]) * 100:g}% "
    fig.update_xaxes(title_text=f"difference in test accuracy ({unit}), {level}CI not corrected for multiplicity"
                                f"<br>shaded: ± equivalence margin", title_font_size=13, row=len(facets), col=1)
    fig = _finish(fig, title, top_px + bottom_px + plot_px)
    # the legend under the x-axis title at a fixed distance in pixels, whatever the number of rows
    fig.update_layout(legend=dict(y=-90 / plot_px, yanchor="top", title_text="verdict (Holm-adjusted paired t, then TOST):"))
    return fig


def top_ids_figure(ids: pd.DataFrame, *, title: str = "Top neuron IDs by outgoing weight norm") -> go.Figure:
    """Table 2 of the paper: a row per condition, the IDs of its top-k neurons left to right."""
    if not isinstance(ids, pd.DataFrame) or ids.empty:
        raise ValueError("ids must be a non-empty DataFrame (snnlab.analysis.importance.top_ids_table)")
    header = ["condition"] + [str(c) for c in ids.columns]
    cells = [list(map(str, ids.index))] + [ids[c].astype(str).tolist() for c in ids.columns]
    fig = go.Figure(go.Table(header=dict(values=header, fill_color="#eeeeee"), cells=dict(values=cells)))
    return _finish(fig, title, 60 + 30 * (len(ids) + 2))


def membership_heatmap(membership: pd.DataFrame, *, title: str = "Who is in whose top-k (number = rank)") -> go.Figure:
    """Heatmap of ``top_k_membership``: rows = conditions, columns = neuron IDs, colour = rank in that
    condition's top-k (darker = more important), blank = not in it."""
    if not isinstance(membership, pd.DataFrame) or membership.empty:
        raise ValueError("membership must be a non-empty DataFrame (snnlab.analysis.importance.top_k_membership)")
    k = int(membership.to_numpy().max())
    z = membership.to_numpy().astype(float)
    shown = np.where(z > 0, k + 1 - z, np.nan)  # rank 1 -> k (darkest)
    text = np.where(z > 0, z.astype(int).astype(str), "")
    fig = go.Figure(go.Heatmap(z=shown, x=[str(c) for c in membership.columns], y=list(map(str, membership.index)),
                               text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=k, showscale=False,
                               xgap=1, ygap=1))
    fig.update_xaxes(title_text="neuron ID", type="category")
    fig.update_yaxes(autorange="reversed")
    return _finish(fig, title, 120 + 32 * len(membership))


def stability_figure(
    agreement: pd.DataFrame,
    *,
    by: str = "comparison",
    title: str = "Rank stability (mean ± std over pairs)",
) -> go.Figure:
    """Two panels (Kendall's tau, top-k overlap): a bar per comparison kind (``by``), ± std over the
    pairs of that kind, with the chance level of the overlap as a dotted line."""
    require_columns("agreement", agreement, [by, "kendall_tau", "top_k_overlap", "chance"])
    kinds = list(dict.fromkeys(agreement[by].tolist()))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Kendall's τ over all neurons", "top-k overlap"),
                        horizontal_spacing=0.1)
    for c, col in enumerate(["kendall_tau", "top_k_overlap"], start=1):
        agg = mean_std(agreement, [by], col).set_index(by).loc[kinds]
        fig.add_bar(x=kinds, y=agg["mean"], error_y=dict(type="data", array=agg["std"].fillna(0.0), visible=True),
                    marker_color="#1f77b4" if c == 1 else "#ff7f0e", showlegend=False,
                    hovertext=[f"n={int(n)} pairs" for n in agg["count"]], row=1, col=c)
    fig.add_hline(y=float(agreement["chance"].iloc[0]), line=dict(color="#999999", dash="dot"),
                  annotation_text="chance", row=1, col=2)
    fig.add_hline(y=0.0, line=dict(color="#999999", dash="dot"), row=1, col=1)
    fig.update_yaxes(range=[-0.2, 1.05], row=1, col=1)
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    return _finish(fig, title, 440)


def importance_scatter_figure(
    weight_scores: ArrayLike,
    ablation_scores: ArrayLike,
    *,
    k: int = 10,
    title: str = "Ablation importance vs outgoing weight norm",
) -> go.Figure:
    """A point per neuron: outgoing weight norm (x) against the accuracy drop when it is silenced
    (y); the top-k by weight are highlighted."""
    w = as_array("weight_scores", weight_scores, 1)
    a = as_array("ablation_scores", ablation_scores, 1)
    if w.shape != a.shape:
        raise ValueError(f"weight_scores {w.shape} and ablation_scores {a.shape} must score the same neurons")
    top = np.zeros(w.shape, dtype=bool)
    top[np.lexsort((np.arange(w.size), -w))[:k]] = True
    fig = go.Figure()
    ids = np.arange(w.size)
    fig.add_scatter(x=w[~top], y=a[~top], mode="markers", name="other neurons", marker=dict(color="#aaaaaa", size=6),
                    text=[f"neuron {i}" for i in ids[~top]])
    fig.add_scatter(x=w[top], y=a[top], mode="markers", name=f"top-{k} by weight", marker=dict(color="#d62728", size=8),
                    text=[f"neuron {i}" for i in ids[top]])
    fig.update_xaxes(title_text="L2 norm of outgoing weights")
    fig.update_yaxes(title_text="importance when silenced")
    return _finish(fig, title, 440)


def probability_map_figure(
    maps: Mapping[str, tuple[ArrayLike, ArrayLike, str]],
    *,
    p: float,
    title: str | None = None,
) -> go.Figure:
    """One panel per method: each neuron's drop probability (y) against the quantity the method
    conditions on (x), e.g. mean membrane potential, incoming weight norm or firing rate.

    ``maps``: method -> (x values [N], drop probabilities [N], x-axis label). The nominal rate ``p``
    is drawn as a dotted line (every shaped method renormalises its mean to ``p``).
    """
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError("maps must be a non-empty mapping method -> (x, probabilities, x label)")
    cols = min(len(maps), 4)  # at most four panels side by side, so titles and x-axis titles stay readable
    n_rows = -(-len(maps) // cols)
    spacing = 0.06
    width = panel_chars(cols, spacing)
    titles = [wrap_title(str(m), width) for m in maps]
    v_spacing = 0.22 / max(n_rows - 1, 1) if n_rows > 1 else 0.0
    fig = make_subplots(rows=n_rows, cols=cols, subplot_titles=titles, horizontal_spacing=spacing,
                        vertical_spacing=min(v_spacing, 0.22), shared_yaxes=True)
    shrink_subplot_titles(fig)
    for i, (method, entry) in enumerate(maps.items()):
        r, c = divmod(i, cols)
        r, c = r + 1, c + 1
        if not (isinstance(entry, tuple) and len(entry) == 3):
            raise ValueError(f"maps[{method!r}] must be (x values, drop probabilities, x label)")
        x = as_array(f"maps[{method!r}] x", entry[0], 1)
        y = as_array(f"maps[{method!r}] probabilities", entry[1], 1)
        if x.shape != y.shape:
            raise ValueError(f"maps[{method!r}]: x {x.shape} and probabilities {y.shape} must have one value per neuron")
        fig.add_scatter(x=x, y=y, mode="markers", name=method, marker=dict(color=method_color(method), size=5),
                        showlegend=False, row=r, col=c)
        fig.add_hline(y=p, line=dict(color="#999999", dash="dot"), row=r, col=c)
        fig.update_xaxes(title_text=wrap_title(str(entry[2]), width), title_font_size=SUBPLOT_TITLE_SIZE - 1,
                         row=r, col=c)
    for r in range(1, n_rows + 1):
        fig.update_yaxes(title_text="drop probability", row=r, col=1)
    fig.update_yaxes(rangemode="tozero")
    return _finish(fig, title or f"Who gets dropped (nominal p = {p:g}, dotted)", 340 * n_rows + 120)

"""One colour per condition label and the figure template, for the whole study.

The colours are not listed here: each dropout method carries its own (``SpikeDropout.color`` and
``variant_colors``) and ``method_color`` reads them through the registry, so a newly registered
method is coloured in every figure with no change to this module. The ANN baselines (``ann``,
``ann_<method>``) and unknown labels are grey.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import plotly.graph_objects as go

from snnlab.dropout import available, label_color
from snnlab.dropout.registry import method_class

TEMPLATE = "plotly_white"
ANN_COLOR = "#7f7f7f"  # the ANN baselines: one neutral colour, whatever dropout they use
UNKNOWN_COLOR = "#7f7f7f"
SUBPLOT_TITLE_SIZE = 13  # plotly's default (16) makes the titles of neighbouring panels run into each other
FIGURE_WIDTH_PX = 700    # the width titles are wrapped for: plotly's default (a static export), less than a notebook's
MIN_ACCURACY_SPAN = 0.01  # an accuracy axis spans at least 1 percentage point: seed noise must not look like a trend


def method_color(label: str) -> str:
    """The study colour of a condition ``label``: a registry key, ``<key>_<variant>`` (``membrane_drop``),
    or an ANN baseline (``ann``, ``ann_<method>``: grey); grey for anything else."""
    if not isinstance(label, str):
        raise TypeError(f"label must be a string (a condition label such as 'membrane_drop'), got {type(label).__name__} ({label!r})")
    if label == "ann" or label.startswith("ann_"):
        return ANN_COLOR
    return label_color(label) or UNKNOWN_COLOR


def method_colors() -> dict[str, str]:
    """Every registered key and its variant labels (``<key>_<variant>``) with their colours, plus ``ann``;
    read from the registry at call time."""
    colors: dict[str, str] = {}
    for key in available():
        cls = method_class(key)
        colors[key] = cls.color
        for variant, color in cls.variant_colors.items():
            colors[f"{key}_{variant}"] = color
    colors["ann"] = ANN_COLOR
    return colors


def __getattr__(name: str) -> dict[str, str]:
    if name == "METHOD_COLORS":  # kept for old imports; computed from the registry at access time
        return method_colors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ANN_COLOR", "MIN_ACCURACY_SPAN", "SUBPLOT_TITLE_SIZE", "TEMPLATE", "UNKNOWN_COLOR", "is_accuracy",
           "is_accuracy_difference", "method_color", "method_colors", "percent_axis", "percent_range", "rgba",
           "shrink_subplot_titles", "wrap_title"]


def rgba(hex_color: str, alpha: float) -> str:
    """``"#rrggbb"`` with opacity ``alpha`` as a plotly ``rgba(...)`` colour (bands, shaded areas)."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:.2f})"


# ------------------------------------------------------------------------------------------ axes and titles

_ACCURACY_DIFFERENCES = frozenset({"gap", "gap_eval"})


def is_accuracy(metric: str) -> bool:
    """Whether the column ``metric`` holds an accuracy in [0, 1] (``test_acc``, ``train_acc_eval``, ...),
    drawn on a percent axis."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a column name (a string), got {type(metric).__name__} ({metric!r})")
    return metric in {"acc", "accuracy"} or "_acc" in metric or metric.endswith("accuracy")


def is_accuracy_difference(metric: str) -> bool:
    """Whether ``metric`` is a difference of two accuracies (the train-test gap): shown in percentage
    points (pp), never as "%"."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a column name (a string), got {type(metric).__name__} ({metric!r})")
    return metric in _ACCURACY_DIFFERENCES or metric.startswith("gap_")


def percent_range(values: Iterable[float], *, min_span: float = MIN_ACCURACY_SPAN, pad: float = 0.08,
                  include_zero: bool = False) -> list[float]:
    """A y range for fractions in [0, 1] (accuracies) taken from the data: the finite ``values``
    (means, and means ± std where bands or error bars are drawn) padded by ``pad`` of their span on
    each side, widened symmetrically to at least ``min_span`` so that near-constant data (seed noise
    of a tenth of a point) is not stretched over the whole axis, and clipped to [0, 1] (an accuracy
    axis never shows -50% or 150%). ``include_zero``: start at 0 (bars, whose length is the value).
    With no finite value: [0, 1]."""
    min_span = float(min_span)
    pad = float(pad)
    if not 0.0 < min_span <= 1.0:
        raise ValueError(f"min_span must be in (0, 1] (a share of the [0, 1] axis), got {min_span}")
    if pad < 0.0:
        raise ValueError(f"pad must be >= 0 (a share of the data's span), got {pad}")
    arr = np.asarray([float(v) for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return [0.0, 1.0]
    lo, hi = float(arr.min()), float(arr.max())
    if include_zero:
        lo = min(lo, 0.0)
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    if hi - lo < min_span:
        mid = (lo + hi) / 2.0
        lo, hi = mid - min_span / 2.0, mid + min_span / 2.0
    if lo < 0.0:  # shift inside [0, 1] before clipping, so the minimum span survives near the bounds
        lo, hi = 0.0, min(1.0, hi - lo)
    if hi > 1.0:
        lo, hi = max(0.0, lo - (hi - 1.0)), 1.0
    if include_zero:
        lo = 0.0
    return [lo, hi]


def percent_axis(fig: go.Figure, values: Iterable[float], *, row: int | None = None, col: int | None = None,
                 title: str | None = None, min_span: float = MIN_ACCURACY_SPAN, include_zero: bool = False) -> list[float]:
    """Put the y axis at (``row``, ``col``) of ``fig`` on a percent scale (tick labels "97.5%") with
    ``percent_range(values)``; one decimal on the ticks when the axis spans less than 5 points. Returns
    the range. Why: accuracies are read in percent, and an autoscaled axis over near-constant values
    makes noise look like a trend."""
    rng = percent_range(values, min_span=min_span, include_zero=include_zero)
    span = rng[1] - rng[0]
    fmt = ".1%" if span < 0.05 else ".0%"
    kwargs: dict[str, object] = dict(range=rng, tickformat=fmt, autorange=False)
    if title is not None:
        kwargs["title_text"] = title
    if row is not None or col is not None:
        fig.update_yaxes(row=row, col=col, **kwargs)
    else:
        fig.update_yaxes(**kwargs)
    return rng


def wrap_title(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters with ``<br>`` (plotly's line break), at
    spaces, and after an underscore inside a name longer than a line (``membrane_protect_causal``)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__} ({text!r})")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive number of characters, got {width!r}")
    lines: list[str] = []
    line = ""
    for word in text.split():
        parts = [word]
        if len(word) > width and "_" in word:  # a long name: its pieces, each ending in "_", join without a space
            pieces = word.split("_")
            parts = [p + "_" for p in pieces[:-1]] + [pieces[-1]]
        for k, part in enumerate(parts):
            glue = "" if k > 0 or not line else " "
            if line and len(line) + len(glue) + len(part) > width:
                lines.append(line)
                line = part
            else:
                line += glue + part
    if line:
        lines.append(line)
    return "<br>".join(lines) or text


def panel_chars(cols: int, spacing: float, *, size: int = SUBPLOT_TITLE_SIZE, width_px: int = FIGURE_WIDTH_PX) -> int:
    """How many characters of a subplot title fit over one of ``cols`` panels ``spacing`` apart (a
    character is about 0.55 of the font size wide)."""
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols must be a positive number of columns, got {cols!r}")
    panel = (1.0 - spacing * (cols - 1)) / cols * width_px
    return max(8, int(math.floor(panel / (0.55 * size))))


def shrink_subplot_titles(fig: go.Figure, *, size: int = SUBPLOT_TITLE_SIZE) -> go.Figure:
    """Set the font of ``fig``'s subplot titles (the annotations ``make_subplots`` made; call it before
    adding any other annotation) to ``size``, so the titles of neighbouring panels do not overlap."""
    fig.update_annotations(font_size=size)
    return fig

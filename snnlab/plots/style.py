"""One colour per condition label and the figure template, for the whole study.

The colours are not listed here: each dropout method carries its own (``SpikeDropout.color`` and
``variant_colors``) and ``method_color`` reads them through the registry, so a newly registered
method is coloured in every figure with no change to this module. The ANN baselines (``ann``,
``ann_<method>``) and unknown labels are grey.
"""

from __future__ import annotations

from snnlab.dropout import available, label_color
from snnlab.dropout.registry import method_class

TEMPLATE = "plotly_white"
ANN_COLOR = "#7f7f7f"  # the ANN baselines: one neutral colour, whatever dropout they use
UNKNOWN_COLOR = "#7f7f7f"


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


__all__ = ["ANN_COLOR", "TEMPLATE", "UNKNOWN_COLOR", "method_color", "method_colors", "rgba"]


def rgba(hex_color: str, alpha: float) -> str:
    """``"#rrggbb"`` with opacity ``alpha`` as a plotly ``rgba(...)`` colour (bands, shaded areas)."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:.2f})"

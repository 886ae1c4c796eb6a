"""One colour per method and per model family, defined once for the whole study."""

from __future__ import annotations

METHOD_COLORS: dict[str, str] = {
    "none": "#222222",
    "standard": "#d62728",
    "dropout2d": "#ff7f0e",
    "feature_alpha": "#8c564b",
    "alpha": "#e377c2",
    "temporal": "#1f77b4",
    "membrane": "#2ca02c",
    "membrane_protect": "#2ca02c",
    "membrane_drop": "#98df8a",
    "synaptic": "#9467bd",
    "synaptic_protect": "#9467bd",
    "synaptic_drop": "#c5b0d5",
    "activity": "#17becf",
    "dropconnect": "#bcbd22",
    "ann": "#7f7f7f",
}

TEMPLATE = "plotly_white"


def method_color(method: str) -> str:
    """The study colour of ``method`` (a registry key, ``<key>_<favor>``, or ``ann``); grey if unknown."""
    return METHOD_COLORS.get(method, "#7f7f7f")

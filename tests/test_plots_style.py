"""``snnlab/plots/style.py``: colours read from the registry, identical to the study's colours for
every shipped label; the ANN baselines and unknown labels are grey."""

from __future__ import annotations

import pytest

from snnlab.dropout import available, conditions, method_info
from snnlab.plots import style
from snnlab.plots.style import ANN_COLOR, TEMPLATE, method_color, method_colors

# The study's colours before they moved into the method classes: they must not change.
SHIPPED = {
    "none": "#222222", "standard": "#d62728", "dropout2d": "#ff7f0e", "feature_alpha": "#8c564b",
    "alpha": "#e377c2", "temporal": "#1f77b4", "membrane": "#2ca02c", "membrane_protect": "#2ca02c",
    "membrane_drop": "#98df8a", "synaptic": "#9467bd", "synaptic_protect": "#9467bd", "synaptic_drop": "#c5b0d5",
    "activity": "#17becf", "dropconnect": "#bcbd22", "ann": "#7f7f7f",
}


@pytest.mark.parametrize("label", sorted(SHIPPED))
def test_shipped_labels_keep_their_colours(label: str) -> None:
    assert method_color(label) == SHIPPED[label]


def test_colours_come_from_the_registry() -> None:
    for key in available():
        assert method_color(key) == method_info(key).color
    for c in conditions():
        assert method_color(c.label) == c.color
    assert {k: v for k, v in method_colors().items() if k in SHIPPED} == SHIPPED
    assert style.METHOD_COLORS == method_colors()  # the old name, computed at access time
    with pytest.raises(AttributeError, match="no attribute 'COLORS'"):
        style.COLORS  # noqa: B018


def test_ann_and_unknown_labels_are_grey() -> None:
    assert method_color("ann") == method_color("ann_standard") == ANN_COLOR == "#7f7f7f"
    assert method_color("gaussian") == "#7f7f7f"
    assert TEMPLATE == "plotly_white"
    with pytest.raises(TypeError, match="label must be a string"):
        method_color(3)  # type: ignore[arg-type]


def test_rgba_turns_a_hex_colour_into_a_translucent_one() -> None:
    from snnlab.plots.style import rgba

    assert rgba("#ff8000", 0.25) == "rgba(255,128,0,0.25)"

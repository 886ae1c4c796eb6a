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


def test_percent_range_follows_the_data_within_zero_and_one() -> None:
    from snnlab.plots.style import percent_range

    lo, hi = percent_range([0.90, 0.95])
    assert lo < 0.90 and hi > 0.95 and hi - lo < 0.1  # from the data, padded
    # near-constant values (0.384 to 0.385) get at least a 1-point span, centred on them
    lo, hi = percent_range([0.3841, 0.3849])
    assert hi - lo == pytest.approx(0.01) and (lo + hi) / 2 == pytest.approx(0.3845)
    # never beyond [0, 1], and the minimum span survives at the bounds
    assert percent_range([0.999, 1.0]) == pytest.approx([0.99, 1.0])
    assert percent_range([0.0, 0.001]) == pytest.approx([0.0, 0.01])
    assert percent_range([-0.5, 1.5]) == [0.0, 1.0]
    assert percent_range([0.5, 0.6], include_zero=True)[0] == 0.0
    assert percent_range([float("nan")]) == [0.0, 1.0]
    with pytest.raises(ValueError, match="min_span"):
        percent_range([0.5], min_span=0.0)


def test_accuracy_metrics_and_differences_are_told_apart() -> None:
    from snnlab.plots.style import is_accuracy, is_accuracy_difference, wrap_title

    assert all(is_accuracy(m) for m in ("test_acc", "val_acc", "train_acc_eval"))
    assert not any(is_accuracy(m) for m in ("test_loss", "spike_rate", "gap_eval"))
    assert is_accuracy_difference("gap") and is_accuracy_difference("gap_eval") and not is_accuracy_difference("test_acc")
    assert wrap_title("fraction of drops on silent units", 16) == "fraction of<br>drops on silent<br>units"
    assert wrap_title("membrane_protect_causal", 20) == "membrane_protect_<br>causal"  # a long name breaks after "_"
    assert wrap_title("membrane_drop", 20) == "membrane_drop"
    with pytest.raises(ValueError, match="width"):
        wrap_title("x", 0)

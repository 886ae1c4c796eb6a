"""``snnlab/analysis/statistics.py``: summaries, Welch, Holm, effect sizes, baseline comparisons
and condition labels, against hand-computed values and SciPy references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from snnlab.analysis import statistics as st


def test_summarize_matches_hand_computation() -> None:
    s = st.summarize([1.0, 2.0, 3.0, 4.0])
    assert s.n == 4 and s.mean == pytest.approx(2.5)
    assert s.std == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, ddof=1
    assert s.sem == pytest.approx(math.sqrt(5 / 3) / 2)
    t = 3.182446305284263  # t_{0.975, 3}
    assert s.ci_low == pytest.approx(2.5 - t * s.sem)
    assert s.ci_high == pytest.approx(2.5 + t * s.sem)
    assert s.half_width == pytest.approx(t * s.sem)


def test_summarize_single_value_has_nan_spread() -> None:
    s = st.summarize([0.9])
    assert s.mean == 0.9 and math.isnan(s.std) and math.isnan(s.ci_low)


@pytest.mark.parametrize("bad, exc", [([], ValueError), ("abc", TypeError), ([1.0, float("nan")], ValueError), ([[1, 2], [3, 4]], ValueError)])
def test_summarize_rejects_bad_input(bad, exc) -> None:
    with pytest.raises(exc, match="values"):
        st.summarize(bad)


def test_summarize_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        st.summarize([1, 2, 3], confidence=1.0)


def test_holm_hand_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(st.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(st.holm([0.5, 0.6]), [1.0, 1.0])
    out = st.holm([0.01, float("nan"), 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="p_values"):
        st.holm([1.2])


def test_condition_labels() -> None:
    assert st.condition_label("membrane", (("favor", "drop"),)) == "membrane_drop"
    assert st.condition_label("standard", model="mlp") == "ann_standard"
    assert st.condition_label("none", model="mlp") == "ann"
    frame = pd.DataFrame({"method": ["none", "synaptic"], "method_options": [(), (("favor", "protect"),)],
                          "model": ["spiking_mlp", "spiking_mlp"]})
    assert st.label_conditions(frame).tolist() == ["none", "synaptic_protect"]


# ------------------------------------------------------------------ the study's conditions, from the registry

CLASSIC = (("standard", ()), ("dropout2d", ()), ("feature_alpha", ()), ("alpha", ()))
SNN_AWARE = (
    ("temporal", ()),
    ("membrane", (("favor", "protect"),)), ("membrane", (("favor", "drop"),)),
    ("membrane", (("favor", "protect"), ("window", "causal"))), ("membrane", (("favor", "drop"), ("window", "causal"))),
    ("synaptic", (("favor", "protect"),)), ("synaptic", (("favor", "drop"),)),
    ("activity", ()), ("activity", (("window", "causal"),)), ("dropconnect", ()),
)


def test_study_conditions_are_the_registry_grid_in_the_study_order() -> None:
    from snnlab.dropout import conditions

    assert st.study_conditions() == tuple((c.method, c.options) for c in conditions())
    assert st.study_conditions()[: len(CLASSIC + SNN_AWARE)] == CLASSIC + SNN_AWARE
    assert st.study_conditions("classic") == st.CLASSIC_CONDITIONS == CLASSIC
    assert st.study_conditions("snn_aware")[: len(SNN_AWARE)] == st.SNN_AWARE_CONDITIONS[: len(SNN_AWARE)] == SNN_AWARE
    with pytest.raises(ValueError, match="family='modern' is not known"):
        st.study_conditions("modern")
    with pytest.raises(AttributeError, match="no attribute 'SHAPED_CONDITIONS'"):
        st.SHAPED_CONDITIONS  # noqa: B018


def test_condition_label_delegates_to_the_registry() -> None:
    labels = [st.condition_label(m, o) for m, o in CLASSIC + SNN_AWARE]
    assert labels == ["standard", "dropout2d", "feature_alpha", "alpha", "temporal", "membrane_protect",
                      "membrane_drop", "membrane_protect_causal", "membrane_drop_causal", "synaptic_protect",
                      "synaptic_drop", "activity", "activity_causal", "dropconnect"]
    assert st.condition_label("membrane", {"favor": "drop", "p_max": 0.5}) == "membrane_drop"
    assert st.condition_label("none", (("favor", "drop"),)) == "none"
    assert st.condition_label("membrane", (("favor", "drop"),), model="cnn") == "ann_membrane"
    with pytest.raises(ValueError, match="dropout method 'gaussian' is not known; allowed: 'none'"):
        st.condition_label("gaussian")
    with pytest.raises(TypeError, match="method must be a string"):
        st.condition_label(None)  # type: ignore[arg-type]
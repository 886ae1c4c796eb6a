"""``snnlab/dropout/registry.py``: the catalogue of methods, what each says about itself, the study's
comparison grid, and the key acceptance test: a method registered at run time appears in every
catalogue of the study (colours, widgets, explorers, statistics, the comparison grid, the CLI, the
models) with no other file changed, and leaves none of them when unregistered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor

from dropout_helpers import P, spikes
from snnlab.dropout import (
    FAMILIES,
    Condition,
    LayerContext,
    MethodInfo,
    SpikeDropout,
    available,
    condition_label,
    conditions,
    label_color,
    make_dropout,
    method_class,
    method_info,
    methods,
    register,
    unregister,
)
from snnlab.dropout.masks import apply_mask, keep_mask

DESIGN_ORDER = (
    "none", "standard", "dropout2d", "feature_alpha", "alpha",
    "temporal", "membrane", "synaptic", "activity", "dropconnect",
)
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# ------------------------------------------------------------------ the catalogue


def test_registry_order_matches_design_table():
    assert available()[: len(DESIGN_ORDER)] == DESIGN_ORDER


def test_unknown_name_and_options_are_rejected():
    with pytest.raises(ValueError, match="'gaussian' is not known; allowed: 'none', 'standard'"):
        make_dropout("gaussian", P)
    with pytest.raises(TypeError, match="name must be a string"):
        make_dropout(3, P)
    with pytest.raises(ValueError, match="unknown option.*'favor'.*'standard'"):
        make_dropout("standard", P, favor="drop")
    with pytest.raises(ValueError, match="unknown option.*'threshold'"):
        make_dropout("activity", P, threshold=1.0)
    with pytest.raises(ValueError, match="'gaussian' is not known"):
        method_class("gaussian")
    with pytest.raises(TypeError, match="method must be a string"):
        method_info(None)


def test_make_dropout_checks_base_options_for_every_method():
    for key in available():
        with pytest.raises(TypeError, match="seed must be an integer, got float"):
            make_dropout(key, 0.0, seed=1.7)
        with pytest.raises(TypeError, match="mc must be True or False"):
            make_dropout(key, 0.0, mc="no")
        assert make_dropout(key, 0.0, seed=7, mc=True).mc is True


@pytest.mark.parametrize("key", available())
def test_every_method_describes_itself(key):
    info = method_info(key)
    cls = method_class(key)
    assert isinstance(info, MethodInfo) and info.key == key == cls.key
    assert info.label and info.conditions_on and info.family in FAMILIES
    assert HEX.match(info.color) and all(HEX.match(c) for c in cls.variant_colors.values())
    assert info.acts_on in ("spikes", "synapses") and info.membrane in (None, "trace", "mean")
    assert set(info.rescale) <= {"inverted", "none"} and info.rescale
    assert set(cls.label_options) <= set(info.options)
    for preset in info.presets:
        make_dropout(key, 0.0, **dict(preset))  # every preset is a valid set of options
    if info.probability_map:
        assert hasattr(cls, "scores") and isinstance(getattr(cls, "score_label", None), str)
    assert isinstance(make_dropout(key, 0.0), cls)


def test_methods_filter_by_family_action_and_probability_map():
    assert methods(family="classic") == ("standard", "dropout2d", "feature_alpha", "alpha")
    assert methods(family="baseline") == ("none",)
    assert methods(family=("classic", "baseline"))[:2] == ("none", "standard")
    assert methods(acts_on="synapses") == ("dropconnect",)
    assert methods(probability_map=True) == ("membrane", "synaptic", "activity")
    assert set(methods(acts_on="spikes")) == set(available()) - {"dropconnect"}
    with pytest.raises(ValueError, match="family='modern' is not known; allowed: baseline, classic, snn_aware"):
        methods(family="modern")


def test_condition_labels_and_colours():
    assert condition_label("membrane", (("favor", "drop"),)) == "membrane_drop"
    assert condition_label("membrane", {"favor": "protect", "p_max": 0.5}) == "membrane_protect"
    assert condition_label("standard") == "standard"
    assert condition_label("none", (("favor", "x"),)) == "none"
    assert label_color("membrane_drop") == "#98df8a" and label_color("synaptic_protect") == "#9467bd"
    assert label_color("activity") == "#17becf" and label_color("none") == "#222222"
    assert label_color("ann") is None and label_color("gaussian") is None


def test_conditions_are_the_study_grid_in_order():
    grid = conditions()
    assert all(isinstance(c, Condition) for c in grid)
    assert [c.label for c in grid[:14]] == [
        "standard", "dropout2d", "feature_alpha", "alpha", "temporal", "membrane_protect", "membrane_drop",
        "membrane_protect_causal", "membrane_drop_causal", "synaptic_protect", "synaptic_drop", "activity",
        "activity_causal", "dropconnect",
    ]
    assert grid[5].options == (("favor", "protect"),) and grid[5].color == "#2ca02c" and grid[5].family == "snn_aware"
    assert [c.method for c in conditions(family="classic")] == list(methods(family="classic"))
    assert "none" not in {c.method for c in grid}


def test_register_refuses_what_is_not_a_method():
    with pytest.raises(TypeError, match="only SpikeDropout subclasses can be registered"):
        register(dict)  # type: ignore[arg-type]

    class NoKey(SpikeDropout):
        pass

    with pytest.raises(TypeError, match="NoKey needs its own string class attribute 'key'"):
        register(NoKey)

    class BadFamily(SpikeDropout):
        key = "bad_family"
        family = "modern"

    with pytest.raises(ValueError, match="BadFamily.family='modern'; allowed: baseline, classic, snn_aware"):
        register(BadFamily)

    class BadMembrane(SpikeDropout):
        key = "bad_membrane"
        membrane = "peak"

    with pytest.raises(ValueError, match="BadMembrane.membrane='peak'"):
        register(BadMembrane)

    class BadPreset(SpikeDropout):
        key = "bad_preset"
        presets = ({"favor": "drop"},)

    with pytest.raises(ValueError, match=r"BadPreset.presets uses unknown option\(s\) \['favor'\]"):
        register(BadPreset)

    class Twin(SpikeDropout):
        key = "standard"

    with pytest.raises(ValueError, match="'standard' is registered twice"):
        register(Twin)
    assert available()[: len(DESIGN_ORDER)] == DESIGN_ORDER
    unregister("never_registered")  # unregistering an unknown key is a no-op


# ------------------------------------------------------------------ the acceptance test


@pytest.fixture
def throwaway() -> Iterator[type[SpikeDropout]]:
    """A method defined and registered here (nowhere else), unregistered after the test whatever happens."""

    class Throwaway(SpikeDropout):
        """Drops whole (sample, neuron) pairs with a Bernoulli mask held over time; ``side`` names a variant."""

        key = "throwaway"
        label = "throwaway (test)"
        family = "snn_aware"
        conditions_on = "nothing (a method registered by a test)"
        time_consistent = True
        extra_options = ("side",)
        label_options = ("side",)
        presets = ({"side": "left"}, {"side": "right"})
        color = "#123456"
        variant_colors = {"right": "#654321"}

        def __init__(self, p: float = 0.0, *, side: str = "left", **options: Any) -> None:
            super().__init__(p, **options)
            self.side = side

        def _drop(self, ctx: LayerContext) -> Tensor:
            x = ctx.spikes
            scale = 1.0 / self.keep if self.rescale == "inverted" else 1.0
            mask = keep_mask((1,) + tuple(x.shape[1:]), self.p, generator=self.generator_for(x.device), dtype=x.dtype)
            self._record(x, mask, scale=scale)
            return apply_mask(x, mask, scale)

    register(Throwaway)
    try:
        yield Throwaway
    finally:
        unregister("throwaway")


def test_a_registered_method_appears_in_every_catalogue(throwaway, capsys):
    from snnlab import cli
    from snnlab.analysis import statistics
    from snnlab.explorers import describe_conditions
    from snnlab.plots.style import method_color
    from snnlab.study import TrialSpec
    from snnlab.study.comparison import ComparisonDesign, Setting, condition_specs
    from snnlab.widgets import MaskStatsExplorer, spike_methods

    left, right = (("side", "left"),), (("side", "right"),)
    # the registry
    assert available()[-1] == "throwaway" and method_info("throwaway").family == "snn_aware"
    grid = {c.label: c for c in conditions()}
    assert grid["throwaway_left"].color == "#123456" and grid["throwaway_right"].options == right
    # colours
    assert method_color("throwaway") == method_color("throwaway_left") == "#123456"
    assert method_color("throwaway_right") == "#654321"
    # widgets
    assert "throwaway" in spike_methods()
    explorer = MaskStatsExplorer(spikes((6, 4, 20)), p=0.3)  # spikes only: the method needs nothing else
    assert "throwaway" in explorer.method.options
    explorer.method.value = "throwaway"
    assert explorer.figure.data[0].marker.color == "#123456"
    # explorers
    table = describe_conditions().set_index("label")
    assert table.loc["throwaway_right", "conditions on"] == "nothing (a method registered by a test)"
    assert table.loc["throwaway_right", "direction"] == "right" and table.loc["throwaway_left", "needs"] == "spikes only"
    # statistics and the comparison grid
    assert ("throwaway", left) in statistics.study_conditions() and ("throwaway", right) in statistics.SNN_AWARE_CONDITIONS
    assert statistics.condition_label("throwaway", right) == "throwaway_right"
    design = ComparisonDesign(settings=(Setting("digits", "spiking_mlp"),), conditions=statistics.study_conditions(),
                              p_grid=(0.3,), seeds=(0,), val_fraction=0.2)
    base = TrialSpec(dataset="digits", sizes=(16,), T=2, epochs=1, device="cpu")
    specs = condition_specs(design, lambda setting: base, {design.settings[0]: base.lr})
    assert {s.method_options for s in specs if s.method == "throwaway"} == {left, right}
    # the command line, in process
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "throwaway" in capsys.readouterr().out


def test_a_registered_method_trains_in_a_model(throwaway):
    from snnlab.models import SpikingMLP

    model = SpikingMLP([64, 16, 10], T=4, dropout="throwaway", p=0.3, dropout_options={"side": "right"}, seed=0)
    assert isinstance(model.dropouts[0], throwaway) and model.dropouts[0].side == "right"
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(8, 64, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and model.dropouts[0].last_stats.method == "throwaway"


def test_a_throwaway_method_leaves_no_trace():
    """Runs after the acceptance tests in file order: every catalogue is back to the shipped methods."""
    from snnlab.analysis import statistics
    from snnlab.plots.style import method_color

    assert "throwaway" not in available()
    assert method_color("throwaway_left") == "#7f7f7f"
    assert all(m != "throwaway" for m, _ in statistics.study_conditions())

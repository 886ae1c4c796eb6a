"""snnlab.dropout.slots: make_slots builds one dropout module per hidden layer from a name, a module, a list or None."""

from __future__ import annotations

import pytest
import torch

from snnlab.dropout import SpikeDropout, make_dropout
from snnlab.dropout.slots import make_slots


def test_a_name_gives_one_new_module_per_slot_with_options() -> None:
    slots = make_slots(3, "temporal", 0.2, {"rescale": "none"}, seed=0)
    assert len(slots) == 3 and all(isinstance(s, SpikeDropout) for s in slots)
    assert [(s.key, s.p, s.rescale) for s in slots] == [("temporal", 0.2, "none")] * 3
    assert len({id(s) for s in slots}) == 3


def test_a_seed_fixes_the_default_seeds_and_leaves_the_global_rng() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = make_slots(2, "standard", 0.3, None, seed=4)
    b = make_slots(2, "standard", 0.3, None, seed=4)
    assert [s._seed for s in a] == [s._seed for s in b]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(1)
    c = make_slots(1, "standard", 0.3, None, seed=None)  # no seed: drawn from the global RNG
    torch.manual_seed(1)
    d = make_slots(1, "standard", 0.3, None, seed=None)
    assert c[0]._seed == d[0]._seed


def test_a_module_fills_one_slot_as_given() -> None:
    d = make_dropout("standard", 0.1)
    assert make_slots(1, d, 0.0, None, seed=0)[0] is d
    with pytest.raises(ValueError, match="one dropout module instance cannot fill several layers"):
        make_slots(2, d, 0.0, None, seed=0)


def test_a_list_gives_one_entry_per_slot() -> None:
    d = make_dropout("standard", 0.1)
    slots = make_slots(3, ["temporal", None, d], 0.3, None, seed=0)
    assert [s.key for s in slots] == ["temporal", "none", "standard"] and slots[2] is d
    assert slots[0].p == 0.3
    assert [s.key for s in make_slots(2, ("none", "standard"), 0.3, None, seed=0)] == ["none", "standard"]
    with pytest.raises(ValueError, match="dropout has 1 entries but the model has 2 hidden spiking layers"):
        make_slots(2, ["standard"], 0.1, None, seed=0)


def test_none_gives_empty_slots_unless_p_is_given() -> None:
    assert [s.key for s in make_slots(2, None, 0.0, None, seed=0)] == ["none", "none"]
    assert [s.key for s in make_slots(2, "none", 0.5, None, seed=0)] == ["none", "none"]  # explicit "none" wins
    with pytest.raises(ValueError, match=r"p=0.2 was given without a dropout method; pass dropout=<name>"):
        make_slots(2, None, 0.2, None, seed=0)


@pytest.mark.parametrize("bad", [3, 0.5, {"method": "standard"}, [3]])
def test_wrong_types(bad) -> None:
    with pytest.raises(TypeError, match="dropout entries must be a method name, a SpikeDropout module or None"):
        make_slots(1, bad, 0.1, None, seed=0)


def test_unknown_names_are_refused_by_the_registry() -> None:
    with pytest.raises(ValueError, match="dropout method 'nope' is not known"):
        make_slots(1, "nope", 0.1, None, seed=0)


@pytest.mark.parametrize("p", [None, "0.2", float("nan"), -0.1, 1.0])
def test_p_is_checked_even_without_a_method(p) -> None:
    """``p=None`` with ``dropout=None`` used to be taken as "no dropout" (found by tests/test_properties.py)."""
    with pytest.raises((TypeError, ValueError), match="p"):
        make_slots(2, None, p, None, seed=0)
    with pytest.raises((TypeError, ValueError), match="p"):
        make_slots(2, "none", p, None, seed=0)

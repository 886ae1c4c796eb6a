"""snnlab.dropout.stats: DropoutStats, the frozen record of what one training forward of a dropout method did."""

from __future__ import annotations

import dataclasses

import pytest

from snnlab.dropout.stats import DropoutStats

FIELDS = ("method", "p", "dropped_fraction", "spikes_removed", "silent_fraction", "out_mean", "out_min", "out_max")


def _stats(**changes) -> DropoutStats:
    values = dict(method="standard", p=0.3, dropped_fraction=0.25, spikes_removed=0.5, silent_fraction=0.1,
                  out_mean=0.4, out_min=0.0, out_max=1.0)
    return DropoutStats(**{**values, **changes})


def test_fields_in_order() -> None:
    assert tuple(f.name for f in dataclasses.fields(DropoutStats)) == FIELDS
    s = _stats()
    assert dataclasses.astuple(s) == ("standard", 0.3, 0.25, 0.5, 0.1, 0.4, 0.0, 1.0)
    assert dataclasses.asdict(s)["spikes_removed"] == 0.5


def test_frozen_and_compared_by_value() -> None:
    s = _stats()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.p = 0.5  # type: ignore[misc]
    assert s == _stats() and s != _stats(out_max=2.0)
    assert hash(s) == hash(_stats())
    assert dataclasses.replace(s, method="temporal").method == "temporal" and s.method == "standard"


def test_every_field_is_required() -> None:
    with pytest.raises(TypeError):
        DropoutStats("standard", 0.3)  # type: ignore[call-arg]

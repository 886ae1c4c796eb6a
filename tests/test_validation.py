"""snnlab.validation: check_choice/check_int/check_float return the value or raise naming argument, value and what is allowed."""

from __future__ import annotations

import math
import re

import pytest

from snnlab.validation import (
    SEED_RANGE,
    all_finite,
    check_bool,
    check_choice,
    check_finite,
    check_float,
    check_int,
    check_optional_int,
    check_seed,
)


def test_check_choice() -> None:
    assert check_choice("kind", "full", ("full", "rates")) == "full"
    assert check_choice("kind", "b", iter(["a", "b"])) == "b"  # any iterable
    with pytest.raises(ValueError) as info:
        check_choice("kind", "partial", ["full", "rates"])
    assert str(info.value) == "kind='partial' is not known; allowed: 'full', 'rates'"
    with pytest.raises(TypeError) as info:
        check_choice("kind", 3, ["full", "rates"])
    assert "kind must be a string" in str(info.value) and "'full', 'rates'" in str(info.value)
    assert "int (3)" in str(info.value)


def test_check_int() -> None:
    assert check_int("epochs", 3) == 3
    assert check_int("epochs", 0, minimum=0) == 0
    with pytest.raises(ValueError) as info:
        check_int("epochs", 0, minimum=1)
    assert str(info.value) == "epochs=0 is not allowed; it must be an integer >= 1"
    for bad in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match=r"epochs must be an integer, got " + type(bad).__name__):
            check_int("epochs", bad)


def test_check_float() -> None:
    assert check_float("p", 0.5, low=0, high=1) == 0.5
    assert check_float("p", 1, low=0, high=1) == 1.0 and isinstance(check_float("p", 1), float)
    assert check_float("p", 0.0, low=0.0) == 0.0
    with pytest.raises(ValueError) as info:
        check_float("p", 1.0, low=0.0, high=1.0, high_inclusive=False)
    assert str(info.value) == "p=1.0 is not allowed; it must lie in [0.0, 1.0)"
    with pytest.raises(ValueError, match=re.escape("p=0.0 is not allowed; it must lie in (0.0, inf]")):
        check_float("p", 0.0, low=0.0, low_inclusive=False)
    with pytest.raises(ValueError, match=re.escape("lr=-1.0 is not allowed; it must lie in [0, inf]")):
        check_float("lr", -1, low=0)
    with pytest.raises(ValueError, match=re.escape("x=2.0 is not allowed; it must lie in [-inf, 1]")):
        check_float("x", 2.0, high=1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_float_refuses_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match=r"lr=.* is not allowed; it must be a finite number in \[0, inf\]"):
        check_float("lr", value, low=0)


@pytest.mark.parametrize("value", [True, "0.1", None, [0.1]])
def test_check_float_wrong_types(value) -> None:
    with pytest.raises(TypeError, match=r"p must be a real number, got " + type(value).__name__):
        check_float("p", value)



def test_check_frame_names_the_argument_and_what_is_missing() -> None:
    import pandas as pd
    import pytest

    from snnlab.validation import check_frame

    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert check_frame("table", frame, ["a"]) is frame
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        check_frame("table", [1, 2], ["a"])
    with pytest.raises(ValueError, match=r"table lacks column\(s\) \['c'\]"):
        check_frame("table", frame, ["a", "c"])
    with pytest.raises(ValueError, match="table is empty"):
        check_frame("table", frame.iloc[:0], ["a"])
    assert check_frame("table", frame.iloc[:0], ["a"], allow_empty=True).empty


def test_check_bool() -> None:
    assert check_bool("mc", True) is True and check_bool("mc", False) is False
    for bad in ("no", 0, 1, None, 1.0):
        with pytest.raises(TypeError, match=rf"mc must be True or False, got {type(bad).__name__} \({re.escape(repr(bad))}\)"):
            check_bool("mc", bad)


def test_check_optional_int() -> None:
    assert check_optional_int("seed", None) is None
    assert check_optional_int("seed", 4) == 4
    with pytest.raises(TypeError, match=r"seed must be an integer, got float \(1.7\)"):
        check_optional_int("seed", 1.7)
    with pytest.raises(ValueError, match="seed=-1 is not allowed; it must be an integer >= 0"):
        check_optional_int("seed", -1, minimum=0)


def test_all_finite_decides_by_the_sum_only_when_it_is_finite() -> None:
    import torch

    big = torch.finfo(torch.float32).max
    assert all_finite(torch.zeros(3)) and all_finite(torch.tensor([big, big]))  # the sum overflows: exact check
    for bad in (float("nan"), float("inf"), -float("inf")):
        assert not all_finite(torch.tensor([0.5, bad]))
        assert not all_finite(torch.tensor([big, big, bad]))
    assert not all_finite(torch.tensor([float("inf"), -float("inf")]))  # opposite infinities: a NaN sum
    assert not all_finite(torch.tensor([1.0, float("nan")], dtype=torch.float64))


def test_check_finite() -> None:
    import torch

    x = torch.zeros(2, 3)
    assert check_finite("x", x) is x
    ints = torch.arange(4)
    assert check_finite("y", ints) is ints
    x[1, 2] = float("nan")
    x[0, 1] = float("inf")
    with pytest.raises(ValueError) as info:
        check_finite("x", x)
    assert str(info.value) == ("x contains 2 non-finite value(s) (1 NaN, 1 infinite; the first at index (0, 1)) "
                               "in a tensor of shape (2, 3); allowed: finite values only")
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        check_finite("x", [1.0])


def test_check_seed_takes_what_a_generator_takes() -> None:
    """A seed of 2**70 used to be accepted and fail only when the first generator was made (found by
    tests/test_properties.py), with torch's "Overflow when unpacking long long", naming nothing."""
    import torch

    lo, hi = SEED_RANGE
    for seed in (0, 7, -1, lo, hi):
        assert check_seed("seed", seed) == seed
        torch.Generator().manual_seed(seed)  # the whole range is one a generator accepts
    assert check_seed("seed", None, optional=True) is None
    for seed in (hi + 1, lo - 1, 2**70):
        with pytest.raises(ValueError, match=rf"seed={seed} is not allowed; a seed must be an integer in \[{lo}, {hi}\]"):
            check_seed("seed", seed)
    with pytest.raises(TypeError, match="seed must be an integer, got NoneType"):
        check_seed("seed", None)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        check_seed("seed", 1.5, optional=True)

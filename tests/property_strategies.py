"""Hypothesis strategies and checks shared by ``tests/test_properties.py``.

The property of every entry point is the same: a call either does what its docstring says (shapes,
dtypes, finite outputs) or raises ``ValueError``/``TypeError`` whose message names the argument that
was wrong. The strategies therefore draw *one* argument to spoil (or none) and remember which, so a
test knows what must happen: ``Draw(kwargs, bad)`` with ``bad`` the spoiled argument's name or None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

NAN, INF = float("nan"), float("inf")

# Derandomized (the same examples on every run, so CI is deterministic), no per-example deadline
# (the first call of a kernel compiles or warms up), at least 200 examples per entry point.
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

DTYPES = (torch.float32, torch.float16, torch.float64, torch.int64, torch.bool)
FLOAT_DTYPES = (torch.float32, torch.float16, torch.float64)

# Values that are never a valid real number argument, and ones that are wrong only by range.
NOT_A_NUMBER = st.sampled_from(["0.5", None, [0.1], b"1", object()])
BAD_FLOATS = st.sampled_from([NAN, INF, -INF])
BAD_INTS = st.sampled_from([1.5, "3", None, True, NAN, [2]])
UNKNOWN_NAMES = st.sampled_from(["", "bogus", "Standard", "LIF ", "rate2"]) | st.sampled_from([1, None, 2.5, ("x",)])


@dataclass(frozen=True)
class Draw:
    """Keyword arguments of one call and the name of the argument spoiled in it (None: all valid)."""

    kwargs: dict[str, Any]
    bad: str | None = None


def spoil(valid: dict[str, Any], bad_values: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Draw]:
    """``valid`` as is (half of the draws), or with one of the arguments of ``bad_values`` replaced by one
    of its bad values."""

    @st.composite
    def draw(data: st.DrawFn) -> Draw:
        # half of the calls are valid (so the behaviour of a working call is checked as often), the
        # other half spoil one argument each
        which = data(st.sampled_from([None] * max(1, len(bad_values)) + sorted(bad_values)))
        if which is None:
            return Draw(dict(valid), None)
        return Draw({**valid, which: data(bad_values[which])}, which)

    return draw()


def assert_names(err: BaseException, *names: str) -> None:
    """``err`` is a ValueError/TypeError whose message names one of ``names`` (the spoiled argument)."""
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__} is not a ValueError/TypeError: {err}"
    message = str(err)
    assert any(name in message for name in names), f"message does not name {names}: {message}"


@st.composite
def tensors(draw: st.DrawFn, shape: tuple[int, ...], *, dtype: torch.dtype | None = None, low: float = 0.0,
            high: float = 1.0, specials: bool = True, binary: bool = False) -> torch.Tensor:
    """A small tensor of ``shape`` (``dtype`` drawn from ``DTYPES`` when None) with values in
    [low, high] (0/1 when ``binary``), sometimes with a NaN or an infinity at a drawn position."""
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    x = (x > 0.5).to(torch.float64) if binary else low + (high - low) * x
    n = x.numel()
    if specials and n and dtype.is_floating_point and draw(st.integers(0, 4)) == 0:
        x.view(-1)[draw(st.integers(0, n - 1))] = draw(st.sampled_from([NAN, INF, -INF]))
    return x.to(dtype)


def finite(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` is finite (integer and boolean tensors always are)."""
    return not x.is_floating_point() or bool(torch.isfinite(x).all())


def in_unit_interval(x: torch.Tensor, scale: float = 1.0) -> bool:
    """Whether ``scale * x`` lies in [0, 1] (empty tensors do)."""
    if x.numel() == 0:
        return True
    lo, hi = float(x.min()) * scale, float(x.max()) * scale
    return 0.0 <= lo and hi <= 1.0 and math.isfinite(lo) and math.isfinite(hi)

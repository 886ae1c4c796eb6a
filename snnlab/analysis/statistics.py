"""Summaries over seeds and the study's condition catalogue: mean ± std with t-based confidence
intervals, Holm's correction, and the conditions (method, options) read from the registry with
the labels tables and plots use.

The comparison of methods with the base network is paired by seed (``snnlab.analysis.paired``);
this module holds what every analysis shares. Intervals use the t distribution (few seeds:
3 quick, >= 5 paper); Holm's step-down procedure needs no independence assumption. Quantities
that are undefined for the sample at hand (a standard deviation from one seed) are NaN, never
invented.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from snnlab.dropout import condition_label as registry_condition_label
from snnlab.dropout import conditions as registry_conditions
from snnlab.validation import check_float



def _as_sample(name: str, values: Iterable[float]) -> np.ndarray:
    """A 1-D float array of finite values; raises naming ``name`` otherwise."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__} ({values!r})")
    try:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a sequence of real numbers; {err}") from None
    arr = arr.reshape(-1) if arr.ndim == 0 else arr
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one value, got an empty sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers, got {arr.tolist()}")
    return arr


def _check_confidence(confidence: float) -> float:
    return check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


@dataclass(frozen=True)
class Summary:
    """Mean ± sample standard deviation of ``n`` values and the t-based confidence interval of the mean.

    ``std``, ``sem`` and the interval are NaN when ``n == 1`` (one seed says nothing about spread).
    """

    n: int
    mean: float
    std: float
    sem: float
    ci_low: float
    ci_high: float
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.ci_high - self.ci_low) / 2.0


def summarize(values: Iterable[float], *, confidence: float = 0.95) -> Summary:
    """Mean, sample std (ddof=1), standard error and the two-sided t interval of the mean."""
    x = _as_sample("values", values)
    confidence = _check_confidence(confidence)
    n = int(x.size)
    mean = float(x.mean())
    if n < 2:
        nan = float("nan")
        return Summary(n, mean, nan, nan, nan, nan, confidence)
    std = float(x.std(ddof=1))
    sem = std / math.sqrt(n)
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sem
    return Summary(n, mean, std, sem, mean - half, mean + half, confidence)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order.

    The i-th smallest of m p-values is multiplied by (m - i + 1), a running maximum keeps the
    adjusted values monotone and they are capped at 1 (that cap is part of the definition). NaN
    entries (tests that could not be run) are left NaN and do not count towards m.
    """
    if isinstance(p_values, (str, bytes)):
        raise TypeError(f"p_values must be a sequence of numbers, got {type(p_values).__name__}")
    p = np.asarray(list(p_values), dtype=float).reshape(-1)
    finite = ~np.isnan(p)
    bad = p[finite][(p[finite] < 0) | (p[finite] > 1)]
    if bad.size:
        raise ValueError(f"p_values must lie in [0, 1] (NaN for a missing test), got {bad.tolist()}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        out[i] = min(1.0, running)
    return out


ANN_MODELS = ("mlp", "cnn")

Conditions = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


def study_conditions(family: str | Iterable[str] | None = None) -> Conditions:
    """The dropout conditions the study compares, as ``(method, method_options)`` pairs, read from the
    registry at call time (``snnlab.dropout.conditions``): every method but the baseline (or those of
    ``family``: ``"classic"``, ``"snn_aware"``) with each of its option presets, in registry order.
    The shaped methods appear in both directions (``favor``); a newly registered method appears here
    with no change to this module."""
    return tuple((c.method, c.options) for c in registry_conditions(family=family))


def __getattr__(name: str) -> Conditions:
    # CLASSIC_CONDITIONS / SNN_AWARE_CONDITIONS: computed from the registry at access time, so a
    # method registered after import appears in them too.
    if name == "CLASSIC_CONDITIONS":
        return study_conditions("classic")
    if name == "SNN_AWARE_CONDITIONS":
        return study_conditions("snn_aware")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def condition_label(method: str, method_options: Iterable[tuple[str, object]] = (), model: str = "spiking_mlp") -> str:
    """The name a condition carries in tables and legends (and picks its colour in ``plots.style``):
    the registry's label (the method, with ``_<value>`` for each naming option, e.g.
    ``membrane_protect``), or ``ann`` / ``ann_<method>`` for the ANN baselines."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__} ({method!r})")
    if model in ANN_MODELS:
        return "ann" if method == "none" else f"ann_{method}"
    return registry_condition_label(method, method_options or ())


def label_conditions(frame: pd.DataFrame) -> pd.Series:
    """``condition_label`` for every row of a store frame (needs ``method``; uses ``method_options``
    and ``model`` when present). Returns a Series aligned with ``frame``'s index, named ``label``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if "method" not in frame.columns:
        raise ValueError(f"frame needs a 'method' column; columns: {', '.join(map(str, frame.columns))}")
    opts = frame["method_options"] if "method_options" in frame.columns else pd.Series([()] * len(frame), index=frame.index)
    models = frame["model"] if "model" in frame.columns else pd.Series(["spiking_mlp"] * len(frame), index=frame.index)
    labels = [condition_label(m, o, mo) for m, o, mo in zip(frame["method"], opts, models)]
    return pd.Series(labels, index=frame.index, name="label", dtype=object)

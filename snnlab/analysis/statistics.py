"""Statistics for comparing dropout methods over seeds: mean ± std, t-based confidence intervals,
Welch's t-test against a baseline, Holm's correction across methods and effect sizes.

Why these: the study runs few seeds per method (3 quick, >= 5 paper), so intervals use the t
distribution rather than a normal approximation; variances differ between methods (alpha
dropout is far noisier than the base SNN), so the comparison is Welch's unequal-variance test;
and every method is tested against the same baseline, so the family of p-values is corrected
with Holm's step-down procedure (uniformly more powerful than Bonferroni, no independence
assumption). Quantities that are undefined for the sample at hand (a standard deviation from
one seed, a t statistic from two constant samples) are returned as NaN, never invented.
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
from snnlab.validation import check_choice, check_float

ALTERNATIVES = ("two-sided", "less", "greater")
VERDICTS = ("helps", "hurts", "indistinguishable", "too few seeds")


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


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance comparison of the means of ``a`` and ``b`` (``diff = mean(a) - mean(b)``).

    ``ci_low``/``ci_high``: the confidence interval of ``diff`` with Welch–Satterthwaite degrees of
    freedom ``df``; ``t`` and ``p_value`` the test of ``diff == 0``. NaN where undefined (a sample
    with one value; both samples constant).
    """

    diff: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float
    n_a: int
    n_b: int


def welch_test(
    a: Iterable[float],
    b: Iterable[float],
    *,
    confidence: float = 0.95,
    alternative: str = "two-sided",
) -> WelchResult:
    """Difference of means ``mean(a) - mean(b)`` with its Welch confidence interval and t-test p-value."""
    xa = _as_sample("a", a)
    xb = _as_sample("b", b)
    confidence = _check_confidence(confidence)
    check_choice("alternative", alternative, ALTERNATIVES)
    na, nb = int(xa.size), int(xb.size)
    diff = float(xa.mean() - xb.mean())
    nan = float("nan")
    if na < 2 or nb < 2:
        return WelchResult(diff, nan, nan, nan, nan, nan, na, nb)
    va, vb = float(xa.var(ddof=1)), float(xb.var(ddof=1))
    se2 = va / na + vb / nb
    if se2 == 0.0:
        return WelchResult(diff, nan, nan, nan, nan, nan, na, nb)
    se = math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    t = diff / se
    if alternative == "two-sided":
        p = float(2.0 * sps.t.sf(abs(t), df))
    elif alternative == "greater":
        p = float(sps.t.sf(t, df))
    else:
        p = float(sps.t.cdf(t, df))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df)) * se
    return WelchResult(diff, diff - half, diff + half, float(t), float(df), p, na, nb)


def welch_p_value(a: Iterable[float], b: Iterable[float], *, alternative: str = "two-sided") -> float:
    """Welch's t-test p-value for equal means of ``a`` and ``b`` (NaN where undefined)."""
    return welch_test(a, b, alternative=alternative).p_value


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


def cohens_d(a: Iterable[float], b: Iterable[float]) -> float:
    """Cohen's d: ``(mean(a) - mean(b))`` over the pooled sample standard deviation (NaN if undefined)."""
    xa = _as_sample("a", a)
    xb = _as_sample("b", b)
    na, nb = xa.size, xb.size
    if na + nb < 3:
        return float("nan")
    pooled = ((na - 1) * xa.var(ddof=1 if na > 1 else 0) + (nb - 1) * xb.var(ddof=1 if nb > 1 else 0)) / (na + nb - 2)
    if pooled == 0.0:
        return float("nan")
    return float((xa.mean() - xb.mean()) / math.sqrt(pooled))


def hedges_g(a: Iterable[float], b: Iterable[float]) -> float:
    """Hedges' g: Cohen's d times the small-sample correction ``1 - 3 / (4 (n_a + n_b) - 9)``."""
    xa = _as_sample("a", a)
    xb = _as_sample("b", b)
    d = cohens_d(xa, xb)
    return float(d * (1.0 - 3.0 / (4.0 * (xa.size + xb.size) - 9.0)))


def compare_to_baseline(
    frame: pd.DataFrame,
    *,
    metric: str,
    group: str = "method",
    baseline: str = "none",
    confidence: float = 0.95,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """The results table: one row per group (method) with mean ± std of ``metric`` over its rows
    (seeds), the difference to ``baseline`` with its Welch CI, the Welch p-value, the Holm-adjusted
    p-value across all non-baseline groups, Hedges' g and a verdict.

    Verdict: "helps"/"hurts" when the Holm-adjusted p-value is below ``alpha`` (direction from the
    sign of the difference and ``higher_is_better``), "indistinguishable" otherwise, "too few seeds"
    when either side has fewer than two values. The baseline's own row has NaN test columns.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    for name, col in (("metric", metric), ("group", group)):
        if col not in frame.columns:
            raise ValueError(f"{name}={col!r} is not a column of frame; columns: {', '.join(map(str, frame.columns))}")
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    groups = list(dict.fromkeys(frame[group].tolist()))
    if baseline not in groups:
        raise ValueError(f"baseline={baseline!r} is not a value of column {group!r}; present: {', '.join(map(repr, groups))}")
    samples = {g: frame.loc[frame[group] == g, metric].dropna().to_numpy(dtype=float) for g in groups}
    empty = [g for g, s in samples.items() if s.size == 0]
    if empty:
        raise ValueError(f"no finite {metric!r} values for {group} {', '.join(map(repr, empty))}")
    base = samples[baseline]
    rows = []
    for g in [baseline] + [g for g in groups if g != baseline]:
        s = summarize(samples[g], confidence=confidence)
        row = {group: g, "n": s.n, "mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high}
        if g == baseline:
            row.update(diff=0.0, diff_ci_low=float("nan"), diff_ci_high=float("nan"), p_value=float("nan"), hedges_g=float("nan"))
        else:
            w = welch_test(samples[g], base, confidence=confidence)
            row.update(diff=w.diff, diff_ci_low=w.ci_low, diff_ci_high=w.ci_high, p_value=w.p_value,
                       hedges_g=hedges_g(samples[g], base))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].tolist())
    verdicts = []
    for _, r in table.iterrows():
        if r[group] == baseline:
            verdicts.append("baseline")
        elif r["n"] < 2 or base.size < 2:
            verdicts.append("too few seeds")
        elif not np.isnan(r["p_holm"]) and r["p_holm"] < alpha:
            better = (r["diff"] > 0) == bool(higher_is_better)
            verdicts.append("helps" if better else "hurts")
        else:
            verdicts.append("indistinguishable")
    table["verdict"] = verdicts
    return table[[group, "n", "mean", "std", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high",
                  "p_value", "p_holm", "hedges_g", "verdict"]]


def verdict_sentence(table: pd.DataFrame, *, group: str = "method", metric_label: str = "test accuracy",
                     unit_scale: float = 100.0, unit: str = " pp") -> str:
    """One paragraph, built from a ``compare_to_baseline`` table, naming which methods help, hurt or
    are indistinguishable from the baseline (with their differences), so notebook text follows the numbers."""
    if not isinstance(table, pd.DataFrame) or "verdict" not in table.columns or group not in table.columns:
        raise ValueError("table must be a DataFrame returned by compare_to_baseline (with 'verdict' and the group column)")
    base_rows = table[table["verdict"] == "baseline"]
    base = str(base_rows[group].iloc[0]) if len(base_rows) else "the baseline"

    def fmt(r: pd.Series) -> str:
        d = r["diff"] * unit_scale
        if np.isnan(r["diff_ci_low"]):
            return f"{r[group]} ({d:+.2f}{unit})"
        return (f"{r[group]} ({d:+.2f}{unit}, 95% CI [{r['diff_ci_low'] * unit_scale:+.2f}, "
                f"{r['diff_ci_high'] * unit_scale:+.2f}], Holm p={r['p_holm']:.3g})")

    parts = []
    labels = {"helps": "improve", "hurts": "worsen", "indistinguishable": "are indistinguishable from",
              "too few seeds": "cannot be judged (fewer than two seeds) against"}
    for verdict in ("helps", "hurts", "indistinguishable", "too few seeds"):
        rows = table[table["verdict"] == verdict]
        if len(rows) == 0:
            continue
        names = "; ".join(fmt(r) for _, r in rows.iterrows())
        if verdict in ("helps", "hurts"):
            parts.append(f"{len(rows)} method(s) {labels[verdict]} {metric_label} relative to {base}: {names}.")
        else:
            parts.append(f"{len(rows)} method(s) {labels[verdict]} {base} on {metric_label}: {names}.")
    if not parts:
        return f"Only the baseline {base} is present; nothing to compare."
    return " ".join(parts)


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


def comparison_specs(
    base: Any,
    *,
    conditions: Sequence[tuple[str, Iterable[tuple[str, object]]]] | None = None,
    p_values: Sequence[float],
    seeds: Sequence[int],
    ann_model: str | None = "mlp",
) -> list[Any]:
    """The trials of one comparison on ``base`` (a ``TrialSpec``): the base network without dropout,
    every condition (default: ``study_conditions()``, the registry's whole grid) at every ``p``, and
    (unless ``ann_model`` is None) the ANN of the same shape without dropout and with standard dropout
    at every ``p`` — each for every seed."""
    from snnlab.study import TrialSpec

    if conditions is None:
        conditions = study_conditions()

    if not isinstance(base, TrialSpec):
        raise TypeError(f"base must be a TrialSpec, got {type(base).__name__}")
    p_values = [check_float("p_values[i]", p, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False) for p in p_values]
    if not p_values or not list(seeds):
        raise ValueError(f"p_values and seeds must not be empty; got p_values={p_values}, seeds={list(seeds)}")
    specs = []
    for seed in seeds:
        specs.append(base.replace(method="none", p=0.0, method_options=(), seed=seed))
        for method, options in conditions:
            for p in p_values:
                specs.append(base.replace(method=method, p=p, method_options=tuple(options), seed=seed))
        if ann_model is not None:
            ann = base.replace(model=ann_model, seed=seed, method_options=())
            specs.append(ann.replace(method="none", p=0.0))
            specs.extend(ann.replace(method="standard", p=p) for p in p_values)
    return specs


_SNN_OF = {"mlp": "spiking_mlp", "cnn": "spiking_cnn"}


def setting_labels(frame: pd.DataFrame) -> pd.Series:
    """``"<dataset> · <network>"`` per row, the ANN baselines filed under the spiking network of the
    same shape (so each panel compares a spiking network with its own ANN). Named ``setting``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    for col in ("dataset", "model"):
        if col not in frame.columns:
            raise ValueError(f"frame needs a {col!r} column; columns: {', '.join(map(str, frame.columns))}")
    values = [f"{d} · {_SNN_OF.get(m, m)}" for d, m in zip(frame["dataset"], frame["model"])]
    return pd.Series(values, index=frame.index, name="setting", dtype=object)

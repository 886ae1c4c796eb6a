"""Paired comparisons of dropout methods with the base network over seeds: per-seed differences,
paired t and Wilcoxon tests, Holm over the pre-registered family of distinct methods, an equivalence
test (TOST) against a stated margin, a verdict per method and the sentences that report it.

Why paired: all conditions of one seed share initial weights and batch order, so the seed-to-seed
spread cancels in the per-seed difference ``metric(method) - metric(baseline)``; an unpaired
test (Welch's, which this study used before) would throw that pairing away. Why a family of
distinct methods: on an MLP ``dropout2d`` is bit for bit ``standard`` (and ``feature_alpha`` is ``alpha``); a duplicate is
one experiment, not two, so it is shown once and counts once in Holm's correction. Why TOST: the
effects are tenths of a point, so "no significant difference" is not evidence of no difference;
only an interval inside ``±margin`` says "equivalent". Holm's procedure is ``statistics.holm``
(checked: step-down, running maximum, capped at 1, NaN entries not counted).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from snnlab.analysis.statistics import holm
from snnlab.dropout import available, method_info
from snnlab.validation import check_float, check_int

VERDICTS = ("helps", "hurts", "equivalent", "inconclusive")
ROW_VERDICTS = VERDICTS + ("duplicate", "not in family")
_OUT = ("value", "baseline_value", "difference")
_TABLE = ("condition", "label", "baseline_label", "n", "mean_diff", "sd_diff", "ci_low", "ci_high",
          "equivalence_ci_low", "equivalence_ci_high", "t_statistic", "p_value_t", "wilcoxon_statistic",
          "p_value_wilcoxon", "p_value_holm", "family_size", "p_value_tost", "within_margin", "verdict",
          "duplicate_of", "margin", "confidence", "alpha", "higher_is_better")


def _check_unit(name: str, value: float) -> float:
    return check_float(name, value, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def _check_margin(margin: float) -> float:
    return check_float("margin", margin, low=0.0, low_inclusive=False)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} ({value!r})")
    return value


def _method_key(value: Hashable) -> str | None:
    """The registry key a condition value names: the key itself or ``<key>_<variant>``; None otherwise."""
    if not isinstance(value, str):
        return None
    keys = [k for k in available() if value == k or value.startswith(k + "_")]
    return max(keys, key=len) if keys else None


def method_label(value: Hashable) -> str:
    """The registry's label of a method key (``"standard"`` -> ``"standard (per step)"``), of an
    option variant with its option values (``"membrane_drop_causal"`` -> ``"membrane-shaped (drop,
    causal)"``); any other value (an ANN row) as its own string."""
    key = _method_key(value)
    if key is None:
        return str(value)
    label = method_info(key).label
    variant = str(value)[len(key) + 1:]
    return f"{label} ({variant.replace('_', ', ')})" if variant else label


def _registry_rank(value: Hashable) -> int:
    key = _method_key(value)
    keys = available()
    return keys.index(key) if key is not None else len(keys)


# ---------------------------------------------------------------------------------------------------
# per-pair differences


def _by_tuple(by: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(by, str):
        return (by,)
    try:
        out = tuple(by)
    except TypeError:
        raise TypeError(f"by must be a column name or a sequence of column names, "
                        f"got {type(by).__name__} ({by!r})") from None
    for b in out:
        if not isinstance(b, str):
            raise TypeError(f"by must hold column names (strings), got {b!r} in {out!r}")
    return out


def _check_frame(frame: pd.DataFrame, *, metric: str, group: str, pair: str, by: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    cols = ", ".join(map(str, frame.columns))
    for name, col in (("metric", metric), ("group", group), ("pair", pair)) + tuple(("by", b) for b in by):
        if col not in frame.columns:
            raise ValueError(f"{name}={col!r} is not a column of frame; columns: {cols}")
    keys = (group, pair) + by
    if len(set(keys)) != len(keys) or metric in keys:
        raise ValueError(f"metric, group, pair and by must name different columns, got metric={metric!r}, "
                         f"group={group!r}, pair={pair!r}, by={by!r}")
    clash = sorted(set(keys) & set(_OUT) | set(by) & set(_TABLE))
    if clash:
        raise ValueError(f"group, pair and by may not use the result column name(s) {clash}; rename them in frame")


def _metric_values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    try:
        values = frame[metric].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"metric={metric!r} must be a numeric column; got dtype {frame[metric].dtype}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"metric={metric!r} has {int(bad.sum())} non-finite value(s) (rows "
                         f"{frame.index[bad][:5].tolist()}); drop or fill them explicitly before comparing")
    return values


def paired_differences(frame: pd.DataFrame, *, metric: str, baseline: Hashable = "none", group: str = "method",
                       pair: str = "seed", by: str | Iterable[str] = ()) -> pd.DataFrame:
    """Per-pair differences ``metric(condition) - metric(baseline)`` from a long frame of trials.

    ``frame`` has one row per trial: the condition in ``group``, the pairing unit in ``pair`` (the
    seed: conditions of one seed share initial weights and batch order) and any grouping columns
    ``by`` (dataset, network, train size, ...), compared separately. Only pairs present for both the
    condition and the baseline (within the same ``by`` group) are returned. Returns the columns
    ``*by, group, pair, value, baseline_value, difference``: by groups in order of appearance,
    conditions in registry order (others after, in order of appearance), pairs in the baseline's order.

    Raises ValueError for a missing column, a non-finite metric value, no baseline rows (overall or
    in one ``by`` group) and two rows with the same (``by``, ``group``, ``pair``).
    """
    by = _by_tuple(by)
    _check_frame(frame, metric=metric, group=group, pair=pair, by=by)
    keys = [*by, group, pair]
    dup = frame.duplicated(subset=keys, keep=False)
    if dup.any():
        example = frame.loc[dup, keys].drop_duplicates().head(3).to_dict("records")
        raise ValueError(f"frame has {int(dup.sum())} rows that share ({', '.join(keys)}), e.g. {example}; paired "
                         "differences need one row per trial: filter the frame (e.g. one p per method) or add the "
                         "distinguishing column to by")
    data = frame[keys].copy()
    data["value"] = _metric_values(frame, metric)
    data["_row"] = np.arange(len(data))
    is_base = (data[group] == baseline).to_numpy(dtype=bool)
    if not is_base.any():
        present = list(dict.fromkeys(frame[group].tolist()))
        raise ValueError(f"baseline={baseline!r} has no rows in column group={group!r}; present: {present}")
    base = data[is_base].drop(columns=[group]).rename(columns={"value": "baseline_value", "_row": "_base_row"})
    if by:
        setting = data[list(by)].apply(tuple, axis=1)
        missing = sorted(set(setting) - set(setting[is_base]), key=str)
        if missing:
            raise ValueError(f"baseline={baseline!r} has no rows for {', '.join(by)} = {missing}")
    out = data[~is_base].merge(base, on=[*by, pair], how="inner", sort=False)
    out["difference"] = out["value"] - out["baseline_value"]
    if by:
        first = {k: i for i, k in reversed(list(enumerate(data[list(by)].apply(tuple, axis=1))))}
        out["_setting"] = [first[k] for k in out[list(by)].apply(tuple, axis=1)] if len(out) else []
    else:
        out["_setting"] = 0
    appearance = {v: i for i, v in reversed(list(enumerate(data[group])))}
    out["_rank"] = [_registry_rank(v) for v in out[group]]
    out["_appear"] = [appearance[v] for v in out[group]]
    out = out.sort_values(["_setting", "_rank", "_appear", "_base_row"], kind="stable")
    return out[[*by, group, pair, *_OUT]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# one paired test


@dataclass(frozen=True)
class PairedResult:
    """The paired comparison of ``n`` differences ``condition - baseline``.

    ``mean``/``sd`` (ddof=1) of the differences; ``ci_low``/``ci_high`` the t interval of the mean at
    ``confidence``; ``equivalence_ci_*`` the ``1 - 2 alpha`` interval that TOST checks against
    ``±margin``. ``t_statistic``/``p_value_t``: paired t-test of mean 0 (two-sided).
    ``wilcoxon_statistic``/``p_value_wilcoxon``: signed-rank test over the ``n_wilcoxon`` non-zero
    differences. ``p_value_tost``: the larger of the two one-sided p-values (``p_value_tost_lower``:
    mean > -margin; ``p_value_tost_upper``: mean < +margin). ``within_margin``: TOST rejects at
    ``alpha``. ``verdict``: for a family of one test (unadjusted ``p_value_t``); ``compare_paired``
    decides with Holm-adjusted p-values instead. NaN where undefined (``n < 2``).
    """

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    equivalence_ci_low: float
    equivalence_ci_high: float
    t_statistic: float
    p_value_t: float
    n_wilcoxon: int
    wilcoxon_statistic: float
    p_value_wilcoxon: float
    p_value_tost_lower: float
    p_value_tost_upper: float
    p_value_tost: float
    within_margin: bool
    verdict: str
    margin: float
    confidence: float
    alpha: float


def _differences(values: Iterable[float]) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"differences must be a sequence of numbers, got {type(values).__name__} ({values!r})")
    try:
        arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"differences must be a sequence of real numbers; {err}") from None
    if arr.ndim != 1:
        raise ValueError(f"differences must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("differences must contain at least one value, got an empty sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"differences must contain only finite numbers, got {arr.tolist()}")
    return arr


def _wilcoxon(d: np.ndarray, alpha: float) -> tuple[int, float, float]:
    nz = d[d != 0]
    n_r = int(nz.size)
    if n_r == 0 or 2.0 * 0.5**n_r > alpha:  # even the most extreme ranking could not reach alpha
        return n_r, math.nan, math.nan
    ties = np.unique(np.abs(nz)).size < n_r
    if not ties:
        method: str | sps.PermutationMethod = "exact"
    elif n_r <= 13:
        method = sps.PermutationMethod(n_resamples=2**n_r)  # every sign assignment: exact and deterministic
    else:
        method = "asymptotic"
    res = sps.wilcoxon(nz, zero_method="wilcox", correction=False, alternative="two-sided", method=method)
    return n_r, float(res.statistic), float(res.pvalue)


def _verdict(mean: float, p_value: float, p_value_tost: float, *, alpha: float, higher_is_better: bool) -> str:
    if not math.isnan(p_value) and p_value < alpha and mean != 0:
        return "helps" if (mean > 0) == higher_is_better else "hurts"
    if not math.isnan(p_value_tost) and p_value_tost < alpha:
        return "equivalent"
    return "inconclusive"


def paired_test(differences: Iterable[float], *, margin: float, confidence: float = 0.95, alpha: float = 0.05,
                higher_is_better: bool = True) -> PairedResult:
    """Paired t-test, Wilcoxon signed-rank test, t interval and TOST equivalence test of per-pair
    differences ``condition - baseline`` (one value per seed; ``margin`` in the metric's units, > 0;
    ``confidence`` in (0, 1); ``alpha`` in (0, 0.5), as TOST's interval has level ``1 - 2 alpha``).

    Wilcoxon: two-sided, zeros discarded first (``zero_method="wilcox"``, Wilcoxon's original rule);
    the statistic is SciPy's ``min(W+, W-)``. Method: ``"exact"`` when the non-zero ``|d|`` have no
    ties, otherwise an exhaustive sign-flip permutation test (``scipy.stats.PermutationMethod``,
    exact given the ties) for up to 13 non-zero differences and the normal approximation with tie
    correction (no continuity correction) above. NaN when there are so few non-zero differences
    ``m`` that even the most extreme ranking could not reach ``alpha`` (``2 / 2**m > alpha``: fewer
    than 6 at ``alpha = 0.05``); a test that cannot reject is not reported as one.

    Zero variance (every difference the same value ``d``, compared exactly): the interval is
    ``[d, d]``; ``d == 0`` gives ``t = 0``, ``p_value_t = 1`` and (for any ``margin > 0``) TOST
    p = 0, so the verdict is "equivalent"; ``d != 0`` gives ``t = ±inf``, ``p_value_t = 0`` (a
    clear effect) and TOST p = 0 if ``|d| < margin`` else 1. ``n == 1``: only the mean is defined.
    """
    d = _differences(differences)
    margin = _check_margin(margin)
    confidence = _check_unit("confidence", confidence)
    alpha = check_float("alpha", alpha, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    higher_is_better = _check_bool("higher_is_better", higher_is_better)
    n = int(d.size)
    nan = math.nan
    if n < 2:
        return PairedResult(n, float(d[0]), nan, nan, nan, nan, nan, nan, nan, int(np.count_nonzero(d)), nan, nan,
                            nan, nan, nan, False, "inconclusive", margin, confidence, alpha)
    df = n - 1
    n_r, w_stat, p_w = _wilcoxon(d, alpha)
    if np.all(d == d[0]):
        mean, sd = float(d[0]), 0.0
        lo = hi = elo = ehi = mean
        t_stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p_t = 1.0 if mean == 0 else 0.0
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
    else:
        mean, sd = float(d.mean()), float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        half = float(sps.t.ppf(0.5 + confidence / 2.0, df)) * se
        ehalf = float(sps.t.ppf(1.0 - alpha, df)) * se
        lo, hi, elo, ehi = mean - half, mean + half, mean - ehalf, mean + ehalf
        t_stat = mean / se
        p_t = float(2.0 * sps.t.sf(abs(t_stat), df))
        p_lower = float(sps.t.sf((mean + margin) / se, df))
        p_upper = float(sps.t.cdf((mean - margin) / se, df))
    p_tost = max(p_lower, p_upper)
    verdict = _verdict(mean, p_t, p_tost, alpha=alpha, higher_is_better=higher_is_better)
    return PairedResult(n, mean, sd, lo, hi, elo, ehi, float(t_stat), p_t, n_r, w_stat, p_w, p_lower, p_upper, p_tost,
                        bool(p_tost < alpha), verdict, margin, confidence, alpha)


# ---------------------------------------------------------------------------------------------------
# the family: distinct conditions, Holm


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values in input order (``statistics.holm``: step-down, monotone, capped at 1;
    NaN entries stay NaN and do not count towards the family size)."""
    return holm(p_values)


@dataclass(frozen=True)
class Family:
    """The pre-registered family of one setting: ``tested`` are the distinct member conditions, each
    counted once by Holm; ``duplicates`` pairs each repeated condition with the earlier condition it
    equals on every pair; ``outside`` are conditions that are not members (e.g. ANN rows)."""

    conditions: tuple[Hashable, ...]
    tested: tuple[Hashable, ...]
    duplicates: tuple[tuple[Hashable, Hashable], ...]
    outside: tuple[Hashable, ...]

    @property
    def size(self) -> int:
        """How many distinct conditions the family holds."""
        return len(self.tested)

    def duplicate_of(self, condition: Hashable) -> Hashable | None:
        """The condition ``condition`` repeats, or None."""
        return dict(self.duplicates).get(condition)


def default_members(conditions: Iterable[Hashable], *, baseline: Hashable = "none") -> tuple[Hashable, ...]:
    """The conditions that name a registered, non-baseline dropout method (a key or ``<key>_<variant>``),
    in the given order: the default family. ANN rows and other values are not members."""
    out = []
    for c in conditions:
        key = _method_key(c)
        if c != baseline and key is not None and method_info(key).family != "baseline":
            out.append(c)
    return tuple(out)


def build_family(differences: pd.DataFrame, *, group: str = "method", pair: str = "seed",
                 members: Iterable[Hashable] | None = None, baseline: Hashable = "none") -> Family:
    """The family of one setting from a ``paired_differences`` frame (one ``by`` group): a condition
    whose values equal an earlier condition's exactly (``==`` of the float64 values) on the same set of
    pairs is a duplicate of it. Members (``default_members`` when None) are searched first, so the
    copy that stays is a member whenever one is; otherwise conditions keep the frame's order."""
    if not isinstance(differences, pd.DataFrame):
        raise TypeError(f"differences must be a pandas DataFrame, got {type(differences).__name__}")
    for name, col in (("group", group), ("pair", pair), ("differences", "value")):
        if col not in differences.columns:
            raise ValueError(f"{name}: column {col!r} is missing from differences (use paired_differences); "
                             f"columns: {', '.join(map(str, differences.columns))}")
    if differences.duplicated(subset=[group, pair]).any():
        raise ValueError(f"differences has repeated ({group}, {pair}) rows; pass one setting (one by group) at a time")
    conditions = tuple(dict.fromkeys(differences[group].tolist()))
    members = default_members(conditions, baseline=baseline) if members is None else tuple(members)
    member_set = set(members)
    series = {c: differences.loc[differences[group] == c].set_index(pair)["value"].sort_index() for c in conditions}
    order = [c for c in conditions if c in member_set] + [c for c in conditions if c not in member_set]
    originals: list[Hashable] = []
    duplicates = []
    for c in order:
        s = series[c]
        match = next((o for o in originals if series[o].index.equals(s.index)
                      and np.array_equal(series[o].to_numpy(), s.to_numpy())), None)
        if match is None:
            originals.append(c)
        else:
            duplicates.append((c, match))
    dup = {c for c, _ in duplicates}
    tested = tuple(c for c in conditions if c in member_set and c not in dup)
    outside = tuple(c for c in conditions if c not in member_set and c not in dup)
    return Family(conditions, tested, tuple(duplicates), outside)


# ---------------------------------------------------------------------------------------------------
# the table


def _row(result: PairedResult | None, n: int) -> dict[str, object]:
    nan = math.nan
    if result is None:
        return dict(n=n, mean_diff=nan, sd_diff=nan, ci_low=nan, ci_high=nan, equivalence_ci_low=nan,
                    equivalence_ci_high=nan, t_statistic=nan, p_value_t=nan, wilcoxon_statistic=nan,
                    p_value_wilcoxon=nan, p_value_tost=nan, within_margin=False)
    r = result
    return dict(n=r.n, mean_diff=r.mean, sd_diff=r.sd, ci_low=r.ci_low, ci_high=r.ci_high,
                equivalence_ci_low=r.equivalence_ci_low, equivalence_ci_high=r.equivalence_ci_high,
                t_statistic=r.t_statistic, p_value_t=r.p_value_t, wilcoxon_statistic=r.wilcoxon_statistic,
                p_value_wilcoxon=r.p_value_wilcoxon, p_value_tost=r.p_value_tost, within_margin=r.within_margin)


def compare_paired(frame: pd.DataFrame, *, metric: str, margin: float, baseline: Hashable = "none",
                   group: str = "method", pair: str = "seed", by: str | Iterable[str] = (),
                   family: Iterable[Hashable] | None = None, confidence: float = 0.95, alpha: float = 0.05,
                   higher_is_better: bool = True) -> pd.DataFrame:
    """The paired results table: one row per (``by``..., condition) with the paired test of
    ``metric(condition) - metric(baseline)`` over the shared pairs (seeds).

    Columns: the ``by`` columns, ``condition`` (the ``group`` value), ``label`` (the registry's label
    of a method key, else the value), ``baseline_label``, ``n``, ``mean_diff``, ``sd_diff``,
    ``ci_low``/``ci_high`` (t interval at ``confidence``), ``equivalence_ci_low``/``_high`` (the
    ``1 - 2 alpha`` interval), ``t_statistic``, ``p_value_t``, ``wilcoxon_statistic``,
    ``p_value_wilcoxon``, ``p_value_holm`` (Holm within each ``by`` group over the distinct family),
    ``family_size`` (how many tests Holm counted there), ``p_value_tost``, ``within_margin``,
    ``verdict``, ``duplicate_of`` (the repeated condition, or ""), and the settings ``margin``,
    ``confidence``, ``alpha``, ``higher_is_better`` (so the table states what it was computed with).

    ``family``: the pre-registered member conditions (default ``default_members``: every condition
    naming a registered non-baseline method). Verdicts: "helps"/"hurts" when the Holm-adjusted p is
    below ``alpha`` (direction from the sign of the mean and ``higher_is_better``), else "equivalent"
    when TOST rejects at ``alpha``, else "inconclusive"; "duplicate" for a condition equal to an
    earlier one on every pair (its test columns NaN: it is reported once, under the original);
    "not in family" for non-members (their tests are computed, not Holm-adjusted, not judged).
    ``margin`` is in the metric's units (0.002 is 0.2 pp of an accuracy in [0, 1]).
    """
    margin = _check_margin(margin)
    confidence = _check_unit("confidence", confidence)
    alpha = check_float("alpha", alpha, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    higher_is_better = _check_bool("higher_is_better", higher_is_better)
    by = _by_tuple(by)
    if family is not None:
        if isinstance(family, (str, bytes)) or not isinstance(family, Iterable):
            raise TypeError(f"family must be a collection of conditions (values of {group!r}), got {family!r}")
        family = tuple(family)
    diffs = paired_differences(frame, metric=metric, baseline=baseline, group=group, pair=pair, by=by)
    base_label = method_label(baseline)
    all_rows: list[dict[str, object]] = []
    settings = frame.groupby(list(by), sort=False, dropna=False) if by else [((), frame)]
    diff_groups = dict(list(diffs.groupby(list(by), sort=False, dropna=False))) if by else {(): diffs}
    for key, sub in settings:
        key = key if isinstance(key, tuple) else (key,)
        d_sub = diff_groups.get(key, diffs.iloc[:0])
        conds = [c for c in dict.fromkeys(sub[group].tolist()) if c != baseline]
        conds.sort(key=_registry_rank)  # stable: registry order, others in order of appearance
        members = default_members(conds, baseline=baseline) if family is None else family
        fam = build_family(d_sub, group=group, pair=pair, members=members, baseline=baseline)
        member_set = set(members)
        rows = {}
        for c in conds:
            values = d_sub.loc[d_sub[group] == c, "difference"].to_numpy()
            original = fam.duplicate_of(c)
            result = None
            if original is None and values.size:
                result = paired_test(values, margin=margin, confidence=confidence, alpha=alpha,
                                     higher_is_better=higher_is_better)
            row: dict[str, object] = dict(zip(by, key))
            row.update(condition=c, label=method_label(c), baseline_label=base_label)
            row.update(_row(result, int(values.size)))
            row["duplicate_of"] = "" if original is None else original
            row["in_family"] = c in member_set and original is None
            rows[c] = row
        tested = [c for c in conds if rows[c]["in_family"]]
        adjusted = holm_adjust([rows[c]["p_value_t"] for c in tested])
        size = int(np.count_nonzero(~np.isnan(adjusted)))
        for c in conds:
            row = rows[c]
            row["p_value_holm"] = float(adjusted[tested.index(c)]) if row.pop("in_family") else math.nan
            row["family_size"] = size
            if row["duplicate_of"] != "":
                row["verdict"] = "duplicate"
            elif c not in member_set:
                row["verdict"] = "not in family"
            else:
                row["verdict"] = _verdict(float(row["mean_diff"]), float(row["p_value_holm"]),
                                          float(row["p_value_tost"]), alpha=alpha, higher_is_better=higher_is_better)
            row.update(margin=margin, confidence=confidence, alpha=alpha, higher_is_better=higher_is_better)
            all_rows.append(row)
    return pd.DataFrame(all_rows, columns=[*by, *_TABLE])


# ---------------------------------------------------------------------------------------------------
# sentences


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"={p:.2g}"


def _adj(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.2g}"


def _num(value: float, decimals: int, *, signed: bool = True) -> str:
    """``value`` to ``decimals`` decimals, without a negative zero ("-0.00")."""
    value = round(value, decimals) + 0.0
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _sentence(r: pd.Series, table: pd.DataFrame, by: list[str], *, metric_label: str, u: str, unit_scale: float,
              pair_noun: str, decimals: int) -> str:
    """The sentence of one table row (see ``verdict_sentences``)."""
    label, base, n, verdict = str(r["label"]), str(r["baseline_label"]), int(r["n"]), str(r["verdict"])
    level = f"{float(r['confidence']) * 100:g}%"
    eq_level = f"{(1 - 2 * float(r['alpha'])) * 100:g}%"
    margin = float(r["margin"]) * unit_scale
    m = f"±{margin:g}{u}"
    keys = ("mean_diff", "ci_low", "ci_high", "equivalence_ci_low", "equivalence_ci_high")
    v = {k: float(r[k]) * unit_scale for k in keys}
    seeds = _plural(n, pair_noun)
    p_t = f"paired t p{_p(float(r['p_value_t']))}"
    holm_part = f"over {_plural(int(r['family_size']), 'method')}"
    ci = f"the {level} CI {_num(v['ci_low'], decimals)} to {_num(v['ci_high'], decimals)}{u}"
    eq_ci = f"{_num(v['equivalence_ci_low'], decimals)} to {_num(v['equivalence_ci_high'], decimals)}"
    lead = f"{label} vs {base} on {metric_label}: "
    if verdict == "duplicate":
        orig = _original(r, table, by)
        o = str(orig["label"].iloc[0]) if len(orig) else str(r["duplicate_of"])
        counted = len(orig) and orig["verdict"].iloc[0] != "not in family"
        return (f"{label} is identical to {o} on every {pair_noun} ({seeds}); it is reported once, under {o}"
                + (", and counts once in the Holm family." if counted else "."))
    if n < 2:
        judged = "not in the pre-registered family" if verdict == "not in family" else "inconclusive"
        return f"{lead}{judged}: {seeds} {'pairs' if n == 1 else 'pair'} with {base}, too few for a test."
    if verdict == "not in family":
        return (f"{lead}not in the pre-registered family, so not judged: "
                f"mean difference {_num(v['mean_diff'], decimals)}{u}, "
                f"{ci} ({p_t}; {seeds}).")
    if verdict in ("helps", "hurts"):
        up = v["mean_diff"] > 0
        lo, hi = (v["ci_low"], v["ci_high"]) if up else (-v["ci_high"], -v["ci_low"])
        wil = "" if math.isnan(float(r["p_value_wilcoxon"])) else f"; Wilcoxon p{_p(float(r['p_value_wilcoxon']))}"
        size = _num(abs(v["mean_diff"]), decimals, signed=False)
        text = (f"{label} {'raises' if up else 'lowers'} {metric_label} by {size}{u} ({level} CI "
                f"{_num(lo, decimals, signed=False)} to {_num(hi, decimals, signed=False)}; {p_t}, Holm-adjusted "
                f"{_adj(float(r['p_value_holm']))} {holm_part}{wil}; {seeds}).")
        if bool(r["within_margin"]):
            text += f" The {eq_level} interval {eq_ci}{u} lies within {m}, so the effect is smaller than the margin."
        return text
    if verdict == "equivalent":
        return (f"{label} is equivalent to {base} on {metric_label} within {m} (TOST p{_p(float(r['p_value_tost']))}; "
                f"mean difference {_num(v['mean_diff'], decimals)}{u}, {eq_level} CI {eq_ci}; {seeds}).")
    zero_in = v["ci_low"] <= 0 <= v["ci_high"]
    if zero_in and (v["ci_low"] < -margin or v["ci_high"] > margin):
        why = f"{ci} includes both effects larger than the margin ({m}) and no effect"
    elif zero_in:
        why = f"{ci} includes no effect, but the {eq_level} interval {eq_ci} reaches beyond the margin {m}"
    else:
        why = (f"{ci} excludes no effect, but the paired t-test is not significant after Holm's correction "
               f"{holm_part} (adjusted p={_adj(float(r['p_value_holm']))})")
    return f"{lead}inconclusive: {why} ({p_t}; {seeds})."


def _original(r: pd.Series, table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The row(s) of ``table`` that the duplicate row ``r`` repeats (same ``by`` values)."""
    same = table["condition"] == r["duplicate_of"]
    for b in by:
        same &= table[b] == r[b]
    return table.loc[same]


def verdict_sentences(table: pd.DataFrame, *, metric_label: str = "test accuracy", unit: str = "pp",
                      unit_scale: float = 100.0, decimals: int = 2, pair_noun: str = "seed",
                      by: Sequence[str] | None = None) -> list[str]:
    """One sentence per row of a ``compare_paired`` table, every number read from the table:
    the direction and size of an effect with its interval and p-values, an equivalence with its
    margin and TOST p, the interval that leaves a comparison inconclusive, a duplicate and what it
    repeats. ``unit_scale`` converts the metric to ``unit`` (100: an accuracy in [0, 1] to pp),
    shown with ``decimals`` decimals; ``pair_noun`` names the pairing unit; ``by`` (default: the
    columns before ``condition``) prefixes each sentence with its setting (the value alone for one
    column, ``name=value`` pairs for several)."""
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in _TABLE):
        missing = [] if not isinstance(table, pd.DataFrame) else [c for c in _TABLE if c not in table.columns]
        raise ValueError(f"table must be a DataFrame returned by compare_paired; missing columns: {missing or 'all'}")
    unit_scale = check_float("unit_scale", unit_scale, low=0.0, low_inclusive=False)
    decimals = check_int("decimals", decimals, minimum=0)
    cols = list(table.columns)
    by = cols[:cols.index("condition")] if by is None else list(by)
    u = f" {unit}" if unit else ""
    sentences = []
    for _, r in table.iterrows():
        prefix = str(r[by[0]]) if len(by) == 1 else ", ".join(f"{b}={r[b]}" for b in by)
        text = _cap(_sentence(r, table, by, metric_label=metric_label, u=u, unit_scale=unit_scale, pair_noun=pair_noun,
                                decimals=decimals))
        sentences.append(f"{prefix}: {text}" if prefix else text)
    return sentences


# ---------------------------------------------------------------------------------------------------
# the table a reader sees


def _basis(r: pd.Series, table: pd.DataFrame, by: list[str], *, u: str, unit_scale: float, decimals: int,
           pair_noun: str) -> str:
    """Why a row has its verdict, in a few words (see ``verdict_table``)."""
    verdict, n = str(r["verdict"]), int(r["n"])
    alpha = float(r["alpha"])
    if verdict == "duplicate":
        orig = _original(r, table, by)
        o = str(orig["label"].iloc[0]) if len(orig) else str(r["duplicate_of"])
        return f"identical to {o} on every {pair_noun}: reported once"
    if n < 2:
        return f"{_plural(n, pair_noun)}: too few for a test"
    if verdict == "not in family":
        return "not in the pre-registered family: tested, not judged"
    level = f"{float(r['confidence']) * 100:g}%"
    eq_level = f"{(1 - 2 * alpha) * 100:g}%"
    margin = f"±{_num(float(r['margin']) * unit_scale, decimals, signed=False)}{u}"
    p_holm = float(r["p_value_holm"])
    holm = (f"Holm-adjusted p={_adj(p_holm)} {'<' if p_holm < alpha else '≥'} {alpha:g} "
            f"({_plural(int(r['family_size']), 'method')})")
    within = bool(r["within_margin"])
    tost = f"TOST p{_p(float(r['p_value_tost']))}: {eq_level} CI {'inside' if within else 'not inside'} {margin}"
    excludes_zero = not float(r["ci_low"]) <= 0 <= float(r["ci_high"])
    if verdict in ("helps", "hurts"):
        return holm + (f"; {tost}, smaller than the margin" if within else "")
    if verdict == "equivalent":
        return tost + (f"; the {level} CI excludes 0 (uncorrected), {holm}" if excludes_zero else "")
    # inconclusive: name the test that failed; an uncorrected interval that excludes 0 is explained by Holm
    if excludes_zero:
        return f"{level} CI excludes 0 (uncorrected), but {holm}; {tost}"
    return f"{level} CI includes 0; {tost}"


def verdict_table(table: pd.DataFrame, *, metric_label: str = "test accuracy", unit: str = "pp",
                  unit_scale: float = 100.0, decimals: int = 2, pair_noun: str = "seed",
                  by: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``compare_paired`` table as a reader sees it, one row per condition: its setting (the
    ``by`` columns, default those before ``condition``), ``method`` (the label), the number of
    ``pair_noun``s, the mean difference and its confidence interval in ``unit`` (``unit_scale`` =
    100: an accuracy difference in percentage points, never "%"), the p-values (paired t, Wilcoxon,
    Holm-adjusted t, TOST), the verdict under a column name that says what decides it (the
    Holm-corrected paired t-test at ``alpha``, then TOST against the margin) and ``basis``: why this
    row has its verdict, so that an uncorrected interval that excludes 0 next to "inconclusive" is
    explained (Holm's correction did not reject) instead of contradicting it.

    The verdict values are ``compare_paired``'s own. The margin is in the verdict column's name when
    one margin applies to the whole table, otherwise in a ``margin`` column."""
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in _TABLE):
        missing = [] if not isinstance(table, pd.DataFrame) else [c for c in _TABLE if c not in table.columns]
        raise ValueError(f"table must be a DataFrame returned by compare_paired; missing columns: {missing or 'all'}")
    unit_scale = check_float("unit_scale", unit_scale, low=0.0, low_inclusive=False)
    decimals = check_int("decimals", decimals, minimum=0)
    if not isinstance(metric_label, str) or not isinstance(unit, str) or not isinstance(pair_noun, str):
        raise TypeError(f"metric_label, unit and pair_noun must be strings, got {metric_label!r}, {unit!r}, {pair_noun!r}")
    cols = list(table.columns)
    by = cols[:cols.index("condition")] if by is None else list(by)
    u = f" {unit}" if unit else ""
    paren = f" ({unit})" if unit else ""
    levels = {f"{c * 100:g}%" for c in table["confidence"].astype(float)}
    level = levels.pop() if len(levels) == 1 else "confidence"
    alphas = sorted({float(a) for a in table["alpha"]})
    margins = sorted({float(m) for m in table["margin"]})
    alpha_text = f"α={alphas[0]:g}" if len(alphas) == 1 else "α per row"
    margin_text = (f"±{_num(margins[0] * unit_scale, decimals, signed=False)}{u}" if len(margins) == 1
                   else "±margin")
    verdict_col = f"verdict (Holm-corrected paired t, {alpha_text}; else TOST {margin_text})"

    def scaled(col: str) -> pd.Series:
        return (table[col].astype(float) * unit_scale).round(decimals)

    def ci(r: pd.Series) -> str:
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        if math.isnan(lo) or math.isnan(hi):
            return ""
        return f"{_num(lo * unit_scale, decimals)} to {_num(hi * unit_scale, decimals)}"

    out = pd.DataFrame({b: table[b] for b in by})
    out["method"] = table["label"].astype(str)
    out[f"{pair_noun}s"] = table["n"].astype(int)
    out[f"Δ {metric_label}{paren}"] = scaled("mean_diff")
    out[f"{level} CI{paren}"] = [ci(r) for _, r in table.iterrows()]
    if len(margins) > 1:
        out[f"margin{paren}"] = scaled("margin")
    out["p (paired t)"] = table["p_value_t"].astype(float)
    out["p (Wilcoxon)"] = table["p_value_wilcoxon"].astype(float)
    out["p (Holm)"] = table["p_value_holm"].astype(float)
    out["p (TOST)"] = table["p_value_tost"].astype(float)
    out[verdict_col] = table["verdict"].astype(str)
    out["basis"] = [_basis(r, table, by, u=u, unit_scale=unit_scale, decimals=decimals, pair_noun=pair_noun)
                    for _, r in table.iterrows()]
    return out.reset_index(drop=True)

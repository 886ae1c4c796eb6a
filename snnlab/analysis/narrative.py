"""Sentences of the notebooks' conclusions, built from the numbers they report.

Why a module: a conclusion cell must never state a result as fixed text. Every claim here is chosen
by a comparison of the numbers passed in (a share above one half, an interval above 0, a count of
methods), and the numbers themselves are printed next to it, so changing the data changes the
sentence (tested). The criteria are stated in the sentences; where a number cannot carry a claim
(one seed: no interval) the sentence says so instead of judging.

* ``classic_dropout_conclusion``: notebook 02 (where classic masks land, what they hand on, what
  the next layer feels).
* ``paper_table_remarks``: the paper's Table 2 as printed, read against the neuron IDs.
* ``own_table_remarks`` and ``importance_conclusion``: notebook 05 (this study's table under its
  assumed ranking; rank stability with intervals; ablation).

Each function returns a list of markdown strings (paragraphs or bullet lines); the notebook joins them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from snnlab.analysis.importance import check_id_list
from snnlab.validation import check_float, check_frame, check_int

# ---------------------------------------------------------------------------------------------- helpers


def _f(x: float, spec: str) -> str:
    """``x`` formatted with ``spec``; "n/a" for NaN; no negative zero."""
    x = float(x)
    if math.isnan(x):
        return "n/a"
    text = format(x + 0.0, spec)
    if text.startswith("-") and not any(ch in "123456789" for ch in text.split("e")[0]):
        text = ("+" if spec.startswith("+") else "") + text[1:]
    return text


def _names(items: Iterable[str]) -> str:
    """``a``, ``b`` and ``c`` (code-formatted names)."""
    items = [f"`{i}`" for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ci(low: float, high: float, confidence: float, spec: str = ".2f") -> str:
    return f"{confidence:.0%} CI {_f(low, spec)} to {_f(high, spec)}"


def _rows(name: str, frame: pd.DataFrame, method: str, p: float) -> pd.Series:
    """The row of ``frame`` for ``method`` at rate ``p`` (p compared with a tolerance)."""
    hit = frame[(frame["method"] == method) & np.isclose(frame["p"].astype(float), p)]
    if hit.empty:
        raise ValueError(f"{name} has no row for method={method!r} at p={p}; methods: {sorted(set(frame['method']))}")
    return hit.iloc[0]


def _duplicates(frames: Sequence[pd.DataFrame], methods: Sequence[str]) -> dict[str, str]:
    """Methods whose rows equal an earlier method's in every frame (all numeric columns, every p)."""
    def signature(m: str) -> tuple:
        parts = []
        for f in frames:
            rows = f[f["method"] == m].drop(columns="method").select_dtypes("number")
            parts.append(tuple(map(tuple, np.round(rows.to_numpy(dtype=float), 12))))
        return tuple(parts)

    sigs = {m: signature(m) for m in methods}
    out: dict[str, str] = {}
    for j, m in enumerate(methods):
        for earlier in methods[:j]:
            if earlier not in out and sigs[m] == sigs[earlier]:
                out[m] = earlier
                break
    return out


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def _check_p(p: float) -> float:
    return check_float("p", p, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


# ------------------------------------------------------------------------------------------ notebook 02


def _is_binary(row: pd.Series) -> bool:
    """The values handed on are only 0 and 1 (two or fewer distinct values, both in {0, 1})."""
    return int(row["distinct_values"]) <= 2 and float(row["min"]) in (0.0, 1.0) and float(row["max"]) in (0.0, 1.0)


def _sparsity_paragraph(sp: pd.Series, layer: str) -> str:
    steps, silent = float(sp["silent_steps"]), float(sp["silent_neurons"])
    sparse = steps > 0.5
    return (f"**`{layer}` of the trained SNN is {'sparse' if sparse else 'not sparse'}**: {_f(steps, '.1%')} of its "
            f"(neuron, step) pairs carry no spike ({'more' if sparse else 'not more'} than half), and in "
            f"{_f(silent, '.1%')} of the (sample, neuron) pairs the neuron is silent for the whole window "
            f"(firing rate {_f(float(sp['firing_rate']), '.3f')} spikes per neuron and step).")


def _span(values: Iterable[float]) -> str:
    """The range of shares ("80%" or "40%–80%"), one number when they agree at the precision shown."""
    values = list(values)
    lo, hi = _f(min(values), ".0%"), _f(max(values), ".0%")
    return lo if lo == hi else f"{lo}–{hi}"


def _masks_paragraph(masks: pd.DataFrame, *, p: float, classic: list[str], per_step: str, spikes_per_sample: float,
                     dups: Mapping[str, str]) -> str:
    on_silent = {m: float(_rows("masks", masks, m, p)["silent_fraction"]) for m in classic}
    most = [m for m, v in on_silent.items() if v > 0.5]
    if len(most) == len(classic):
        lead = "Most of every classic mask lands on silent neurons"
    elif not most:
        lead = "Most of every classic mask lands on neurons that fire"
    else:
        lead = (f"Most of the masks of {len(most)} of the {len(classic)} classic methods ({_names(most)}) "
                "land on silent neurons")
    removed = float(_rows("masks", masks, per_step, p)["spikes_removed"])
    text = (f"**{lead}**: at p = {p:g}, {_span(on_silent.values())} of the dropped (sample, neuron) pairs fall on "
            f"neurons that were silent over the whole window, and those drops remove no spike. `{per_step}` removes "
            f"{_f(removed, '.1%')} of the spikes at a nominal rate of {p:.0%}, about "
            f"{_f(removed * spikes_per_sample, '.1f')} of the {_f(spikes_per_sample, '.1f')} spikes a sample carries.")
    if dups:
        pairs = [f"`{d}` as `{o}`" for d, o in dups.items()]
        text += f" {pairs[0].replace(' as ', ' gave the same numbers as ', 1)}"
        text += (" and " + ", ".join(pairs[1:]) if len(pairs) > 1 else "") + " in every table above."
    return text


def _values_paragraph(val: pd.DataFrame, *, p: float, classic: list[str], dups: Mapping[str, str]) -> str:
    not_spikes = [m for m in classic if not _is_binary(val.loc[m])]
    if len(not_spikes) == len(classic):
        lead = f"None of the {len(classic)} classic methods hands on spikes at p = {p:g}"
    elif not not_spikes:
        lead = f"Every classic method hands on spikes (only 0 and 1) at p = {p:g}"
    else:
        lead = f"{len(not_spikes)} of the {len(classic)} classic methods hand on values other than 0 and 1 at p = {p:g}"
    details = []
    for m in (m for m in not_spikes if m not in dups):
        r = val.loc[m]
        who = _names([m] + [d for d, o in dups.items() if o == m])
        if float(r["share_negative"]) > 0:
            details.append(f"{who}: {int(r['distinct_values'])} distinct values between {_f(r['min'], '.2f')} and "
                           f"{_f(r['max'], '.2f')}, {_f(r['share_negative'], '.0%')} of the entries negative, and "
                           f"{_f(r['share_nonzero_where_silent'], '.0%')} of the silent entries made non-zero")
        else:
            details.append(f"{who}: {int(r['distinct_values'])} distinct values from {_f(r['min'], '.2f')} to "
                           f"{_f(r['max'], '.2f')} (1/(1−p) = {_f(1 / (1 - p), '.2f')} at this rate)")
    return f"**{lead}**" + (": " + "; ".join(details) + "." if details else ".")


def _relation(a: float, b: float) -> str:
    """How ``a`` compares with ``b`` at the precision shown (0.1%)."""
    ra, rb = round(a * 1000), round(b * 1000)
    return "less than" if ra < rb else ("more than" if ra > rb else "as much as")


def _next_layer_paragraph(effects: pd.DataFrame, *, p: float, classic: list[str], per_step: str, consistent: str,
                          next_layer: str, dups: Mapping[str, str]) -> str:
    def mem(m: str, q: float) -> float:
        return float(_rows("effects", effects, m, q)["membrane_change"])

    def has(m: str, q: float) -> bool:
        return not effects[(effects["method"] == m) & np.isclose(effects["p"].astype(float), q)].empty

    a, b = mem(per_step, p), mem(consistent, p)
    text = (f"**At p = {p:g}, a per-step `{per_step}` mask moves `{next_layer}`'s membrane potential "
            f"{_relation(a, b)} a time-consistent `{consistent}` mask**: by {_f(a, '.1%')} against {_f(b, '.1%')} "
            "on average")
    rates = sorted({float(q) for q in effects["p"] if has(per_step, q) and has(consistent, q)})
    if len(rates) > 1:
        found = [_relation(mem(per_step, q), mem(consistent, q)) for q in rates]
        parts = [f"{word} at {'all ' if found.count(rel) == len(rates) else ''}{found.count(rel)}"
                 for rel, word in (("less than", "less"), ("more than", "more"), ("as much as", "as much"))
                 if found.count(rel)]
        listed = ", ".join(f"{q:g}" for q in rates[:-1]) + f" and {rates[-1]:g}"
        text += f"; across the {len(rates)} rates p = {listed} it moves it " + " and ".join(parts)
    text += "."
    rate = {m: float(_rows("effects", effects, m, p)["rate_change"]) for m in classic}
    finite = {m: v for m, v in rate.items() if not math.isnan(v) and m not in dups}
    if not finite:
        return text + (f" `{next_layer}` fires no spike on the probe batch without dropout, so the relative change "
                       "of its firing rate is undefined.")
    top = max(finite, key=lambda m: abs(finite[m]))
    group = [top] + [d for d, o in dups.items() if o == top]
    text += (f" Among the classic methods, {_names(group)} change{'s' if len(group) == 1 else ''} "
             f"`{next_layer}`'s firing rate most: by {_f(finite[top], '+.0%')}")
    return text + (f" (`{per_step}`: {_f(rate[per_step], '+.0%')})." if per_step not in group else ".")


def classic_dropout_conclusion(
    sparsity: pd.DataFrame,
    masks: pd.DataFrame,
    values: pd.DataFrame,
    effects: pd.DataFrame,
    *,
    p: float,
    spikes_per_sample: float,
    classic: Sequence[str],
    per_step: str = "standard",
    consistent: str = "temporal",
    layer: str = "hidden1",
    next_layer: str = "hidden2",
) -> list[str]:
    """The paragraphs of notebook 02's conclusion, every claim chosen by the numbers.

    ``sparsity``: one row per layer (``layer, silent_steps, silent_neurons, firing_rate``);
    ``masks``: ``dropout_stats_over`` rows (``method, p, silent_fraction, spikes_removed``) for the
    ``classic`` methods and ``consistent``; ``values``: the values each classic method hands on at
    rate ``p`` (``method, distinct_values, min, max, share_negative, share_nonzero_where_silent``);
    ``effects``: the change of ``next_layer`` (``method, p, membrane_change, rate_change``, relative to
    the pass without dropout); ``spikes_per_sample``: ``layer``'s spikes per sample without dropout.

    Criteria: a layer is called sparse when more than half of its (neuron, step) pairs carry no
    spike; "most of a mask lands on silent neurons" when more than half of its dropped (sample,
    neuron) pairs were silent; a method "hands on spikes" when its outputs are only 0 and 1; two
    membrane changes are compared at the precision shown (0.1%). Methods with the same numbers in
    every table (``dropout2d`` and ``standard`` on an MLP) are named together, once.
    """
    p = _check_p(p)
    spikes_per_sample = check_float("spikes_per_sample", spikes_per_sample, low=0.0)
    classic = list(classic)
    if not classic or not all(isinstance(m, str) for m in classic):
        raise ValueError(f"classic must be a non-empty sequence of method names, got {classic!r}")
    check_frame("sparsity", sparsity, ["layer", "silent_steps", "silent_neurons", "firing_rate"], allow_empty=True)
    check_frame("masks", masks, ["method", "p", "silent_fraction", "spikes_removed"], allow_empty=True)
    check_frame("values", values, ["method", "distinct_values", "min", "max", "share_negative", "share_nonzero_where_silent"], allow_empty=True)
    check_frame("effects", effects, ["method", "p", "membrane_change", "rate_change"], allow_empty=True)
    if per_step not in classic:
        raise ValueError(f"per_step={per_step!r} must be one of the classic methods {classic}")
    hit = sparsity[sparsity["layer"] == layer]
    if hit.empty:
        raise ValueError(f"layer={layer!r} is not a row of sparsity; layers: {list(sparsity['layer'])}")
    val = values.set_index("method")
    missing = [m for m in classic if m not in val.index]
    if missing:
        raise ValueError(f"values has no row for the classic method(s) {missing}")
    dups = _duplicates([masks, values, effects], classic)
    on_silent = [float(_rows("masks", masks, m, p)["silent_fraction"]) for m in classic]
    not_spikes = sum(not _is_binary(val.loc[m]) for m in classic)
    negative = [m for m in classic if float(val.loc[m]["share_negative"]) > 0]
    how_many = (f"all {len(classic)} classic methods hand" if not_spikes == len(classic) else
                f"none of the {len(classic)} classic methods hands" if not not_spikes else
                f"{not_spikes} of the {len(classic)} classic methods hand")
    summary = (f"In short, at p = {p:g} the classic masks spend {_span(on_silent)} of their drops on silent neurons, "
               f"and {how_many} on values that are not spikes"
               + (f" ({_names(negative)} negative ones among them)" if negative else "")
               + "; whether masks that respect time, membrane potential and activity regularise better is measured "
               "in notebooks 03 and 04.")
    return [
        _sparsity_paragraph(hit.iloc[0], layer),
        _masks_paragraph(masks, p=p, classic=classic, per_step=per_step, spikes_per_sample=spikes_per_sample, dups=dups),
        _values_paragraph(val, p=p, classic=classic, dups=dups),
        _next_layer_paragraph(effects, p=p, classic=classic, per_step=per_step, consistent=consistent,
                              next_layer=next_layer, dups=dups),
        summary,
    ]


# ------------------------------------------------------------------------------------------ notebook 05


def _ids_text(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


def paper_table_remarks(table: pd.DataFrame, *, unlikely: float = 1e-3) -> list[str]:
    """What the paper's Table 2 (``importance.paper_table2()``: one row per printed list) says about
    itself, computed from the IDs: the smallest layer the IDs allow, which list is exactly the first
    k IDs and how likely that is for a ranking unrelated to the IDs (``1 / C(n, k)``), and the
    overlap of the lists against chance. A list whose chance is below ``unlikely`` is said *possibly*
    not to be a ranking at all; the paper does not let us settle it."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise TypeError("table must be a non-empty DataFrame of neuron IDs (one row per list), "
                        f"got {type(table).__name__}")
    unlikely = check_float("unlikely", unlikely, low=0.0, high=1.0, low_inclusive=False)
    lists = {str(name): [int(i) for i in row.tolist()] for name, row in table.iterrows()}
    n = max(max(ids) for ids in lists.values()) + 1
    checks = {name: check_id_list(ids, n=n) for name, ids in lists.items()}
    k = len(next(iter(lists.values())))
    out = [f"The largest ID printed is {n - 1}, so the hidden layer has at least n = {n} neurons (the paper does not "
           f"state its size); the chance figures below use n = {n}, and for a larger layer they are smaller still."]
    for name, c in checks.items():
        if c.is_first_ids:
            text = (f"The “{name}” list ({_ids_text(c.ids)}) is a permutation of the first {c.k} neuron IDs, "
                    f"0–{c.k - 1}")
            tail = c.ascending_tail
            if tail >= 3:
                text += f", and its last {tail} entries ({_ids_text(c.ids[-tail:])}) are in increasing ID order"
            text += (f". If the ranking were unrelated to the IDs (every set of {c.k} of the n ≥ {n} neurons equally "
                     f"likely on top), its top-{c.k} would be exactly IDs 0–{c.k - 1} with probability "
                     f"1/C(n, {c.k}) ≤ 1/C({n}, {c.k}) = {c.chance_first_ids:.1e}.")
            if c.chance_first_ids < unlikely:
                text += (" So this list may not be a ranking of trained weights at all: it could be the neurons in their "
                         "initial (index) order, an order only partly sorted, or a sort among the first "
                         f"{c.k} neurons only. The paper does not say, so this remains a possibility, not a finding.")
        else:
            others = [i for i in c.ids if i >= c.k]
            text = (f"The “{name}” list ({_ids_text(c.ids)}) contains {c.first_ids} of the IDs 0–{c.k - 1} "
                    f"(a ranking unrelated to the IDs would contain {_f(c.expected_first_ids, '.2f')} on average)")
            text += f"; its other {len(others)} IDs lie between {min(others)} and {max(others)}." if others else "."
        out.append(text)
    if len(lists) == 2:
        a, b = lists.values()
        shared = sorted(set(a) & set(b))
        text = (f"The two lists share {len(shared)} ID{'s' if len(shared) != 1 else ''}"
                + (f" ({_ids_text(shared)})" if shared else "")
                + f": a top-{k} overlap of {len(shared) / k:.1f}, against ≤ {k / n:.3f} expected for two unrelated "
                f"rankings of n ≥ {n} neurons.")
        doubtful = [nm for nm, c in checks.items() if c.is_first_ids and c.chance_first_ids < unlikely]
        if doubtful:
            text += (f" If the “{doubtful[0]}” list is not a ranking, this overlap need not measure how much dropout "
                     "changed the ranking.")
        out.append(text)
    return out


def own_table_remarks(
    ids: pd.DataFrame,
    *,
    n: int,
    baseline: str = "none",
    reference_ids: Iterable[int] | None = None,
    reference_name: str = "the paper's “Without dropout” list",
) -> list[str]:
    """Sentences on this study's top-k table (``importance.top_ids_table``: rows = conditions): the
    overlap of every row's top-k with ``baseline``'s against chance ``k / n``, and how many of the
    first k IDs ``baseline``'s top-k holds against the ``k * k / n`` of a ranking unrelated to the
    IDs (with ``reference_ids``, e.g. the paper's list, for comparison)."""
    if not isinstance(ids, pd.DataFrame) or ids.empty:
        raise TypeError("ids must be a non-empty DataFrame of top-k neuron IDs (rows = conditions), "
                        f"got {type(ids).__name__}")
    n = check_int("n", n, minimum=1)
    if baseline not in ids.index:
        raise ValueError(f"baseline={baseline!r} is not a row of ids; rows: {list(ids.index)}")
    k = ids.shape[1]
    base = [int(i) for i in ids.loc[baseline].tolist()]
    overlaps = {str(label): len(set(base) & {int(i) for i in row.tolist()}) / k
                for label, row in ids.iterrows() if label != baseline}
    out = []
    if overlaps:
        out.append(f"Overlap of each top-{k} with the `{baseline}` top-{k} (chance {k / n:.2f} for n = {n}): "
                   + ", ".join(f"`{label}` {v:.1f}" for label, v in overlaps.items()) + ".")
    c = check_id_list(base, n=n)
    text = (f"The `{baseline}` top-{k} contains {c.first_ids} of the first {k} IDs 0–{k - 1} "
            f"({_f(c.expected_first_ids, '.2f')} expected for a ranking unrelated to the IDs)")
    if reference_ids is not None:
        ref = check_id_list(list(reference_ids), n=max(n, max(int(i) for i in reference_ids) + 1))
        text += f"; {reference_name} contains {ref.first_ids} of them"
    out.append(text + ".")
    return out


def _judge_tau(low: float, high: float) -> str:
    """Where a tau interval lies against 0, the tau of unrelated rankings: "above", "below" or "includes"."""
    if math.isnan(low) or math.isnan(high):
        return "none"
    return "above" if low > 0 else ("below" if high < 0 else "includes")


def _count(m: int, unit: str) -> str:
    return f"{m} {unit}{'s' if m != 1 else ''}"


def _init_line(r: pd.Series) -> str:
    """Each model against its own initialisation (a row of ``stability_intervals``)."""
    text = f"- Each trained model against its own initialisation: τ = {_f(r['tau_mean'], '.2f')}"
    judged = _judge_tau(float(r["tau_ci_low"]), float(r["tau_ci_high"]))
    if judged == "none":
        return text + f" ({_count(int(r['n']), 'seed')}: no interval, so no judgement)."
    text += f" ({_ci(r['tau_ci_low'], r['tau_ci_high'], float(r['confidence']))} over {_count(int(r['n']), 'seed')}); "
    return text + {
        "above": "the interval lies above 0, the τ of unrelated rankings: training keeps part of the initial order.",
        "below": "the interval lies below 0: training reverses part of the initial order.",
        "includes": "the interval includes 0, the τ of unrelated rankings: no trace of the initial order is measurable.",
    }[judged]


def _method_lines(methods: pd.DataFrame, *, k: int, n: int) -> list[str]:
    """Each distinct method against the base network of the same seed (rows of ``importance_shift``)."""
    conf = float(methods["confidence"].iloc[0])
    groups: dict[str, list[str]] = {"above": [], "includes": [], "below": [], "none": []}
    for _, r in methods.iterrows():
        groups[_judge_tau(float(r["tau_ci_low"]), float(r["tau_ci_high"]))].append(str(r["label"]))
    lines = []
    if len(groups["none"]) == len(methods):
        lo, hi = methods.loc[methods["tau_mean"].idxmin()], methods.loc[methods["tau_mean"].idxmax()]
        lines.append(f"- Against the base SNN of the same seed and initialisation, τ ranges from "
                     f"{_f(lo['tau_mean'], '.2f')} (`{lo['label']}`) to {_f(hi['tau_mean'], '.2f')} (`{hi['label']}`); "
                     f"with {_count(int(methods['seeds'].max()), 'seed')} there is no interval, so no method is judged.")
    else:
        above, includes, below, none = (groups[g] for g in ("above", "includes", "below", "none"))
        text = (f"- Against the base SNN of the same seed and initialisation ({conf:.0%} intervals over seeds, one per "
                f"method, not corrected for multiplicity): {len(above)} of {len(methods)} methods keep a ranking "
                "measurably closer to the base's than unrelated rankings (τ interval above 0"
                + (f": {_names(above)}" if above else "") + ")")
        if includes:
            detail = "; ".join(
                f"`{r['label']}` τ = {_f(r['tau_mean'], '.2f')}, {_ci(r['tau_ci_low'], r['tau_ci_high'], conf)}"
                for _, r in methods[methods["label"].isin(includes)].iterrows())
            text += f"; {len(includes)} {_be(len(includes))} not distinguishable from unrelated rankings ({detail})"
        if below:
            text += f"; {len(below)} reverse{'s' if len(below) == 1 else ''} it measurably ({_names(below)})"
        if none:
            text += f"; {len(none)} cannot be judged (one seed: {_names(none)})"
        lines.append(text + ".")
    low = methods.loc[methods["tau_mean"].idxmin()]
    has_ci = not math.isnan(float(low["tau_ci_low"]))
    lines.append(
        f"- The lowest mean τ against the base SNN is `{low['label']}`'s: {_f(low['tau_mean'], '.2f')}"
        + (f" ({_ci(low['tau_ci_low'], low['tau_ci_high'], conf)})" if has_ci else "")
        + f", top-{k} overlap {_f(low['overlap_mean'], '.2f')} (chance {k / n:.2f}); its total outgoing weight norm "
        f"is {_f(low['norm_ratio_mean'], '.2f')}× the base's"
        + (f" ({_ci(low['norm_ratio_ci_low'], low['norm_ratio_ci_high'], conf)})" if has_ci else "") + ".")
    ratio = methods[["norm_ratio_ci_low", "norm_ratio_ci_high"]].astype(float)
    judged = ratio.notna().all(axis=1)
    if judged.any():
        changed = methods.loc[judged & ((ratio["norm_ratio_ci_low"] > 1) | (ratio["norm_ratio_ci_high"] < 1)), "label"]
        lines.append(f"- How much rather than which: {len(changed)} of {int(judged.sum())} methods change the total "
                     "outgoing weight norm measurably (ratio interval excluding 1"
                     + (f": {_names(changed.tolist())}" if len(changed) else "") + ").")
    return lines


def _seeds_line(r: pd.Series, *, k: int) -> str:
    """The same condition across seeds (the ``"across seeds"`` row of ``stability_intervals``)."""
    pairs = _count(int(r["n"]), "disjoint seed pair")
    judged = _judge_tau(float(r["tau_ci_low"]), float(r["tau_ci_high"]))
    return ("- Models of different seeds (different initialisations: neuron IDs do not correspond) give "
            f"τ = {_f(r['tau_mean'], '.2f')}"
            + (f" ({pairs}: no interval)" if judged == "none" else
               f" ({_ci(r['tau_ci_low'], r['tau_ci_high'], float(r['confidence']))} over {pairs})")
            + f" against 0 for unrelated rankings, and a top-{k} overlap of {_f(r['overlap_mean'], '.2f')} against "
            f"chance {_f(r['chance'], '.2f')}.")


def _paper_line(methods: pd.DataFrame, across: pd.Series | None, *, k: int, paper_overlap: float) -> str:
    """The paper's overlap between its two lists against this study's overlaps."""
    ov = methods["overlap_mean"].astype(float)
    lo, hi = methods.loc[ov.idxmin()], methods.loc[ov.idxmax()]
    as_far = int((ov <= paper_overlap + 1e-12).sum())
    text = (f"- The paper's two lists share {paper_overlap:.1f} of their top-{k}; here a method and the base SNN of the "
            f"same initialisation share {_f(ov.mean(), '.2f')} on average (from {_f(lo['overlap_mean'], '.2f')} for "
            f"`{lo['label']}` to {_f(hi['overlap_mean'], '.2f')} for `{hi['label']}`)")
    if across is not None:
        text += f", models of different initialisations {_f(across['overlap_mean'], '.2f')}"
    return text + (f"; {as_far} of {len(methods)} methods have a top-{k} as far from the base's as the paper's lists are "
                   f"from each other (mean overlap ≤ {paper_overlap:.1f}).")


def _ablation_line(abl: pd.DataFrame, *, baseline: str, alpha: float) -> str:
    """The assumed ranking against ablation importance (rows of the ablation table, by label)."""
    r = abl.loc[baseline]
    tau, pv = float(r["tau"]), float(r["p_value"])
    p_text = "p n/a" if math.isnan(pv) else ("p < 0.001" if pv < 0.001 else f"p = {pv:.2g}")
    if not math.isnan(pv) and pv < alpha:
        verdict = (f"the weight ranking is measurably {'associated' if tau > 0 else 'inversely associated'} with what "
                   f"silencing a neuron costs (p < {alpha:g})")
    else:
        verdict = f"no association with what silencing a neuron costs is measurable (p ≥ {alpha:g})"
    significant = int((abl["p_value"].astype(float) < alpha).sum())
    return (f"- Outgoing weight norm (this study's assumed ranking) against ablation importance, first seed, "
            f"{int(r['neurons'])} neurons: τ = {_f(tau, '.2f')} for the base SNN (Kendall test {p_text}), from "
            f"{_f(abl['tau'].min(), '.2f')} to {_f(abl['tau'].max(), '.2f')} over the conditions; for the base SNN "
            f"{verdict}, and p < {alpha:g} for {significant} of {len(abl)} conditions.")


def importance_conclusion(
    intervals: pd.DataFrame,
    shift: pd.DataFrame,
    ablation: pd.DataFrame,
    *,
    k: int,
    n: int,
    paper_overlap: float,
    duplicates: Mapping[str, str] | None = None,
    baseline: str = "none",
    alpha: float = 0.05,
) -> list[str]:
    """The bullet lines of notebook 05's conclusion, every claim chosen by the numbers.

    ``intervals``: ``importance.stability_intervals(agreement, by="comparison")``; ``shift``:
    ``importance.importance_shift`` (per label vs ``baseline``, with intervals); ``ablation``: one row
    per condition with ``label, neurons, tau, p_value`` (Kendall's tau between the weight ranking and
    ablation importance and its test); ``paper_overlap``: the top-k overlap of the paper's two lists;
    ``duplicates``: label -> the label it is identical to (``importance.identical_conditions``); a
    duplicate is left out of every count and named once.

    Criteria: a tau interval above 0 (the tau of unrelated rankings) = "keeps part of the order";
    including 0 = "not distinguishable from unrelated"; one seed = no interval, no judgement; the
    ablation association is "measurable" when Kendall's test gives p < ``alpha``.
    """
    check_frame("intervals", intervals, ["comparison", "n", "tau_mean", "tau_ci_low", "tau_ci_high", "overlap_mean",
                                   "chance", "confidence"], allow_empty=True)
    check_frame("shift", shift, ["label", "seeds", "tau_mean", "tau_ci_low", "tau_ci_high", "overlap_mean",
                           "norm_ratio_mean", "norm_ratio_ci_low", "norm_ratio_ci_high", "confidence"], allow_empty=True)
    check_frame("ablation", ablation, ["label", "neurons", "tau", "p_value"], allow_empty=True)
    k = check_int("k", k, minimum=1)
    n = check_int("n", n, minimum=k)
    paper_overlap = check_float("paper_overlap", paper_overlap, low=0.0, high=1.0)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    duplicates = dict(duplicates or {})
    kinds = intervals.set_index("comparison")
    across = kinds.loc["across seeds"] if "across seeds" in kinds.index else None
    methods = shift[(shift["label"] != baseline) & ~shift["label"].isin(list(duplicates))]
    lines = []
    if "init vs trained" in kinds.index:
        lines.append(_init_line(kinds.loc["init vs trained"]))
    if len(methods):
        lines.extend(_method_lines(methods, k=k, n=n))
    lines.append(_seeds_line(across, k=k) if across is not None else
                 "- Models of different seeds are not compared: that needs at least two seeds.")
    if len(methods):
        lines.append(_paper_line(methods, across, k=k, paper_overlap=paper_overlap))
    abl = ablation[~ablation["label"].isin(list(duplicates))].set_index("label")
    if baseline in abl.index:
        lines.append(_ablation_line(abl, baseline=baseline, alpha=alpha))
    if duplicates:
        lines.append("- " + "; ".join(f"`{d}` has the same outgoing weights as `{o}` on every seed"
                                      for d, o in duplicates.items())
                     + ": each pair is one experiment and is reported once above.")
    return lines

"""The study's comparison design (issue 12): settings, fair tuning on validation, the tuned comparison.

A **setting** is one (dataset, network, training-set size): the base network's train-test gap
differs between settings, and a regulariser can only help where there is a gap. In every setting:

1. **Learning rate** (stage ``"lr"``): the base network (no dropout) at each ``lr`` of
   ``lr_factors`` times the setting's profile rate, every seed; the rate with the best mean
   validation accuracy over seeds is the setting's rate (ties: the first in grid order).
2. **Drop rate** (stage ``"p"``): every condition at every ``p`` of ``p_grid`` at that rate, every
   seed; each condition's ``p`` is the one with the best mean validation accuracy (ties: the
   smaller p). Every trial selects its epoch on validation too (``select="best_val"``).
3. **The tuned comparison**: each condition at its tuned ``p`` against the base network at the
   tuned rate, paired by seed (same seed = same initialisation and batch order), with
   ``snnlab.analysis.paired.compare_paired``.

The test set never enters a choice: selection reads ``val_acc`` only, and the test accuracy a
trial reports is that of its validation-selected weights. A notebook builds ``lr_specs``, runs
them, calls ``select_lr``, builds ``condition_specs``, runs them, then ``select_p`` and
``tuned_trials``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from snnlab.study.spec import OptionPairs, TrialSpec, freeze_options
from snnlab.validation import check_choice, check_float, check_int

NETWORKS = ("spiking_mlp", "spiking_cnn", "delayed_snn", "penalty_snn")
SELECTION_METRIC = "val_acc"


@dataclass(frozen=True, order=True)
class Setting:
    """One (dataset, network, training-set size) of the comparison; ``train_size=None``: all of it."""

    dataset: str
    network: str
    train_size: int | None = None

    def __post_init__(self) -> None:
        from snnlab.data import DATASETS

        check_choice("dataset", self.dataset, DATASETS)
        check_choice("network", self.network, NETWORKS)
        if self.train_size is not None:
            check_int("train_size", self.train_size, minimum=1)

    @property
    def label(self) -> str:
        """``"mnist · 1k · spiking_mlp"`` (``full`` for all the training data)."""
        return f"{self.dataset} · {size_label(self.train_size)} · {self.network}"


def size_label(size: int | None) -> str:
    """``1000 -> "1k"``, ``1500 -> "1500"``, ``None -> "full"``."""
    if size is None:
        return "full"
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


Condition = tuple[str, OptionPairs]


@dataclass(frozen=True)
class ComparisonDesign:
    """The comparison grid: settings, conditions (``(method, options)``, the base ``none`` excluded),
    the drop-rate grid, the learning-rate factors, the seeds and the validation fraction."""

    settings: tuple[Setting, ...]
    conditions: tuple[Condition, ...]
    p_grid: tuple[float, ...]
    seeds: tuple[int, ...]
    val_fraction: float
    lr_factors: tuple[float, ...] = (1.0,)
    epochs: Mapping[str, int] = field(default_factory=dict)  # dataset -> epochs (default: the base spec's)
    margin: float = 0.005  # equivalence margin of the accuracy difference (0.005 = 0.5 pp), stated up front
    train_eval_size: int = 2048  # training samples measured in eval mode each epoch (the gap without dropout)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        settings = tuple(self.settings)
        if not settings:
            raise ValueError("settings is empty; give at least one Setting(dataset, network, train_size)")
        for i, s in enumerate(settings):
            if not isinstance(s, Setting):
                raise TypeError(f"settings[{i}] must be a Setting, got {type(s).__name__} ({s!r})")
        set_(self, "settings", settings)
        conditions = tuple((str(m), freeze_options("conditions options", o)) for m, o in self.conditions)
        if any(m == "none" for m, _ in conditions):
            raise ValueError("conditions must not include 'none': the base network is part of every setting")
        set_(self, "conditions", conditions)
        grid = tuple(self.p_grid)
        if not grid:
            raise ValueError("p_grid is empty; give at least one drop rate in (0, 1)")
        set_(self, "p_grid", tuple(check_float("p_grid entry", p, low=0.0, high=1.0, low_inclusive=False,
                                               high_inclusive=False) for p in grid))
        factors = tuple(self.lr_factors)
        if not factors:
            raise ValueError("lr_factors is empty; give at least one factor > 0 (1.0: the profile's rate)")
        set_(self, "lr_factors", tuple(check_float("lr_factors entry", f, low=0.0, low_inclusive=False) for f in factors))
        seeds = tuple(self.seeds)
        if not seeds:
            raise ValueError("seeds is empty; give at least one seed")
        set_(self, "seeds", tuple(check_int("seeds entry", s, minimum=0) for s in seeds))
        set_(self, "val_fraction", check_float("val_fraction", self.val_fraction, low=0.0, high=1.0,
                                               low_inclusive=False, high_inclusive=False))
        set_(self, "epochs", {check_choice("epochs dataset", k, tuple({st.dataset for st in settings})):
                              check_int(f"epochs[{k!r}]", v, minimum=1) for k, v in dict(self.epochs).items()})
        set_(self, "margin", check_float("margin", self.margin, low=0.0, high=1.0, low_inclusive=False))
        set_(self, "train_eval_size", check_int("train_eval_size", self.train_eval_size, minimum=1))

    @property
    def n_trials(self) -> int:
        """Trials of the whole design (both stages)."""
        per_setting = len(self.lr_factors) + len(self.conditions) * len(self.p_grid)
        return per_setting * len(self.seeds) * len(self.settings)


BaseOf = Callable[[Setting], TrialSpec]


def _base(design: ComparisonDesign, base_of: BaseOf, setting: Setting) -> TrialSpec:
    spec = base_of(setting)
    if not isinstance(spec, TrialSpec):
        raise TypeError(f"base_of must return a TrialSpec, got {type(spec).__name__} for {setting.label}")
    changes: dict[str, Any] = dict(dataset=setting.dataset, model=setting.network, train_subset=setting.train_size,
                                   val_fraction=design.val_fraction, select="best_val", method="none", p=0.0,
                                   method_options=(), train_eval_size=design.train_eval_size)
    if setting.dataset in design.epochs:
        changes["epochs"] = design.epochs[setting.dataset]
    return spec.replace(**changes)


def lr_specs(design: ComparisonDesign, base_of: BaseOf) -> list[TrialSpec]:
    """Stage 1: the base network at every learning rate of the design, every seed, every setting."""
    specs = []
    for setting in design.settings:
        base = _base(design, base_of, setting)
        for factor in design.lr_factors:
            specs.extend(base.replace(lr=base.lr * factor, seed=s) for s in design.seeds)
    return specs


def setting_of(row: Mapping[str, Any]) -> Setting:
    """The setting a stored trial belongs to (``dataset``, ``model``, ``train_subset``)."""
    size = row.get("train_subset")
    size = None if size is None or (isinstance(size, float) and size != size) else int(size)
    return Setting(str(row["dataset"]), str(row["model"]), size)


def _with_settings(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ("dataset", "model", "train_subset", "method", "p", "seed", "lr", SELECTION_METRIC):
        if col not in frame.columns:
            raise ValueError(f"frame needs a {col!r} column (a results-store frame of trials run with val_fraction); "
                             f"columns: {', '.join(map(str, frame.columns))}")
    out = frame.copy()
    out["setting"] = [setting_of(r).label for r in out.to_dict("records")]
    return out


def select_lr(frame: pd.DataFrame, design: ComparisonDesign, base_of: BaseOf) -> dict[Setting, float]:
    """Stage 1's choice: per setting, the learning rate of the base network with the best mean
    validation accuracy over the design's seeds (ties: the first factor of the grid). A setting
    whose trials are missing is a ValueError naming it."""
    data = _with_settings(frame)
    chosen = {}
    for setting in design.settings:
        base = _base(design, base_of, setting)
        means = []
        for factor in design.lr_factors:
            lr = base.lr * factor
            rows = data[(data["setting"] == setting.label) & (data["method"] == "none")
                        & (data["lr"].sub(lr).abs() <= 1e-12 * lr) & data["seed"].isin(design.seeds)]
            if rows.empty:
                raise ValueError(f"no base trials at lr={lr:g} for {setting.label}: run lr_specs(...) first")
            means.append((float(rows[SELECTION_METRIC].mean()), -len(means), lr))
        chosen[setting] = max(means)[2]
    return chosen


def condition_specs(design: ComparisonDesign, base_of: BaseOf, lrs: Mapping[Setting, float]) -> list[TrialSpec]:
    """Stage 2: every condition at every p of the grid, every seed, at each setting's tuned rate."""
    specs = []
    for setting in design.settings:
        if setting not in lrs:
            raise ValueError(f"no tuned learning rate for {setting.label}: pass select_lr(...)'s result")
        base = _base(design, base_of, setting).replace(lr=lrs[setting])
        for method, options in design.conditions:
            for p in design.p_grid:
                specs.extend(base.replace(method=method, p=p, method_options=options, seed=s) for s in design.seeds)
    return specs


def select_p(frame: pd.DataFrame, design: ComparisonDesign, lrs: Mapping[Setting, float]) -> pd.DataFrame:
    """Stage 2's choice: per setting and condition, the p with the best mean validation accuracy over
    seeds (ties: the smaller p). One row per (setting, condition): ``setting``, ``label``, ``method``,
    ``method_options``, ``p``, ``val_acc`` (its mean), ``seeds`` (how many), and ``curve`` (p -> mean
    validation accuracy, the whole grid, for the accuracy-vs-p view)."""
    from snnlab.analysis.statistics import condition_label

    data = label_trials(_with_settings(frame))
    rows = []
    for setting in design.settings:
        if setting not in lrs:
            raise ValueError(f"no tuned learning rate for {setting.label}: pass select_lr(...)'s result")
        lr = lrs[setting]
        here = data[(data["setting"] == setting.label) & (data["lr"].sub(lr).abs() <= 1e-12 * lr)
                    & data["seed"].isin(design.seeds)]
        for method, options in design.conditions:
            mine = here[here["label"] == condition_label(method, options, setting.network)]
            curve = {float(p): float(g[SELECTION_METRIC].mean()) for p, g in mine.groupby("p")}
            curve = {p: v for p, v in curve.items() if any(abs(p - q) < 1e-12 for q in design.p_grid)}
            if not curve:
                raise ValueError(f"no trials of {condition_label(method, options)} for {setting.label}: "
                                 "run condition_specs(...) first")
            best = max(curve.items(), key=lambda kv: (kv[1], -kv[0]))
            n = int(mine[mine["p"].sub(best[0]).abs() < 1e-12]["seed"].nunique())
            rows.append({"setting": setting.label, "label": condition_label(method, options), "method": method,
                         "method_options": options, "p": best[0], "val_acc": best[1], "seeds": n, "curve": curve})
    return pd.DataFrame(rows, columns=["setting", "label", "method", "method_options", "p", "val_acc", "seeds", "curve"])


def label_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (trials or per-epoch history from the store) with a ``setting`` and a ``label`` column."""
    from snnlab.analysis.statistics import label_conditions

    out = frame.copy()
    out["setting"] = [setting_of(r).label for r in out.to_dict("records")]
    out["label"] = label_conditions(out)
    return out


def trials_at_tuned_lr(frame: pd.DataFrame, lrs: Mapping[Setting, float]) -> pd.DataFrame:
    """Every trial run at its setting's tuned learning rate (the base network and each condition at
    every p of the grid), labelled: the accuracy-vs-p view of stage 2."""
    data = label_trials(_with_settings(frame))
    keep = pd.Series(False, index=data.index)
    for setting, lr in lrs.items():
        keep |= (data["setting"] == setting.label) & (data["lr"].sub(lr).abs() <= 1e-12 * lr)
    return data[keep].reset_index(drop=True)


def tuned_trials(frame: pd.DataFrame, selection: pd.DataFrame, lrs: Mapping[Setting, float]) -> pd.DataFrame:
    """The trials of the tuned comparison: the base network at each setting's tuned rate and every
    condition at its tuned p (``selection`` from ``select_p``), with ``setting`` and ``label``
    columns, ready for ``compare_paired(..., group="label", by=("setting",))``."""
    data = label_trials(_with_settings(frame))
    keep = pd.Series(False, index=data.index)
    for setting, lr in lrs.items():
        at_lr = (data["setting"] == setting.label) & (data["lr"].sub(lr).abs() <= 1e-12 * lr)
        keep |= at_lr & (data["method"] == "none")
        for row in selection[selection["setting"] == setting.label].itertuples():
            keep |= at_lr & (data["label"] == row.label) & (data["p"].sub(row.p).abs() < 1e-12)
    return data[keep].reset_index(drop=True)


def distinct_conditions(conditions: Iterable[Condition]) -> tuple[Condition, ...]:
    """``conditions`` without repeats, in order."""
    return tuple(dict.fromkeys((m, tuple(o)) for m, o in conditions))


def check_networks(networks: Sequence[str]) -> tuple[str, ...]:
    """Validated network names (``NETWORKS``)."""
    if isinstance(networks, str) or not networks:
        raise ValueError(f"networks must be a non-empty list of {', '.join(NETWORKS)}; got {networks!r}")
    return tuple(check_choice("network", n, NETWORKS) for n in networks)


# ---------------------------------------------------------------- tables and sentences of notebook 04


def lr_table(frame: pd.DataFrame, lrs: Mapping[Setting, float]) -> pd.DataFrame:
    """Stage 1 at a glance: per setting and learning rate, the base network's validation accuracy
    (mean, std, seeds) and whether it was chosen."""
    data = _with_settings(frame)
    base = data[data["method"] == "none"]
    out = base.groupby(["setting", "lr"], sort=False)[SELECTION_METRIC].agg(["mean", "std", "count"]).reset_index()
    chosen = {s.label: lr for s, lr in lrs.items()}
    out["chosen"] = [abs(lr - chosen.get(s, float("nan"))) <= 1e-12 * lr for s, lr in zip(out["setting"], out["lr"])]
    return out.rename(columns={"mean": "val_acc", "std": "val_acc_std", "count": "seeds"})


def lr_edge_sentences(table: pd.DataFrame) -> list[str]:
    """From ``lr_table``: one sentence per setting whose chosen learning rate is the smallest or the
    largest of its grid (the best rate may lie beyond it, and every condition is tuned at it)."""
    out = []
    for setting, g in table.groupby("setting", sort=False):
        chosen = g.loc[g["chosen"], "lr"]
        if chosen.empty or len(g) < 2:
            continue
        lr, grid = float(chosen.iloc[0]), sorted(float(v) for v in g["lr"])
        edge = "largest" if lr == grid[-1] else "smallest" if lr == grid[0] else None
        if edge:
            beyond = "larger" if edge == "largest" else "smaller"
            out.append(f"{setting}: the chosen learning rate {lr:g} is the {edge} of the grid "
                       f"({', '.join(f'{v:g}' for v in grid)}); a {beyond} one might validate better, and every "
                       "condition is compared at this one.")
    return out


REGIME_METRICS = ("train_acc_eval", "val_acc", "test_acc", "gap_eval")


def regime_table(tuned: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the base network's accuracies at its tuned rate and selected epoch: training
    accuracy in eval mode (dropout off), validation and test accuracy, and the train-test gap
    ``gap_eval`` (mean and std over seeds): the room a regulariser has."""
    missing = [c for c in ("setting", "method", *REGIME_METRICS) if c not in tuned.columns]
    if missing:
        raise ValueError(f"tuned needs the columns {missing} (trials run with val_fraction and train_eval_size); "
                         f"columns: {', '.join(map(str, tuned.columns))}")
    base = tuned[tuned["method"] == "none"]
    rows = []
    for setting, g in base.groupby("setting", sort=False):
        row: dict[str, Any] = {"setting": setting, "seeds": int(g["seed"].nunique())}
        for m in REGIME_METRICS:
            row[m] = float(g[m].mean())
            row[f"{m}_std"] = float(g[m].std()) if len(g) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _pp(x: float) -> str:
    return f"{100 * x:.2f} pp"


def regime_sentences(regime: pd.DataFrame) -> list[str]:
    """One computed sentence per setting on the base network's gap, and one comparing the settings'
    gaps (where a regulariser has the most room)."""
    out = []
    for row in regime.itertuples():
        spread = f" ± {_pp(row.gap_eval_std)}" if row.seeds > 1 and row.gap_eval_std == row.gap_eval_std else ""
        out.append(f"{row.setting}: the base network fits its training data to {row.train_acc_eval:.2%} (eval mode) "
                   f"and scores {row.test_acc:.2%} on the test set, a gap of {_pp(row.gap_eval)}{spread} "
                   f"({row.seeds} seed{'s' if row.seeds != 1 else ''}).")
    if len(regime) > 1:
        wide, narrow = regime.loc[regime["gap_eval"].idxmax()], regime.loc[regime["gap_eval"].idxmin()]
        if wide["setting"] != narrow["setting"]:
            out.append(f"The gap is widest in {wide['setting']} ({_pp(wide['gap_eval'])}) and narrowest in "
                       f"{narrow['setting']} ({_pp(narrow['gap_eval'])}): that is where a regulariser has the most "
                       f"and the least room.")
    return out


VERDICTS = ("helps", "hurts", "equivalent", "inconclusive")


def comparison_conclusion(regime: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The conclusion of the tuned comparison, one computed sentence per setting: the base gap and how
    many distinct methods help, hurt, are equivalent within the margin or are inconclusive (from a
    ``compare_paired(..., by=("setting",))`` table), naming those that help or hurt."""
    for col in ("setting", "label", "verdict", "mean_diff", "margin"):
        if col not in table.columns:
            raise ValueError(f"table needs a {col!r} column (a compare_paired table with by=('setting',))")
    gaps = dict(zip(regime["setting"], regime["gap_eval"])) if len(regime) else {}
    out = []
    for setting, rows in table.groupby("setting", sort=False):
        distinct = rows[rows["verdict"].isin(VERDICTS)]
        counts = {v: int((distinct["verdict"] == v).sum()) for v in VERDICTS}
        parts = [f"{n} {v}" for v, n in counts.items() if n]
        named = []
        for verdict, verb in (("helps", "help"), ("hurts", "hurt")):
            who = distinct[distinct["verdict"] == verdict].sort_values("mean_diff", ascending=verdict == "hurts")
            if len(who):
                named.append(f"{verb}: " + ", ".join(f"{r.label} ({100 * r.mean_diff:+.2f} pp)" for r in who.itertuples()))
        gap = f" (base gap {_pp(gaps[setting])})" if setting in gaps else ""
        margin = float(rows["margin"].iloc[0])
        sentence = (f"{setting}{gap}: of {len(distinct)} distinct methods at their tuned p, "
                    + (", ".join(parts) if parts else "none judged")
                    + f" (equivalence margin ±{_pp(margin)})")
        out.append(sentence + ("; " + "; ".join(named) if named else "") + ".")
    return out

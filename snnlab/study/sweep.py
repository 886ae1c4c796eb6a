"""Sweep configs (``snnlab sweep --config sweep.yaml``) and the summary table of a sweep.

A config is YAML with two keys::

    base:                 # TrialSpec fields shared by every trial
      dataset: digits
      epochs: 5
    grid:                 # field -> list of values; every combination is a trial
      method: [standard, temporal]
      p: [0.1, 0.3]
      seed: [0, 1, 2]

``grid`` may also be a list of such mappings (the union of their grids), e.g. to pair
``method: [none]`` with ``p: [0]``. Everything is validated, and every spec built, before
any training starts; errors name the offending key.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from snnlab.study.spec import TrialSpec, spec_fields

CONFIG_KEYS = ("base", "grid")


class SweepConfigError(ValueError):
    """A sweep config is malformed; the message names the file and the key."""


def _fail(source: str, message: str) -> SweepConfigError:
    return SweepConfigError(f"sweep config {source}: {message}")


def _check_fields(source: str, where: str, mapping: Mapping[str, Any]) -> None:
    unknown = [k for k in mapping if k not in spec_fields()]
    if unknown:
        raise _fail(source, f"unknown key {where}.{unknown[0]} (allowed TrialSpec fields: {', '.join(spec_fields())})")


def specs_from_config(config: Any, *, source: str = "<config>") -> list[TrialSpec]:
    """Expand a parsed sweep config (a mapping with ``base`` and ``grid``) into validated specs."""
    if not isinstance(config, Mapping):
        raise _fail(source, f"the top level must be a mapping with keys {', '.join(CONFIG_KEYS)}, "
                            f"got {type(config).__name__}")
    unknown = [k for k in config if k not in CONFIG_KEYS]
    if unknown:
        raise _fail(source, f"unknown top-level key {unknown[0]!r}; allowed: {', '.join(CONFIG_KEYS)}")
    base = config.get("base") or {}
    if not isinstance(base, Mapping):
        raise _fail(source, f"base must be a mapping of TrialSpec field -> value, got {type(base).__name__}")
    _check_fields(source, "base", base)
    raw_grid = config.get("grid", {})
    grids = raw_grid if isinstance(raw_grid, list) else [raw_grid]
    if not grids:
        raise _fail(source, "grid is an empty list; give at least one mapping of field -> values")
    specs: list[TrialSpec] = []
    for g_index, axes in enumerate(grids):
        where = "grid" if not isinstance(raw_grid, list) else f"grid[{g_index}]"
        if axes is None:
            axes = {}
        if not isinstance(axes, Mapping):
            raise _fail(source, f"{where} must be a mapping of field -> list of values, got {type(axes).__name__}")
        _check_fields(source, where, axes)
        for name, values in axes.items():
            if not isinstance(values, list):
                raise _fail(source, f"{where}.{name} must be a list of values, got {type(values).__name__} ({values!r})")
            if not values:
                raise _fail(source, f"{where}.{name} is empty; give at least one value")
        names = list(axes)
        for combo in itertools.product(*(axes[n] for n in names)):
            fields = {**base, **dict(zip(names, combo))}
            try:
                specs.append(TrialSpec(**fields))
            except (TypeError, ValueError) as error:
                varying = ", ".join(f"{n}={v!r}" for n, v in zip(names, combo)) or "(no grid values)"
                raise _fail(source, f"{where} trial with {varying}: {error}") from error
    return specs


def load_sweep(path: str | os.PathLike[str]) -> list[TrialSpec]:
    """Read a YAML sweep config and return its validated specs (no training happens here)."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise _fail(str(file), "file not found")
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:  # one line: the problem and where (YAML's own text spans several)
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise _fail(str(file), f"not valid YAML{where}: {problem}") from error
    return specs_from_config(config, source=str(file))


def summary_table(frame: pd.DataFrame, metrics: tuple[str, ...] = ("train_acc", "test_acc")) -> pd.DataFrame:
    """Mean ± std over seeds of ``metrics`` for every combination of the spec fields that vary.

    One row per group with columns ``n`` and ``<metric>_mean`` / ``<metric>_std``.
    """
    if frame.empty:
        return pd.DataFrame()
    hashable = [f for f in spec_fields() if f != "seed" and f in frame.columns]
    varying = [f for f in hashable if frame[f].map(repr).nunique() > 1]
    keys = varying or ["dataset"]
    present = [m for m in metrics if m in frame.columns]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped.size().rename("n").to_frame()
    for metric in present:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return table.reset_index()

"""snnlab.study.sweep: YAML sweep configs expanded into validated TrialSpecs, and the summary table of a sweep."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from snnlab.study.spec import TrialSpec
from snnlab.study.sweep import SweepConfigError, load_sweep, specs_from_config, summary_table


def test_load_sweep_expands_base_and_grid(tmp_path) -> None:
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("""
base:
  dataset: digits
  epochs: 2
  device: cpu
grid:
  method: [standard, temporal]
  p: [0.1, 0.3]
  seed: [0, 1]
""")
    specs = load_sweep(cfg)
    assert len(specs) == 8 and all(isinstance(s, TrialSpec) for s in specs)
    assert all(s.dataset == "digits" and s.epochs == 2 and s.device == "cpu" for s in specs)
    assert [(s.method, s.p, s.seed) for s in specs[:3]] == [("standard", 0.1, 0), ("standard", 0.1, 1), ("standard", 0.3, 0)]
    assert len({s.key for s in specs}) == 8


def test_a_list_of_grids_is_their_union() -> None:
    specs = specs_from_config({"base": {"dataset": "digits"},
                               "grid": [{"method": ["none"], "p": [0]}, {"method": ["standard"], "p": [0.2, 0.4]}]})
    assert [(s.method, s.p) for s in specs] == [("none", 0), ("standard", 0.2), ("standard", 0.4)]
    # base alone (no grid, or a None grid) is one trial
    assert len(specs_from_config({"base": {"dataset": "digits"}})) == 1
    assert len(specs_from_config({"base": None, "grid": None})) == 1


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ([1, 2], "the top level must be a mapping"),
        ({"base": {}, "gird": {}}, "unknown top-level key 'gird'"),
        ({"base": [1]}, "base must be a mapping"),
        ({"base": {"colour": "red"}}, "unknown key base.colour"),
        ({"grid": {"wobble": [1]}}, "unknown key grid.wobble"),
        ({"grid": []}, "grid is an empty list"),
        ({"grid": [{"seed": [0]}, 3]}, "grid[1] must be a mapping"),
        ({"grid": {"seed": 3}}, "grid.seed must be a list of values, got int (3)"),
        ({"grid": {"seed": []}}, "grid.seed is empty"),
        ({"base": {"method": "standard"}, "grid": {"p": [0.2, 1.0]}}, "grid trial with p=1.0"),
        ({"base": {"epochs": "ten"}}, "(no grid values)"),
    ],
)
def test_config_errors_name_the_source_and_key(config, names: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        specs_from_config(config, source="my.yaml")
    assert str(info.value).startswith("sweep config my.yaml: ") and names in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_sweep_file_errors(tmp_path) -> None:
    with pytest.raises(SweepConfigError, match="file not found"):
        load_sweep(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(SweepConfigError, match=r"bad.yaml: not valid YAML at line 2, column 1: expected") as info:
        load_sweep(bad)
    assert "\n" not in str(info.value)  # one line for the CLI


def test_summary_table_groups_the_varying_fields_over_seeds() -> None:
    frame = pd.DataFrame({
        "dataset": ["digits"] * 6,
        "method": ["standard"] * 3 + ["temporal"] * 3,
        "p": [0.2] * 6,
        "seed": [0, 1, 2, 0, 1, 2],
        "train_acc": [0.8, 0.9, 1.0, 0.5, 0.5, 0.5],
        "test_acc": [0.7, 0.7, 0.7, 0.4, 0.6, 0.5],
    })
    table = summary_table(frame)
    assert list(table.columns) == ["method", "n", "train_acc_mean", "train_acc_std", "test_acc_mean", "test_acc_std"]
    assert table["method"].tolist() == ["standard", "temporal"] and table["n"].tolist() == [3, 3]
    assert table["train_acc_mean"].tolist() == pytest.approx([0.9, 0.5])
    assert table["train_acc_std"].tolist() == pytest.approx([0.1, 0.0])
    assert table["test_acc_std"].tolist() == pytest.approx([0.0, 0.1])
    only = summary_table(frame, metrics=("test_acc", "missing"))
    assert list(only.columns) == ["method", "n", "test_acc_mean", "test_acc_std"]


def test_summary_table_without_varying_fields_and_empty() -> None:
    frame = pd.DataFrame({"dataset": ["digits"] * 2, "sizes": [(16,), (16,)], "seed": [0, 1], "test_acc": [0.5, 0.7]})
    table = summary_table(frame, metrics=("test_acc",))
    assert table["dataset"].tolist() == ["digits"] and table["n"].tolist() == [2]
    assert table["test_acc_mean"].iloc[0] == pytest.approx(0.6)
    single = summary_table(frame.iloc[:1], metrics=("test_acc",))
    assert math.isnan(single["test_acc_std"].iloc[0])  # one seed: no spread
    assert summary_table(pd.DataFrame()).empty

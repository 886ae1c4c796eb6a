"""snnlab.bench: the dropout micro-benchmark's frame and text (no timing assertions)."""

from __future__ import annotations

import pytest
import torch

from snnlab.bench import BENCH_COLUMNS, TARGET_RATIO, bench_dropout, format_bench
from snnlab.bench.dropout import WRITTEN


def test_bench_dropout_table_structure():
    """The benchmark's frame and text: its shape and reference row."""
    before = torch.get_num_threads()
    frame = bench_dropout(["temporal", "standard"], sizes=(64, 32, 10), T=3, batch_size=16, steps=2, warmup=1, threads=1)
    assert torch.get_num_threads() == before
    assert tuple(frame.columns) == BENCH_COLUMNS
    assert list(frame["method"]) == ["none", WRITTEN, "temporal", "standard"]
    assert frame.loc[0, "ratio_to_none"] == 1.0 and frame.loc[1, "ratio_to_written_none"] == 1.0
    assert (frame["ms_per_step"] > 0).all()
    text = format_bench(frame)
    assert "temporal" in text and "x none" in text and "x written" in text and WRITTEN in text


def test_format_bench_flags_slow_methods():
    import pandas as pd

    frame = pd.DataFrame({"method": ["none", "slow"], "ms_per_step": [1.0, 2.0], "ratio_to_none": [1.0, 2.0],
                          "ratio_to_written_none": [0.8, 1.6]})
    lines = format_bench(frame).splitlines()
    assert f"> {TARGET_RATIO}x" in lines[-2] and ">" not in lines[-3] and lines[-1].startswith("target:")
    with pytest.raises(TypeError, match="bench_dropout"):
        format_bench(frame.drop(columns="ratio_to_none"))


def test_bench_dropout_bad_arguments():
    with pytest.raises(ValueError, match="unknown dropout method"):
        bench_dropout(["gaussian"])
    with pytest.raises(TypeError, match="methods must be a sequence"):
        bench_dropout("standard")
    with pytest.raises(ValueError, match="clock='process' measures CPU time"):
        bench_dropout(["standard"], device=torch.device("meta"), clock="process")

"""The shared pieces of the benchmarks: the result file and reading a result frame back."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from snnlab.bench.report import bench_meta, frame_records, sync, write_payload


def test_write_payload_records_meta_config_and_rows(tmp_path):
    path = write_payload(tmp_path / "sub" / "b.json", [{"a": 1.0, "b": float("nan")}], device=torch.device("cpu"),
                         clock="wall", threads=None, rounds=3, config={"T": 25})
    data = json.loads(path.read_text())
    assert data["rows"] == [{"a": 1.0, "b": None}]  # NaN becomes null (valid JSON)
    assert data["config"] == {"T": 25}
    assert data["meta"]["rounds"] == 3 and data["meta"]["threads"] == torch.get_num_threads()
    assert "config" not in json.loads(write_payload(tmp_path / "c.json", [], device=torch.device("cpu"), clock="process",
                                                    threads=1, rounds=1).read_text())
    assert bench_meta(torch.device("cpu"), clock="wall", threads=2, rounds=1)["device"] == "cpu"


def test_cpu_meta_says_how_freed_memory_is_handled():
    from snnlab.cpu_memory import keep_freed_memory

    reason = keep_freed_memory()
    meta = bench_meta(torch.device("cpu"), clock="wall", threads=2, rounds=1)
    assert meta["freed_memory"] == ("kept for reuse (snnlab.cpu_memory)" if reason is None
                                    else f"returned to the system: {reason}")
    assert "freed_memory" not in bench_meta(torch.device("meta"), clock="wall", threads=2, rounds=1)


def test_frame_records_checks_columns():
    rows = frame_records(pd.DataFrame({"x": [1], "y": [2]}), ["x"], "bench_x")
    assert rows == [{"x": 1, "y": 2}]
    assert frame_records([{"x": 3}], ["x"], "bench_x") == [{"x": 3}]
    with pytest.raises(TypeError, match="bench_x"):
        frame_records(pd.DataFrame({"y": [1]}), ["x"], "bench_x")
    with pytest.raises(TypeError, match="bench_x"):
        frame_records("table", ["x"], "bench_x")
    sync(torch.device("cpu"))  # a no-op on CPU

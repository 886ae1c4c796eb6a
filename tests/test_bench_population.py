"""The population benchmark (snnlab/bench/population.py): its frame, JSON and table (no timing assertions)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from snnlab.bench import POPULATION_COLUMNS, bench_population, format_population_bench
from snnlab.bench.population import default_ks

TINY = dict(sizes=(784, 32, 10), T=4, batch_size=8, rounds=2, warmup=1, threads=1)


def test_bench_population_frame_json_and_table(tmp_path):
    before = torch.get_num_threads()
    frame = bench_population([1, 3], **TINY, method="standard", path=tmp_path / "pop.json")
    assert torch.get_num_threads() == before
    assert tuple(frame.columns) == POPULATION_COLUMNS
    assert list(frame["model"]) == ["standalone", "population", "population"] and list(frame["K"]) == [1, 1, 3]
    assert frame["throughput_ratio"].iloc[0] == 1.0 and (frame["throughput_ratio"] > 0).all()
    assert frame["ms_per_member"].iloc[2] == pytest.approx(frame["ms_per_step"].iloc[2] / 3)
    payload = json.loads((tmp_path / "pop.json").read_text())
    assert payload["meta"]["threads"] == 1 and payload["config"]["method"] == "standard"
    assert [r["K"] for r in payload["rows"]] == [1, 1, 3]
    text = format_population_bench(frame)
    assert "x standalone" in text and "target: >= 1x at every K on a CPU" in text
    assert "x standalone" in format_population_bench(payload["rows"])


def test_default_population_sizes_follow_the_device():
    assert default_ks("cpu") == (1, 2, 4, 8)
    assert default_ks(torch.device("cuda")) == (1, 8, 16, 32, 64)


def test_format_population_bench_flags_by_device():
    frame = pd.DataFrame({"model": ["standalone", "population", "population"], "K": [1, 8, 64],
                          "ms_per_step": [1.0, 9.0, 4.0], "ms_per_member": [1.0, 1.125, 0.0625],
                          "throughput_ratio": [1.0, 0.9, 16.0]})
    cpu = format_population_bench(frame, device="cpu").splitlines()
    assert cpu[3].endswith("< 1x") and "<" not in cpu[4]
    gpu = format_population_bench(frame, device="cuda").splitlines()
    assert "<" not in gpu[3] and gpu[4].endswith("< 30x") and "K=64 on a GPU" in gpu[-1]
    with pytest.raises(TypeError, match="bench_population"):
        format_population_bench(frame.drop(columns="K"))


def test_bench_population_bad_arguments():
    with pytest.raises(ValueError, match=r"ks\[1\]=0"):
        bench_population([1, 0])
    with pytest.raises(TypeError, match="ks must be"):
        bench_population(4)
    with pytest.raises(ValueError, match="backend='gpu'"):
        bench_population(backend="gpu")
    with pytest.raises(TypeError, match="T must be an integer"):
        bench_population(T=2.5)
    with pytest.raises(ValueError, match="clock='process' measures CPU time"):
        bench_population(device=torch.device("meta"), clock="process")

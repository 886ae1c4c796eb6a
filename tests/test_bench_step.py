"""The training-step benchmark (snnlab/bench/step.py): its frame, floor, JSON and table (no timing assertions)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from snnlab.bench import STEP_COLUMNS, STEP_TARGET, GemmFloor, bench_step, format_step_bench

TINY = dict(sizes=(784, 32, 10), T=4, batch_size=8, rounds=2, warmup=1, threads=1)


def test_bench_step_frame_json_and_table(tmp_path):
    before = torch.get_num_threads()
    frame = bench_step(["loop", "auto"], **TINY, path=tmp_path / "step.json")
    assert torch.get_num_threads() == before
    assert tuple(frame.columns) == STEP_COLUMNS
    assert list(frame["config"]) == ["step", "step", "floor", "per-step floor"]
    assert list(frame["backend"]) == ["loop", "auto", "-", "-"]
    assert (frame["ms_per_step"] > 0).all()
    assert frame["ratio_to_floor"].iloc[-2] == 1.0 and frame["ratio_to_per_step_floor"].iloc[-1] == 1.0
    assert frame.attrs["config"]["sizes"] == [784, 32, 10] and frame.attrs["config"]["T"] == 4
    payload = json.loads((tmp_path / "step.json").read_text())
    assert payload["meta"]["device"] == "cpu" and payload["meta"]["threads"] == 1
    assert payload["config"]["batch_size"] == 8 and [r["backend"] for r in payload["rows"]] == ["loop", "auto", "-", "-"]
    text = format_step_bench(frame)
    assert "x floor" in text and "x per-step" in text and "step loop" in text and "per-step floor" in text
    assert f"target: step <= {STEP_TARGET}x floor (the GEMMs the step runs)" in text
    assert "x floor" in format_step_bench(payload["rows"])  # the JSON rows print too


def test_bench_step_with_dropout_and_two_hidden_layers():
    frame = bench_step(["fused"], sizes=(20, 16, 12, 3), T=3, batch_size=4, method="standard", p=0.5, rounds=1,
                       warmup=0)
    assert list(frame["backend"]) == ["fused", "-", "-"]
    assert frame.attrs["config"]["method"] == "standard" and frame.attrs["config"]["p"] == 0.5


@pytest.mark.parametrize("per_step_readout", [False, True])
def test_gemm_floor_updates_every_parameter(per_step_readout):
    """The hidden layers after the first run over T*B rows; the readout over B (the time-weighted sum
    the model multiplies) or, for the per-step floor, over T*B."""
    floor = GemmFloor((20, 16, 12, 3), T=3, batch_size=4, device=torch.device("cpu"), per_step_readout=per_step_readout)
    before = [w.detach().clone() for w in floor.weights]
    floor.step()
    assert [tuple(w.grad.shape) for w in floor.weights] == [(16, 20), (12, 16), (3, 12)]
    assert [tuple(x.shape) for x in floor.inputs] == [(4, 20), (12, 16), (12 if per_step_readout else 4, 12)]
    assert all(not torch.equal(a, w) for a, w in zip(before, floor.weights))


def test_format_step_bench_flags_slow_steps():
    frame = pd.DataFrame({"config": ["step", "step", "floor", "per-step floor"], "backend": ["loop", "auto", "-", "-"],
                          "ms_per_step": [3.0, 1.2, 1.0, 2.0], "ratio_to_floor": [3.0, 1.2, 1.0, 2.0],
                          "ratio_to_per_step_floor": [1.5, 0.6, 0.5, 1.0], "note": ["", "", "", ""]})
    lines = format_step_bench(frame).splitlines()
    assert lines[2].endswith(f"> {STEP_TARGET}x") and ">" not in lines[3] and ">" not in lines[4] and ">" not in lines[5]
    with pytest.raises(TypeError, match="bench_step"):
        format_step_bench(frame.drop(columns="ratio_to_floor"))


def test_bench_step_bad_arguments():
    with pytest.raises(ValueError, match="backends='triton'"):
        bench_step(["triton"])
    with pytest.raises(TypeError, match="backends must be"):
        bench_step("loop")
    with pytest.raises(ValueError, match="method='gaussian'"):
        bench_step(method="gaussian")
    with pytest.raises(ValueError, match="p=1.0"):
        bench_step(p=1.0)
    with pytest.raises(ValueError, match="rounds=0"):
        bench_step(rounds=0)
    with pytest.raises(ValueError, match=r"sizes=\[784\]"):
        bench_step(sizes=(784,))
    with pytest.raises(ValueError, match="clock='process' measures CPU time"):
        bench_step(device=torch.device("meta"), clock="process")

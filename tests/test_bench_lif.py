"""The LIF micro-benchmark (snnlab/bench/lif.py): its frame, JSON and table (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnlab.bench import LIF_BENCH_COLUMNS, bench_lif, format_lif_bench

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def kernel_cache(tmp_path_factory):
    """The C kernel, if built here, goes to a temporary cache (never the user's), shared by this module."""
    from snnlab.neurons import lif_kernels

    patch = pytest.MonkeyPatch()
    patch.setenv("SNNLAB_CACHE", str(tmp_path_factory.getbasetemp() / "snnlab-cache"))  # one build per session
    lif_kernels._load.cache_clear()
    yield
    lif_kernels._load.cache_clear()
    patch.undo()


def test_bench_lif_frame_json_and_table(tmp_path):
    before = torch.get_num_threads()
    impls = ["loop", "fused", "kernel", "snntorch", "spikingjelly"]
    frame = bench_lif(impls, workloads=[(3, 4, 5), (1, 2, 3)], rounds=2, warmup=0, threads=1, path=tmp_path / "lif.json")
    assert torch.get_num_threads() == before
    assert tuple(frame.columns) == LIF_BENCH_COLUMNS
    assert list(frame["impl"]) == ["plain", *impls] * 2
    assert (frame.loc[frame.impl == "plain", "ratio_to_plain"] == 1.0).all()
    for row in frame.itertuples(index=False):  # each row was timed, or says why not
        assert (row.ms > 0 and row.ratio_to_plain > 0) or row.note, row
    payload = json.loads((tmp_path / "lif.json").read_text())
    assert payload["meta"]["device"] == "cpu" and payload["meta"]["threads"] == 1
    assert [r["impl"] for r in payload["rows"]] == list(frame["impl"])
    text = format_lif_bench(frame)
    assert "T=3 B=4 N=5" in text and "x plain" in text and "kernel/x" in text
    assert text == format_lif_bench(payload["rows"])  # the JSON rows print the same table


def test_bench_lif_refuses_bad_arguments():
    with pytest.raises(ValueError, match="impls='gpu'"):
        bench_lif(["gpu"])
    with pytest.raises(TypeError, match="impls must be a sequence"):
        bench_lif("kernel")
    with pytest.raises(ValueError, match=r"workloads must be \(T, batch_size, neurons\)"):
        bench_lif(["kernel"], workloads=[(3, 4)])
    with pytest.raises(ValueError, match="clock='process' measures CPU time"):
        bench_lif(["kernel"], device=torch.device("meta"), clock="process")
    with pytest.raises(TypeError, match="df must be"):
        format_lif_bench(42)


def test_measure_lif_needs_only_torch():
    """What tools/gpu_lif_check.py relies on: snnlab.bench.lif imports and runs without pandas."""
    code = ("import sys; sys.modules['pandas'] = None\n"
            "from snnlab.bench.lif import measure_lif, format_lif_bench\n"
            "rows = measure_lif(['kernel'], workloads=[(2, 2, 3)], rounds=1, warmup=0)\n"
            "print(format_lif_bench(rows))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)  # the module's SNNLAB_CACHE: the library built above is reused
    assert proc.returncode == 0, proc.stderr
    assert "T=2 B=2 N=3" in proc.stdout


def test_dropout_names_still_import():
    from snnlab.bench import BENCH_COLUMNS, CLOCKS, TARGET_RATIO, bench_dropout, format_bench

    assert BENCH_COLUMNS == ("method", "ms_per_step", "ratio_to_none", "ratio_to_written_none")
    assert CLOCKS == ("wall", "process")
    assert TARGET_RATIO == 1.15 and callable(bench_dropout) and callable(format_bench)

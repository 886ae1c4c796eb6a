"""Micro-benchmarks: the dropout methods' training step (``dropout``), one LIF layer's forward+backward
(``lif``), the MNIST MLP's training step against its GEMM-only floor (``step``), population
training's throughput per member vs K (``population``) and the paper's delayed SRM layer on a
latency-coded input (``delayed``).

Names are loaded on first access (PEP 562), so ``snnlab.bench.lif`` can be imported on a machine
with only torch (and triton) installed, as ``tools/gpu_lif_check.py`` does: the dropout, step and
population benchmarks need pandas and the model stack, the LIF benchmark's core only torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BENCH_COLUMNS": "dropout",
    "CLOCKS": "dropout",
    "TARGET_RATIO": "dropout",
    "bench_dropout": "dropout",
    "format_bench": "dropout",
    "LIF_BENCH_COLUMNS": "lif",
    "LIF_IMPLS": "lif",
    "LIF_WORKLOADS": "lif",
    "bench_lif": "lif",
    "format_lif_bench": "lif",
    "measure_lif": "lif",
    "STEP_BACKENDS": "step",
    "STEP_COLUMNS": "step",
    "STEP_TARGET": "step",
    "GemmFloor": "step",
    "bench_step": "step",
    "format_step_bench": "step",
    "DELAYED_COLUMNS": "delayed",
    "bench_delayed": "delayed",
    "format_delayed_bench": "delayed",
    "DEFAULT_KS": "population",
    "POPULATION_COLUMNS": "population",
    "POPULATION_TARGETS": "population",
    "bench_population": "population",
    "format_population_bench": "population",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'snnlab.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)

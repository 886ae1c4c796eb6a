"""Micro-benchmark of the paper's delayed SRM layer on a latency-coded input: what each way of computing it costs.

The ``delayed_snn`` network's first layer takes a first-spike (latency) code of the image: at most one
spike per input over the window, about 1% of ``[T, B, in]`` for MNIST. Two parts, each forward + backward
(the weight's gradient; the spikes of a data encoding need none), each row against the part's reference:

* ``synapse``: ``DelayedLinear``'s potential (``snnlab.functional.srm``). ``traces`` (the reference)
  filters every input with every delay into ``[T, B, in*K]`` traces, then one GEMM (all it did before
  2026-12-01, and what it still does for dense input to a wide layer); ``weight-first`` multiplies the
  weight first, then shifts and filters the ``[T, B, out]`` result (its order for a narrow layer, a
  readout); ``gather`` (what it runs on a CPU for such sparse input) adds the weight column of each
  input spike.
* ``first spike``: the fire-once product over the layer's ``[T, B, out]`` surrogate: ``cumprod`` (the
  reference, one kernel, the GPU's form) and ``steps`` (a running product, the CPU's form).

One process, the order rotating between rounds; ``ms`` is the median over rounds and ``ratio`` the median
over rounds of (time / reference time of the same round). ``max_abs_diff`` is the largest difference of
the row's output from the reference's (they compute the same sum in another order).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnlab.bench.report import frame_records, write_payload
from snnlab.bench.step import check_timing, interleaved, paired_ratio, torch_threads
from snnlab.validation import check_int

if TYPE_CHECKING:
    import pandas as pd

DELAYED_COLUMNS = ("part", "impl", "ms", "ratio", "max_abs_diff", "note")
DELAYS, TAU = (0, 1, 2, 3), 2.0  # the paper's network (snnlab.models.reference.DelayedSNN)
MNIST_INK = 0.19  # fraction of MNIST pixels that are not zero: the inputs that fire once in a latency code


def _latency_input(T: int, batch: int, n_in: int, generator: torch.Generator) -> Tensor:
    """A latency code of MNIST-like images: 19% of the pixels in (0, 1], the others 0 (silent)."""
    from snnlab.encoding import encode

    x = torch.rand(batch, n_in, generator=generator) * (torch.rand(batch, n_in, generator=generator) < MNIST_INK)
    return encode(x, "latency", T)


def _parts(T: int, batch: int, sizes: tuple[int, int], seed: int) -> dict[str, tuple[dict[str, Callable[[], Tensor]], str]]:
    """Per part: ``({impl: one forward+backward returning the output}, reference impl)``."""
    from snnlab.blocks import DelayedLinear
    from snnlab.functional.srm import (delayed_potential, fire_once_by_cumprod, fire_once_by_steps, potential_by_gather,
                                       potential_by_traces, potential_weight_first)
    from snnlab.functional.surrogate import Surrogate

    g = torch.Generator().manual_seed(seed)
    spikes = _latency_input(T, batch, sizes[0], g)
    layer = DelayedLinear(sizes[0], sizes[1], delays=DELAYS, tau=TAU, generator=g)
    w = layer.weight
    g_out = torch.randn(T, batch, sizes[1], generator=g)

    def synapse(kind: str) -> Callable[[], Tensor]:
        def run() -> Tensor:
            w.grad = None
            fn = {"traces": potential_by_traces, "weight-first": potential_weight_first, "gather": potential_by_gather}[kind]
            out = fn(spikes, w, DELAYS, TAU)
            out.backward(g_out)
            return out.detach()
        return run

    with torch.no_grad():
        v = delayed_potential(spikes, w, DELAYS, TAU)
    h = Surrogate("fast_sigmoid", 25.0)(v - 1.0).detach()

    def first_spike(fn: Callable[[Tensor], Tensor]) -> Callable[[], Tensor]:
        def run() -> Tensor:
            hh = h.clone().requires_grad_()
            out = fn(hh)
            out.backward(g_out)
            return out.detach()
        return run

    density = float(spikes.count_nonzero()) / spikes.numel()
    return {
        "synapse": ({k: synapse(k) for k in ("traces", "weight-first", "gather")},
                    f"{100 * density:.2f}% of the input is a spike"),
        "first spike": ({"cumprod": first_spike(fire_once_by_cumprod), "steps": first_spike(fire_once_by_steps)}, ""),
    }


def bench_delayed(
    *,
    sizes: Sequence[int] = (784, 800, 10),
    T: int = 25,
    batch_size: int = 128,
    rounds: int = 10,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    clock: str = "wall",
    threads: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Time each way of computing the delayed SRM layer (see the module docstring); ``sizes[:2]`` are
    the layer's inputs and outputs (the MNIST network's by default). CPU only: the gather path is the
    CPU's. ``path``: also write the rows (and the settings) as JSON."""
    import pandas as pd

    if isinstance(sizes, (str, bytes)) or len(sizes) < 2:
        raise ValueError(f"sizes must list at least the layer's inputs and outputs, e.g. (784, 800), got {sizes!r}")
    n_in, n_out = (check_int("sizes entry", s, minimum=1) for s in sizes[:2])
    T = check_int("T", T, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    dev, timer = check_timing(rounds=rounds, warmup=warmup, seed=seed, clock=clock, threads=threads, device=device)
    if dev.type != "cpu":
        raise ValueError(f"bench delayed measures the CPU's paths; device={str(dev)!r} is not allowed (allowed: cpu)")
    rows: list[dict[str, Any]] = []
    with torch_threads(threads):
        for part, (impls, note) in _parts(T, batch_size, (n_in, n_out), seed).items():
            reference = next(iter(impls))
            outputs = {name: run() for name, run in impls.items()}
            times = interleaved(impls, rounds=rounds, warmup=warmup, device=dev, timer=timer)
            for name in impls:
                rows.append({
                    "part": part, "impl": name, "ms": 1e3 * statistics.median(times[name]),
                    "ratio": paired_ratio(times[name], times[reference]),
                    "max_abs_diff": float((outputs[name] - outputs[reference]).abs().max()),
                    "note": "; ".join(t for t in ("reference" if name == reference else "", note) if t),
                })
    frame = pd.DataFrame(rows, columns=list(DELAYED_COLUMNS))
    if path is not None:
        write_payload(path, rows, device=dev, clock=clock, threads=threads, rounds=rounds,
                      config={"sizes": [n_in, n_out], "T": T, "batch_size": batch_size, "delays": list(DELAYS), "tau": TAU})
    return frame


def format_delayed_bench(df: pd.DataFrame | Sequence[Mapping[str, Any]]) -> str:
    """The benchmark's rows as a table: part, implementation, ms, ratio to the part's reference."""
    records = frame_records(df, DELAYED_COLUMNS, "bench_delayed")
    lines = [f"{'part':<12} {'impl':<13} {'ms':>9} {'x ref':>7} {'max |diff|':>11}  note", "-" * 72]
    for r in records:
        ms = r["ms"] if r["ms"] is not None else math.nan
        lines.append(f"{r['part']:<12} {r['impl']:<13} {ms:9.2f} {r['ratio']:7.3f} {r['max_abs_diff']:11.2e}  {r['note']}")
    return "\n".join(lines)

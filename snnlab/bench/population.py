"""Micro-benchmark of population training: throughput per member vs the population size K.

Issue 11's question: how much does training K members of the MNIST MLP as one
``PopulationModel`` (member-stacked GEMMs, shared neurons) gain over training them one by one?
For each K the benchmark times one population training step (``pop(x[K, B, ...])``, the members'
mean cross-entropies summed, ``backward``, Adam ``step``) and one step of a standalone
``SpikingMLP`` on ``[B, ...]``; the per-member throughput relative to the standalone model is
``standalone step * K / population step`` (K members' worth of work in one step: above 1 the
population is faster than K standalone steps). Every configuration is timed once per round, the
order rotating between rounds, after untimed warm-up steps; ``ms_per_step`` is the median over
rounds and ``throughput_ratio`` the median over rounds of the ratio computed with the standalone
step of the same round. Inputs are seeded random batches of MNIST's shape in [0, 1] (no dataset).
Targets (issue 11): at least ``POPULATION_TARGETS["cuda"]`` (30x) at K=64 on a GPU; never slower
than standalone (at least 1x) on a CPU.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlab.bench.report import frame_records, write_payload
from snnlab.bench.step import (
    MNIST_SIZES,
    STEP_BACKENDS,
    check_model,
    check_timing,
    interleaved,
    neuron_note,
    synthetic_batch,
    torch_threads,
)
from snnlab.cpu_memory import keep_freed_memory
from snnlab.validation import check_choice, check_int

if TYPE_CHECKING:
    import pandas as pd

POPULATION_COLUMNS = ("model", "K", "ms_per_step", "ms_per_member", "throughput_ratio")
DEFAULT_KS = {"cpu": (1, 2, 4, 8), "cuda": (1, 8, 16, 32, 64)}
POPULATION_TARGETS = {"cuda": (64, 30.0), "cpu": (None, 1.0)}  # device type -> (K it applies at (None: every K), ratio)


def default_ks(device: str | torch.device = "cpu") -> tuple[int, ...]:
    """The population sizes measured by default: (1, 8, 16, 32, 64) on CUDA, (1, 2, 4, 8) elsewhere."""
    return DEFAULT_KS["cuda" if torch.device(device).type == "cuda" else "cpu"]


def _population_step(pop: torch.nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    K, B = y.shape
    logits = pop(x)
    loss = F.cross_entropy(logits.reshape(K * B, -1), y.reshape(K * B), reduction="none").view(K, B).mean(1).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _standalone_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_population(
    ks: Sequence[int] | None = None,
    *,
    sizes: Sequence[int] = MNIST_SIZES,
    T: int = 25,
    batch_size: int = 128,
    method: str = "none",
    p: float = 0.3,
    backend: str = "auto",
    rounds: int = 10,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    clock: str = "wall",
    threads: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Milliseconds per training step of a population of K ``SpikingMLP(sizes)`` members, and the
    per-member throughput relative to one standalone model, for each K in ``ks``.

    ``ks``: population sizes (default ``default_ks(device)``: (1, 2, 4, 8) on CPU, (1, 8, 16, 32,
    64) on CUDA). Members are ``SpikingMLP(sizes, T=T, dropout=method, p=p, seed=seed + k)`` with
    LIF ``backend`` (default ``auto``: the kernel where one runs), each on its own seeded random
    batch of ``batch_size``. Returns a first row ``model="standalone"`` (K=1, ratio 1) and one row
    per K (``model="population"``), columns ``POPULATION_COLUMNS``: the median step time over
    ``rounds`` interleaved rounds (after ``warmup`` untimed steps each), that time over K, and the
    median over rounds of ``standalone step * K / population step``. ``clock`` "wall" or "process"
    (CPU time, CPU only); ``threads`` torch's intra-op threads (restored after); ``device`` "cpu",
    "cuda", "auto" or a torch.device. With ``path`` the frame is also written there as JSON
    (``{"meta", "config", "rows"}``); ``attrs["config"]`` holds the workload.
    """
    import pandas as pd

    from snnlab.models import SpikingMLP
    from snnlab.models.population import PopulationModel

    sizes, p = check_model(sizes, T, batch_size, method, p)
    check_choice("backend", backend, STEP_BACKENDS)
    dev, timer = check_timing(rounds=rounds, warmup=warmup, seed=seed, clock=clock, threads=threads, device=device)
    if dev.type == "cpu":
        keep_freed_memory()  # as fit() does: the benchmark times what training runs
    if ks is None:
        ks = default_ks(dev)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) or not ks:
        raise TypeError(f"ks must be a non-empty sequence of population sizes such as (1, 2, 4, 8), got {ks!r}")
    ks = [check_int(f"ks[{i}]", k, minimum=1) for i, k in enumerate(ks)]
    ks = list(dict.fromkeys(ks))
    rate = 0.0 if method == "none" else p

    def member(k: int) -> SpikingMLP:
        return SpikingMLP(list(sizes), T=T, neuron_options={"backend": backend}, dropout=method, p=rate, seed=seed + k)

    fns: dict[str, Callable[[], None]] = {}
    with torch_threads(threads):
        x1, y1 = synthetic_batch(sizes[0], sizes[-1], (batch_size,), seed, dev)
        alone = member(0).to(dev).train()
        alone_opt = torch.optim.Adam(alone.parameters(), lr=1e-3)
        fns["standalone"] = lambda: _standalone_step(alone, alone_opt, x1, y1)
        for K in ks:
            pop = PopulationModel([member(k) for k in range(K)]).to(dev).train()
            opt = torch.optim.Adam(pop.parameters(), lr=1e-3)
            xk, yk = synthetic_batch(sizes[0], sizes[-1], (K, batch_size), seed + 1, dev)
            fns[f"K={K}"] = lambda pop=pop, opt=opt, xk=xk, yk=yk: _population_step(pop, opt, xk, yk)
        times = interleaved(fns, rounds=rounds, warmup=warmup, device=dev, timer=timer)

    ref = times["standalone"]
    ms = 1e3 * statistics.median(ref)
    rows = [{"model": "standalone", "K": 1, "ms_per_step": ms, "ms_per_member": ms, "throughput_ratio": 1.0}]
    for K in ks:
        t = times[f"K={K}"]
        ms = 1e3 * statistics.median(t)
        rows.append({"model": "population", "K": K, "ms_per_step": ms, "ms_per_member": ms / K,
                     "throughput_ratio": statistics.median(r * K / s for r, s in zip(ref, t))})
    config = {"benchmark": "population", "sizes": list(sizes), "T": T, "batch_size": batch_size, "method": method,
              "p": rate, "backend": backend, "neuron": neuron_note(backend, dev), "device": str(dev)}
    frame = pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))
    frame.attrs["config"] = config
    if path is not None:
        write_payload(path, rows, device=dev, clock=clock, threads=threads, rounds=rounds, config=config)
    return frame


def format_population_bench(df: pd.DataFrame | Sequence[Mapping[str, Any]], device: str | None = None) -> str:
    """A plain-text table of ``bench_population``'s frame: ms per step and per member, throughput vs standalone.

    Rows below the issue-11 target of their device are marked: on CUDA at least 30x at K=64, on a
    CPU at least 1x at every K. ``device``: the device type the rows were measured on (default:
    the frame's ``attrs["config"]``, else CPU).
    """
    records = frame_records(df, POPULATION_COLUMNS, "bench_population")
    config = getattr(df, "attrs", {}).get("config") or {}
    kind = torch.device(device or config.get("device", "cpu")).type
    at, target = POPULATION_TARGETS["cuda" if kind == "cuda" else "cpu"]
    lines = []
    if config:
        lines.append(f"SpikingMLP({config['sizes']}) T={config['T']} B={config['batch_size']} "
                     f"dropout={config['method']} LIF {config['backend']} ({config['neuron']}) on {config['device']}")
    lines += [f"{'model':<10}  {'K':>4}  {'ms/step':>9}  {'ms/member':>9}  {'x standalone':>12}", "-" * 52]
    for r in records:
        ratio = float(r["throughput_ratio"])
        flag = ""
        if r["model"] == "population" and (at is None or int(r["K"]) == at) and ratio < target:
            flag = f"  < {target:g}x"
        lines.append(f"{r['model']:<10}  {int(r['K']):>4}  {float(r['ms_per_step']):>9.2f}  "
                     f"{float(r['ms_per_member']):>9.3f}  {ratio:>12.2f}{flag}")
    lines.append("x standalone: per-member throughput, standalone step * K / population step")
    if kind == "cuda":
        lines.append(f"target: >= {POPULATION_TARGETS['cuda'][1]:g}x at K={POPULATION_TARGETS['cuda'][0]} on a GPU")
    else:
        lines.append(f"target: >= {POPULATION_TARGETS['cpu'][1]:g}x at every K on a CPU (never slower than standalone)")
    return "\n".join(lines)


__all__ = ["DEFAULT_KS", "POPULATION_COLUMNS", "POPULATION_TARGETS", "bench_population", "default_ks",
           "format_population_bench"]

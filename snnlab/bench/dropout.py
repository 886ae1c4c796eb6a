"""Micro-benchmark of the dropout methods: training-step time of a SpikingMLP with each method vs ``none``.

Issue 3's target: every method's step within 1.15x of the ``none`` step for SpikingMLP([784, 800, 10]),
T=25, B=128. All methods are measured side by side in one process: each round times one step of
every method, the order rotating from round to round, and the median over rounds is reported, so
that drift of a shared machine (other processes, thermal state) hits every method alike. The
ratio is the median over rounds of (method step / ``none`` step of the same round): pairing
each step with its neighbour in time cancels the drift that separate medians would keep.

Where the LIF kernel sums the last layer's spikes for the readout (``SpikingModel.forward``: only
when that layer's slot is the identity), the ``none`` step writes no spikes at all, which no
sampling method can do. A second reference, ``WRITTEN`` (``none`` with ``fuse_readout=False``),
separates the two costs of a method: ``ratio_to_written_none`` is what its masks add to a step that
writes its spikes; ``ratio_to_none`` adds the fusion the method forgoes (the target reads this one).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from snnlab.bench.report import sync
from snnlab.cpu_memory import keep_freed_memory
from snnlab.device import resolve_device
from snnlab.dropout import available
from snnlab.validation import check_choice, check_float, check_int

BENCH_COLUMNS = ("method", "ms_per_step", "ratio_to_none", "ratio_to_written_none")
WRITTEN = "none (spikes written)"  # the reference step without the fused readout
TARGET_RATIO = 1.15
CLOCKS = ("wall", "process")



def bench_dropout(
    methods: Sequence[str] | None = None,
    *,
    sizes: Sequence[int] = (784, 800, 10),
    T: int = 25,
    batch_size: int = 128,
    p: float = 0.3,
    steps: int = 20,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    seed: int = 0,
    clock: str = "wall",
    threads: int | None = None,
) -> pd.DataFrame:
    """Milliseconds per training step (forward, backward, Adam update) of ``SpikingMLP(sizes)`` per dropout method.

    ``methods``: registry keys (all when None); ``none`` is always measured as the reference, and
    ``WRITTEN`` (``none`` whose last layer writes its spikes, ``fuse_readout=False``) beside it.
    Every model starts from the same seed and trains on the same random batch. Returns one row
    per method (``none`` and ``WRITTEN`` first) with columns ``BENCH_COLUMNS``: the median step
    time over ``steps`` interleaved rounds (after ``warmup`` untimed steps per method), and the
    medians over rounds of the step's ratio to the ``none`` and to the ``WRITTEN`` step of the same
    round. ``clock="wall"``
    (default) times elapsed time; ``"process"`` the CPU time of this process (all its threads),
    steadier on a machine shared with other jobs; CPU only, as GPU work is not CPU time.
    ``threads`` sets torch's intra-op thread count for the run (restored afterwards); on a busy
    machine ``threads=1`` avoids OpenMP oversubscription, which can slow every step by 10x or more.
    """
    from snnlab.models import SpikingMLP  # imported here: models imports the dropout package

    known = available()
    if methods is None:
        methods = known
    if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"methods must be a sequence of method names, got {methods!r}")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown dropout method(s) {unknown!r}; allowed: {', '.join(map(repr, known))}")
    names = ["none", WRITTEN] + [m for m in dict.fromkeys(methods) if m != "none"]
    check_int("T", T, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("steps", steps, minimum=1)
    check_int("warmup", warmup, minimum=0)
    check_int("seed", seed)
    p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    check_choice("clock", clock, CLOCKS)
    if threads is not None:
        check_int("threads", threads, minimum=1)
    dev = resolve_device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # as fit() does: the benchmark times what training runs
    if clock == "process" and dev.type != "cpu":
        raise ValueError(f"clock='process' measures CPU time and only makes sense with device='cpu', got device={str(dev)!r}")
    timer = time.perf_counter if clock == "wall" else time.process_time

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, int(sizes[0]), generator=g).to(dev)
    y = torch.randint(0, int(sizes[-1]), (batch_size,), generator=g).to(dev)
    runs = {}
    for name in names:
        method = "none" if name == WRITTEN else name
        model = SpikingMLP(list(sizes), T=T, dropout=method, p=0.0 if method == "none" else p, seed=seed).to(dev)
        model.fuse_readout = name != WRITTEN
        model.train()
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))

    def step(name: str) -> float:
        model, opt = runs[name]
        sync(dev)
        start = timer()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync(dev)
        return timer() - start

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        for name in names:
            for _ in range(warmup):
                step(name)
        for r in range(steps):
            k = r % len(names)
            for name in names[k:] + names[:k]:  # rotate the order: no method always runs first or after another
                times[name].append(step(name))
    finally:
        torch.set_num_threads(before)
    ms = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    def ratio(name: str, reference: str) -> float:
        return statistics.median(t / ref for t, ref in zip(times[name], times[reference]))

    rows = [{"method": n, "ms_per_step": ms[n], "ratio_to_none": ratio(n, "none"),
             "ratio_to_written_none": ratio(n, WRITTEN)} for n in names]
    return pd.DataFrame(rows, columns=list(BENCH_COLUMNS))


def format_bench(df: pd.DataFrame) -> str:
    """A plain-text table of ``bench_dropout``'s frame, marking methods above the 1.15x target."""
    if not isinstance(df, pd.DataFrame) or not set(BENCH_COLUMNS) <= set(df.columns):
        raise TypeError(f"df must be the DataFrame of bench_dropout (columns {', '.join(BENCH_COLUMNS)})")
    width = max([len("method")] + [len(str(m)) for m in df["method"]])
    lines = [f"{'method':<{width}}  {'ms/step':>9}  {'x none':>7}  {'x written':>9}", "-" * (width + 31)]
    for row in df.itertuples(index=False):
        flag = "" if row.ratio_to_none <= TARGET_RATIO or row.method == WRITTEN else f"  > {TARGET_RATIO}x"
        lines.append(f"{row.method:<{width}}  {row.ms_per_step:>9.2f}  {row.ratio_to_none:>7.3f}  "
                     f"{row.ratio_to_written_none:>9.3f}{flag}")
    lines.append(f"target: x none <= {TARGET_RATIO}; x written: against {WRITTEN!r} (no fused readout)")
    return "\n".join(lines)


__all__ = ["BENCH_COLUMNS", "CLOCKS", "TARGET_RATIO", "WRITTEN", "bench_dropout", "format_bench"]

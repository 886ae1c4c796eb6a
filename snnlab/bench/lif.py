"""Micro-benchmark of one LIF layer: forward + backward time (and memory) of every implementation at hand.

Issue 11's question: how fast is snnlab's LIF next to a plain PyTorch loop and to the peers
(snnTorch's ``Leaky``, SpikingJelly's multi-step ``LIFNode``)? Implementations (``LIF_IMPLS``):

* ``plain``: the reference, a plain ``unbind`` loop (``h = beta*v + x``, arctan spike, subtract reset);
* ``loop``, ``fused``, ``kernel``: ``snnlab.neurons.LIF`` with that backend (``kernel``: C on CPU,
  Triton on CUDA);
* ``snntorch``, ``spikingjelly``: the peers, when installed (a row with a note otherwise);
* ``compiled``: ``torch.compile`` of ``plain`` (only when asked: its first compile takes tens of
  seconds; the note gives that time);
* ``triton``: the Triton kernel called directly (only when asked; on CUDA it is what ``kernel``
  runs, on CPU it runs under ``TRITON_INTERPRET=1`` only, which is for dry runs, not timing).

All run the same layer (beta 0.9, threshold 1, subtract reset, arctan surrogate of width 2) on
the same input and upstream gradient, in one process: each round times one forward+backward of
every implementation, the order rotating between rounds; ``ms`` is the median over rounds and
``ratio_to_plain`` the median over rounds of (time / ``plain`` time of the same round), so that
drift of a shared machine hits every row alike. ``peak_mb``: on CUDA the peak allocation above
the inputs during one forward+backward; ``saved_mb``: what the autograd graph keeps for backward
(unique storages, any device). ``measure_lif`` needs only torch (the GPU check script uses it);
``bench_lif`` wraps it in a DataFrame and ``format_lif_bench`` prints it.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnlab.bench.report import frame_records, sync, write_payload
from snnlab.cpu_memory import keep_freed_memory
from snnlab.validation import check_choice, check_int

if TYPE_CHECKING:
    import pandas as pd

LIF_IMPLS = ("plain", "loop", "fused", "kernel", "snntorch", "spikingjelly", "compiled", "triton")
DEFAULT_IMPLS = ("plain", "loop", "fused", "kernel", "snntorch", "spikingjelly")
LIF_WORKLOADS = ((25, 128, 800), (100, 128, 1000))
LIF_BENCH_COLUMNS = ("T", "batch_size", "neurons", "impl", "ms", "ratio_to_plain", "peak_mb", "saved_mb", "note")
CLOCKS = ("wall", "process")
BETA, THRESHOLD, ALPHA = 0.9, 1.0, 2.0
TARGETS = {"plain": 1.5, "peers": 2.0}  # issue 11 (2-core CPU, T=25, B=128, N=800): kernel >= 1.5x plain, >= 2x best peer



# ---------------------------------------------------------------- the implementations


def _plain(x: Tensor) -> Tensor:
    """The reference: a plain ``unbind`` loop with snnlab's arctan spike function."""
    from snnlab.functional.surrogate import ArctanSpike

    v = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
    out = []
    for xt in x.unbind(0):
        h = BETA * v + xt
        s = ArctanSpike.apply(h - THRESHOLD, ALPHA)
        v = h - s * THRESHOLD
        out.append(s)
    return torch.stack(out)


def _make(impl: str, device: torch.device) -> tuple[Callable[[Tensor], Tensor] | None, str]:
    """``(forward function, note)`` of one implementation, or ``(None, why)`` when it cannot run here."""
    if impl == "plain":
        return _plain, ""
    if impl in ("loop", "fused", "kernel"):
        from snnlab.neurons import lif_kernels
        from snnlab.neurons.lif import LIF

        lif = LIF(BETA, threshold=THRESHOLD, surrogate="arctan", surrogate_options={"alpha": ALPHA}, backend=impl).to(device)
        note = ""
        if impl == "kernel":
            status = lif_kernels.kernel_status(device)
            if status.backend == "torch":
                return None, f"no kernel: {status.reason}"
            note = status.backend
        return lif, note
    if impl == "snntorch":
        try:
            import snntorch
            from snntorch import surrogate as snn_surrogate
        except Exception as exc:  # not installed, or broken against this torch
            return None, f"snntorch not available ({type(exc).__name__}: {exc})"
        leaky = snntorch.Leaky(beta=BETA, threshold=THRESHOLD, spike_grad=snn_surrogate.atan(alpha=ALPHA),
                               reset_mechanism="subtract").to(device)

        def run_snntorch(x: Tensor) -> Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for xt in x.unbind(0):
                spk, mem = leaky(xt, mem)
                out.append(spk)
            return torch.stack(out)

        return run_snntorch, f"snntorch {snntorch.__version__}"
    if impl == "spikingjelly":
        try:
            import importlib.metadata

            from spikingjelly.activation_based import neuron
            from spikingjelly.activation_based import surrogate as sj_surrogate
            version = importlib.metadata.version("spikingjelly")
        except Exception as exc:
            return None, f"spikingjelly not available ({type(exc).__name__}: {exc})"
        # decay_input=False: H = (1 - 1/tau) V + X, i.e. beta = 1 - 1/tau; v_reset=None: subtract reset.
        node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=THRESHOLD, v_reset=None,
                              surrogate_function=sj_surrogate.ATan(alpha=ALPHA), step_mode="m").to(device)

        def run_spikingjelly(x: Tensor) -> Tensor:
            node.reset()
            return node(x)

        return run_spikingjelly, f"spikingjelly {version} multi-step LIFNode"
    if impl == "triton":
        import importlib.util

        from snnlab.functional.surrogate import Surrogate
        from snnlab.neurons import lif_triton

        if importlib.util.find_spec("triton") is None:
            return None, "triton is not installed"
        if device.type != "cuda" and not lif_triton.interpreting():
            return None, f"the Triton kernel needs CUDA (or TRITON_INTERPRET=1), device is {device.type}"
        beta = torch.tensor(BETA, device=device)
        thr = torch.tensor(THRESHOLD, device=device)
        surrogate = Surrogate("arctan", ALPHA)

        def run_triton(x: Tensor) -> Tensor:
            return lif_triton.lif_triton(x, beta, thr, surrogate=surrogate, keep_h=False)[0]

        return run_triton, "Triton interpreter" if lif_triton.interpreting() else "Triton"
    if impl == "compiled":
        compiled = torch.compile(_plain)
        return compiled, "torch.compile(plain)"
    raise ValueError(f"impl={impl!r} is not known; allowed: {', '.join(LIF_IMPLS)}")


def _saved_mb(fn: Callable[[Tensor], Tensor], x: Tensor) -> float:
    """MB the autograd graph of ``fn(x)`` keeps for backward (unique storages; the input itself excluded)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() != x.untyped_storage().data_ptr():
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    del out
    return sum(seen.values()) / 2**20


# ---------------------------------------------------------------- measuring


def measure_lif(
    impls: Sequence[str] | None = None,
    *,
    workloads: Sequence[tuple[int, int, int]] = LIF_WORKLOADS,
    rounds: int = 15,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    clock: str = "wall",
    threads: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The benchmark's rows as plain dicts (columns ``LIF_BENCH_COLUMNS``); needs only torch. See ``bench_lif``."""
    if impls is None:
        impls = DEFAULT_IMPLS
    if isinstance(impls, str) or not all(isinstance(i, str) for i in impls):
        raise TypeError(f"impls must be a sequence of implementation names, got {impls!r}")
    for impl in impls:
        check_choice("impls", impl, LIF_IMPLS)
    names = ["plain"] + [i for i in dict.fromkeys(impls) if i != "plain"]
    for w in workloads:
        if len(w) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in w):
            raise ValueError(f"workloads must be (T, batch_size, neurons) triples of positive ints, got {w!r}")
    check_int("rounds", rounds, minimum=1)
    check_int("warmup", warmup, minimum=0)
    check_int("seed", seed)
    check_choice("clock", clock, CLOCKS)
    if threads is not None:
        check_int("threads", threads, minimum=1)
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if clock == "process" and dev.type != "cpu":
        raise ValueError(f"clock='process' measures CPU time and only makes sense with device='cpu', got device={str(dev)!r}")
    timer = time.perf_counter if clock == "wall" else time.process_time

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    try:
        made = {name: _make(name, dev) for name in names}
        for steps, batch, neurons in workloads:
            g = torch.Generator().manual_seed(seed)
            x = (torch.rand(steps, batch, neurons, generator=g) * 0.5).to(dev).requires_grad_()
            grad = torch.randn(steps, batch, neurons, generator=g).to(dev)
            runnable = [n for n in names if made[n][0] is not None]
            notes = {n: made[n][1] for n in names}

            def once(name: str) -> float:
                fn = made[name][0]
                sync(dev)
                start = timer()
                fn(x).backward(grad)
                sync(dev)
                elapsed = timer() - start
                x.grad = None
                return elapsed

            for name in runnable:
                first = once(name)
                if name == "compiled":
                    notes[name] += f"; first call (compile) {first:.1f} s"
                for _ in range(warmup):
                    once(name)
            times: dict[str, list[float]] = {n: [] for n in runnable}
            for r in range(rounds):
                k = r % len(runnable)
                for name in runnable[k:] + runnable[:k]:
                    times[name].append(once(name))
            for name in names:
                row = {"T": steps, "batch_size": batch, "neurons": neurons, "impl": name, "ms": math.nan,
                       "ratio_to_plain": math.nan, "peak_mb": math.nan, "saved_mb": math.nan, "note": notes[name]}
                if name in times:
                    row["ms"] = 1e3 * statistics.median(times[name])
                    row["ratio_to_plain"] = statistics.median(t / p for t, p in zip(times[name], times["plain"]))
                    try:
                        row["saved_mb"] = _saved_mb(made[name][0], x)
                    except Exception:  # a compiled graph or a peer may not go through the saved-tensor hooks
                        pass
                    if dev.type == "cuda":
                        sync(dev)
                        base = torch.cuda.memory_allocated(dev)
                        torch.cuda.reset_peak_memory_stats(dev)
                        made[name][0](x).backward(grad)
                        sync(dev)
                        row["peak_mb"] = (torch.cuda.max_memory_allocated(dev) - base) / 2**20
                        x.grad = None
                rows.append(row)
    finally:
        torch.set_num_threads(before)
    return rows


def bench_lif(
    impls: Sequence[str] | None = None,
    *,
    workloads: Sequence[tuple[int, int, int]] = LIF_WORKLOADS,
    rounds: int = 15,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    clock: str = "wall",
    threads: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Forward+backward milliseconds of one LIF layer per implementation and workload, as a DataFrame.

    ``impls``: names from ``LIF_IMPLS`` (default: all but ``compiled``); ``plain`` is always
    measured (the reference of ``ratio_to_plain``, so below 1 is faster). ``workloads``:
    ``(T, batch_size, neurons)`` triples (default ``(25, 128, 800)`` and ``(100, 128, 1000)``).
    One row per workload and implementation, columns ``LIF_BENCH_COLUMNS``; an implementation
    that cannot run here (not installed, no kernel) has NaN times and says why in ``note``.
    ``rounds`` interleaved timed rounds after ``warmup`` untimed calls; ``clock`` "wall" or
    "process" (CPU time, CPU only); ``threads`` torch's intra-op threads for the run (restored
    after). ``device``: "cpu", "cuda", "auto" or a torch.device. With ``path`` the frame is also
    written there as JSON (``{"meta": ..., "rows": [...]}``).
    """
    import pandas as pd

    from snnlab.device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # as fit() does: the benchmark times what training runs
    rows = measure_lif(impls, workloads=workloads, rounds=rounds, warmup=warmup, device=dev, clock=clock,
                       threads=threads, seed=seed)
    frame = pd.DataFrame(rows, columns=list(LIF_BENCH_COLUMNS))
    if path is not None:
        write_payload(path, rows, device=dev, clock=clock, threads=threads, rounds=rounds)
    return frame



def format_lif_bench(df: pd.DataFrame | Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of ``bench_lif``'s frame (or ``measure_lif``'s rows) with speed-ups.

    Per workload: ms, ``x plain`` (time / plain: below 1 is faster), the kernel's speed-up over
    each row (``kernel/x``), memory, and notes; at the end the issue-11 targets for the kernel (>= 1.5x plain, >= 2x best peer).
    """
    records = frame_records(df, LIF_BENCH_COLUMNS, "bench_lif")

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    width = max([len("impl")] + [len(str(r["impl"])) for r in records])
    lines = []
    workloads = list(dict.fromkeys((r["T"], r["batch_size"], r["neurons"]) for r in records))
    for steps, batch, neurons in workloads:
        rows = [r for r in records if (r["T"], r["batch_size"], r["neurons"]) == (steps, batch, neurons)]
        by = {r["impl"]: r for r in rows}
        kernel_ms = num(by["kernel"]["ms"]) if "kernel" in by else math.nan
        lines.append(f"T={steps} B={batch} N={neurons}")
        lines.append(f"{'impl':<{width}}  {'ms':>8}  {'x plain':>7}  {'kernel/x':>8}  {'peak MB':>8}  {'saved MB':>8}  note")
        lines.append("-" * (width + 58))
        for r in rows:
            ms = num(r["ms"])
            speed = ms / kernel_ms
            cells = [f"{ms:>8.2f}", f"{num(r['ratio_to_plain']):>7.3f}", f"{speed:>8.2f}",
                     f"{num(r['peak_mb']):>8.1f}", f"{num(r['saved_mb']):>8.1f}"]
            cells = [c.replace("nan", "  -") if "nan" in c else c for c in cells]
            lines.append(f"{r['impl']:<{width}}  " + "  ".join(cells) + f"  {r['note'] or ''}".rstrip())
        if "kernel" in by and not math.isnan(kernel_ms):
            plain_gain = 1.0 / num(by["kernel"]["ratio_to_plain"])
            peers = [num(by[p]["ms"]) for p in ("snntorch", "spikingjelly") if p in by and not math.isnan(num(by[p]["ms"]))]
            text = f"kernel: {plain_gain:.2f}x faster than plain (target {TARGETS['plain']}x)"
            if peers:
                text += f", {min(peers) / kernel_ms:.2f}x faster than the fastest peer (target {TARGETS['peers']}x)"
            lines.append(text)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["CLOCKS", "LIF_BENCH_COLUMNS", "LIF_IMPLS", "LIF_WORKLOADS", "bench_lif", "format_lif_bench", "measure_lif"]

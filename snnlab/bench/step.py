"""Micro-benchmark of one training step of the MNIST MLP against its GEMM-only floor.

Issue 11's question: how close does a training step of ``SpikingMLP([784, 800, 10])`` (T=25,
B=128, direct encoding) come to the matrix products it cannot avoid? A **floor** runs exactly
those products and nothing else, with fixed stand-ins for the activations and upstream gradients
(no neuron, no dropout, no time sum, no loss):

* the first layer once per batch, as the direct encoding computes it: ``[B, 784] @ [784, 800]``
  forward and its weight gradient (``[800, B] @ [B, 784]``);
* every later hidden layer over all T steps (``[T*B, n] @ [n, m]`` forward, input and weight
  gradients);
* the readout: once per sample (``[B, 800] @ [800, 10]`` and its gradients), as the model runs it
  (the leaky readout's time mean is linear in the time-weighted spike sum, ``Readout.reads_time_sum``);
  the ``per-step`` floor runs it over all T steps instead (``[T*B, 800] @ [800, 10]``), the products
  of a per-step readout, which is how issue 11 defined the floor before the readout changed;
* the bias gradients (row sums) and the Adam update of all these parameters.

The step is the real one (``zero_grad``, cross-entropy of ``model(x)``, ``backward``, Adam
``step``) with the hidden LIF neurons on each asked ``backend`` (``loop``, ``fused``, ``kernel``,
``auto``: the kernel where one runs). As in the other benchmarks, every configuration is timed
once per round, the order rotating between rounds, after untimed warm-up steps; ``ms_per_step``
is the median over rounds and ``ratio_to_floor`` the median over rounds of (step / floor step of
the same round), against the floor of the products the step runs; ``ratio_to_per_step_floor`` the
same against the per-step floor. Target (issue 11): the step within ``STEP_TARGET`` (1.3x) of the
floor; the table flags a step above it against the floor it runs.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlab.bench.report import frame_records, sync, write_payload
from snnlab.cpu_memory import keep_freed_memory
from snnlab.validation import check_choice, check_float, check_int

if TYPE_CHECKING:
    import pandas as pd

STEP_COLUMNS = ("config", "backend", "ms_per_step", "ratio_to_floor", "ratio_to_per_step_floor", "note")
FLOORS = ("floor", "per-step floor")  # the products the step runs; those of a per-step readout
STEP_BACKENDS = ("loop", "fused", "kernel", "auto")
STEP_TARGET = 1.3
CLOCKS = ("wall", "process")
MNIST_SIZES = (784, 800, 10)


# ---------------------------------------------------------------- shared by the step and population benchmarks



def check_timing(*, rounds: int, warmup: int, seed: int, clock: str, threads: int | None,
                 device: str | torch.device) -> tuple[torch.device, Callable[[], float]]:
    """Validate the timing options every benchmark shares; returns the device and the timer."""
    from snnlab.device import resolve_device

    check_int("rounds", rounds, minimum=1)
    check_int("warmup", warmup, minimum=0)
    check_int("seed", seed)
    check_choice("clock", clock, CLOCKS)
    if threads is not None:
        check_int("threads", threads, minimum=1)
    dev = resolve_device(device)
    if clock == "process" and dev.type != "cpu":
        raise ValueError(f"clock='process' measures CPU time and only makes sense with device='cpu', got device={str(dev)!r}")
    return dev, (time.perf_counter if clock == "wall" else time.process_time)


def check_model(sizes: Sequence[int], T: int, batch_size: int, method: str, p: float) -> tuple[tuple[int, ...], float]:
    """Validate the MLP workload (layer sizes, T, batch size, dropout method and rate); returns sizes and p."""
    from snnlab.dropout import available
    from snnlab.models.base import check_sizes

    sizes = check_sizes(sizes)
    check_int("T", T, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_choice("method", method, available())
    p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    return sizes, p


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``threads`` (None: unchanged), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interleaved(fns: Mapping[str, Callable[[], None]], *, rounds: int, warmup: int, device: torch.device,
                timer: Callable[[], float]) -> dict[str, list[float]]:
    """Seconds of each call per round: ``warmup`` untimed calls each, then ``rounds`` rounds in rotating order."""
    names = list(fns)

    def once(name: str) -> float:
        sync(device)
        start = timer()
        fns[name]()
        sync(device)
        return timer() - start

    for name in names:
        for _ in range(warmup):
            once(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:  # no configuration always runs first or after the same one
            times[name].append(once(name))
    return times


def paired_ratio(times: Sequence[float], reference: Sequence[float]) -> float:
    """Median over rounds of (time / reference time of the same round)."""
    return statistics.median(t / r for t, r in zip(times, reference))



def synthetic_batch(n_features: int, classes: int, batch: tuple[int, ...], seed: int,
                    device: torch.device) -> tuple[Tensor, Tensor]:
    """Seeded inputs in [0, 1] of shape ``[*batch, 1, 28, 28]`` (MNIST's, when ``n_features`` is 784, else
    ``[*batch, n_features]``) and labels ``[*batch]``."""
    g = torch.Generator().manual_seed(seed)
    shape = (1, 28, 28) if n_features == 784 else (n_features,)
    x = torch.rand(*batch, *shape, generator=g)
    y = torch.randint(0, classes, batch, generator=g)
    return x.to(device), y.to(device)


def neuron_note(backend: str, device: torch.device) -> str:
    """What the LIF ``backend`` runs on ``device``: the loop, PyTorch's fused node, or which kernel."""
    if backend in ("loop", "fused"):
        return "time loop of lif_step" if backend == "loop" else "fused autograd node (PyTorch)"
    from snnlab.neurons.lif_kernels import kernel_status

    status = kernel_status(device)
    if status.backend == "torch":
        return f"fused fallback: {status.reason}"
    return f"{status.backend} kernel"


# ---------------------------------------------------------------- the floor


class GemmFloor:
    """The GEMM-only floor of ``SpikingMLP(sizes)``'s training step: its matrix products plus Adam.

    ``step()`` runs, without autograd, the first layer's forward and weight gradient on ``[B, in]``,
    every later hidden layer's forward, input and weight gradient on ``[T*B, ...]`` and the
    readout's on ``[B, ...]`` (``per_step_readout``: on ``[T*B, ...]``), sets the gradients (biases:
    row sums) and takes one Adam step. Activations and upstream gradients are fixed random
    stand-ins (spikes at a 20% rate), made once.
    """

    def __init__(self, sizes: Sequence[int], T: int, batch_size: int, *, device: torch.device, seed: int = 0,
                 per_step_readout: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        sizes = [int(s) for s in sizes]
        rows = [batch_size] + [T * batch_size] * (len(sizes) - 2)  # rows of each layer's input
        if len(sizes) > 2 and not per_step_readout:
            rows[-1] = batch_size  # the readout multiplies the time-weighted spike sum, once per sample
        self.weights = [torch.nn.Parameter((torch.randn(o, i, generator=g) / math.sqrt(i)).to(device))
                        for i, o in zip(sizes[:-1], sizes[1:])]
        self.biases = [torch.nn.Parameter(torch.zeros(o, device=device)) for o in sizes[1:]]
        self.inputs = [torch.rand(batch_size, sizes[0], generator=g).to(device)]
        self.inputs += [(torch.rand(n, i, generator=g) < 0.2).float().to(device) for n, i in zip(rows[1:], sizes[1:-1])]
        self.grads = [torch.randn(n, o, generator=g).to(device) for n, o in zip(rows, sizes[1:])]
        self.opt = torch.optim.Adam([*self.weights, *self.biases], lr=1e-3)

    def step(self) -> None:
        """One floor step: forward GEMMs, backward GEMMs (input gradients from the second layer on), Adam."""
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            for x, w, b in zip(self.inputs, self.weights, self.biases):
                torch.addmm(b, x, w.t())  # forward
            for i, (x, w, b, g) in enumerate(zip(self.inputs, self.weights, self.biases, self.grads)):
                if i > 0:
                    g.mm(w)  # input gradient: the first layer's input is the data, it needs none
                w.grad = g.t().mm(x)
                b.grad = g.sum(0)
        self.opt.step()


# ---------------------------------------------------------------- the benchmark


def _model_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


def bench_step(
    backends: Sequence[str] = ("loop", "auto"),
    *,
    sizes: Sequence[int] = MNIST_SIZES,
    T: int = 25,
    batch_size: int = 128,
    method: str = "none",
    p: float = 0.3,
    rounds: int = 20,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    clock: str = "wall",
    threads: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Milliseconds per training step of ``SpikingMLP(sizes)`` per LIF backend, and of its GEMM-only floor.

    ``backends``: LIF backends from ``STEP_BACKENDS`` (default ``loop`` and ``auto``, the kernel
    where one runs). The model: direct encoding, ``T`` steps, dropout ``method`` (default
    ``none``) at rate ``p``, Adam, cross-entropy on a seeded random batch of ``batch_size``. One
    row per backend (``config="step"``) and a last row ``config="floor"`` (see ``GemmFloor``);
    columns ``STEP_COLUMNS``: the median step time over ``rounds`` interleaved rounds (after
    ``warmup`` untimed steps each) and the median over rounds of the step's ratio to the floor
    of the same round; ``note`` says what the backend ran. ``clock`` "wall" or "process" (CPU
    time, CPU only); ``threads`` torch's intra-op threads for the run (restored after).
    ``device``: "cpu", "cuda", "auto" or a torch.device. With ``path`` the frame is also written
    there as JSON (``{"meta", "config", "rows"}``). The frame's ``attrs["config"]`` holds the workload.
    """
    import pandas as pd

    from snnlab.models import SpikingMLP

    if isinstance(backends, str) or not isinstance(backends, Sequence) or not backends:
        raise TypeError(f"backends must be a non-empty sequence of LIF backends ({', '.join(STEP_BACKENDS)}), got {backends!r}")
    for b in backends:
        check_choice("backends", b, STEP_BACKENDS)
    backends = list(dict.fromkeys(backends))
    sizes, p = check_model(sizes, T, batch_size, method, p)
    dev, timer = check_timing(rounds=rounds, warmup=warmup, seed=seed, clock=clock, threads=threads, device=device)
    if dev.type == "cpu":
        keep_freed_memory()  # as fit() does: the benchmark times what training runs

    x, y = synthetic_batch(sizes[0], sizes[-1], (batch_size,), seed, dev)
    fns: dict[str, Callable[[], None]] = {}
    with torch_threads(threads):
        fns["floor"] = GemmFloor(sizes, T, batch_size, device=dev, seed=seed).step
        fns["per-step floor"] = GemmFloor(sizes, T, batch_size, device=dev, seed=seed, per_step_readout=True).step
        for backend in backends:
            model = SpikingMLP(list(sizes), T=T, neuron_options={"backend": backend}, dropout=method,
                               p=0.0 if method == "none" else p, seed=seed).to(dev)
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            fns[backend] = lambda model=model, opt=opt: _model_step(model, opt, x, y)
        times = interleaved(fns, rounds=rounds, warmup=warmup, device=dev, timer=timer)

    rows = []
    notes = {"floor": "the step's GEMMs + Adam", "per-step floor": "GEMMs of a per-step readout + Adam"}
    for name in [*backends, *FLOORS]:
        is_floor = name in FLOORS
        rows.append({"config": name if is_floor else "step", "backend": "-" if is_floor else name,
                     "ms_per_step": 1e3 * statistics.median(times[name]),
                     "ratio_to_floor": paired_ratio(times[name], times["floor"]),
                     "ratio_to_per_step_floor": paired_ratio(times[name], times["per-step floor"]),
                     "note": notes[name] if is_floor else neuron_note(name, dev)})
    config = {"benchmark": "step", "sizes": list(sizes), "T": T, "batch_size": batch_size, "method": method,
              "p": 0.0 if method == "none" else p, "device": str(dev), "target": STEP_TARGET}
    frame = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    frame.attrs["config"] = config
    if path is not None:
        write_payload(path, rows, device=dev, clock=clock, threads=threads, rounds=rounds, config=config)
    return frame



def format_step_bench(df: pd.DataFrame | Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of ``bench_step``'s frame: ms per step and x floor, marking steps above the 1.3x target."""
    records = frame_records(df, STEP_COLUMNS, "bench_step")
    config = getattr(df, "attrs", {}).get("config")
    lines = []
    if config:
        lines.append(f"SpikingMLP({config['sizes']}) T={config['T']} B={config['batch_size']} "
                     f"dropout={config['method']} on {config['device']}: training step vs its GEMM-only floor")
    labels = [f"{r['config']} {r['backend']}" if r["config"] == "step" else r["config"] for r in records]
    width = max([len("config")] + [len(s) for s in labels])
    lines += [f"{'config':<{width}}  {'ms/step':>9}  {'x floor':>7}  {'x per-step':>10}  note", "-" * (width + 44)]
    for label, r in zip(labels, records):
        ratio = float(r["ratio_to_floor"])
        flag = f"  > {STEP_TARGET}x" if r["config"] == "step" and ratio > STEP_TARGET else ""
        lines.append(f"{label:<{width}}  {float(r['ms_per_step']):>9.2f}  {ratio:>7.3f}  "
                     f"{float(r['ratio_to_per_step_floor']):>10.3f}  {r['note'] or ''}{flag}".rstrip())
    lines.append(f"target: step <= {STEP_TARGET}x floor (the GEMMs the step runs); "
                 "x per-step: against the GEMMs of a per-step readout")
    return "\n".join(lines)


__all__ = ["GemmFloor", "MNIST_SIZES", "frame_records", "STEP_BACKENDS", "STEP_COLUMNS", "STEP_TARGET", "bench_step",
           "format_step_bench"]

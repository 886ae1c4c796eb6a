"""GPU check of the Triton LIF kernel: correctness against the loop reference, then the LIF benchmark, as JSON.

Needs only torch and triton (run from the repository root, or anywhere: the package source next to
this file is put on the path). On a CUDA machine::

    python tools/gpu_lif_check.py gpu_lif.json

checks the Triton kernel (``snnlab.neurons.lif_triton``) and ``LIF(backend="kernel")`` against a
loop of ``lif_step`` on the GPU for every reset / detach_reset / surrogate, float32 and float64
(spikes and ``h`` bit for bit, gradients of x, beta and threshold to 1e-5 / 1e-10 relative to the
largest value) and float16 inputs (spikes equal to the float32 reference on the same values), then
times one LIF layer's forward+backward (plain loop, snnlab loop / fused / kernel, and snnTorch /
SpikingJelly if installed) at T=25,B=128,N=800 and T=100,B=128,N=1000, and the kernel at a few
block sizes. Everything goes into the JSON file; the table is printed. Exit status 1 if a check
failed. ``--tiny`` is a dry run on CPU under ``TRITON_INTERPRET=1`` (tiny sizes, two rounds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _close(a, b, tol: float) -> tuple[bool, float]:
    """Whether ``a`` is within ``tol`` of ``b`` relative to b's largest magnitude (at least 1), and the error."""
    err = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    scale = max(float(b.double().abs().max()) if b.numel() else 0.0, 1.0)
    return err <= tol * scale, err / scale


def correctness(device, shapes, log) -> list[dict]:
    """Every variant of the Triton kernel (and the LIF backend) against the reference, one record each."""
    import torch

    from snnlab.functional.lif import LIFParams
    from snnlab.functional.surrogate import Surrogate
    from snnlab.neurons import LIF, lif_triton
    from snnlab.neurons.lif_kernels import reference_lif

    records = []
    surrogates = [Surrogate("fast_sigmoid", 25.0), Surrogate("arctan", 2.0)]
    cases = [(dt, r, d, s) for dt in (torch.float32, torch.float64) for r in ("subtract", "zero")
             for d in (False, True) for s in surrogates]
    for dtype, reset, detach, sur in cases:
        for shape in shapes:
            g = torch.Generator().manual_seed(0)
            x = (torch.rand(shape, generator=g, dtype=dtype) * 1.5 - 0.2).to(device)
            w_s, w_h = (torch.randn(shape, generator=g, dtype=dtype).to(device) for _ in range(2))
            out = []
            for impl in ("triton", "reference"):
                xi = x.clone().requires_grad_()
                b = torch.tensor(0.85, dtype=dtype, device=device, requires_grad=True)
                t = torch.tensor(0.9, dtype=dtype, device=device, requires_grad=True)
                if impl == "triton":
                    s, h = lif_triton.lif_triton(xi, b, t, reset=reset, surrogate=sur, detach_reset=detach)
                else:
                    s, h = reference_lif(xi, LIFParams(b, t, reset, sur, detach))
                grads = torch.autograd.grad((s * w_s).sum() + (h * w_h).sum(), [xi, b, t])
                out.append((s, h, grads))
            (s, h, gr), (s0, h0, g0) = out
            tol = 1e-10 if dtype == torch.float64 else 1e-5
            errs = {name: _close(a, c, tol) for name, a, c in zip(("x", "beta", "threshold"), gr, g0)}
            rec = {"dtype": str(dtype).replace("torch.", ""), "reset": reset, "detach_reset": detach,
                   "surrogate": sur.name, "shape": list(shape), "spikes_equal": bool(torch.equal(s, s0)),
                   "h_equal": bool(torch.equal(h, h0)), "grad_rel_err": {k: v[1] for k, v in errs.items()}}
            rec["ok"] = rec["spikes_equal"] and rec["h_equal"] and all(v[0] for v in errs.values())
            records.append(rec)
            if not rec["ok"]:
                log(f"FAIL {rec}")
    # float16 inputs: computed in float32, spikes as the float32 reference on the same values
    x16 = (torch.rand(shapes[-1], generator=torch.Generator().manual_seed(1)) * 1.5 - 0.2).to(device).half()
    b, t = torch.tensor(0.85, device=device), torch.tensor(0.9, device=device)
    s16, h16 = lif_triton.lif_triton(x16.requires_grad_(), b, t)
    s32, h32 = reference_lif(x16.detach().float(), LIFParams(b, t))
    rec = {"dtype": "float16", "shape": list(shapes[-1]), "spikes_equal": bool(torch.equal(s16.float(), s32)),
           "h_equal": bool(torch.equal(h16, h32.half()))}
    rec["ok"] = rec["spikes_equal"] and rec["h_equal"]
    records.append(rec)
    # the LIF module's "kernel" backend against its "loop" backend (forward bit for bit, gradients to rounding)
    x = (torch.rand(shapes[-1], generator=torch.Generator().manual_seed(2)) * 1.5 - 0.2).to(device).requires_grad_()
    res = []
    for backend in ("loop", "kernel"):
        lif = LIF(0.9, threshold=0.8, learn_beta=True, learn_threshold=True, backend=backend).to(device)
        o = lif.run(x, trace=True, mean=True)
        res.append((o, torch.autograd.grad(o.spikes.sum() + o.trace.square().sum(), [x, lif.beta, lif.threshold])))
    (o0, g0), (o1, g1) = res
    rec = {"dtype": "float32", "module": "LIF(backend='kernel') vs 'loop'", "shape": list(shapes[-1]),
           "spikes_equal": bool(torch.equal(o0.spikes, o1.spikes)), "h_equal": bool(torch.equal(o0.trace, o1.trace)),
           "grad_rel_err": {k: _close(a, c, 1e-5)[1] for k, a, c in zip(("x", "beta", "threshold"), g1, g0)}}
    rec["ok"] = rec["spikes_equal"] and rec["h_equal"] and all(v <= 1e-5 for v in rec["grad_rel_err"].values())
    records.append(rec)
    return records


def block_sweep(device, workloads, rounds, blocks) -> list[dict]:
    """Forward+backward ms of the Triton kernel per BLOCK (median over rounds), to choose the default."""
    import statistics

    import torch

    from snnlab.functional.surrogate import Surrogate
    from snnlab.neurons import lif_triton

    default = lif_triton.BLOCK
    rows = []
    try:
        for steps, batch, neurons in workloads:
            x = (torch.rand(steps, batch, neurons, device=device) * 0.5).requires_grad_()
            grad = torch.randn(steps, batch, neurons, device=device)
            beta, thr = torch.tensor(0.9, device=device), torch.tensor(1.0, device=device)
            for block in blocks:
                lif_triton.BLOCK = block
                times = []
                for r in range(rounds + 2):
                    torch.cuda.synchronize() if device.type == "cuda" else None
                    start = time.perf_counter()
                    s, _ = lif_triton.lif_triton(x, beta, thr, surrogate=Surrogate("arctan", 2.0), keep_h=False)
                    s.backward(grad)
                    torch.cuda.synchronize() if device.type == "cuda" else None
                    if r >= 2:
                        times.append(time.perf_counter() - start)
                    x.grad = None
                rows.append({"T": steps, "batch_size": batch, "neurons": neurons, "block": block,
                             "ms": 1e3 * statistics.median(times)})
    finally:
        lif_triton.BLOCK = default
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="where to write the JSON results")
    parser.add_argument("--tiny", action="store_true", help="dry run on CPU under TRITON_INTERPRET=1 at tiny sizes")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per implementation (default 30; tiny 2)")
    args = parser.parse_args(argv)
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import torch

    from snnlab.bench.lif import DEFAULT_IMPLS, format_lif_bench, measure_lif
    from snnlab.bench.report import bench_meta

    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if torch.cuda.is_available() and not args.tiny:
        device = torch.device("cuda")
        shapes, workloads, rounds, blocks = [(1, 1, 3), (7, 3, 301), (25, 16, 1001)], [(25, 128, 800), (100, 128, 1000)], 30, (128, 256, 512, 1024)
    elif args.tiny:
        device = torch.device("cpu")
        shapes, workloads, rounds, blocks = [(1, 1, 3), (5, 2, 37)], [(3, 2, 5), (4, 2, 7)], 2, (16, 32)
    else:
        print("no CUDA device here; use --tiny for a CPU dry run under TRITON_INTERPRET=1", file=sys.stderr)
        return 2
    rounds = args.rounds or rounds
    log(f"device {device}, torch {torch.__version__}")
    start = time.perf_counter()
    checks = correctness(device, shapes, log)
    failed = [c for c in checks if not c["ok"]]
    log(f"correctness: {len(checks) - len(failed)}/{len(checks)} ok ({time.perf_counter() - start:.1f} s)")
    impls = list(DEFAULT_IMPLS) + (["triton"] if device.type == "cpu" else [])
    rows = measure_lif(impls, workloads=workloads, rounds=rounds, warmup=3, device=device)
    sweep = block_sweep(device, workloads, max(3, rounds // 3), blocks)
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    payload = {"meta": bench_meta(device, clock="wall", threads=None, rounds=rounds), "correctness": checks,
               "rows": clean, "block_sweep": sweep, "failed": len(failed)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    log(format_lif_bench(rows))
    log("block sweep (Triton kernel fwd+bwd ms): " + ", ".join(
        f"T={r['T']} BLOCK={r['block']}: {r['ms']:.3f}" for r in sweep))
    log(f"wrote {args.out}; {len(failed)} failed check(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""GPU check of issue 11 item 4: the training step vs its GEMM floor, populations vs K, host syncs in training.

Needs torch (+ triton), numpy, pandas, scipy, scikit-learn and tqdm only; run from the repository
root on a CUDA machine::

    PYTHONPATH=. python tools/gpu_check.py gpu_check_out

and it writes JSON files into the folder ``gpu_check_out`` and prints a short summary:

* ``summary.json``: versions, device, the import check (do ``snnlab.models``, ``snnlab.population``,
  ``snnlab.train`` and the ``step`` / ``population`` / ``lif`` benchmarks import without
  ipywidgets, plotly, papermill, pyyaml and friends? if one pulls such a module in, the import
  chain), each part's status, seconds and error, and the summary lines;
* ``step.json``: ``bench_step`` on CUDA, LIF backends ``loop`` and ``auto`` (the Triton kernel),
  vs the GEMM-only floor (target: step <= 1.3x floor);
* ``population.json``: ``bench_population`` on CUDA for K in (1, 8, 16, 32, 64) (target: >= 30x per
  member throughput at K=64);
* ``sync_fit.json``: for every dropout method, ``snnlab.train.fit`` of ``SpikingMLP([784, 800, 10],
  T=25)`` (LIF backend ``auto``) for one epoch on 256 synthetic samples (batch 64: 4 steps) under
  ``torch.cuda.set_sync_debug_mode("warn")``: the host syncs counted per phase (first step with
  setup, the later steps, the epoch end: ``fit`` reads its sums and evaluates once per epoch) and
  where each came from (the innermost snnlab source line, and the warning's message). A warm-up
  run first (kernel compilation, cuBLAS start-up) is not counted. Goal: no sync in the steps;
* ``sync_population.json``: the same for a ``PopulationModel`` of 4 members via ``fit_population``.

A failing part is recorded (error and traceback in its JSON and in ``summary.json``) and the
others still run; parts after ``--budget`` seconds (default 330) are skipped. ``--tiny``: a dry run
on CPU at tiny sizes (hidden 32, T=4, B=8, one round; the fits run but the sync counting, CUDA
only, is skipped). Exit status 1 when a part failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
PACKAGE = str(REPO / "snnlab")

IMPORTS = ("snnlab.models", "snnlab.population", "snnlab.train", "snnlab.dropout", "snnlab.bench.step",
           "snnlab.bench.population", "snnlab.bench.lif")
# Not on the bare GPU machine (which has torch, triton, numpy, pandas, scipy, scikit-learn, tqdm).
UNWANTED = ("ipywidgets", "plotly", "papermill", "yaml", "matplotlib", "nbformat", "nbclient", "IPython", "seaborn",
            "ray", "torchvision", "PIL", "snntorch", "spikingjelly")
EXPECTED = ("torch", "triton", "numpy", "pandas", "scipy", "sklearn", "tqdm", "snnlab",
            # what those bring along: their own dependencies and interpreter-made module names
            "torchgen", "typing_extensions", "dateutil", "pytz", "tzdata", "six", "sympy", "mpmath", "networkx",
            "jinja2", "markupsafe", "filelock", "fsspec", "cuda", "nvidia", "cython_runtime", "joblib",
            "threadpoolctl")

_IMPORT_PROBE = r"""
import importlib, importlib.abc, json, sys, traceback
modules, unwanted = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
current, pulled = [None], []
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in unwanted and not any(p["module"] == top for p in pulled):
            chain = [f"{f.filename}:{f.lineno}: {f.line}" for f in traceback.extract_stack()[:-1]
                     if not f.filename.startswith("<")]
            pulled.append({"module": top, "while_importing": current[0], "chain": chain})
        return None
sys.meta_path.insert(0, Probe())
status = {}
for name in modules:
    current[0] = name
    try:
        importlib.import_module(name)
        status[name] = "ok"
    except BaseException as exc:
        status[name] = f"{type(exc).__name__}: {exc}"
tops = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names) - {"__main__"})
print(json.dumps({"status": status, "unwanted": pulled, "third_party": [t for t in tops if not t.startswith("_")]}))
"""


def import_check() -> dict[str, Any]:
    """Import the modules the GPU work needs in a fresh interpreter; report unwanted modules and their chains."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, json.dumps(IMPORTS), json.dumps(UNWANTED)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f"the import probe failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["other_third_party"] = [t for t in result["third_party"] if t not in EXPECTED]
    result["ok"] = all(v == "ok" for v in result["status"].values()) and not result["unwanted"]
    return result


# ---------------------------------------------------------------- the sync check


def synthetic_split(n: int, split: str, seed: int) -> Any:
    """A ``SplitData`` of ``n`` random MNIST-shaped samples in [0, 1] with 10 classes, on the CPU."""
    import torch

    from snnlab.data import SplitData

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return SplitData(x, y, "synthetic", split, tuple(str(c) for c in range(10)))


def _short(frame: traceback.FrameSummary) -> str:
    name = frame.filename
    for root in (str(REPO), os.path.dirname(os.path.dirname(os.__file__))):
        if name.startswith(root):
            name = os.path.relpath(name, root)
            break
    return f"{name}:{frame.lineno}: {(frame.line or '').strip()}"


def _where(stack: list[traceback.FrameSummary]) -> str:
    """Where a warning came from: the innermost snnlab line, and the innermost Python line when that is deeper."""
    frames = [f for f in stack if f.filename not in (warnings.__file__, __file__)]
    if not frames:
        return "?"
    ours = [f for f in frames if f.filename.startswith(PACKAGE)]
    if not ours:
        return _short(frames[-1])
    where = _short(ours[-1])
    return where if frames[-1] is ours[-1] else f"{where} [in {_short(frames[-1])}]"


def count_syncs(run: Callable[[Callable[[Any], None]], None], cuda: bool) -> dict[str, Any]:
    """Run ``run(on_step)`` under the sync debug mode "warn" and sort the sync warnings by phase and origin."""
    import torch

    events: list[dict[str, Any]] = []
    marks: list[int] = []
    others: Counter[str] = Counter()

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        text = str(message)
        if "synchroniz" not in text.lower():
            others[f"{category.__name__}: {text.splitlines()[0][:200]}"] += 1
            return
        stack = traceback.extract_stack()[:-1]
        events.append({"after_steps": len(marks), "where": _where(stack), "message": text.splitlines()[0][:200],
                       "warned_at": f"{os.path.relpath(filename, REPO) if filename.startswith(str(REPO)) else filename}:{lineno}"})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.showwarning = show  # with the stack of the call that synced; catch_warnings restores it
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            run(lambda loss: marks.append(len(events)))
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
    for w in caught:  # only reached if the hook above was bypassed
        text = str(w.message)
        if "synchroniz" in text.lower():
            events.append({"after_steps": None, "where": f"{w.filename}:{w.lineno}", "message": text[:200],
                           "warned_at": f"{w.filename}:{w.lineno}"})
        else:
            others[f"{w.category.__name__}: {text.splitlines()[0][:200]}"] += 1
    steps = len(marks)

    def phase(e: dict[str, Any]) -> str:
        if e["after_steps"] is None:
            return "unknown"
        if e["after_steps"] == 0:
            return "setup_and_step_1"
        return "later_steps" if e["after_steps"] < steps else "epoch_end"

    phases = Counter(phase(e) for e in events)
    by_where: dict[str, Counter[str]] = {}
    for e in events:
        by_where.setdefault(phase(e), Counter())[f"{e['where']}  <- {e['message']}"] += 1
    return {"steps": steps, "syncs": len(events), "by_phase": dict(phases),
            "syncs_per_later_step": phases.get("later_steps", 0) / (steps - 1) if steps > 1 else None,
            "origins": {p: dict(c.most_common()) for p, c in by_where.items()}, "other_warnings": dict(others)}


def sync_check(*, device: Any, sizes: tuple[int, ...], T: int, members: int | None, batch_size: int, n: int,
               deadline: float, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One record per dropout method: ``fit`` (or ``fit_population`` with ``members``) under the sync debug mode."""
    import torch

    from snnlab.dropout import available
    from snnlab.models import SpikingMLP
    from snnlab.models.population import PopulationModel
    from snnlab.population import fit_population
    from snnlab.train import fit

    cuda = device.type == "cuda"
    train, test = synthetic_split(n, "train", 0), synthetic_split(64, "test", 1)
    records = []
    for method in available():
        rec: dict[str, Any] = {"method": method, "members": members}
        if time.perf_counter() > deadline:
            rec["skipped"] = "time budget spent"
            records.append(rec)
            continue
        started = time.perf_counter()

        def build(seed: int, method: str = method) -> SpikingMLP:
            return SpikingMLP(list(sizes), T=T, neuron_options={"backend": "auto"}, dropout=method,
                              p=0.0 if method == "none" else 0.3, seed=seed)

        def run(on_step: Callable[[Any], None]) -> None:
            if members is None:
                fit(build(0), train, test, epochs=1, batch_size=batch_size, seed=0, device=device, progress=False,
                    on_step=on_step)
            else:
                model = PopulationModel([build(k) for k in range(members)])
                fit_population(model, train, test, epochs=1, seeds=list(range(members)), batch_size=batch_size,
                               device=device, progress=False, on_step=on_step)

        try:
            run(lambda loss: None)  # warm-up: kernel compilation and library start-up are not what we count
            if cuda:
                torch.cuda.synchronize()
                rec.update(count_syncs(run, cuda=True))
            else:
                steps: list[int] = []
                run(lambda loss: steps.append(1))
                rec.update({"steps": len(steps), "syncs": None, "note": "sync counting needs CUDA; the fit ran on CPU"})
        except Exception as exc:
            rec["error"] = f"{type(exc).__name__}: {exc}"
            rec["traceback"] = traceback.format_exc()
        rec["seconds"] = time.perf_counter() - started
        log(f"  {'population ' if members else ''}{method}: " + (
            rec.get("error") or (f"{rec['syncs']} sync(s) in {rec['steps']} steps, by phase {rec.get('by_phase')}"
                                 if rec.get("syncs") is not None else f"ran {rec['steps']} steps (no sync counting)")))
        records.append(rec)
    return records


def format_syncs(records: list[dict[str, Any]]) -> str:
    """One line per method: syncs in total, per later step, at the epoch end, and the step syncs' origins."""
    lines = [f"{'method':<14}  {'steps':>5}  {'syncs':>5}  {'step 1':>6}  {'later/step':>10}  {'epoch end':>9}"]
    for r in records:
        if "error" in r or "skipped" in r:
            lines.append(f"{r['method']:<14}  {r.get('error') or r.get('skipped')}")
            continue
        if r.get("syncs") is None:
            lines.append(f"{r['method']:<14}  {r['steps']:>5}  {'-':>5}  (not counted: {r.get('note', '')})")
            continue
        ph = r["by_phase"]
        per = r["syncs_per_later_step"]
        lines.append(f"{r['method']:<14}  {r['steps']:>5}  {r['syncs']:>5}  {ph.get('setup_and_step_1', 0):>6}  "
                     f"{'-' if per is None else f'{per:.2f}':>10}  {ph.get('epoch_end', 0):>9}")
        for origin, count in r["origins"].get("later_steps", {}).items():
            lines.append(f"    {count:>3}x in the steps: {origin}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _write(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(_clean(payload), indent=2, default=str) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder for the JSON files (created; at most 5 files are written)")
    parser.add_argument("--tiny", action="store_true", help="dry run on CPU at tiny sizes (no sync counting)")
    parser.add_argument("--budget", type=float, default=330.0, help="seconds after which remaining parts are skipped")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    deadline = t0 + args.budget
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)

    def note(msg: str) -> None:
        lines.append(msg)
        log(msg)

    import torch

    summary: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0], "argv": sys.argv[1:],
                               "parts": {}}
    if args.tiny:
        device = torch.device("cpu")
        cfg = dict(sizes=(784, 32, 10), T=4, batch_size=8)
        step_opts, pop_opts, ks = dict(rounds=1, warmup=0), dict(rounds=1, warmup=0), (1, 2)
        sync_sizes, sync_T = (784, 32, 10), 4
    elif torch.cuda.is_available():
        device = torch.device("cuda")
        cfg = dict(sizes=(784, 800, 10), T=25, batch_size=128)
        step_opts, pop_opts, ks = dict(rounds=30, warmup=5), dict(rounds=8, warmup=3), (1, 8, 16, 32, 64)
        sync_sizes, sync_T = (784, 800, 10), 25
        summary["gpu"] = torch.cuda.get_device_name(device)
    else:
        print("no CUDA device here; use --tiny for a CPU dry run", file=sys.stderr)
        return 2
    summary["device"] = str(device)
    try:
        import triton

        summary["triton"] = triton.__version__
    except ImportError:
        summary["triton"] = None
    log(f"gpu_check on {summary.get('gpu', device)}: torch {torch.__version__}, triton {summary['triton']}")

    def part(name: str, fn: Callable[[], Any], file: str | None = None) -> Any:
        started = time.perf_counter()
        info: dict[str, Any] = {"file": file}
        result = None
        if file is not None:
            (out / file).unlink(missing_ok=True)  # no stale result of an earlier run in this folder
        if time.perf_counter() > deadline:
            info["status"] = "skipped: time budget spent"
            note(f"[{name}] skipped (time budget)")
        else:
            try:
                result = fn()
                info["status"] = "ok"
            except Exception as exc:
                info.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
                note(f"[{name}] FAILED: {type(exc).__name__}: {exc}")
                if file is not None and not (out / file).exists():
                    _write(out / file, {"error": info["error"], "traceback": info["traceback"]})
        info["seconds"] = round(time.perf_counter() - started, 2)
        summary["parts"][name] = info
        return result

    # (0) imports: nothing beyond the bare machine's packages
    imports = part("imports", import_check)
    if imports is not None:
        summary["imports"] = imports
        if imports["ok"]:
            other = imports["other_third_party"]
            note(f"[imports] ok: {', '.join(IMPORTS)} import without {', '.join(UNWANTED)}"
                 + (f"; other non-stdlib modules loaded: {', '.join(other)}" if other else ""))
        else:
            bad = {k: v for k, v in imports["status"].items() if v != "ok"}
            note(f"[imports] PROBLEM: failed {bad or 'none'}; unwanted "
                 + "; ".join(f"{u['module']} via {' -> '.join(c.split(':')[0] for c in u['chain'])}" for u in imports["unwanted"]))

    # (a) the training step vs its GEMM floor
    def step() -> Any:
        from snnlab.bench.step import bench_step, format_step_bench

        frame = bench_step(["loop", "auto"], **cfg, **step_opts, device=device, path=out / "step.json")
        text = format_step_bench(frame)
        log(text)
        for r in frame.itertuples(index=False):
            if r.config == "step":
                lines.append(f"[step] {r.backend}: {r.ms_per_step:.2f} ms, {r.ratio_to_floor:.2f}x floor (target <= 1.3x), "
                             f"{r.ratio_to_per_step_floor:.2f}x per-step floor")
        for r in frame.itertuples(index=False):
            if r.config != "step":
                lines.append(f"[step] {r.config}: {r.ms_per_step:.2f} ms")
        return text

    part("step", step, "step.json")

    # (b) populations vs K
    def population() -> Any:
        from snnlab.bench.population import bench_population, format_population_bench

        frame = bench_population(ks, **cfg, **pop_opts, device=device, path=out / "population.json")
        text = format_population_bench(frame)
        log(text)
        lines.append("[population] x standalone per member: " + ", ".join(
            f"K={r.K}: {r.throughput_ratio:.1f}x" for r in frame.itertuples(index=False) if r.model == "population"))
        return text

    part("population", population, "population.json")

    # (c) and (d) host syncs during training
    for name, members, file in (("sync_fit", None, "sync_fit.json"), ("sync_population", 4, "sync_population.json")):
        def check(members: int | None = members, file: str = file, name: str = name) -> Any:
            log(f"[{name}] fit{'_population (4 members)' if members else ''} per dropout method, 256 samples, batch 64")
            records = sync_check(device=device, sizes=sync_sizes, T=sync_T, members=members, batch_size=64, n=256,
                                 deadline=deadline, log=log)
            _write(out / file, {"device": str(device), "sizes": list(sync_sizes), "T": sync_T, "members": members,
                                "samples": 256, "batch_size": 64, "records": records})
            table = format_syncs(records)
            log(table)
            counted = [r for r in records if r.get("syncs") is not None]
            failed = [r["method"] for r in records if "error" in r]
            stepping = {r["method"]: r["syncs_per_later_step"] for r in counted if r["syncs_per_later_step"]}
            lines.append(f"[{name}] {len(counted)} method(s) counted; syncs per step after the first: "
                         + (", ".join(f"{m} {v:.2f}" for m, v in stepping.items()) or "none")
                         + (f"; FAILED: {', '.join(failed)}" if failed else ""))
            if failed:
                raise RuntimeError(f"{len(failed)} method(s) failed: {', '.join(failed)} (see {file})")
            return table

        part(name, check, file)

    summary["elapsed_s"] = round(time.perf_counter() - t0, 1)
    summary["summary"] = lines
    _write(out / "summary.json", summary)
    failed = [k for k, v in summary["parts"].items() if v["status"] == "error"]
    print("\n==== summary ====")
    print("\n".join(lines))
    print(f"{summary['elapsed_s']} s; wrote {sorted(p.name for p in out.glob('*.json'))} to {out}"
          + (f"; FAILED parts: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

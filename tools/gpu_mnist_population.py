"""Time real MNIST trials on a GPU: one standalone trial against the same grid as populations.

``python tools/gpu_mnist_population.py DATA_ROOT OUT.json [--epochs E] [--seeds S]``: the grid
`SpikingMLP([784, 800, 10])`, T=25, batch 128, `standard` dropout at p = 0.1/0.2/0.3/0.5 x S
seeds, E epochs; first one trial with the ``local`` executor, then the whole grid with the
``population`` executor (stores in a temporary folder). Writes wall times, the population size
used and every trial's final test accuracy (the standalone one twice: alone and as a member).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-subset", type=int, default=None)
    args = parser.parse_args()

    from snnlab.study import ResultsStore, TrialSpec
    from snnlab.study.runner import run_trials

    base = TrialSpec(dataset="mnist", sizes=(800,), T=25, epochs=args.epochs, method="standard", p=0.1, lr=1e-3,
                     batch_size=128, device=args.device, train_subset=args.train_subset)
    grid = [base.replace(seed=s, p=p) for s in range(args.seeds) for p in (0.1, 0.2, 0.3, 0.5)]
    out: dict = {"grid": len(grid), "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        one = run_trials(grid[:1], ResultsStore(Path(tmp) / "one.sqlite"), executor="local", data_root=args.data_root,
                         progress=False)
        out["standalone_seconds"] = time.perf_counter() - t0
        out["standalone_test_acc"] = float(one.frame()["test_acc"].iloc[0])
        t0 = time.perf_counter()
        pop = run_trials(grid, ResultsStore(Path(tmp) / "pop.sqlite"), executor="population", data_root=args.data_root,
                         progress=False)
        out["population_seconds"] = time.perf_counter() - t0
        frame = pop.frame()
        out["trained"] = pop.trained
        out["population_size"] = int(pop.store.get(grid[0]).env.get("population", 1))
        out["test_acc"] = {f"seed{r.seed}_p{r.p}": float(r.test_acc) for r in frame.itertuples()}
        out["member_of_standalone_test_acc"] = out["test_acc"][f"seed{grid[0].seed}_p{grid[0].p}"]
        out["speedup_per_trial"] = out["standalone_seconds"] * len(grid) / out["population_seconds"]
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "test_acc"}, indent=1))


if __name__ == "__main__":
    main()

"""Populations on a CUDA device: member k's forward equals its standalone model's, for every model
kind and every dropout method, and a short ``fit_population`` runs for each kind.

``PYTHONPATH=. python tools/gpu_population_check.py OUT.json [--device cuda]`` (``--device cpu`` for a
dry run). Exits 1 when a check fails; the JSON lists every check with its largest difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    import torch

    from snnlab.data import SplitData
    from snnlab.dropout import available
    from snnlab.models import DelayedSNN, PenaltySNN, SpikingCNN, SpikingMLP
    from snnlab.models.population import PopulationModel
    from snnlab.population import fit_population

    dev = torch.device(args.device)
    kinds = {
        "spiking_mlp": (lambda **kw: SpikingMLP([64, 32, 10], **kw), (64,)),
        "spiking_mlp_rate": (lambda **kw: SpikingMLP([64, 32, 10], encoding="rate", **kw), (64,)),
        "spiking_cnn": (lambda **kw: SpikingCNN((1, 8, 8), (4,), 16, 10, **kw), (1, 8, 8)),
        "penalty_snn": (lambda **kw: PenaltySNN([64, 32, 10], **kw), (64,)),
        "delayed_snn": (lambda **kw: DelayedSNN([64, 32, 10], **kw), (64,)),
    }
    checks, ok = [], True
    for kind, (build, shape) in kinds.items():
        for method in available():
            ps = [0.0] * 3 if method == "none" else [0.1, 0.2, 0.3]
            try:
                members = [build(T=4, dropout=method, p=p, seed=s).to(dev) for s, p in zip((1, 2, 3), ps)]
                pop = PopulationModel([build(T=4, dropout=method, p=p, seed=s) for s, p in zip((1, 2, 3), ps)]).to(dev)
                x = torch.rand(3, 6, *shape, generator=torch.Generator().manual_seed(0)).to(dev)
                pop.train()
                pop.reseed([1, 2, 3])
                got = pop(x)
                diff = 0.0
                for k, m in enumerate(members):
                    m.train()
                    m.reseed(k + 1)
                    diff = max(diff, float((got[k] - m(x[k])).detach().abs().max()))
                passed = diff <= 1e-4
                checks.append({"kind": kind, "method": method, "max_abs_diff": diff, "ok": passed})
            except Exception:  # noqa: BLE001 - recorded, the other checks go on
                passed = False
                checks.append({"kind": kind, "method": method, "error": traceback.format_exc(limit=3)})
            ok &= passed
        try:  # a short population training run of the kind, with dropout
            g = torch.Generator().manual_seed(0)
            n = 96
            xs = torch.rand(n, *((1, 8, 8) if kind == "spiking_cnn" else (1, 8, 8)), generator=g)
            data = SplitData(x=xs, y=torch.randint(0, 10, (n,), generator=g), name="synthetic", split="train",
                             classes=tuple(str(i) for i in range(10)))
            pop = PopulationModel([build(T=4, dropout="standard", p=0.2, seed=s) for s in (1, 2, 3)])
            hist = fit_population(pop, data, dataclasses.replace(data, split="test"), epochs=2, seeds=[1, 2, 3],
                                  batch_size=32, device=dev, progress=False)
            checks.append({"kind": kind, "fit_population": [h.final.get("test_acc") for h in hist], "ok": True})
        except Exception:  # noqa: BLE001
            ok = False
            checks.append({"kind": kind, "fit_population_error": traceback.format_exc(limit=3)})
    Path(args.out).write_text(json.dumps({"device": str(dev), "ok": ok, "checks": checks}, indent=1))
    bad = [c for c in checks if not c.get("ok")]
    print(f"{len(checks)} checks on {dev}: {len(bad)} failed")
    for c in bad:
        print(json.dumps(c)[:600])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Record (or check) the golden per-epoch histories of the refactor reference set.

Every model kind x ``none`` and every dropout method (the ANN baselines: ``none`` and
``standard``), digits, 2 epochs, CPU, small sizes so the check runs in the test suite.

Bit-for-bit histories depend on the machine's floating-point code paths (a CPU with AVX-512 rounds
its GEMMs and reductions differently from one with AVX2 only, and a spiking CNN's 2-epoch history
amplifies one flipped spike). So the specs always run in a child process with those paths pinned
(``PINNED_NUMERICS``: PyTorch's AVX2 kernels, MKL's conditional-numerical-reproducibility AVX2
branch, oneDNN up to AVX2, one thread), and each recording carries the fingerprint of a few
primitives computed there: a machine whose fingerprint matches gets the same bits; one that does not
cannot be compared bit for bit, and the test says so instead of failing.

``python tools/make_golden.py OUT.json`` writes this machine's recording; ``--add`` merges it into
``tests/golden_histories.json`` (replacing a recording with the same fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "tests" / "golden_histories.json"
PINNED_NUMERICS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2",
                   "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SNNLAB_GOLDEN_PINNED": "1"}

GOLDEN_METHODS = ("none", "standard", "dropout2d", "feature_alpha", "alpha", "temporal",
                  "membrane", "synaptic", "activity", "dropconnect")
SPIKING = {
    "spiking_mlp": dict(sizes=(48,), T=6),
    "spiking_cnn": dict(sizes=(4, 8, 32), T=4),
    "penalty_snn": dict(sizes=(48,), T=6),
    "delayed_snn": dict(sizes=(48,), T=8),
}
ANN = {"mlp": dict(sizes=(48,)), "cnn": dict(sizes=(4, 8, 32))}


LOOP = {"backend": "loop"}  # the recorded histories come from the LIF time loop (the reference backend)


def golden_specs():
    """(name, spec kwargs) of the reference set, in a fixed order.

    LIF models pin ``backend="loop"``: the fused kernels (the default since) give the same forward
    values but sum gradients in another order, which a 2-epoch history shows.
    """
    common = dict(dataset="digits", train_subset=320, test_subset=128, epochs=2, batch_size=64, lr=1e-2,
                  seed=3, device="cpu")
    out = []
    for model, extra in SPIKING.items():
        for method in GOLDEN_METHODS:
            p = 0.0 if method == "none" else 0.3
            lif = {"neuron_options": LOOP} if model in ("spiking_mlp", "spiking_cnn") else {}
            out.append((f"{model}/{method}", dict(common, model=model, method=method, p=p, **lif, **extra)))
    for model, extra in ANN.items():
        for method in ("none", "standard"):
            p = 0.0 if method == "none" else 0.3
            out.append((f"{model}/{method}", dict(common, model=model, method=method, p=p, **extra)))
    mlp = dict(common, model="spiking_mlp", neuron_options=LOOP, **SPIKING["spiking_mlp"])
    variants = {  # wiring the reference set above does not reach
        "spiking_mlp+rate/standard": dict(mlp, encoding="rate", method="standard", p=0.3),
        "spiking_mlp+2hidden/membrane": dict(mlp, sizes=(32, 24), method="membrane", p=0.3),
        "spiking_mlp+2hidden/dropconnect": dict(mlp, sizes=(32, 24), method="dropconnect", p=0.3),
        "spiking_mlp+fused/membrane": dict(mlp, neuron_options={"backend": "fused"}, method="membrane", p=0.3),
        "spiking_mlp+readout_rate/standard": dict(mlp, model_options={"readout": "rate"}, method="standard", p=0.3),
        "spiking_mlp+penalty/activity": dict(mlp, neuron="penalty", neuron_options=None, method="activity", p=0.3),
        "spiking_mlp+rescale_none/temporal": dict(mlp, method="temporal", p=0.3, rescale="none"),
        "spiking_mlp+favor_drop/synaptic": dict(mlp, method="synaptic", p=0.3, method_options={"favor": "drop"}),
        "spiking_cnn+latency/dropout2d": dict(common, model="spiking_cnn", encoding="latency", method="dropout2d",
                                              p=0.3, neuron_options=LOOP, **SPIKING["spiking_cnn"]),
    }
    out.extend(variants.items())
    return out


def run_one(kwargs):
    """The history of one spec (without wall-clock columns), or the error it raises."""
    import torch

    from snnlab.study import TrialSpec
    from snnlab.study.runner import run_trial

    torch.set_num_threads(1)
    try:
        result = run_trial(TrialSpec(**kwargs))
    except Exception as err:  # recorded: a spec the code refuses is part of its behaviour
        return {"error": f"{type(err).__name__}: {err}"}
    frame = result.history.drop(columns=[c for c in result.history.columns if c in ("seconds",)])
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return {"history": rows}


def numerics_fingerprint():
    """(fingerprint, description) of this process's floating-point code paths: a hash of the bits of
    the primitives the reference set leans on (GEMMs at its sizes, a convolution and its backward,
    transcendental maps, long reductions, softmax cross-entropy, an Adam step, a gather-sum)."""
    import platform

    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.rand(*shape, generator=g) * 2 - 1  # uniform: drawn the same on every machine

    digest = hashlib.sha256()
    for a, b in ((rand(64, 64), rand(64, 48)), (rand(384, 64), rand(64, 10)), (rand(257, 300), rand(300, 129))):
        digest.update((a @ b).numpy().tobytes())
    x, w = rand(8, 3, 12, 12).requires_grad_(), rand(8, 3, 3, 3).requires_grad_()
    y = F.conv2d(x, w, padding=1)
    digest.update(y.detach().numpy().tobytes())
    digest.update(b"".join(t.numpy().tobytes() for t in torch.autograd.grad((y * y.detach()).sum(), [x, w])))
    v = rand(100_003) * 4
    for t in (v.exp(), v.sigmoid(), v.tanh(), v.atan(), v.sum().reshape(1), v.cumsum(0), v.pow(2).mean().reshape(1)):
        digest.update(t.numpy().tobytes())
    logits = rand(64, 10).requires_grad_()
    loss = F.cross_entropy(logits, torch.arange(64) % 10)
    digest.update(loss.detach().numpy().tobytes() + torch.autograd.grad(loss, logits)[0].numpy().tobytes())
    p = torch.nn.Parameter(rand(48, 64))
    opt = torch.optim.Adam([p], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        (p.sin() * p).sum().backward()
        opt.step()
    digest.update(p.detach().numpy().tobytes())
    digest.update(F.embedding_bag(torch.arange(40) % 13, rand(13, 20), torch.tensor([0, 7, 19, 33]), mode="sum",
                                  per_sample_weights=rand(40)).numpy().tobytes())
    described = (f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()} kernels, "
                 f"{platform.machine()} {_cpu_name()}")
    return digest.hexdigest()[:16], described


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def record():
    """This machine's recording: its numerics fingerprint and every spec's history (pinned child only)."""
    if os.environ.get("SNNLAB_GOLDEN_PINNED") != "1":
        raise RuntimeError("record() runs in the pinned child process; call pinned_recording()")
    fingerprint, described = numerics_fingerprint()
    return {"fingerprint": fingerprint, "described": described,
            "histories": {name: run_one(kw) for name, kw in golden_specs()}}


def pinned_recording(path):
    """Run the reference set in a child process with ``PINNED_NUMERICS`` and write its recording to ``path``."""
    env = dict(os.environ, **PINNED_NUMERICS)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    subprocess.run([sys.executable, __file__, "--child", str(path)], env=env, check=True, cwd=root)
    return json.loads(Path(path).read_text())


def recordings(path=GOLDEN_FILE):
    """The recordings a golden file holds: ``[{"fingerprint", "described", "histories"}]``."""
    return json.loads(Path(path).read_text())["recordings"]


def _write(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def main(argv):
    if argv[:1] == ["--child"]:
        _write(argv[1], record())
        return
    if argv[:1] == ["--add"]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            new = pinned_recording(Path(tmp) / "recording.json")
        kept = [r for r in recordings() if r["fingerprint"] != new["fingerprint"]] if GOLDEN_FILE.exists() else []
        _write(GOLDEN_FILE, {"recordings": kept + [new]})
        print(f"recorded {len(new['histories'])} histories for {new['fingerprint']} ({new['described']}) "
              f"in {GOLDEN_FILE}")
        return
    if len(argv) != 1:
        sys.exit("usage: python tools/make_golden.py OUT.json | --add")
    _write(argv[0], pinned_recording(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])

"""snnlab.export: NIR export of SpikingMLP / SpikingCNN (round trip through a file, every parameter,
the dynamics under NIR's own equations, snnTorch's NIR reader, and every refusal)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnlab.models import SpikingCNN, SpikingMLP

nir = pytest.importorskip("nir", reason="the optional extra 'nir' (pip install 'nir==1.0.*') is not installed")

from snnlab.export import DEFAULT_DT, fold_batch_norm, to_nir  # noqa: E402

ZERO = {"reset": "zero", "beta": 0.8, "threshold": 0.5}


def _mlp(**kw: Any) -> SpikingMLP:
    options = {"neuron_options": dict(ZERO), "T": 6, "seed": 3, **kw}
    return SpikingMLP([6, 20, 15, 3], **options).eval()


def _cnn(**kw: Any) -> SpikingCNN:
    options = {"neuron_options": dict(ZERO), "T": 5, "seed": 4, **kw}
    model = SpikingCNN((2, 8, 8), channels=(3, 4), hidden=12, n_classes=3, **options).eval()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that folding them is tested
        for block in model.blocks[:-1]:
            norm = block.synapse.norm
            norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=g) * 0.1)
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=g) + 0.5)
            norm.weight.copy_(torch.rand(norm.weight.shape, generator=g) + 0.5)
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=g) * 0.1 + 0.3)
    return model


def _round_trip(graph: Any, tmp_path: Path) -> Any:
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    return nir.read(path)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _expect_lif(node: Any, beta: float, threshold: float, shape: tuple[int, ...], dt: float = DEFAULT_DT) -> None:
    """Exactly snnTorch's convention (tau = dt/(1-beta), r = tau/dt), in float64 from the model's float32 values."""
    beta64, thr64 = float(np.float32(beta)), float(np.float32(threshold))
    tau = dt / (1.0 - beta64)
    assert type(node) is nir.LIF
    np.testing.assert_array_equal(node.tau, np.full(shape, tau))
    np.testing.assert_array_equal(node.r, np.full(shape, tau / dt))
    np.testing.assert_array_equal(node.v_leak, np.zeros(shape))
    np.testing.assert_array_equal(node.v_reset, np.zeros(shape))
    np.testing.assert_array_equal(node.v_threshold, np.full(shape, thr64))
    # An Euler step of NIR's ODE at dt is snnlab's step: decay 1 - dt/tau = beta, input gain r*dt/tau = 1.
    np.testing.assert_allclose(1.0 - dt / node.tau, beta64, rtol=0, atol=1e-12)
    np.testing.assert_allclose(node.r * dt / node.tau, 1.0, rtol=0, atol=1e-12)


def test_mlp_round_trip_keeps_every_parameter(tmp_path: Path) -> None:
    model = _mlp()
    graph = _round_trip(to_nir(model), tmp_path)
    names = ["input", "hidden1_synapse", "hidden1_neuron", "hidden2_synapse", "hidden2_neuron",
             "output_synapse", "output_neuron", "output"]
    assert set(graph.nodes) == set(names)
    assert sorted(graph.edges) == sorted(zip(names[:-1], names[1:]))
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], [6])
    np.testing.assert_array_equal(graph.nodes["output"].output_type["output"], [3])
    for block, width in zip(model.blocks, (20, 15)):
        syn = graph.nodes[f"{block.name}_synapse"]
        assert type(syn) is nir.Affine
        assert syn.weight.dtype == np.float32
        np.testing.assert_array_equal(syn.weight, _np(block.synapse.weight))
        np.testing.assert_array_equal(syn.bias, _np(block.synapse.bias))
        _expect_lif(graph.nodes[f"{block.name}_neuron"], 0.8, 0.5, (width,))
    out = graph.nodes["output_synapse"]
    np.testing.assert_array_equal(out.weight, _np(model.readout.synapse.weight))
    np.testing.assert_array_equal(out.bias, _np(model.readout.synapse.bias))
    li = graph.nodes["output_neuron"]
    assert type(li) is nir.LI
    tau = DEFAULT_DT / (1.0 - 0.9)
    np.testing.assert_array_equal(li.tau, np.full(3, tau))
    np.testing.assert_array_equal(li.r, np.full(3, tau / DEFAULT_DT))
    np.testing.assert_array_equal(li.v_leak, np.zeros(3))
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in graph.metadata.items()}
    assert meta["snnlab.model"] == "SpikingMLP" and int(meta["snnlab.T"]) == 6
    assert float(meta["snnlab.dt"]) == DEFAULT_DT
    assert meta["snnlab.logits"].startswith("mean over the T steps")


def test_cnn_round_trip_folds_batch_norm_and_maps_max_pooling(tmp_path: Path) -> None:
    model = _cnn()
    graph = _round_trip(to_nir(model), tmp_path)
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds == {
        "input": "Input", "conv1_synapse": "Conv2d", "conv1_neuron": "LIF", "conv1_pool": "SumPool2d",
        "conv1_pool_any": "Threshold", "conv2_synapse": "Conv2d", "conv2_neuron": "LIF", "conv2_pool": "SumPool2d",
        "conv2_pool_any": "Threshold", "flatten": "Flatten", "fc_synapse": "Affine", "fc_neuron": "LIF",
        "output_synapse": "Affine", "output_neuron": "LI", "output": "Output",
    }
    shapes = {"conv1": (3, 8, 8), "conv2": (4, 4, 4)}
    x = torch.rand(2, 2, 8, 8, dtype=torch.float64)
    for block in model.blocks[:-1]:
        conv = graph.nodes[f"{block.name}_synapse"]
        # The folding by hand (float64) ...
        norm = block.synapse.norm
        scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
        w = (block.synapse.conv.weight.double() * scale[:, None, None, None]).float()
        b = (norm.bias.double() - norm.running_mean.double() * scale).float()
        np.testing.assert_array_equal(conv.weight, _np(w))
        np.testing.assert_array_equal(conv.bias, _np(b))
        assert tuple(conv.stride) == (1, 1) and tuple(conv.padding) == (1, 1) and tuple(conv.dilation) == (1, 1)
        assert conv.groups == 1
        # ... and it is the same function as conv -> batch norm at inference.
        xin = x if block.name == "conv1" else torch.rand(2, 3, 4, 4, dtype=torch.float64)
        expected = copy.deepcopy(block.synapse).double().static(xin)
        got = F.conv2d(xin, torch.from_numpy(conv.weight).double(), torch.from_numpy(conv.bias).double(), padding=1)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
        _expect_lif(graph.nodes[f"{block.name}_neuron"], 0.8, 0.5, shapes[block.name])
        pool = graph.nodes[f"{block.name}_pool"]
        np.testing.assert_array_equal(pool.kernel_size, [2, 2])
        np.testing.assert_array_equal(pool.stride, [2, 2])
        np.testing.assert_array_equal(pool.padding, [0, 0])
        c, h, w_ = shapes[block.name]
        np.testing.assert_array_equal(graph.nodes[f"{block.name}_pool_any"].threshold, np.zeros((c, h // 2, w_ // 2)))
    flat = graph.nodes["flatten"]
    assert (flat.start_dim, flat.end_dim) == (0, -1)
    np.testing.assert_array_equal(flat.input_type["input"], [4, 2, 2])
    np.testing.assert_array_equal(flat.output_type["output"], [16])
    fc = model.blocks[-1]
    np.testing.assert_array_equal(graph.nodes["fc_synapse"].weight, _np(fc.synapse.weight))
    np.testing.assert_array_equal(graph.nodes["fc_synapse"].bias, _np(fc.synapse.bias))
    _expect_lif(graph.nodes["fc_neuron"], 0.8, 0.5, (12,))
    np.testing.assert_array_equal(graph.nodes["output_synapse"].weight, _np(model.readout.synapse.weight))


def test_fold_batch_norm_refuses_batch_statistics_and_non_conv() -> None:
    model = _cnn()
    synapse = model.blocks[0].synapse
    synapse.norm = torch.nn.BatchNorm2d(3, track_running_stats=False)
    with pytest.raises(ValueError, match="running statistics"):
        fold_batch_norm(synapse)
    with pytest.raises(ValueError, match="layer 'conv1'.*running statistics"):
        to_nir(model)
    with pytest.raises(TypeError, match="ConvSynapse"):
        fold_batch_norm(model.blocks[-1].synapse)


# ---------------------------------------------------------------- NIR's equations, simulated here
def _simulate(graph: Any, x: torch.Tensor, steps: int, dt: float) -> dict[str, torch.Tensor]:
    """Run a chain-shaped NIR graph by its documented equations, forward Euler at ``dt`` (float64),
    with ``x[B, ...]`` at every step. Independent of snnlab: only the NIR node definitions.
    Returns every node's output over time ``[T, B, ...]``."""
    order, nxt = ["input"], dict(graph.edges)
    while order[-1] in nxt:
        order.append(nxt[order[-1]])
    t64 = {}
    state: dict[str, torch.Tensor] = {}
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in order}

    def p(node: Any, field: str) -> torch.Tensor:
        key = (id(node), field)
        if key not in t64:
            t64[key] = torch.as_tensor(np.asarray(getattr(node, field), dtype=np.float64))
        return t64[key]

    for _ in range(steps):
        h = x.double()
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, (nir.Input, nir.Output)):
                pass
            elif isinstance(node, nir.Affine):
                h = h @ p(node, "weight").T + p(node, "bias")
            elif isinstance(node, nir.Linear):
                h = h @ p(node, "weight").T
            elif isinstance(node, nir.Conv2d):
                h = F.conv2d(h, p(node, "weight"), p(node, "bias"), stride=tuple(node.stride),
                             padding=tuple(node.padding), dilation=tuple(node.dilation), groups=int(node.groups))
            elif isinstance(node, nir.SumPool2d):
                k = tuple(int(v) for v in node.kernel_size)
                h = F.avg_pool2d(h, k, tuple(int(v) for v in node.stride), tuple(int(v) for v in node.padding),
                                 divisor_override=1)
            elif isinstance(node, nir.Threshold):
                h = (h > p(node, "threshold")).double()
            elif isinstance(node, nir.Flatten):
                end = node.end_dim if node.end_dim < 0 else node.end_dim + 1
                h = h.flatten(int(node.start_dim) + 1, int(end))
            elif isinstance(node, (nir.LIF, nir.LI, nir.IF, nir.I)):
                v = state.get(name, torch.zeros_like(h))
                if isinstance(node, (nir.LIF, nir.LI)):
                    v = v + dt / p(node, "tau") * (p(node, "v_leak") - v + p(node, "r") * h)
                else:
                    v = v + dt * p(node, "r") * h
                if isinstance(node, (nir.LIF, nir.IF)):
                    z = v > p(node, "v_threshold")
                    state[name] = torch.where(z, p(node, "v_reset").expand_as(v), v)
                    h = z.double()
                else:
                    state[name] = v
                    h = v
            else:  # pragma: no cover - the exporter emits none other
                raise AssertionError(f"unexpected node {type(node).__name__}")
            outputs[name].append(h)
    return {k: torch.stack(v) for k, v in outputs.items()}


def _check_against_nir_equations(model: Any, graph: Any, x: torch.Tensor) -> None:
    with torch.no_grad(), model.record() as rec:
        logits = model(x)
    sim = _simulate(graph, x, model.T, DEFAULT_DT)
    for block in model.blocks:
        ours = rec.spikes[block.name]
        assert 0.0 < float(ours.mean()) < 1.0, f"{block.name}: a silent or saturated layer tests nothing"
        assert torch.equal(sim[f"{block.name}_neuron"], ours.double()), block.name
    # the readout: its membrane at every step, and the logits as its mean over T
    torch.testing.assert_close(sim["output"], rec.membrane["output"].double(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sim["output"].mean(0), logits.double(), rtol=1e-5, atol=1e-5)


def test_mlp_graph_runs_like_the_model_under_nirs_equations(tmp_path: Path) -> None:
    model = _mlp()
    graph = _round_trip(to_nir(model), tmp_path)
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(0)) * 2.0
    _check_against_nir_equations(model, graph, x)


def test_cnn_graph_runs_like_the_model_under_nirs_equations(tmp_path: Path) -> None:
    model = _cnn()
    graph = _round_trip(to_nir(model), tmp_path)
    x = torch.rand(4, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    _check_against_nir_equations(model, graph, x)
    # the pooled spikes: SumPool2d -> Threshold(0) is the model's max pooling of binary spikes
    with torch.no_grad(), model.record() as rec:
        model(x)
    sim = _simulate(graph, x, model.T, DEFAULT_DT)
    spikes = rec.spikes["conv1"]
    pooled = F.max_pool2d(spikes.flatten(0, 1), 2).reshape(model.T, 4, 3, 4, 4)
    assert torch.equal(sim["conv1_pool_any"], pooled.double())


def test_no_leak_and_instant_readout_map_to_if_and_i_and_other_dt(tmp_path: Path) -> None:
    model = SpikingMLP([6, 9, 3], T=5, seed=1, neuron_options={"reset": "zero", "beta": 1.0, "threshold": 0.7},
                       output_beta=1.0).eval()
    dt = 1e-3
    graph = _round_trip(to_nir(model, dt=dt), tmp_path)
    neuron, readout = graph.nodes["hidden1_neuron"], graph.nodes["output_neuron"]
    assert type(neuron) is nir.IF and type(readout) is nir.I
    np.testing.assert_array_equal(neuron.r, np.full(9, 1.0 / dt))
    np.testing.assert_array_equal(neuron.v_threshold, np.full(9, float(np.float32(0.7))))
    np.testing.assert_array_equal(neuron.v_reset, np.zeros(9))
    np.testing.assert_array_equal(readout.r, np.full(3, 1.0 / dt))
    x = torch.rand(6, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), model.record() as rec:
        logits = model(x)
    sim = _simulate(graph, x, model.T, dt)
    assert torch.equal(sim["hidden1_neuron"], rec.spikes["hidden1"].double())
    torch.testing.assert_close(sim["output"].mean(0), logits.double(), rtol=1e-5, atol=1e-5)
    # beta = 0 (no memory) and output_beta = 0: tau = dt, r = 1
    model = SpikingMLP([6, 9, 3], T=3, seed=1, neuron_options={"reset": "zero", "beta": 0.0}, output_beta=0.0).eval()
    graph = to_nir(model)
    np.testing.assert_array_equal(graph.nodes["hidden1_neuron"].tau, np.full(9, DEFAULT_DT))
    np.testing.assert_array_equal(graph.nodes["hidden1_neuron"].r, np.ones(9))
    np.testing.assert_array_equal(graph.nodes["output_neuron"].tau, np.full(3, DEFAULT_DT))


def test_learnable_parameters_export_their_current_values() -> None:
    model = _mlp(neuron_options={**ZERO, "learn_beta": True, "learn_threshold": True})
    with torch.no_grad():
        model.blocks[0].neuron.beta.fill_(0.7)
        model.blocks[0].neuron.threshold.fill_(0.3)
        model.blocks[1].neuron.beta.fill_(1.2)  # the forward pass clamps a learnt beta to [0, 1]
    graph = to_nir(model)
    _expect_lif(graph.nodes["hidden1_neuron"], 0.7, 0.3, (20,))
    assert type(graph.nodes["hidden2_neuron"]) is nir.IF


def test_inference_identity_dropout_is_exported_as_nothing() -> None:
    plain = to_nir(_mlp())
    for method in ("standard", "membrane", "dropconnect", "alpha"):
        graph = to_nir(_mlp(dropout=method, p=0.3))
        assert list(graph.nodes) == list(plain.nodes), method
        for name, node in graph.nodes.items():
            if hasattr(node, "weight"):
                np.testing.assert_array_equal(node.weight, plain.nodes[name].weight)


# ---------------------------------------------------------------- refusals
def test_reset_by_subtraction_is_refused_with_the_reason() -> None:
    model = SpikingMLP([6, 5, 3], seed=0)  # snnlab's default LIF resets by subtraction
    assert model.blocks[0].neuron.reset == "subtract"
    with pytest.raises(ValueError, match=r"layer 'hidden1'.*reset by subtraction.*reset='zero'"):
        to_nir(model)
    with pytest.raises(ValueError, match=r"layer 'conv1'.*reset by subtraction"):
        to_nir(SpikingCNN((1, 4, 4), channels=(2,), hidden=3, n_classes=2, seed=0))


def test_rate_readout_resets_by_subtraction_and_is_refused() -> None:
    with pytest.raises(ValueError, match=r"readout 'output'.*reset by subtraction"):
        to_nir(_mlp(readout="rate"))
    model = _mlp(readout="rate")
    model.readout.neuron.reset = "zero"  # a rate readout that resets to zero is exact: LIF, logits = spike counts
    graph = to_nir(model)
    assert type(graph.nodes["output_neuron"]) is nir.LIF
    assert graph.metadata["snnlab.logits"].startswith("sum over the T steps")


@pytest.mark.parametrize("encoding", ["rate", "latency", "noisy_repeat"])
def test_non_direct_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(ValueError, match=rf"model.encoding='{encoding}'.*only the direct encoding"):
        to_nir(_mlp(encoding=encoding))


def test_other_neurons_are_refused() -> None:
    with pytest.raises(ValueError, match=r"layer 'hidden1'.*PenaltyNeuron.*only snnlab's LIF"):
        to_nir(SpikingMLP([6, 5, 3], neuron="penalty", seed=0))


def test_dropout_acting_at_inference_is_refused() -> None:
    with pytest.raises(ValueError, match=r"layer 'hidden1'.*'standard' is in MC mode"):
        to_nir(_mlp(dropout="standard", p=0.2, dropout_options={"mc": True}))
    with pytest.raises(ValueError, match=r"layer 'hidden1'.*'membrane' with rescale='none' scales the spikes"):
        to_nir(_mlp(dropout="membrane", p=0.2, dropout_options={"rescale": "none"}))
    # rescale='none' at p = 0 scales nothing: accepted
    assert "hidden1_neuron" in to_nir(_mlp(dropout="standard", p=0.0, dropout_options={"rescale": "none"})).nodes


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="SpikingMLP or SpikingCNN, got Linear"):
        to_nir(torch.nn.Linear(2, 2))
    for dt in (0.0, -1e-3):
        with pytest.raises(ValueError, match="dt"):
            to_nir(_mlp(), dt=dt)


# ---------------------------------------------------------------- another library's NIR reader
def _snntorch_reader() -> Any:
    try:
        pytest.importorskip("nirtorch", reason="nirtorch (snnTorch's NIR reader needs it) is not installed")
        import_nir = pytest.importorskip("snntorch.import_nir", reason="snnTorch is not installed")
    except ImportError as exc:  # pragma: no cover - an incompatible pair of versions
        pytest.skip(f"snnTorch's NIR reader does not import here: {exc}")
    return import_nir.import_from_nir


def _up_to(graph: Any, last: str) -> Any:
    """The chain of ``graph`` from its input to node ``last`` (snnTorch's reader has no LI or Threshold node)."""
    keep, nxt = ["input"], dict(graph.edges)
    while keep[-1] != last:
        keep.append(nxt[keep[-1]])
    out = graph.nodes[last].output_type["output"]
    nodes = {k: graph.nodes[k] for k in keep} | {"output": nir.Output(output_type=np.array(out))}
    edges = list(zip(keep[:-1], keep[1:])) + [(last, "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={})


def _run_imported(net: torch.nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    out, state = [], None
    with torch.no_grad():
        for _ in range(steps):
            y, state = net(x, state)
            out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize("kind, last, layer", [("mlp", "hidden2_neuron", "hidden2"), ("cnn", "conv1_neuron", "conv1")])
def test_snntorch_reads_the_graph_and_spikes_like_snnlab(tmp_path: Path, kind: str, last: str, layer: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import_from_nir = _snntorch_reader()
    model = _mlp() if kind == "mlp" else _cnn()
    x = (torch.rand(8, 6, generator=torch.Generator().manual_seed(0)) * 2.0 if kind == "mlp"
         else torch.rand(4, 2, 8, 8, generator=torch.Generator().manual_seed(1)))
    graph = _round_trip(to_nir(model), tmp_path)
    net = import_from_nir(_up_to(graph, last))  # snnTorch's importer: Affine/Conv2d -> torch, LIF -> snn.Leaky
    capsys.readouterr()  # the importer prints progress
    spikes = _run_imported(net, x, model.T)
    with torch.no_grad(), model.record() as rec:
        model(x)
    ours = rec.spikes[layer]
    assert 0.0 < float(ours.mean()) < 1.0
    assert spikes.shape == ours.shape
    assert torch.equal(spikes, ours)

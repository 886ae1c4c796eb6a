"""Export a trained ``SpikingMLP`` / ``SpikingCNN`` to the Neuromorphic Intermediate Representation (NIR).

NIR (https://nnir.readthedocs.io, package ``nir``, optional extra ``snnlab[nir]``) is how snnTorch,
Norse, SpikingJelly, Lava and neuromorphic hardware exchange spiking networks. Its neurons are
continuous-time ODEs; an importer steps them with forward Euler at a step ``dt``. snnlab's discrete
LIF ``h = beta*v + x`` (spike when ``h > threshold``, reset to zero) is NIR's ``LIF`` with, following
snnTorch's convention (``snntorch.export_nir``, ``dt = 1e-4``)::

    tau = dt / (1 - beta),  r = tau / dt = 1 / (1 - beta),  v_leak = 0,  v_reset = 0

so that one Euler step ``v += dt/tau * (v_leak - v + r*x)`` is ``beta*v + x``. ``beta == 1`` (no leak)
is NIR's ``IF`` with ``r = 1/dt``. The readout's leaky integrator is NIR's ``LI`` with the same
``tau``/``r`` (``I`` with ``r = 1/dt`` for ``output_beta == 1``).

The graph is the model's *inference* (eval-mode) computation, one NIR step per model step: the
input node takes the analogue sample itself at every one of the model's ``T`` steps (direct
encoding); the output node gives the readout's membrane at each step (a "membrane" readout: the
logits are its mean over the ``T`` steps) or its spikes (a "count" readout: the logits are their sum).
That window and reduction are recorded in the graph's ``metadata`` (``snnlab.*``); NIR has no node
for a reduction over time, so a consumer applies it, as with every NIR readout.

Exact mappings of the rest: linear synapses -> ``Affine``; a convolution followed by batch
normalisation -> one ``Conv2d`` with the normalisation's running statistics folded into its weight
and bias (the same function; float rounding may differ in the last bit); the 2x2 max pooling of
binary spikes -> ``SumPool2d`` followed by ``Threshold(0)`` (the maximum of 0/1 values is 1 exactly
when their sum is > 0); the CNN's flattening -> ``Flatten`` (batch-free dims, as NIR defines them).

Refused, with a ``ValueError`` naming the layer and the reason (never a lossy file): reset by
subtraction (snnlab's default; NIR's neurons only reset to ``v_reset``: build with
``neuron_options={"reset": "zero"}``), a neuron other than LIF, a non-direct encoding (the rate and
noisy encodings draw random numbers, the latency code is a transform NIR has no node for), dropout
that acts at inference (MC mode, or ``rescale="none"`` scaling at ``p > 0``), and batch
normalisation without running statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from snnlab.blocks import ConvSynapse, LinearSynapse, Readout, SpikingBlock
from snnlab.dropout import SpikeDropout
from snnlab.models import SpikingCNN, SpikingMLP
from snnlab.neurons import LIF, LeakyIntegrator
from snnlab.validation import check_float

if TYPE_CHECKING:  # the optional extra: imported at call time
    import nir as nir_types

DEFAULT_DT = 1e-4  # snnTorch's NIR step: its importer turns tau back into beta = 1 - dt/tau with this dt


def _nir() -> Any:
    """The ``nir`` module, or an ImportError saying how to install the optional extra."""
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - exercised only where nir is missing
        raise ImportError("snnlab.export needs the 'nir' package: pip install 'snnlab[nir]' (or 'nir==1.0.*')") from exc
    return nir


def _array(t: Tensor | float) -> np.ndarray:
    """A tensor or number as a float64 numpy array (on the CPU, detached)."""
    if isinstance(t, Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(float(t), dtype=np.float64)


def _weights(t: Tensor) -> np.ndarray:
    """A weight tensor as a numpy array in its own dtype (float32 stays float32: nothing rounded)."""
    return t.detach().cpu().numpy().copy()


def _per_neuron(where: str, what: str, value: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` (a scalar or per-neuron tensor) broadcast to the layer's neuron ``shape`` (float64)."""
    a = _array(value)
    try:
        return np.broadcast_to(a, shape).astype(np.float64, copy=True)
    except ValueError:
        raise ValueError(f"{where}: {what} has shape {a.shape}, which does not broadcast to the layer's {shape} neurons") from None


def _leak_nodes(beta: np.ndarray, dt: float, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(tau, r)`` of NIR's leaky neurons for a per-step decay ``beta`` (None when beta is 1: no leak)."""
    if np.any((beta < 0.0) | (beta > 1.0)) or not np.all(np.isfinite(beta)):
        raise ValueError(f"{where}: beta must lie in [0, 1] to be a NIR time constant, got values in [{beta.min()}, {beta.max()}]")
    if np.all(beta == 1.0):
        return None
    if np.any(beta == 1.0):
        raise ValueError(f"{where}: beta is 1 (no leak) for some neurons and < 1 for others; NIR's LIF and IF are separate nodes")
    tau = dt / (1.0 - beta)
    return tau, tau / dt


def _lif_node(nir: Any, neuron: nn.Module, shape: tuple[int, ...], dt: float, where: str) -> Any:
    """NIR ``LIF`` (or ``IF`` when beta is 1) for an snnlab ``LIF`` with reset to zero, else a ValueError."""
    if not isinstance(neuron, LIF):
        raise ValueError(f"{where}: the neuron is {type(neuron).__name__}; only snnlab's LIF maps onto NIR's LIF exactly")
    if neuron.reset != "zero":
        raise ValueError(
            f"{where}: the LIF neurons reset by subtraction (reset={neuron.reset!r}); NIR's LIF can only reset to "
            "v_reset, so the file would simulate a different network. Build the model with reset='zero' "
            "(neuron_options={'reset': 'zero'}) to export it"
        )
    params = neuron.params()  # learnable beta clamped to [0, 1], as the forward pass uses it
    beta = _per_neuron(where, "beta", params.beta, shape)
    threshold = _per_neuron(where, "threshold", params.threshold, shape)
    zero = np.zeros(shape, dtype=np.float64)
    leak = _leak_nodes(beta, dt, where)
    if leak is None:
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=threshold, v_reset=zero)
    tau, r = leak
    return nir.LIF(tau=tau, r=r, v_leak=zero, v_threshold=threshold, v_reset=zero.copy())


def _check_dropout(slot: nn.Module, where: str) -> None:
    """The dropout slot must be the identity at inference (no masks drawn, no scaling)."""
    if not isinstance(slot, SpikeDropout):
        raise ValueError(f"{where}: the dropout slot is {type(slot).__name__}, not a SpikeDropout; cannot tell what it does at inference")
    if slot.mc:
        raise ValueError(f"{where}: dropout {slot.key!r} is in MC mode (masks drawn at inference); NIR has no random nodes")
    if slot.p > 0.0 and slot.rescale == "none":
        raise ValueError(
            f"{where}: dropout {slot.key!r} with rescale='none' scales the spikes at inference (p={slot.p}); "
            "the scaled outputs are not spikes and the scaling is not a NIR node of this graph"
        )


def _linear_node(nir: Any, synapse: nn.Module, where: str) -> Any:
    """NIR ``Affine`` (``Linear`` without a bias) for a fully connected synapse."""
    synapse = getattr(synapse, "unwrapped", synapse)  # DropConnect's wrapper is the identity at inference
    if not isinstance(synapse, LinearSynapse):
        raise ValueError(f"{where}: the synapse is {type(synapse).__name__}; only LinearSynapse maps onto NIR's Affine")
    if synapse.bias is None:
        return nir.Linear(weight=_weights(synapse.weight))
    return nir.Affine(weight=_weights(synapse.weight), bias=_weights(synapse.bias))


def fold_batch_norm(synapse: ConvSynapse) -> tuple[np.ndarray, np.ndarray]:
    """The ``(weight, bias)`` of one convolution equal to ``synapse``'s conv followed by its batch
    normalisation at inference: ``w * g / sqrt(var + eps)`` and ``beta - mean * g / sqrt(var + eps)``,
    computed in float64 and returned in the weight's dtype. Why: NIR has no normalisation node."""
    if not isinstance(synapse, ConvSynapse):
        raise TypeError(f"synapse must be a ConvSynapse, got {type(synapse).__name__}")
    norm = synapse.norm
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("the batch normalisation keeps no running statistics (track_running_stats=False): "
                         "it normalises with each batch's statistics at inference, which NIR cannot express")
    var, mean = _array(norm.running_var), _array(norm.running_mean)
    gamma = _array(norm.weight) if norm.weight is not None else np.ones_like(var)
    shift = _array(norm.bias) if norm.bias is not None else np.zeros_like(var)
    scale = gamma / np.sqrt(var + float(norm.eps))
    w = _array(synapse.conv.weight) * scale[:, None, None, None]
    b = shift - mean * scale
    if synapse.conv.bias is not None:
        b = b + _array(synapse.conv.bias) * scale
    dtype = synapse.conv.weight.detach().cpu().numpy().dtype
    return w.astype(dtype), b.astype(dtype)


def _conv_node(nir: Any, synapse: nn.Module, hw: tuple[int, int], where: str) -> Any:
    """NIR ``Conv2d`` (batch normalisation folded in) for a convolutional synapse on ``hw`` inputs."""
    synapse = getattr(synapse, "unwrapped", synapse)
    if not isinstance(synapse, ConvSynapse):
        raise ValueError(f"{where}: the synapse is {type(synapse).__name__}; only ConvSynapse maps onto NIR's Conv2d")
    try:
        weight, bias = fold_batch_norm(synapse)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    conv = synapse.conv
    return nir.Conv2d(input_shape=hw, weight=weight, stride=tuple(conv.stride), padding=tuple(conv.padding),
                      dilation=tuple(conv.dilation), groups=int(conv.groups), bias=bias)


def _readout_nodes(nir: Any, readout: Readout, n: int, dt: float) -> tuple[Any, Any, str]:
    """``(synapse node, neuron node, how the logits come from the output)`` for the model's readout."""
    where = "readout 'output'"
    synapse = _linear_node(nir, readout.synapse, where)
    neuron = readout.neuron
    if isinstance(neuron, LeakyIntegrator) and readout.logits in ("mean", "trace_mean"):
        beta = _per_neuron(where, "output_beta", neuron.beta, (n,))
        leak = _leak_nodes(beta, dt, where)
        node = nir.I(r=np.full((n,), 1.0 / dt)) if leak is None else nir.LI(tau=leak[0], r=leak[1], v_leak=np.zeros((n,)))
        return synapse, node, "mean over the T steps of the output (the readout's membrane)"
    if isinstance(neuron, LIF) and readout.logits == "count":
        return synapse, _lif_node(nir, neuron, (n,), dt, where), "sum over the T steps of the output spikes"
    raise ValueError(f"{where}: a {type(neuron).__name__} read out as {readout.logits!r} has no exact NIR form")


def _hidden_lif(nir: Any, block: SpikingBlock, shape: tuple[int, ...], dt: float) -> Any:
    where = f"layer {block.name!r}"
    _check_dropout(block.dropout, where)
    return _lif_node(nir, block.neuron, shape, dt, where)


def to_nir(model: nn.Module, *, dt: float = DEFAULT_DT) -> nir_types.NIRGraph:
    """The ``nir.NIRGraph`` of a ``SpikingMLP`` or ``SpikingCNN`` with LIF neurons (reset to zero).

    Why: to run or deploy an snnlab model in any NIR-speaking simulator or chip. ``dt`` is the Euler
    step NIR's time constants are expressed in (``tau = dt/(1-beta)``; snnTorch's importer assumes
    1e-4). The graph is the model at inference, whatever ``model.training`` is; the module docstring
    lists the mappings and what is refused (a ValueError naming the layer and the reason).
    Write it with ``nir.write(path, graph)``.
    """
    nir = _nir()
    if not isinstance(model, (SpikingMLP, SpikingCNN)):
        raise TypeError(f"model must be a SpikingMLP or SpikingCNN, got {type(model).__name__}")
    dt = check_float("dt", dt, low=0.0, low_inclusive=False)
    if model.encoding != "direct":
        raise ValueError(
            f"model.encoding={model.encoding!r}: only the direct encoding (the sample itself at every step) is part of an "
            "exact NIR graph; the other encodings draw random spikes or apply a code NIR has no node for"
        )
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    previous = "input"

    def add(name: str, node: Any) -> None:
        nonlocal previous
        nodes[name] = node
        edges.append((previous, name))
        previous = name

    if isinstance(model, SpikingMLP):
        nodes["input"] = nir.Input(input_type=np.array([model.sizes[0]]))
        for block, width in zip(model.blocks, model.sizes[1:-1]):
            add(f"{block.name}_synapse", _linear_node(nir, block.synapse, f"layer {block.name!r}"))
            add(f"{block.name}_neuron", _hidden_lif(nir, block, (width,), dt))
        n_out = model.sizes[-1]
    else:
        C, H, W = model.input_shape
        nodes["input"] = nir.Input(input_type=np.array([C, H, W]))
        for block, channels in zip(model.blocks[:-1], model.channels):
            add(f"{block.name}_synapse", _conv_node(nir, block.synapse, (H, W), f"layer {block.name!r}"))
            add(f"{block.name}_neuron", _hidden_lif(nir, block, (channels, H, W), dt))
            if block.pool != 2:
                raise ValueError(f"layer {block.name!r}: pooling {block.pool!r}; only the CNN's 2x2 max pooling is mapped")
            H, W = H // 2, W // 2
            two = np.array([2, 2])
            add(f"{block.name}_pool", nir.SumPool2d(kernel_size=two, stride=two.copy(), padding=np.array([0, 0])))
            add(f"{block.name}_pool_any", nir.Threshold(threshold=np.zeros((channels, H, W))))
        add("flatten", nir.Flatten(input_type={"input": np.array([model.channels[-1], H, W])}, start_dim=0, end_dim=-1))
        fc = model.blocks[-1]
        add(f"{fc.name}_synapse", _linear_node(nir, fc.synapse, f"layer {fc.name!r}"))
        add(f"{fc.name}_neuron", _hidden_lif(nir, fc, (fc.synapse.unwrapped.out_features,), dt))
        n_out = model.readout.synapse.unwrapped.out_features
    synapse, neuron, logits = _readout_nodes(nir, model.readout, n_out, dt)
    add("output_synapse", synapse)
    add("output_neuron", neuron)
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    edges.append((previous, "output"))
    metadata = {
        "snnlab.model": type(model).__name__,
        "snnlab.dt": float(dt),
        "snnlab.T": int(model.T),
        "snnlab.input": "the analogue sample at each of the T steps (direct encoding)",
        "snnlab.logits": logits,
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


__all__ = ["DEFAULT_DT", "fold_batch_norm", "to_nir"]

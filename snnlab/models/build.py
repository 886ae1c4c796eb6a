"""``build_model``: every model of the study by name."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn

from snnlab.models.ann import CNN, MLP
from snnlab.models.base import check_sizes as _check_sizes
from snnlab.models.reference import DelayedSNN, PenaltySNN
from snnlab.models.spiking import SpikingCNN, SpikingMLP
from snnlab.validation import check_choice, check_float

MODEL_KINDS = ("spiking_mlp", "spiking_cnn", "mlp", "cnn", "penalty_snn", "delayed_snn")
SPIKING_KINDS = ("spiking_mlp", "spiking_cnn", "penalty_snn", "delayed_snn")

_SPIKING_ONLY = ("T", "neuron", "neuron_options", "encoding", "encoding_options", "dropout_options", "readout")


def build_model(kind: str, sizes: Sequence[int], *, input_shape: Sequence[int] | None = None, **options: Any) -> nn.Module:
    """Build a model by name (``MODEL_KINDS``).

    ``sizes`` are the full layer widths ``[in, hidden..., classes]`` for the MLP-shaped kinds, and
    ``(channels..., hidden, classes)`` for ``spiking_cnn``/``cnn`` (which also need ``input_shape``).
    For the ANN kinds the spiking-only options (T, neuron, encoding, ...) are accepted and ignored,
    so one spec can describe a whole grid; ``dropout`` must be ``None``/``"none"``/``"standard"``.
    """
    check_choice("kind", kind, MODEL_KINDS)
    if kind in ("mlp", "cnn"):
        method = options.pop("dropout", None)
        p = check_float("p", options.pop("p", 0.0), low=0.0, high=1.0, high_inclusive=False)
        for k in _SPIKING_ONLY:
            options.pop(k, None)
        if method not in (None, "none", "standard"):
            raise ValueError(f"the ANN baseline {kind!r} supports dropout None, 'none' or 'standard', got {method!r}")
        if method is None and p:
            raise ValueError(f"p={p} was given without a dropout method; pass dropout='standard'")
        options["dropout_p"] = p if method == "standard" else 0.0
    if kind in ("spiking_cnn", "cnn"):
        if input_shape is None:
            raise ValueError(f"model {kind!r} needs input_shape=(C, H, W)")
        sizes = _check_sizes(sizes, min_len=3)
        cls = SpikingCNN if kind == "spiking_cnn" else CNN
        _check_options(kind, cls, options)
        return cls(input_shape, sizes[:-2], sizes[-2], sizes[-1], **options)
    cls = {"spiking_mlp": SpikingMLP, "mlp": MLP, "penalty_snn": PenaltySNN, "delayed_snn": DelayedSNN}[kind]
    for k in ("neuron", "encoding") if kind in ("penalty_snn", "delayed_snn") else ():
        options.pop(k, None)  # fixed by the reference network's definition
    _check_options(kind, cls, options)
    return cls(sizes, **options)


def _check_options(kind: str, cls: type, options: dict[str, Any]) -> None:
    """Every option must be a keyword ``cls`` takes: an unknown one is a ValueError listing the allowed ones
    (rather than Python's bare ``unexpected keyword argument``)."""
    params = inspect.signature(cls.__init__).parameters
    allowed = [n for n, prm in params.items() if prm.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"model {kind!r} does not take option(s) {unknown}; allowed: {', '.join(allowed)}")

"""Dropout slots of a model: one method module per hidden layer, from what a user passes."""

from __future__ import annotations

from typing import Any

from snnlab.dropout.base import SpikeDropout
from snnlab.dropout.registry import make_dropout
from snnlab.generators import seeded_init
from snnlab.validation import check_float


def make_slots(n_slots: int, dropout: Any, p: float, dropout_options: dict | None, seed: int | None) -> list[SpikeDropout]:
    """One dropout module per hidden layer from a name, a module, a list (one entry per layer) or None.

    Modules built here draw their default seed under ``seeded_init(seed)`` (the caller's global
    RNG is left alone); the model reseeds every slot from its own seed afterwards. ``p`` is checked
    here even where no method is built (``dropout=None``): ``p=None`` is a mistake, not "no dropout".
    """
    p = check_float("p", p, low=0.0, high=1.0, high_inclusive=False)
    if isinstance(dropout, (list, tuple)):
        if len(dropout) != n_slots:
            raise ValueError(f"dropout has {len(dropout)} entries but the model has {n_slots} hidden spiking layers")
        specs = list(dropout)
    else:
        specs = [dropout] * n_slots
    if isinstance(dropout, SpikeDropout) and n_slots > 1:
        raise ValueError("one dropout module instance cannot fill several layers; pass a list with one module per layer")

    def one(spec: Any) -> SpikeDropout:
        if spec is None or spec == "none":
            if p and spec is None and dropout is None:
                raise ValueError(f"p={p} was given without a dropout method; pass dropout=<name>")
            return make_dropout("none")
        if isinstance(spec, str):
            return make_dropout(spec, p, **(dropout_options or {}))
        if isinstance(spec, SpikeDropout):
            return spec
        raise TypeError(f"dropout entries must be a method name, a SpikeDropout module or None, got {type(spec).__name__}")

    with seeded_init(seed):  # modules built here draw their default seed without touching the global RNG
        return [one(spec) for spec in specs]

"""The ``none`` baseline: an empty dropout slot (identity, always)."""

from __future__ import annotations

from torch import Tensor

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.registry import register


@register
class NoDropout(SpikeDropout):
    """Identity in training and eval; ``p`` must be 0 (a rate without a method is a mistake)."""

    key = "none"
    label = "no dropout"
    family = "baseline"
    conditions_on = "—"
    time_consistent = True
    color = "#222222"

    def __init__(self, p: float = 0.0, **options) -> None:
        super().__init__(p, **options)
        if self.p != 0.0:
            raise ValueError(f"p={p} was given with dropout method 'none'; use p=0 or choose a method")

    def passes_through(self) -> bool:
        return True  # the empty slot, in training and eval alike

    def _unchanged(self, x: Tensor) -> Tensor:
        return x  # the empty slot reports no statistics

    def _drop(self, ctx: LayerContext) -> Tensor:
        return ctx.spikes

"""``temporal``: one Bernoulli mask per sample and neuron, the same at every time step.

An SNN carries information in *when* a neuron spikes over the window. A per-step mask (the
``standard`` method) removes isolated spikes whose loss the following neurons integrate away;
a mask held for the whole window removes a neuron from the sample's computation, which is what
dropout does to an ANN unit. Masks are ``[1, B, ...]`` and broadcast over T (no [T, B, N] draw).
"""

from __future__ import annotations

from torch import Tensor

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.masks import apply_mask, keep_mask
from snnlab.dropout.registry import register


@register
class TemporalDropout(SpikeDropout):
    """Bernoulli per (sample, neuron) with drop rate p, consistent over time.

    ``rescale="inverted"``: kept spikes become 1/keep; ``"none"``: spikes stay binary and the
    model scales by keep at inference.
    """

    key = "temporal"
    label = "temporal (held over the window)"
    family = "snn_aware"
    conditions_on = "nothing, but held over the whole window"
    time_consistent = True
    color = "#1f77b4"

    def _drop(self, ctx: LayerContext) -> Tensor:
        x = ctx.spikes
        scale = 1.0 / self.keep if self.rescale == "inverted" else 1.0
        shape = (1,) + tuple(x.shape[1:])
        mask = keep_mask(shape, self.p, generator=self.generator_for(x.device), dtype=x.dtype)
        out = apply_mask(x, mask, scale)
        self._record(x, mask, scale=scale)
        return out

    def drops_time_sum(self) -> bool:
        return self.sampling and self.p > 0.0

    def drop_time_sum(self, z: Tensor, counts: Tensor, steps: int, weight: Tensor | None) -> Tensor:
        if not self.drops_time_sum():
            raise ValueError("this temporal dropout cannot drop a time sum now (drops_time_sum() is False: "
                             "not sampling, or p=0)")
        scale = 1.0 / self.keep if self.rescale == "inverted" else 1.0
        mask = keep_mask((1,) + tuple(z.shape), self.p, generator=self.generator_for(z.device), dtype=z.dtype)[0]
        self._record_counts(counts, steps, mask, scale=scale)
        return apply_mask(z, mask, scale)


__all__ = ["TemporalDropout"]

"""``dropconnect``: drop synapses instead of spikes, one mask held over the whole time window.

The slot's spikes pass unchanged; the model asks ``mask_weight(w)`` for the *following* layer's
weight, which gets a Bernoulli mask per synapse (drawn once per call, i.e. once per forward, and
shared by every time step and every sample of the batch: a per-sample mask would need a
``[B, out, in]`` weight and a batched GEMM per step). ``rescale="inverted"`` scales kept
synapses by 1/keep; ``"none"`` leaves them and the model scales the slot by keep at inference
(equivalent to scaling the weight).
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnlab.dropout.base import DropoutStats, SpikeDropout, keep_mask
from snnlab.dropout.registry import register


@register
class DropConnect(SpikeDropout):
    """Bernoulli mask per synapse of the next layer's weight, fixed over the time window.

    ``last_stats`` describe the last masked weight together with the spikes seen by the last
    ``forward``: ``dropped_fraction`` = dropped synapses; ``spikes_removed`` = fraction of
    spike-synapse transmissions (a spike of input j reaching output i) that were cut;
    ``silent_fraction`` = fraction of dropped (sample, synapse) pairs whose presynaptic neuron
    was silent for that sample over the window (for a convolution the presynaptic unit is an
    input channel); ``out_*`` describe the slot's output (the spikes,
    unchanged).
    """

    name = "dropconnect"
    acts_on = "synapses"

    def __init__(self, p: float = 0.0, **options) -> None:
        super().__init__(p, **options)
        self._spikes: Tensor | None = None  # detached input of the last sampling forward, for last_stats

    def forward(self, x: Tensor, *, membrane: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
        out = super().forward(x, membrane=membrane, weight=weight)
        if self.sampling:
            self._spikes = x.detach()
        return out

    def mask_weight(self, weight: Tensor) -> Tensor:
        """``weight`` ([out, in, ...]) masked per synapse while sampling; the identity otherwise."""
        if not isinstance(weight, Tensor):
            raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
        if weight.dim() < 2:
            raise ValueError(f"weight must be a matrix [out, in, ...], got shape {tuple(weight.shape)}")
        if not self.sampling:
            return weight
        if self.p == 0.0:
            self._record(self._spikes if self._spikes is not None else weight.new_empty(0), torch.ones_like(weight))
            self._spikes = None
            return weight
        scale = 1.0 / self.keep if self.rescale == "inverted" else None
        mask = keep_mask(weight.shape, self.p, generator=self.generator_for(weight.device), dtype=weight.dtype, scale=scale)
        out = weight * mask
        spikes = self._spikes
        self._record(spikes if spikes is not None else weight.new_empty(0), mask)
        self._spikes = None
        return out

    def _compute_stats(self, x: Tensor, mask: Tensor, affine: tuple[float, float, float]) -> DropoutStats:
        with torch.no_grad():
            dropped = (mask == 0).float()
            dropped_fraction = float(dropped.mean())
            nan = float("nan")
            n_out, n_in = mask.shape[0], mask.shape[1]
            if mask.dim() == 2 and x.dim() >= 3 and x[0, 0].numel() == n_in:
                counts = (x != 0).flatten(2).float()  # [T, B, in]: spikes of each presynaptic neuron
            elif mask.dim() > 2 and x.dim() > 3 and x.shape[2] == n_in:
                counts = (x != 0).flatten(3).float().sum(-1)  # convolution: an input channel is the unit
            else:
                # no spikes seen by forward (or they don't feed this weight): spike statistics unknown
                return DropoutStats(self.name, self.p, dropped_fraction, nan, nan, nan, nan, nan)
            # dropped synapses leaving each presynaptic unit, in units of whole connections [in]
            cut_per_input = dropped.flatten(2).mean(-1).sum(0) if mask.dim() > 2 else dropped.sum(0)
            spikes_per_input = counts.sum((0, 1))
            transmissions = float(spikes_per_input.sum()) * n_out
            cut = float((spikes_per_input * cut_per_input).sum())
            silent = (counts.sum(0) == 0).float()  # [B, in]
            dropped_pairs = float(cut_per_input.sum()) * x.shape[1]
            silent_cut = float((silent * cut_per_input).sum())
            lo, hi = torch.aminmax(x)
            return DropoutStats(
                method=self.name,
                p=self.p,
                dropped_fraction=dropped_fraction,
                spikes_removed=cut / transmissions if transmissions > 0 else nan,
                silent_fraction=silent_cut / dropped_pairs if dropped_pairs > 0 else nan,
                out_mean=float(x.float().mean()),
                out_min=float(lo),
                out_max=float(hi),
            )


__all__ = ["DropConnect"]

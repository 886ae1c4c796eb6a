"""``dropconnect``: drop synapses instead of spikes, one mask held over the whole time window.

The method sits in a layer's dropout slot, passes the spikes unchanged, and wraps the synapse
after the layer (``wrap_next``, once, when the model is built): ``MaskedSynapse`` calls that synapse
with its weight under a Bernoulli mask per synapse, drawn once per forward and shared by every
time step and every sample of the batch (a per-sample mask would need a ``[B, out, in]`` weight and
a batched GEMM per step). The wrapper sees the spikes it transmits and the mask at the same call,
so the statistics need nothing kept between calls. ``rescale="inverted"`` scales kept synapses by
1/keep; ``"none"`` leaves them and the slot scales its output by keep at inference (equivalent to
scaling the weight).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnlab.dropout.base import LayerContext, SpikeDropout
from snnlab.dropout.masks import keep_mask
from snnlab.dropout.registry import register
from snnlab.dropout.stats import DropoutStats


@register
class DropConnect(SpikeDropout):
    """Bernoulli mask per synapse of the next layer's weight, fixed over the time window.

    ``last_stats`` describe the last masked weight together with the spikes it transmitted:
    ``dropped_fraction`` = dropped synapses; ``spikes_removed`` = fraction of spike-synapse
    transmissions (a spike of input j reaching output i) that were cut; ``silent_fraction`` =
    fraction of dropped (sample, synapse) pairs whose presynaptic neuron was silent for that sample
    over the window (for a convolution the presynaptic unit is an input channel); ``out_*``
    describe the spikes (unchanged).
    """

    key = "dropconnect"
    label = "DropConnect"
    family = "snn_aware"
    conditions_on = "nothing (per synapse of the next layer, held over the window)"
    time_consistent = True
    acts_on = "synapses"
    color = "#bcbd22"

    def _unchanged(self, x: Tensor) -> Tensor:
        return x  # the synapse wrapper reports

    def _drop(self, ctx: LayerContext) -> Tensor:
        return ctx.spikes  # the spikes pass; the next synapse is masked by MaskedSynapse

    def wrap_next(self, synapse: nn.Module) -> nn.Module:
        """The next synapse behind a per-synapse mask drawn from this method's generator."""
        return MaskedSynapse(synapse, self)

    def mask_weight(self, weight: Tensor, spikes: Tensor | None = None) -> Tensor:
        """``weight`` ([out, in, ...]) masked per synapse while sampling; the identity otherwise.

        ``spikes`` (``[T, B, ...]``, the input the weight transmits) feed ``last_stats``.
        """
        if not isinstance(weight, Tensor):
            raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
        if weight.dim() < 2:
            raise ValueError(f"weight must be a matrix [out, in, ...], got shape {tuple(weight.shape)}")
        if not self.sampling:
            return weight
        seen = spikes if spikes is not None else weight.new_empty(0)
        if self.p == 0.0:
            self._record(seen, torch.ones_like(weight))
            return weight
        scale = 1.0 / self.keep if self.rescale == "inverted" else None
        mask = keep_mask(weight.shape, self.p, generator=self.generator_for(weight.device), dtype=weight.dtype, scale=scale)
        self._record(seen, mask)
        return weight * mask

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
                # no spikes seen (or they don't feed this weight one-to-one): spike statistics unknown
                return DropoutStats(self.key, self.p, dropped_fraction, nan, nan, nan, nan, nan)
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
                method=self.key,
                p=self.p,
                dropped_fraction=dropped_fraction,
                spikes_removed=cut / transmissions if transmissions > 0 else nan,
                silent_fraction=silent_cut / dropped_pairs if dropped_pairs > 0 else nan,
                out_mean=float(x.float().mean()),
                out_min=float(lo),
                out_max=float(hi),
            )


class MaskedSynapse(nn.Module):
    """A synapse called with its weight under its DropConnect method's mask.

    ``inner`` is the wrapped synapse (a module whose ``forward(x, weight=None)`` accepts a
    replacement weight, and whose ``weight`` is its parameter). The method is referenced, not
    registered as a child: it already lives in the previous layer's dropout slot.
    """

    def __init__(self, inner: nn.Module, method: DropConnect) -> None:
        super().__init__()
        self.inner = inner
        self.__dict__["method"] = method  # a plain reference: nn.Module must not register it twice

    @property
    def weight(self) -> Tensor:
        return self.inner.weight

    @property
    def unwrapped(self) -> nn.Module:
        """The synapse without the mask."""
        return self.inner

    @property
    def sums_over_time(self) -> bool:
        """The wrapped synapse's: one mask per call, shared by every step, keeps it linear in a time sum."""
        return self.inner.sums_over_time

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.inner.weight if weight is None else weight
        return self.inner(x, weight=self.method.mask_weight(w, x))

    def of_time_sum(self, z: Tensor, weight_sum: Tensor, *, spikes: Tensor | None = None,
                    weight: Tensor | None = None) -> Tensor:
        """The wrapped synapse's ``of_time_sum`` under one mask drawn for this call (as ``forward``
        draws one for all steps); ``spikes`` (``[T, B, ...]``, the spikes summed in ``z``) feed the
        method's statistics."""
        w = self.inner.weight if weight is None else weight
        return self.inner.of_time_sum(z, weight_sum, weight=self.method.mask_weight(w, spikes))


__all__ = ["DropConnect", "MaskedSynapse"]

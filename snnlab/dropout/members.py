"""Dropout for populations: K members' methods side by side on ``[T, K, B, ...]`` tensors.

Member k's method is the very module of member k's standalone model (its own ``p``, options and
mask stream), called on member k's slice of the context, so its masks are exactly the standalone
ones. ``wrap_next`` lets each member's method wrap its slice of the next (member-stacked)
synapse — DropConnect masks member k's weight with member k's generator — without reading any
method's flags: a weight probe shows what each method does to a weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from snnlab.dropout.base import LayerContext, SpikeDropout


class MemberDropout(nn.Module):
    """The dropout slot of a population layer: one method module per member, same class for all."""

    def __init__(self, methods: Sequence[SpikeDropout]) -> None:
        super().__init__()
        if len(methods) == 0:
            raise ValueError("MemberDropout needs one method per member, got none")
        kinds = {type(m) for m in methods}
        if len(kinds) != 1:
            raise TypeError(f"every member of a population uses the same method; got {sorted(k.key for k in kinds)}")
        self.methods = nn.ModuleList(methods)

    @property
    def membrane(self) -> str | None:
        """What the members' method needs from the neuron (the same for every member)."""
        return self.methods[0].membrane

    @property
    def key(self) -> str:
        return self.methods[0].key

    def passes_through(self) -> bool:
        """True when every member's slot is the identity now (``SpikeDropout.passes_through``)."""
        return all(m.passes_through() for m in self.methods)

    def drops_time_sum(self) -> bool:
        """False: a population's members are dropped on their written spikes (``SpikeDropout.drops_time_sum``)."""
        return False

    def forward(self, ctx: LayerContext) -> Tensor:
        """``[T, K, B, ...]`` spikes after each member's dropout.

        Slices come from ``unbind`` (one backward ``stack``, not K zero-filled copies); when every
        member hands its slice back unchanged (no dropout, eval) the input is returned as it is.
        """
        spikes = ctx.spikes.unbind(1)
        membranes = ctx.membrane.unbind(1) if ctx.membrane is not None else (None,) * len(spikes)
        weights = ctx.weight.unbind(0) if ctx.weight is not None else (None,) * len(spikes)
        nexts = ctx.next_weight.unbind(0) if ctx.next_weight is not None else (None,) * len(spikes)
        outs = [method(LayerContext(s, membrane=m, weight=w, next_weight=n))
                for method, s, m, w, n in zip(self.methods, spikes, membranes, weights, nexts)]
        if all(out is s for out, s in zip(outs, spikes)):
            return ctx.spikes
        return torch.stack(outs, dim=1)

    def reseed(self, seeds: Sequence[int]) -> None:
        """Restart member k's mask stream from ``seeds[k]``."""
        if len(seeds) != len(self.methods):
            raise ValueError(f"seeds has {len(seeds)} entries for {len(self.methods)} members")
        for method, seed in zip(self.methods, seeds):
            method.reseed(seed)

    def wrap_next(self, synapse: nn.Module) -> nn.Module:
        """The next member-stacked synapse, behind each member's weight transform where a method has one."""
        probes = [method.wrap_next(_WeightProbe()) for method in self.methods]
        if all(type(p) is _WeightProbe for p in probes):
            return synapse
        return MemberWeightTransform(synapse, probes)


class _WeightProbe(nn.Module):
    """A stand-in synapse that returns the weight it is called with (shows what a wrapper does to it)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight: Tensor | None = None

    @property
    def unwrapped(self) -> nn.Module:
        return self

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        return self.weight if weight is None else weight


class MemberWeightTransform(nn.Module):
    """A member-stacked synapse whose member k weight goes through member k's wrapper (e.g. DropConnect)."""

    def __init__(self, inner: nn.Module, probes: Sequence[nn.Module]) -> None:
        super().__init__()
        self.inner = inner
        self.probes = nn.ModuleList(probes)

    @property
    def weight(self) -> Tensor:
        return self.inner.weight

    @property
    def unwrapped(self) -> nn.Module:
        return self.inner

    @property
    def sums_over_time(self) -> bool:
        """The stacked synapse's (each member's mask is drawn once per call, for every step)."""
        return self.inner.sums_over_time

    def _masked(self, w: Tensor, x: Tensor | None) -> Tensor:
        """The K weights ``w[K, ...]``, member k's through member k's wrapper (``x[T, K, ...]``: its spikes)."""
        masked = []
        xs = x.unbind(1) if x is not None else [None] * len(self.probes)
        for probe, wk, xk in zip(self.probes, w.unbind(0), xs):  # unbind: one backward stack
            probe.unwrapped.weight = wk
            masked.append(probe(xk))
            probe.unwrapped.weight = None
        return torch.stack(masked)

    def of_time_sum(self, z: Tensor, weight_sum: Tensor, *, spikes: Tensor | None = None,
                    weight: Tensor | None = None) -> Tensor:
        """The stacked synapse's ``of_time_sum`` under each member's mask for this call."""
        w = self.inner.weight if weight is None else weight
        return self.inner.of_time_sum(z, weight_sum, weight=self._masked(w, spikes))

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.inner.weight if weight is None else weight
        return self.inner(x, weight=self._masked(w, x))

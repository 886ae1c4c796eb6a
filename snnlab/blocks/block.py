"""The spiking block: synapse -> neuron -> dropout (-> pooling), the unit every spiking model is built from.

The block is the one place where a layer is wired: it asks its neuron for exactly the state
summary its dropout method declared (``SpikeDropout.membrane``), records the layer when a
recording is active, and hands the method one ``LayerContext``. Neither the model nor the neuron
knows which method sits in the slot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlab.dropout import LayerContext, SpikeDropout
from snnlab.neurons.integrator import LeakyIntegrator
from snnlab.neurons.lif_kernels import time_weighted_sum
from snnlab.recording import Recording


class SpikingBlock(nn.Module):
    """``synapse`` (``forward(x, weight=None)``, ``static(x)``, ``weight``) -> ``neuron`` (``run``) ->
    ``dropout`` (a ``SpikeDropout``) -> optional ``pool`` (max pooling of that size, for conv blocks).

    ``name`` is the layer's name in recordings, weight accessors and plots.
    """

    def __init__(self, name: str, synapse: nn.Module, neuron: nn.Module, dropout: SpikeDropout, *, pool: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.synapse = synapse
        self.neuron = neuron
        self.dropout = dropout
        self.pool = pool

    def forward(
        self,
        x: Tensor,
        *,
        recording: Recording | None = None,
        static_steps: int | None = None,
        next_weight: Tensor | None = None,
    ) -> Tensor:
        """Run the layer on ``x[T, B, ...]`` (or a time-constant ``x[B, ...]`` broadcast over
        ``static_steps`` steps) and return its outputs after dropout (and pooling) ``[T, B, ...]``."""
        asked = self.dropout.membrane
        full = recording is not None and recording.kind == "full"
        want = {"trace": full or asked == "trace", "mean": asked == "mean"}
        if static_steps is not None:
            out = self.neuron.run_static(self.synapse.static(x), static_steps, **want)
        else:
            out = self.neuron.run(self.synapse(x), **want)
        if recording is not None:
            recording.capture(self.name, out.spikes, out.trace)
        membrane = out.trace if asked == "trace" else out.mean
        y = self.dropout(LayerContext(out.spikes, membrane=membrane, weight=self.synapse.weight, next_weight=next_weight))
        if self.pool is not None:  # over the last two dims, whatever leads them ([T, B, C] or [T, K, B, C])
            lead = y.shape[:-3]
            y = F.max_pool2d(y.reshape(-1, *y.shape[-3:]), self.pool)
            y = y.reshape(*lead, *y.shape[1:])
        return y

    def sums_in_kernel(self, x: Tensor) -> bool:
        """Whether ``time_sum(x, ...)`` skips the spikes: the slot is the identity now (``passes_through``)
        or drops whole units for the window from what a kernel gives (``drops_time_sum``), no pooling
        follows, and the neuron sums its spikes over time in a kernel for ``x``'s device."""
        return (self.pool is None and (self.dropout.passes_through() or self.dropout.drops_time_sum())
                and self.neuron.sums_in_kernel(x))

    def time_sum(self, x: Tensor, weights: Tensor, *, static_steps: int | None = None) -> Tensor:
        """The layer's output spikes, after its slot, summed over time with ``weights[T]``, ``[B, ...]``,
        without writing them (the neuron's ``run_summed``; a dropout that ``drops_time_sum`` masks the
        sum, with the spike counts the kernel also gives). Only where ``sums_in_kernel(x)``."""
        current = self.synapse.static(x) if static_steps is not None else self.synapse(x)
        if self.dropout.passes_through():
            return self.neuron.run_summed(current, weights, steps=static_steps)
        units = current.shape if static_steps is not None else current.shape[1:]
        counts = torch.empty(units, dtype=current.dtype, device=current.device)
        z = self.neuron.run_summed(current, weights, steps=static_steps, counts=counts)
        steps = static_steps if static_steps is not None else current.shape[0]
        return self.dropout.drop_time_sum(z, counts, steps, self.synapse.weight)

    def extra_repr(self) -> str:
        return f"name={self.name!r}" + (f", pool={self.pool}" if self.pool is not None else "")


READOUT_LOGITS = ("mean", "trace_mean", "count")


class Readout(nn.Module):
    """The output layer: ``synapse`` -> ``neuron`` -> logits ``[B, classes]``.

    ``logits``: ``"mean"`` (the neuron's running time mean of its membrane, e.g. a leaky
    integrator), ``"trace_mean"`` (the mean of its membrane trace), ``"count"`` (its spike
    counts). ``neuron=None``: the synapse's output is the membrane itself (the SRM readout).
    """

    name = "output"

    def __init__(self, synapse: nn.Module, neuron: nn.Module | None, logits: str) -> None:
        super().__init__()
        if logits not in READOUT_LOGITS:
            raise ValueError(f"logits={logits!r}; allowed: {', '.join(map(repr, READOUT_LOGITS))}")
        if neuron is None and logits != "trace_mean":
            raise ValueError("a readout without a neuron reads its potential: logits must be 'trace_mean'")
        self.synapse = synapse
        self.neuron = neuron
        self.logits = logits

    @property
    def reads_time_sum(self) -> bool:
        """Whether the logits are linear in the input spikes' weighted time sum: a linear synapse
        (``sums_over_time``: one with ``of_time_sum``; DropConnect's wrapper too, its mask drawn once
        per call for every step) into a leaky integrator read by its mean,
        ``mean_t v_t = W (sum_t c_t s_t) + b sum_t c_t``. Then ``from_time_sum`` gives them from
        ``z = sum_t c_t s_t`` (``time_weights``) alone: one product per sample instead of one per
        step, and the layer below need not write its spikes."""
        return self.logits == "mean" and isinstance(self.neuron, LeakyIntegrator) and self.synapse.sums_over_time

    def time_weights(self, steps: int, like: Tensor) -> Tensor:
        """``c[steps]`` of ``reads_time_sum`` (the leaky integrator's mean weights), in ``like``'s dtype and device."""
        return self.neuron.mean_weights(steps, like)

    def from_time_sum(self, z: Tensor, steps: int, spikes: Tensor | None = None) -> Tensor:
        """The logits ``[B, classes]`` (``[K, B, classes]`` for a population) from ``z = sum_t c_t s_t``
        (``reads_time_sum`` readouts only: synapses with ``of_time_sum``)."""
        return self.synapse.of_time_sum(z, self.time_weights(steps, z).sum(), spikes=spikes)

    def forward(self, x: Tensor, *, recording: Recording | None = None) -> Tensor:
        if self.reads_time_sum:
            # The logits from the input's time-weighted sum (one product per sample), summed in the order of
            # the fused kernel's: the same logits as a model whose last layer never wrote these spikes.
            if recording is not None:
                trace = self.neuron.run(self.synapse(x), trace=True).trace if recording.kind == "full" else None
                recording.capture(self.name, None, trace)
            T = x.shape[0]
            return self.from_time_sum(time_weighted_sum(x, self.time_weights(T, x)), T, spikes=x)
        current = self.synapse(x)
        if self.neuron is None:
            if recording is not None:
                recording.capture(self.name, None, current)
            return current.mean(0)
        full = recording is not None and recording.kind == "full"
        out = self.neuron.run(current, trace=full or self.logits == "trace_mean", mean=self.logits == "mean")
        if recording is not None:
            recording.capture(self.name, out.spikes, out.trace)
        if self.logits == "mean":
            return out.mean[0]
        if self.logits == "trace_mean":
            return out.trace.mean(0)
        return out.spikes.sum(0)

    def extra_repr(self) -> str:
        return f"logits={self.logits!r}"

"""Synapses: what carries one layer's outputs to the next layer's input current.

A synapse maps a time-major sequence ``[T, B, ...]`` to currents ``[T, B, ...]`` and accepts a
replacement weight (``forward(x, weight=None)``), which is how DropConnect masks it without the
model knowing. Feed-forward synapses work on all T steps at once (one ``[T*B, ...]`` GEMM or
convolution); ``static(x)`` computes a time-constant input ``[B, ...]`` once (direct encoding),
and the block broadcasts it over T. ``DelayedLinear`` is the paper's SRM synapse: several delayed
connections per pair of neurons, filtered by the SRM kernel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlab.functional.srm import delayed_potential
from snnlab.neurons.protocol import check_sequence
from snnlab.validation import check_float, check_int


class LinearSynapse(nn.Linear):
    """A fully connected synapse (``nn.Linear``'s parameters and initialisation) over ``[T, B, ...]``.

    Synapses compute in their weight's dtype (inputs are cast; a no-op when they already match), so a
    model converted with ``.double()`` takes the float32 data as it is.
    """

    taps = 1  # synapses per (pre, post) pair
    #: Linear in its input at every step: a time-weighted sum of its currents is ``of_time_sum`` of the
    #: input's (what lets a leaky readout multiply once per sample; ``Readout.reads_time_sum``).
    sums_over_time = True

    @property
    def unwrapped(self) -> nn.Module:
        return self

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """Currents ``[T, B, out]`` for inputs ``[T, B, ...]`` (features flattened)."""
        T, B = x.shape[:2]
        w = self.weight if weight is None else weight
        return F.linear(x.reshape(T * B, -1).to(w.dtype), w, self.bias).reshape(T, B, -1)

    def static(self, x: Tensor) -> Tensor:
        """The current ``[B, out]`` of a time-constant input ``[B, ...]``."""
        return F.linear(x.reshape(x.shape[0], -1).to(self.weight.dtype), self.weight, self.bias)

    def of_time_sum(self, z: Tensor, weight_sum: Tensor, *, spikes: Tensor | None = None,
                    weight: Tensor | None = None) -> Tensor:
        """``sum_t c_t (W s_t + b)`` from ``z = sum_t c_t s_t`` (``[B, ...]``) and ``weight_sum = sum_t c_t``:
        the synapse is linear, so a time-weighted sum of its currents is one product per sample.
        ``weight`` replaces ``W`` (as in ``forward``); ``spikes`` is for wrappers that keep statistics."""
        w = self.weight if weight is None else weight
        bias = None if self.bias is None else self.bias * weight_sum
        return F.linear(z.reshape(z.shape[0], -1).to(w.dtype), w, bias)


class ConvSynapse(nn.Module):
    """A 3x3 convolution (no bias) followed by batch normalisation, over ``[T, B, C, H, W]``."""

    taps = 1
    sums_over_time = False  # batch norm is not linear in a sum over time

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    @property
    def weight(self) -> Tensor:
        return self.conv.weight

    @property
    def unwrapped(self) -> nn.Module:
        return self

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        T, B = x.shape[:2]
        w = self.conv.weight if weight is None else weight
        z = self.norm(F.conv2d(x.reshape(T * B, *x.shape[2:]).to(w.dtype), w, padding=1))
        return z.reshape(T, B, *z.shape[1:])

    def static(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x.to(self.conv.weight.dtype)))


# Weight std = _SRM_INIT_FACTOR * threshold / sqrt(in * K): measured so that, for a latency-coded
# input with about a quarter of the inputs spiking (MNIST-like) over T = 25 steps, roughly half
# of the neurons cross the threshold at initialisation.
_SRM_INIT_FACTOR = 4.0


class DelayedLinear(nn.Module):
    """The paper's SRM synapse (Lyu & Yin, eq. 1): ``v_h(t) = sum_i sum_k w_ih^k sigma(t - t_i - d_k)``.

    Every input spike counts, through each of the ``len(delays)`` delayed connections, filtered by
    the SRM kernel of time constant ``tau`` on the integer step grid. ``weight`` is
    ``[out, in * K]`` with ``weight.view(out, in, K)[h, i, k] = w_ih^k``. The initial spread puts the
    potential's standard deviation at about ``threshold`` (of the neurons it drives) for a
    latency-coded image, so part of the layer fires at initialisation and part stays silent.
    """

    sums_over_time = False  # its currents are delayed traces, not a per-step product

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        delays: tuple[int, ...] = (0, 1, 2, 3),
        tau: float = 2.0,
        threshold: float = 1.0,
        init_gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        delays = tuple(delays) if isinstance(delays, (tuple, list)) else delays
        if not isinstance(delays, tuple) or len(delays) == 0:
            raise TypeError(f"delays must be a non-empty tuple/list of integers >= 0, got {delays!r}")
        for d in delays:
            check_int("delays entry", d, minimum=0)
        if len(set(delays)) != len(delays):
            raise ValueError(f"delays={delays!r} has repeated entries; each delay must appear once")
        self.delays = tuple(int(d) for d in delays)
        self.tau = check_float("tau", tau, low=0.0, low_inclusive=False)
        threshold = check_float("threshold", threshold, low=0.0, low_inclusive=False)
        init_gain = check_float("init_gain", init_gain, low=0.0)
        fan_in = self.in_features * len(self.delays)
        std = init_gain * _SRM_INIT_FACTOR * threshold / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.randn(self.out_features, fan_in, generator=generator) * std)

    @property
    def taps(self) -> int:
        """Delayed connections per (pre, post) pair."""
        return len(self.delays)

    @property
    def unwrapped(self) -> nn.Module:
        return self

    def forward(self, spikes: Tensor, weight: Tensor | None = None) -> Tensor:
        """Membrane potential ``[T, ..., out]`` for input spikes ``[T, ..., in]``."""
        check_sequence("spikes", spikes, min_dim=3)
        if spikes.shape[-1] != self.in_features:
            raise ValueError(
                f"spikes has {spikes.shape[-1]} features in its last dim (shape {tuple(spikes.shape)}); "
                f"this synapse takes in_features={self.in_features}"
            )
        w = self.weight if weight is None else weight
        return delayed_potential(spikes, w, self.delays, self.tau)

    def static(self, x: Tensor) -> Tensor:
        raise ValueError("a delayed SRM synapse needs input spikes over time; it cannot take a direct (static) input")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, delays={self.delays}, tau={self.tau:.3g}"

"""A non-spiking leaky integrator: the output layer of the readouts (logits from its mean potential)."""

from __future__ import annotations

import torch
from torch import Tensor

from snnlab.functional.lif import leaky_step
from snnlab.neurons.protocol import NeuronOutput, StepNeuron, check_current


class LeakyIntegrator(StepNeuron):
    """``v_t = beta * v_{t-1} + x_t``; no spikes (``NeuronOutput.spikes`` is None), membrane ``v``.

    Not a registered neuron (it never fires): readouts use it directly. Its time mean alone
    (``run(x, mean=True)``, the readout's logits) is one weighted sum over time instead of the loop:
    ``mean_t v_t = sum_s c_s x_s`` with ``c_s = (1/T) sum_{k=0}^{T-1-s} beta^k`` (the recurrence is
    linear), the same value to rounding for one small kernel instead of 2T tiny ones each way.
    """

    key = "leaky_integrator"
    threshold = float("inf")

    def __init__(self, beta: float = 0.9) -> None:
        super().__init__()
        self.beta = float(beta)
        self._weights: dict[tuple[float, int, torch.dtype, torch.device], Tensor] = {}  # not state: a cache

    def params(self) -> float:
        return self.beta

    def initial_state(self, x0: Tensor) -> Tensor:
        return x0.new_zeros(x0.shape)

    def step(self, x: Tensor, state: Tensor, params: float) -> tuple[None, Tensor, Tensor]:
        v = leaky_step(x, state, params)
        return None, v, v

    def run(self, x: Tensor, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """The trace from the loop (when asked); the time mean always as one weighted sum over time,
        so asking for the trace (a recording) never changes the mean."""
        check_current("x", x)
        traced = super().run(x, trace=True) if trace else None
        summary = torch.tensordot(self.mean_weights(x.shape[0], x), x, dims=1).unsqueeze(0) if mean else None
        return NeuronOutput(None, traced.trace if traced is not None else None, summary)

    def mean_weights(self, steps: int, like: Tensor) -> Tensor:
        """``c[steps]`` with ``mean_t v_t = sum_s c_s x_s``: the suffix sums of ``beta^k`` over ``steps``,
        computed in float64 (no cancellation for beta near 1), in ``like``'s dtype and device.

        Cached per (beta, steps, dtype, device): made on the CPU and copied once, not every step (a
        host-to-device copy each training step was the training loop's only host sync on CUDA)."""
        key = (self.beta, steps, like.dtype, like.device)
        cached = self._weights.get(key)
        if cached is not None:
            return cached
        powers = torch.tensor(self.beta, dtype=torch.float64) ** torch.arange(steps, dtype=torch.float64)  # 0^0 = 1
        c = powers.cumsum(0).flip(0) / steps
        weights = c.to(dtype=like.dtype, device=like.device)
        if len(self._weights) >= 8:  # a handful of (T, dtype, device) in practice
            self._weights.clear()
        self._weights[key] = weights
        return weights

    def extra_repr(self) -> str:
        return f"beta={self.beta:.3g}"

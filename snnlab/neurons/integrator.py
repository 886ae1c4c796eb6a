"""A non-spiking leaky integrator: the output layer of the readouts (logits from its mean potential)."""

from __future__ import annotations

from torch import Tensor

from snnlab.functional.lif import leaky_step
from snnlab.neurons.protocol import StepNeuron


class LeakyIntegrator(StepNeuron):
    """``v_t = beta * v_{t-1} + x_t``; no spikes (``NeuronOutput.spikes`` is None), membrane ``v``.

    Not a registered neuron (it never fires): readouts use it directly.
    """

    key = "leaky_integrator"
    threshold = float("inf")

    def __init__(self, beta: float = 0.9) -> None:
        super().__init__()
        self.beta = float(beta)

    def params(self) -> float:
        return self.beta

    def initial_state(self, x0: Tensor) -> Tensor:
        return x0.new_zeros(x0.shape)

    def step(self, x: Tensor, state: Tensor, params: float) -> tuple[None, Tensor, Tensor]:
        v = leaky_step(x, state, params)
        return None, v, v

    def extra_repr(self) -> str:
        return f"beta={self.beta:.3g}"

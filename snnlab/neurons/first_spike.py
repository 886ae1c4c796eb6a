"""The paper's fire-once neuron: a spike at the first step where the SRM potential crosses the threshold."""

from __future__ import annotations

from torch import Tensor

from snnlab.functional.srm import FirstSpikeParams, FirstSpikeState, first_spike_initial_state, first_spike_step, first_spikes
from snnlab.functional.surrogate import Surrogate, resolve_surrogate
from snnlab.neurons.protocol import NeuronOutput, StepNeuron, check_current
from snnlab.neurons.registry import register_neuron
from snnlab.validation import check_float


@register_neuron
class FirstSpike(StepNeuron):
    """At most one spike per neuron, at its first threshold crossing (Lyu & Yin, eq. 2).

    Its input is the membrane potential itself (an SRM synapse, ``snnlab.blocks.DelayedLinear``,
    computes it), so the membrane trace is the input and nothing is reset after the spike.
    ``run`` uses the whole-trace ``first_spikes`` (a running product); the step form is its
    reference. The trace is handed over for ``mean=True`` (``running_mean = False``).
    """

    key = "first_spike"
    running_mean = False

    def __init__(self, threshold: float = 1.0, *, surrogate: str | Surrogate = "fast_sigmoid",
                 surrogate_options: dict | None = None) -> None:
        super().__init__()
        self.threshold = check_float("threshold", threshold, low=0.0, low_inclusive=False)
        self.surrogate = resolve_surrogate(surrogate, surrogate_options)

    def params(self) -> FirstSpikeParams:
        return FirstSpikeParams(self.threshold, self.surrogate)

    def initial_state(self, x0: Tensor) -> FirstSpikeState:
        return first_spike_initial_state(x0)

    def step(self, x: Tensor, state: FirstSpikeState, params: FirstSpikeParams) -> tuple[Tensor, Tensor, FirstSpikeState]:
        s, new = first_spike_step(x, state, params)
        return s, x, new

    def run(self, x: Tensor, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """Spikes of the whole potential trace ``x[T, B, ...]`` at once; the trace is ``x`` itself."""
        check_current("x", x)
        return NeuronOutput(first_spikes(x, self.params()), x if trace else None, x if mean else None)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:.3g}, surrogate={self.surrogate}"

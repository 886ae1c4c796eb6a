"""The write-up's penalty neuron as a multi-step shell (over ``snnlab.functional.penalty_step``)."""

from __future__ import annotations

from torch import Tensor

from snnlab.functional.penalty import PenaltyParams, PenaltyState, penalty_initial_state, penalty_step
from snnlab.neurons.protocol import StepNeuron
from snnlab.neurons.registry import register_neuron
from snnlab.validation import check_float


@register_neuron
class PenaltyNeuron(StepNeuron):
    """Real-valued ReLU firing, refractory penalty, one-step delay.

    At step t the layer returns the state computed at step t-1 (zeros at t=0), as the write-up's
    ``delayed_return_state, delayed_return_output``: outputs are the delayed ``relu(inner - threshold) >= 0``
    and the membrane is the delayed (post-penalty) inner state. The trace is handed over for
    ``mean=True`` (``running_mean = False``): the consumers average it themselves.
    """

    key = "penalty"
    running_mean = False

    def __init__(self, decay: float = 0.9, threshold: float = 2.0, penalty_threshold: float = 2.5) -> None:
        super().__init__()
        self.decay = check_float("decay", decay, low=0.0, high=1.0)
        self.threshold = check_float("threshold", threshold, low=0.0)
        self.penalty_threshold = check_float("penalty_threshold", penalty_threshold, low=0.0)

    def params(self) -> PenaltyParams:
        return PenaltyParams(self.decay, self.threshold, self.penalty_threshold)

    def initial_state(self, x0: Tensor) -> PenaltyState:
        return penalty_initial_state(x0)

    def step(self, x: Tensor, state: PenaltyState, params: PenaltyParams) -> tuple[Tensor, Tensor, PenaltyState]:
        # The delay: this step emits the state of the previous one, then updates.
        _, new = penalty_step(x, state, params)
        return state.outer, state.inner, new

    def extra_repr(self) -> str:
        return f"decay={self.decay:.3g}, threshold={self.threshold:.3g}, penalty_threshold={self.penalty_threshold:.3g}"

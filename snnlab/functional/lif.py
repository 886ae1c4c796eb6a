"""The leaky integrate-and-fire step and the non-spiking leaky integrator (readouts).

``lif_step(x, state, params) -> (spikes, state)``: named state and parameter tuples, no modules,
no randomness. Every multi-step LIF shell and every fused kernel is tested against a loop of it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from torch import Tensor

from snnlab.functional.surrogate import Surrogate
from snnlab.validation import check_float

RESETS = ("subtract", "zero")


class LIFParams(NamedTuple):
    """Parameters of one LIF step. ``beta``/``threshold`` may be floats or (learnable) tensors."""

    beta: float | Tensor = 0.9
    threshold: float | Tensor = 1.0
    reset: str = "subtract"
    surrogate: Surrogate = Surrogate()
    detach_reset: bool = False


class LIFState(NamedTuple):
    """State after a LIF step: ``v`` the potential carried to the next step (after the reset) and
    ``h`` the potential compared with the threshold at this step (before the reset): the neuron's
    observable membrane, what recording and the membrane-shaped dropout read."""

    v: Tensor
    h: Tensor


def lif_initial_state(x0: Tensor) -> LIFState:
    """The resting state for inputs shaped like ``x0`` (one step ``[B, ...]``)."""
    zero = x0.new_zeros(x0.shape)
    return LIFState(zero, zero)


def lif_step(x: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, LIFState]:
    """One LIF step: ``h = beta*v + x``; spike ``s = H(h - threshold)``; reset by subtraction or to zero.

    Returns ``(s, LIFState(v_next, h))``.
    """
    h = params.beta * state.v + x
    s = params.surrogate(h - params.threshold)
    r = s.detach() if params.detach_reset else s
    if params.reset == "subtract":
        v_next = h - r * params.threshold
    else:
        v_next = h * (1.0 - r)
    return s, LIFState(v_next, h)


def beta_from_tau(tau: float) -> float:
    """Decay per step of a membrane with time constant ``tau`` steps: exp(-1/tau)."""
    return math.exp(-1.0 / check_float("tau", tau, low=0.0, low_inclusive=False))


def leaky_step(x: Tensor, v: Tensor, beta: float | Tensor) -> Tensor:
    """One step of a non-spiking leaky integrator (the readouts' output layer): ``v' = beta*v + x``."""
    return beta * v + x

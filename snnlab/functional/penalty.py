"""The "SNN with PyTorch" write-up's refractory neuron, one step.

Real-valued ReLU firing ``relu(inner - threshold)`` with a refractory penalty after each firing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class PenaltyParams(NamedTuple):
    """Parameters of the penalty neuron (floats or tensors).

    ``decay``: multiplier of the previous inner state; ``threshold``: firing level of
    ``relu(inner - threshold)``; ``penalty_threshold``: extra amount subtracted after a
    firing on top of the output itself (the refractory penalty).
    """

    decay: float | Tensor = 0.9
    threshold: float | Tensor = 2.0
    penalty_threshold: float | Tensor = 2.5


class PenaltyState(NamedTuple):
    """``inner``: the (post-penalty) inner state; ``outer``: the last output ``relu(inner - threshold)``."""

    inner: Tensor
    outer: Tensor


def penalty_initial_state(x0: Tensor) -> PenaltyState:
    """The resting state for inputs shaped like ``x0`` (one step ``[B, ...]``)."""
    return PenaltyState(x0.new_zeros(x0.shape), x0.new_zeros(x0.shape))


def penalty_step(x: Tensor, state: PenaltyState, params: PenaltyParams) -> tuple[Tensor, PenaltyState]:
    """One step: ``inner = x + inner*decay``; ``outer = relu(inner - threshold)``; where ``outer > 0``
    the inner state drops by ``penalty_threshold + outer``. Returns ``(outer, PenaltyState(inner, outer))``.

    The gate ``outer > 0`` carries no gradient (as in the write-up); gradients flow through
    ``outer`` and ``inner``. The previous output does not enter the update: it is the state a
    layer carries for its one-step delay.
    """
    inner = x + state.inner * params.decay
    outer = torch.relu(inner - params.threshold)
    gate = (outer > 0).to(inner.dtype)
    inner = inner - (params.penalty_threshold + outer) * gate
    return outer, PenaltyState(inner, outer)

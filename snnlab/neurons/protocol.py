"""What a neuron is to the rest of snnlab: the ``Neuron`` protocol and the one multi-step time loop.

A neuron takes a time-major input current ``[T, B, ...]`` and returns a ``NeuronOutput``: its
outputs (spikes) and, when asked, its membrane as a full trace and/or a time-mean summary. The
membrane is the quantity the neuron compares with its ``threshold`` (before any reset). Blocks,
recording and the membrane-shaped dropout only ever talk to a neuron through ``run``.

``StepNeuron`` is the shell most neurons are: it owns the single time loop over a functional
step (``snnlab.functional``) and collects exactly what was asked for, so no neuron writes its own
loop (a fused backend overrides ``run`` and is tested against this loop).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from snnlab.neurons.lif_kernels import time_weighted_sum


class NeuronOutput(NamedTuple):
    """What ``Neuron.run`` returns.

    ``spikes``: the outputs ``[T, B, ...]`` (binary spikes, or real-valued for the penalty neuron;
    None for a non-spiking integrator). ``trace``: the membrane ``[T, B, ...]`` when asked
    (``trace=True``), else None. ``mean``: when asked (``mean=True``) the membrane's time mean,
    ``[1, B, ...]``, or the full trace ``[T, B, ...]`` for neurons that have no cheaper way to give
    it (consumers take ``.mean(0)`` either way); else None.
    """

    spikes: Tensor | None
    trace: Tensor | None
    mean: Tensor | None


@runtime_checkable
class Neuron(Protocol):
    """The protocol every registered neuron follows (checked for each in the tests)."""

    #: Registry key (``make_neuron(key)``).
    key: str
    #: The firing level the membrane is compared with.
    threshold: float | Tensor

    def run(self, x: Tensor, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """Run the sequence ``x[T, B, ...]``; return outputs and the membrane summaries asked for."""
        ...

    def run_static(self, x: Tensor, steps: int, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """``run`` on the time-constant current ``x[B, ...]`` repeated for ``steps`` steps (direct encoding)."""
        ...

    def sums_in_kernel(self, x: Tensor) -> bool:
        """Whether ``run_summed`` on ``x`` sums the outputs in a kernel without writing them."""
        ...

    def run_summed(self, x: Tensor, weights: Tensor, *, steps: int | None = None, counts: Tensor | None = None) -> Tensor:
        """The outputs summed over time with the constant ``weights[T]``: ``sum_t weights[t] * s_t``;
        ``counts`` (optional, z's shape) receives ``sum_t s_t``."""
        ...

    def forward(self, x: Tensor) -> Tensor:
        """The outputs ``[T, B, ...]`` alone."""
        ...


def check_sequence(name: str, x: Any, min_dim: int = 2) -> None:
    """``x`` must be a time-major tensor ``[T, B, ...]`` with at least ``min_dim`` dims and T >= 1."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must be time-major [T, B, ...] with at least {min_dim} dims, got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has T={x.shape[0]} steps; T must be >= 1")


def check_current(name: str, x: Any, min_dim: int = 2) -> None:
    """``x`` must be a floating-point time-major tensor ``[T, B, ...]`` (``check_sequence``): the input
    current of a neuron (an integer or boolean current would fail deep inside the step arithmetic)."""
    check_sequence(name, x, min_dim)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (an input current, e.g. float32), got dtype {x.dtype}")


def check_static_current(name: str, x: Any, steps: Any) -> None:
    """``run_static``'s arguments: ``x`` a floating-point tensor ``[B, ...]``, ``steps`` an integer >= 1."""
    from snnlab.validation import check_int

    check_int("steps", steps, minimum=1)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, ...], got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(f"{name} must have a batch dimension [B, ...], got a 0-d tensor")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (an input current, e.g. float32), got dtype {x.dtype}")


class StepNeuron(nn.Module):
    """A neuron defined by one step; ``run`` is the only time loop.

    Subclasses give ``params()`` (a named tuple of the functional step's parameters),
    ``initial_state(x0)`` and ``step(x_t, state, params) -> (output_t, membrane_t, state)``.
    ``running_mean``: whether the loop accumulates the membrane's time mean step by step (True) or
    hands consumers the trace for ``mean=True`` (neurons whose consumers must see the trace).
    """

    key = "step"
    running_mean = True

    def params(self) -> Any:
        raise NotImplementedError

    def initial_state(self, x0: Tensor) -> Any:
        raise NotImplementedError

    def step(self, x: Tensor, state: Any, params: Any) -> tuple[Tensor | None, Tensor, Any]:
        raise NotImplementedError

    def run(self, x: Tensor, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """Run ``x[T, B, ...]`` step by step; collect the outputs and the membrane summaries asked for."""
        check_current("x", x)
        keep_trace = trace or (mean and not self.running_mean)
        params = self.params()
        steps = x.unbind(0)  # unbind, not x[t]: indexing makes backward O(T^2)
        state = self.initial_state(steps[0])
        outputs: list[Tensor] = []
        membranes: list[Tensor] = []
        total = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device) if mean and self.running_mean else None
        for xt in steps:
            out, membrane, state = self.step(xt, state, params)
            if out is not None:
                outputs.append(out)
            if keep_trace:
                membranes.append(membrane)
            if total is not None:
                total = total + membrane
        stacked = torch.stack(membranes) if keep_trace else None
        if not mean:
            summary = None
        elif total is not None:
            summary = (total / x.shape[0]).unsqueeze(0)
        else:
            summary = stacked
        return NeuronOutput(torch.stack(outputs) if outputs else None, stacked if trace else None, summary)

    def run_static(self, x: Tensor, steps: int, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """``run`` on the current ``x[B, ...]`` held for ``steps`` steps: an expand view over time (no
        copy). Neurons with a cheaper way to take a constant input (the LIF kernel) override it."""
        check_static_current("x", x, steps)
        return self.run(x.unsqueeze(0).expand(steps, *x.shape), trace=trace, mean=mean)

    def sums_in_kernel(self, x: Tensor) -> bool:
        """Whether ``run_summed`` skips writing the outputs (a fused kernel, e.g. LIF's on the CPU): here never."""
        return False

    def run_summed(self, x: Tensor, weights: Tensor, *, steps: int | None = None, counts: Tensor | None = None) -> Tensor:
        """The outputs summed over time with the constant ``weights[T]``, ``sum_t weights[t] * s_t``
        (``[B, ...]``): ``run`` (or ``run_static`` with ``steps``), then ``lif_kernels.time_weighted_sum``,
        which adds in the order a summing kernel does. ``counts`` (a tensor of that shape), when given,
        receives ``sum_t s_t``. Neurons with such a kernel override it."""
        out = self.run_static(x, steps) if steps is not None else self.run(x)
        if out.spikes is None:
            raise ValueError(f"the {self.key!r} neuron has no outputs to sum (a non-spiking integrator)")
        if counts is not None:
            with torch.no_grad():
                counts.copy_(out.spikes.sum(0))
        return time_weighted_sum(out.spikes, weights)

    def forward(self, x: Tensor) -> Tensor:
        """The outputs ``[T, B, ...]``."""
        return self.run(x).spikes

    def forward_trace(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(outputs, membrane trace)``, both ``[T, B, ...]``: ``run(x, trace=True)`` as a pair."""
        out = self.run(x, trace=True)
        return out.spikes, out.trace

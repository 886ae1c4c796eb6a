"""The multi-step leaky integrate-and-fire neuron (shell over ``snnlab.functional.lif_step``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnlab.functional.lif import RESETS, LIFParams, LIFState, beta_from_tau, lif_initial_state, lif_step
from snnlab.functional.surrogate import Surrogate, resolve_surrogate
from snnlab.neurons import lif_kernels
from snnlab.neurons.fused_lif import FusedLIF
from snnlab.neurons.protocol import NeuronOutput, StepNeuron, check_current, check_static_current
from snnlab.neurons.registry import register_neuron
from snnlab.validation import check_choice, check_float

LIF_BACKENDS = ("loop", "fused", "kernel", "auto")


@register_neuron
class LIF(StepNeuron):
    """Multi-step leaky integrate-and-fire neuron over ``[T, B, ...]`` input currents.

    ``beta`` (or ``tau`` in steps) sets the decay, ``threshold`` the firing level,
    ``reset`` is ``"subtract"`` (soft) or ``"zero"`` (hard). Either can be learnable.
    The membrane is the pre-reset potential ``h``. ``backend`` says how the recurrence runs:
    ``"auto"`` (default) the kernel where one runs, else ``"fused"``, silently; ``"loop"`` the time
    loop over ``lif_step`` (the reference); ``"fused"`` one custom-autograd node in
    PyTorch (same results, less memory); ``"kernel"`` the fused kernel of the tensor's device
    (C on CPU, Triton on CUDA; ``snnlab.neurons.lif_kernels``: forward values bit-identical to the
    loop, gradients to rounding), falling back to ``"fused"`` with one warning naming why when it
    cannot run.
    ``SNNLAB_LIF_KERNEL=torch`` turns the kernels off.
    """

    key = "lif"

    def __init__(
        self,
        beta: float = 0.9,
        *,
        tau: float | None = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        surrogate: str | Surrogate = "fast_sigmoid",
        surrogate_options: dict | None = None,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        detach_reset: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.backend = check_choice("backend", backend, LIF_BACKENDS)
        if tau is not None:
            beta = beta_from_tau(tau)
        check_float("beta", beta, low=0.0, high=1.0)
        check_float("threshold", threshold, low=0.0, low_inclusive=False)
        check_choice("reset", reset, RESETS)
        self.surrogate = resolve_surrogate(surrogate, surrogate_options)
        self.reset = reset
        self.detach_reset = bool(detach_reset)
        if learn_beta:
            self.beta = nn.Parameter(torch.tensor(float(beta)))
        else:
            self.register_buffer("beta", torch.tensor(float(beta)), persistent=True)
        if learn_threshold:
            self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        else:
            self.register_buffer("threshold", torch.tensor(float(threshold)), persistent=True)

    def params(self) -> LIFParams:
        """The current parameters as ``LIFParams`` (learnable beta is clamped to [0, 1])."""
        beta = self.beta.clamp(0.0, 1.0) if isinstance(self.beta, nn.Parameter) else self.beta
        return LIFParams(beta, self.threshold, self.reset, self.surrogate, self.detach_reset)

    def initial_state(self, x0: Tensor) -> LIFState:
        return lif_initial_state(x0)

    def step(self, x: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, Tensor, LIFState]:
        s, state = lif_step(x, state, params)
        return s, state.h, state

    def run(self, x: Tensor, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """Run ``x[T, B, ...]``: spikes, and the pre-reset membrane trace / time mean when asked."""
        if self.backend == "loop":
            return super().run(x, trace=trace, mean=mean)
        check_current("x", x)
        params = self.params()
        if self.backend in ("kernel", "auto"):
            applies, reason = lif_kernels.kernel_applies(x)
            if applies:
                spikes, h_all = lif_kernels.lif_kernel(
                    x, params.beta, params.threshold, reset=params.reset, surrogate=params.surrogate,
                    detach_reset=params.detach_reset, keep_h=trace or mean,
                )
                return NeuronOutput(spikes, h_all if trace else None, h_all.mean(0, keepdim=True) if mean else None)
            if self.backend == "kernel" and lif_kernels.kernel_choice() != "torch":
                lif_kernels.warn_unavailable(reason)
        spikes, h_all = FusedLIF.apply(x, params.beta, params.threshold, params.reset, params.surrogate,
                                       params.detach_reset)
        return NeuronOutput(spikes, h_all if trace else None, h_all.mean(0, keepdim=True) if mean else None)

    def run_static(self, x: Tensor, steps: int, *, trace: bool = False, mean: bool = False) -> NeuronOutput:
        """``run`` on the current ``x[B, ...]`` held for ``steps`` steps. On the C kernel nothing
        ``[T, B, ...]`` is kept for backward and ``x`` gets its gradient summed over time in the
        kernel (``lif_kernels.lif_kernel_static``); elsewhere the expanded ``run``."""
        check_static_current("x", x, steps)
        if self.backend in ("kernel", "auto") and x.device.type == "cpu" and x.dim() >= 1:
            applies, _ = lif_kernels.kernel_applies(x)
            if applies:
                params = self.params()
                spikes, h_all = lif_kernels.lif_kernel_static(
                    x, steps, params.beta, params.threshold, reset=params.reset, surrogate=params.surrogate,
                    detach_reset=params.detach_reset, keep_h=trace or mean,
                )
                return NeuronOutput(spikes, h_all if trace else None, h_all.mean(0, keepdim=True) if mean else None)
        return super().run_static(x, steps, trace=trace, mean=mean)

    def sums_in_kernel(self, x: Tensor) -> bool:
        """Whether ``run_summed`` on ``x`` runs in the C kernel (CPU, kernel available, backend
        ``kernel``/``auto``): then it writes no ``[T, B, ...]`` spikes. A model fuses a linear
        readout's time mean into this layer only then (elsewhere that would gain nothing)."""
        return (self.backend in ("kernel", "auto") and isinstance(x, Tensor) and x.device.type == "cpu"
                and lif_kernels.kernel_applies(x)[0])

    def run_summed(self, x: Tensor, weights: Tensor, *, steps: int | None = None, counts: Tensor | None = None) -> Tensor:
        """The spikes summed over time with the constant ``weights[T]``: ``z = sum_t weights[t] * s_t``
        (and, into ``counts`` when given, the spike counts ``sum_t s_t``).

        ``x`` is the current ``[T, B, ...]``, or with ``steps`` the time-constant ``x[B, ...]`` held
        that long. The same value as ``lif_kernels.time_weighted_sum(run(x).spikes, weights)`` (bit for
        bit on CPU), which is what runs where ``sums_in_kernel(x)`` is False; where it is True the C
        kernel never writes the spikes, forward or backward (``lif_kernels.lif_kernel_summed``).
        """
        if steps is not None:
            check_static_current("x", x, steps)
        else:
            check_current("x", x)
        if self.sums_in_kernel(x):
            params = self.params()
            return lif_kernels.lif_kernel_summed(x, weights, params.beta, params.threshold, steps=steps,
                                                 reset=params.reset, surrogate=params.surrogate,
                                                 detach_reset=params.detach_reset, counts=counts)
        return super().run_summed(x, weights, steps=steps, counts=counts)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.3g}, threshold={float(self.threshold):.3g}, reset={self.reset!r}, surrogate={self.surrogate}"

"""Spiking neurons: surrogate spike functions, the LIF neuron, the write-up's penalty neuron, the paper's SRM layer.

Layout follows a functional core (``lif_step(x, v, params) -> (spike, v)``) under thin
multi-step ``nn.Module`` shells that take a time-major ``[T, B, ...]`` sequence and
return the whole sequence. ``forward`` returns spikes; ``forward_trace`` returns
``(spikes, membrane)`` where ``membrane[t]`` is the potential compared with the
threshold at step t (before any reset): the quantity recording and the
membrane-shaped dropout need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from snnlab.validation import check_choice, check_float

# --------------------------------------------------------------------------- surrogates


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; backward d/dx = 1 / (slope*|x| + 1)^2 (SuperSpike's fast sigmoid)."""

    @staticmethod
    def forward(ctx, x: Tensor, slope: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (ctx.slope * x.abs() + 1.0) ** 2, None


class ArctanSpike(torch.autograd.Function):
    """Heaviside forward; backward d/dx = (alpha/2) / (1 + (pi/2 * alpha * x)^2)."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2.0) / (1.0 + (math.pi / 2.0 * a * x) ** 2), None


def fast_sigmoid(x: Tensor, slope: float = 25.0) -> Tensor:
    """Spike (x > 0) with the fast-sigmoid surrogate gradient of steepness ``slope``."""
    return FastSigmoidSpike.apply(x, slope)


def arctan(x: Tensor, alpha: float = 2.0) -> Tensor:
    """Spike (x > 0) with the arctan surrogate gradient of width parameter ``alpha``."""
    return ArctanSpike.apply(x, alpha)


SURROGATES = ("fast_sigmoid", "arctan")


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate spike function with its parameter; call it on ``v - threshold``."""

    name: str = "fast_sigmoid"
    scale: float = 25.0  # slope for fast_sigmoid, alpha for arctan

    def __call__(self, x: Tensor) -> Tensor:
        if self.name == "fast_sigmoid":
            return FastSigmoidSpike.apply(x, self.scale)
        return ArctanSpike.apply(x, self.scale)


def make_surrogate(name: str = "fast_sigmoid", *, slope: float | None = None, alpha: float | None = None) -> Surrogate:
    """Build a surrogate by name: ``fast_sigmoid`` (parameter ``slope``, default 25) or ``arctan`` (``alpha``, default 2)."""
    check_choice("surrogate", name, SURROGATES)
    if name == "fast_sigmoid":
        if alpha is not None:
            raise ValueError("alpha is the arctan surrogate's parameter; fast_sigmoid takes slope")
        scale = 25.0 if slope is None else check_float("slope", slope, low=0.0, low_inclusive=False)
    else:
        if slope is not None:
            raise ValueError("slope is the fast_sigmoid surrogate's parameter; arctan takes alpha")
        scale = 2.0 if alpha is None else check_float("alpha", alpha, low=0.0, low_inclusive=False)
    return Surrogate(name, scale)


# --------------------------------------------------------------------------- LIF

RESETS = ("subtract", "zero")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of one LIF step. beta/threshold may be floats or (learnable) tensors."""

    beta: float | Tensor = 0.9
    threshold: float | Tensor = 1.0
    reset: str = "subtract"
    surrogate: Surrogate = Surrogate()
    detach_reset: bool = False


def lif_step(x: Tensor, v: Tensor, p: LIFParams) -> tuple[Tensor, Tensor, Tensor]:
    """One LIF step: ``h = beta*v + x``; spike ``s = H(h - threshold)``; reset.

    Returns ``(spike, h, v_next)``: ``h`` is the potential compared with the threshold
    (pre-reset), ``v_next`` the state carried to the next step.
    """
    h = p.beta * v + x
    s = p.surrogate(h - p.threshold)
    r = s.detach() if p.detach_reset else s
    if p.reset == "subtract":
        v_next = h - r * p.threshold
    else:
        v_next = h * (1.0 - r)
    return s, h, v_next


def beta_from_tau(tau: float) -> float:
    """Decay per step of a membrane with time constant ``tau`` steps: exp(-1/tau)."""
    return math.exp(-1.0 / check_float("tau", tau, low=0.0, low_inclusive=False))


class LIF(nn.Module):
    """Multi-step leaky integrate-and-fire neuron over ``[T, B, ...]`` input currents.

    ``beta`` (or ``tau`` in steps) sets the decay, ``threshold`` the firing level,
    ``reset`` is ``"subtract"`` (soft) or ``"zero"`` (hard). Either can be learnable.
    """

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
    ) -> None:
        super().__init__()
        if tau is not None:
            beta = beta_from_tau(tau)
        check_float("beta", beta, low=0.0, high=1.0)
        check_float("threshold", threshold, low=0.0, low_inclusive=False)
        check_choice("reset", reset, RESETS)
        if isinstance(surrogate, Surrogate):
            if surrogate_options:
                raise ValueError("surrogate_options are only used when surrogate is given by name")
            self.surrogate = surrogate
        else:
            self.surrogate = make_surrogate(surrogate, **(surrogate_options or {}))
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
        """The current parameters as an ``LIFParams`` (learnable beta is clamped to [0, 1])."""
        beta = self.beta.clamp(0.0, 1.0) if isinstance(self.beta, nn.Parameter) else self.beta
        return LIFParams(beta, self.threshold, self.reset, self.surrogate, self.detach_reset)

    def forward_trace(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run the sequence; return ``(spikes, membrane)``, both ``[T, B, ...]`` (membrane pre-reset)."""
        _check_sequence("x", x)
        p = self.params()
        v = torch.zeros_like(x[0])
        spikes, membrane = [], []
        for xt in x.unbind(0):  # unbind, not x[t]: indexing makes backward O(T^2)
            s, h, v = lif_step(xt, v, p)
            spikes.append(s)
            membrane.append(h)
        return torch.stack(spikes), torch.stack(membrane)

    def forward(self, x: Tensor) -> Tensor:
        """Run the sequence; return the spikes ``[T, B, ...]``."""
        _check_sequence("x", x)
        p = self.params()
        v = torch.zeros_like(x[0])
        spikes = []
        for xt in x.unbind(0):
            s, _, v = lif_step(xt, v, p)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.3g}, threshold={float(self.threshold):.3g}, reset={self.reset!r}, surrogate={self.surrogate}"


def _check_sequence(name: str, x: Tensor, min_dim: int = 2) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must be time-major [T, B, ...] with at least {min_dim} dims, got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has T={x.shape[0]} steps; T must be >= 1")

"""Spiking neurons: surrogate spike functions, the LIF neuron, the write-up's penalty neuron, the paper's SRM layer.

Layout follows a functional core (``lif_step(x, v, params) -> (spike, v)``) under thin
multi-step ``nn.Module`` shells that take a time-major ``[T, B, ...]`` sequence and
return the whole sequence. ``forward`` returns spikes; ``forward_trace`` returns
``(spikes, membrane)`` where ``membrane[t]`` is the potential compared with the
threshold at step t (before any reset): the quantity recording and the
membrane-shaped dropout need.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from snnlab.validation import check_choice, check_float, check_int

# --------------------------------------------------------------------------- surrogates


def _heaviside(x: Tensor, level: float | Tensor = 0.0) -> Tensor:
    """``(x > level)`` as x's float dtype, written straight into a float tensor.

    Same values as ``(x > level).to(x.dtype)``, but going through a bool tensor costs about
    10x more on CPU (measured: 276 us vs 29 us for a 128x800 float32 tensor on one core).
    """
    return torch.gt(x, level, out=torch.empty_like(x, memory_format=torch.contiguous_format))


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; backward d/dx = 1 / (slope*|x| + 1)^2 (SuperSpike's fast sigmoid)."""

    @staticmethod
    def forward(ctx, x: Tensor, slope: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return _heaviside(x)

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
        return _heaviside(x)

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

    def derivative(self, x: Tensor, *, inplace: bool = False) -> Tensor:
        """The surrogate derivative d spike / dx at ``x`` (what the backward of ``__call__`` multiplies by).

        ``inplace=True`` overwrites ``x`` (saves allocating a new ``[T, B, ...]`` buffer).
        """
        y = x if inplace else x.clone()
        if self.name == "fast_sigmoid":
            y.abs_().mul_(self.scale).add_(1.0)
            return y.mul_(y).reciprocal_()  # mul_ rather than square_/pow_: pow is ~5x slower on CPU
        y.mul_(math.pi / 2.0 * self.scale)
        return y.mul_(y).add_(1.0).reciprocal_().mul_(self.scale / 2.0)


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


def resolve_surrogate(surrogate: str | Surrogate, surrogate_options: dict | None = None) -> Surrogate:
    """A ``Surrogate`` as given, or built by name with ``surrogate_options`` (options only go with a name)."""
    if isinstance(surrogate, Surrogate):
        if surrogate_options:
            raise ValueError("surrogate_options are only used when surrogate is given by name")
        return surrogate
    return make_surrogate(surrogate, **(surrogate_options or {}))


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


class _FusedLIF(torch.autograd.Function):
    """The whole LIF sequence as one autograd node: forward keeps only the pre-reset membrane
    ``h[T, ...]`` (spikes are ``h > threshold``); backward runs the recurrence in reverse.

    Same values and gradients as the ``lif_step`` loop (tests check it) with fewer kernels and
    less saved memory: everything elementwise is done on whole ``[T, ...]`` tensors and the
    time loops keep only the recurrence (backward: one fused multiply-add per step).
    """

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, threshold: Tensor, reset: str, surrogate: Surrogate, detach_reset: bool):  # type: ignore[override]
        b, thr = float(beta.detach()), float(threshold.detach())  # one host read per call, not per step
        h_all = torch.empty(x.shape, dtype=x.dtype, device=x.device)  # x may be an expand view
        v = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
        s_all = torch.empty_like(h_all)
        subtract = reset == "subtract"
        for xt, ht, st in zip(x.unbind(0), h_all.unbind(0), s_all.unbind(0)):
            torch.add(xt, v, alpha=b, out=ht)
            torch.gt(ht, thr, out=st)  # float out: much cheaper than a bool intermediate on CPU
            v = torch.sub(ht, st, alpha=thr) if subtract else ht - ht * st
        ctx.save_for_backward(h_all, beta, threshold)
        ctx.reset, ctx.surrogate, ctx.detach_reset = reset, surrogate, detach_reset
        return s_all, h_all

    @staticmethod
    def backward(ctx, g_s: Tensor, g_h: Tensor):  # type: ignore[override]
        h_all, beta, threshold = ctx.saved_tensors
        b, thr = float(beta.detach()), float(threshold.detach())
        subtract = ctx.reset == "subtract"
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        # Large fresh buffers cost as much as the arithmetic on CPU: work in place where possible.
        d = ctx.surrogate.derivative(h_all - thr, inplace=True)
        s = _heaviside(h_all, thr) if (need_beta or need_thr or not subtract) else None
        # v_t = h_t - r_t*thr (subtract) or h_t*(1 - r_t) (zero) with r_t = s_t (no gradient if detached).
        # dL/dh_t = g_h_t + g_s_t*d_t + g_v_t*c_t, with g_v_t = beta * dL/dh_{t+1} and
        # c_t = dv_t/dh_t including the path through the spike; c is scaled by beta below.
        g_x = torch.addcmul(g_h, g_s, d)
        if subtract:
            c = None if ctx.detach_reset else torch.mul(d, -thr * b).add_(b)
        else:
            c = torch.mul(s, -b).add_(b)  # beta * (1 - s)
            if not ctx.detach_reset:
                c.addcmul_(h_all, d, value=-b)
        gxs = g_x.unbind(0)
        cs = c.unbind(0) if c is not None else None
        for t in range(len(gxs) - 2, -1, -1):  # reverse over unbound views; the last step has no future
            if cs is None:
                gxs[t].add_(gxs[t + 1], alpha=b)
            else:
                gxs[t].addcmul_(cs[t], gxs[t + 1])
        g_beta = g_thr = None
        if need_beta:
            v_prev = h_all[:-1] - s[:-1] * thr if subtract else h_all[:-1] * (1.0 - s[:-1])
            g_beta = (g_x[1:] * v_prev).sum().to(beta.dtype)
        if need_thr:
            g_v = torch.zeros_like(g_x)
            g_v[:-1] = g_x[1:] * b
            g_s_tot = g_s if ctx.detach_reset else g_s - g_v * (thr if subtract else h_all)
            g_thr = -(g_s_tot * d).sum()
            if subtract:
                g_thr = g_thr - (g_v * s).sum()
            g_thr = g_thr.to(threshold.dtype)
        return g_x, g_beta, g_thr, None, None, None


LIF_BACKENDS = ("loop", "fused")


class LIF(nn.Module):
    """Multi-step leaky integrate-and-fire neuron over ``[T, B, ...]`` input currents.

    ``beta`` (or ``tau`` in steps) sets the decay, ``threshold`` the firing level,
    ``reset`` is ``"subtract"`` (soft) or ``"zero"`` (hard). Either can be learnable.
    ``backend="fused"`` runs the recurrence as one custom-autograd node (same results, less memory).
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
        backend: str = "loop",
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
        """The current parameters as an ``LIFParams`` (learnable beta is clamped to [0, 1])."""
        beta = self.beta.clamp(0.0, 1.0) if isinstance(self.beta, nn.Parameter) else self.beta
        return LIFParams(beta, self.threshold, self.reset, self.surrogate, self.detach_reset)

    def _fused(self, x: Tensor) -> tuple[Tensor, Tensor]:
        p = self.params()
        beta = p.beta if isinstance(p.beta, Tensor) else torch.tensor(p.beta)
        thr = p.threshold if isinstance(p.threshold, Tensor) else torch.tensor(p.threshold)
        return _FusedLIF.apply(x, beta, thr, p.reset, p.surrogate, p.detach_reset)

    def forward_trace(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run the sequence; return ``(spikes, membrane)``, both ``[T, B, ...]`` (membrane pre-reset)."""
        _check_sequence("x", x)
        if self.backend == "fused":
            return self._fused(x)
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
        if self.backend == "fused":
            return self._fused(x)[0]
        p = self.params()
        v = torch.zeros_like(x[0])
        spikes = []
        for xt in x.unbind(0):
            s, _, v = lif_step(xt, v, p)
            spikes.append(s)
        return torch.stack(spikes)

    def forward_mean_membrane(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run the sequence; return ``(spikes [T, B, ...], mean membrane [1, B, ...])``.

        The second tensor is the time mean of the pre-reset membrane of ``forward_trace``, detached
        (for consumers that only read that summary, e.g. the ``membrane`` dropout's scores). The
        loop backend accumulates it step by step instead of stacking a ``[T, B, ...]`` trace.
        """
        _check_sequence("x", x)
        if self.backend == "fused":
            spikes, h_all = self._fused(x)
            return spikes, h_all.detach().mean(0, keepdim=True)
        p = self.params()
        v = torch.zeros_like(x[0])
        total = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
        spikes = []
        for xt in x.unbind(0):
            s, h, v = lif_step(xt, v, p)
            spikes.append(s)
            total.add_(h.detach())
        return torch.stack(spikes), total.div_(x.shape[0]).unsqueeze(0)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.3g}, threshold={float(self.threshold):.3g}, reset={self.reset!r}, surrogate={self.surrogate}"


def _check_sequence(name: str, x: Tensor, min_dim: int = 2) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must be time-major [T, B, ...] with at least {min_dim} dims, got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has T={x.shape[0]} steps; T must be >= 1")


# --------------------------------------------------------------------------- penalty neuron (the write-up's)


@dataclass(frozen=True)
class PenaltyParams:
    """Parameters of the write-up's refractory neuron (floats or tensors).

    ``decay``: multiplier of the previous inner state; ``threshold``: firing level of
    ``relu(inner - threshold)``; ``penalty_threshold``: extra amount subtracted after a
    firing on top of the output itself (the refractory penalty).
    """

    decay: float | Tensor = 0.9
    threshold: float | Tensor = 2.0
    penalty_threshold: float | Tensor = 2.5


def penalty_step(x: Tensor, inner: Tensor, outer: Tensor, p: PenaltyParams) -> tuple[Tensor, Tensor]:
    """One step of the penalty neuron; returns the new ``(inner, outer)`` state.

    ``inner = x + inner*decay``; ``outer = relu(inner - threshold)``; where ``outer > 0`` the
    inner state drops by ``penalty_threshold + outer``. The gate ``outer > 0`` carries no
    gradient (as in the write-up); gradients flow through ``outer`` and ``inner``.
    ``outer`` (the previous output) is part of the state the layer carries for its one-step
    delay but does not enter the update itself.
    """
    del outer  # the update depends on the inner state only; the previous output is delayed state
    inner = x + inner * p.decay
    new_outer = torch.relu(inner - p.threshold)
    gate = (new_outer > 0).to(inner.dtype)
    inner = inner - (p.penalty_threshold + new_outer) * gate
    return inner, new_outer


class PenaltyNeuron(nn.Module):
    """Multi-step version of the write-up's neuron: real-valued ReLU firing, refractory penalty, one-step delay.

    At step t the layer returns the state computed at step t-1 (zeros at t=0), as the
    write-up's ``delayed_return_state, delayed_return_output``: ``forward`` gives the
    delayed outputs ``relu(inner - threshold) >= 0``, ``forward_trace`` also the delayed
    (post-penalty) inner state.
    """

    def __init__(self, decay: float = 0.9, threshold: float = 2.0, penalty_threshold: float = 2.5) -> None:
        super().__init__()
        self.decay = check_float("decay", decay, low=0.0, high=1.0)
        self.threshold = check_float("threshold", threshold, low=0.0)
        self.penalty_threshold = check_float("penalty_threshold", penalty_threshold, low=0.0)

    def params(self) -> PenaltyParams:
        """The parameters as a ``PenaltyParams``."""
        return PenaltyParams(self.decay, self.threshold, self.penalty_threshold)

    def forward_trace(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run ``x[T, B, ...]``; return ``(outputs, inner)``, both delayed by one step (zeros at t=0)."""
        _check_sequence("x", x)
        p = self.params()
        inner = x.new_zeros(x.shape[1:])
        outer = x.new_zeros(x.shape[1:])
        inners, outers = [inner], [outer]
        steps = x.unbind(0)
        for xt in steps[:-1]:  # the last step's state would only be returned at T, outside the window
            inner, outer = penalty_step(xt, inner, outer, p)
            inners.append(inner)
            outers.append(outer)
        return torch.stack(outers), torch.stack(inners)

    def forward(self, x: Tensor) -> Tensor:
        """Run ``x[T, B, ...]``; return the one-step delayed outputs ``[T, B, ...]``."""
        return self.forward_trace(x)[0]

    def extra_repr(self) -> str:
        return f"decay={self.decay:.3g}, threshold={self.threshold:.3g}, penalty_threshold={self.penalty_threshold:.3g}"


# --------------------------------------------------------------------------- SRM layer (the paper's)


def srm_kernel(a: Tensor, tau: float) -> Tensor:
    """Spike-response kernel ``sigma(a) = (a/tau) * exp(1 - a/tau)`` for ``a > 0``, else 0 (peak 1 at ``a = tau``)."""
    r = a / tau
    return torch.where(a > 0, r * torch.exp(1.0 - r), torch.zeros_like(r))


def srm_kernel_matrix(
    T: int, delays: tuple[int, ...], tau: float, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """Causal filter of every delay stacked: ``M[k*T + t, t'] = sigma(t - t' - delays[k])``, shape ``[K*T, T]``.

    ``M @ s`` for spikes ``s[T, n]`` gives each delayed synapse's postsynaptic potential
    trace for all steps at once (a Toeplitz matmul instead of a time loop).
    """
    t = torch.arange(T, device=device, dtype=dtype)
    d = torch.tensor(delays, device=device, dtype=dtype)
    a = t.view(1, T, 1) - t.view(1, 1, T) - d.view(-1, 1, 1)
    return srm_kernel(a, tau).reshape(len(delays) * T, T)


def srm_fire_step(v: Tensor, fired: Tensor, threshold: float | Tensor, surrogate: Surrogate) -> tuple[Tensor, Tensor]:
    """One step of first-spike firing: ``spike = H(v - threshold) * (1 - fired)``; returns ``(spike, fired + spike)``."""
    spike = surrogate(v - threshold) * (1.0 - fired)
    return spike, fired + spike


# Weight std = _SRM_INIT_FACTOR * threshold / sqrt(in * K): measured so that, for a latency-coded
# input with about a quarter of the inputs spiking (MNIST-like) over T = 25 steps, roughly half
# of the neurons cross the threshold at initialisation.
_SRM_INIT_FACTOR = 4.0


class SRMLayer(nn.Module):
    """Fully connected spike-response-model layer with fixed synaptic delays and first-spike output (Lyu & Yin, eq. 1-2).

    ``v_h(t) = sum_i sum_k w_ih^k sigma(t - t_i - d_k)`` on the integer step grid; every
    input spike counts (the sum runs over all of them). A neuron spikes once, at the
    first step where ``v_h`` exceeds ``threshold``; gradients pass through the surrogate.
    ``weight`` is ``[out, in * K]`` with ``weight.view(out, in, K)[h, i, k] = w_ih^k``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        delays: tuple[int, ...] = (0, 1, 2, 3),
        tau: float = 2.0,
        threshold: float = 1.0,
        surrogate: str | Surrogate = "fast_sigmoid",
        surrogate_options: dict | None = None,
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
        self.threshold = check_float("threshold", threshold, low=0.0, low_inclusive=False)
        init_gain = check_float("init_gain", init_gain, low=0.0)
        self.surrogate = resolve_surrogate(surrogate, surrogate_options)
        fan_in = self.in_features * len(self.delays)
        # Zero-mean normal weights whose spread puts the membrane's standard deviation at about
        # the threshold when a quarter of the inputs spike once (a latency-coded image), so that
        # part of the layer crosses the threshold at initialisation and part stays silent.
        std = init_gain * _SRM_INIT_FACTOR * self.threshold / math.sqrt(fan_in)
        w = torch.randn(self.out_features, fan_in, generator=generator) * std
        self._weight = nn.Parameter(w)

    @property
    def weight(self) -> nn.Parameter:
        """The synaptic weights ``[out, in * K]`` (``.view(out, in, K)`` splits the delays)."""
        return self._weight

    def _check_input(self, spikes: Tensor) -> None:
        _check_sequence("spikes", spikes, min_dim=3)
        if spikes.shape[-1] != self.in_features:
            raise ValueError(
                f"spikes has {spikes.shape[-1]} features in its last dim (shape {tuple(spikes.shape)}); "
                f"this layer takes in_features={self.in_features}"
            )

    def potential(self, spikes: Tensor) -> Tensor:
        """Membrane potential ``[T, ..., out]`` for input spikes ``[T, ..., in]`` (no firing; a readout layer uses this)."""
        self._check_input(spikes)
        T = spikes.shape[0]
        batch = spikes.shape[1:-1]
        K = len(self.delays)
        s = spikes.reshape(T, -1).to(self._weight.dtype)  # [T, n*in]
        m = srm_kernel_matrix(T, self.delays, self.tau, dtype=s.dtype, device=s.device)  # [K*T, T]
        y = (m @ s).view(K, T, -1, self.in_features)  # [K, T, n, in]
        y = y.permute(1, 2, 3, 0).reshape(-1, self.in_features * K)  # [T*n, in*K], in-major like weight
        v = y @ self._weight.t()
        return v.view(T, *batch, self.out_features)

    def fire(self, v: Tensor) -> Tensor:
        """First-crossing spikes of a membrane trace ``v[T, ...]``: ``H(v_t - theta) * prod_{t'<t} (1 - H(v_t' - theta))``."""
        h = self.surrogate(v - self.threshold)
        alive = torch.cumprod(1.0 - h, dim=0)  # alive[t] = 1 while no crossing at <= t
        before = torch.cat([torch.ones_like(alive[:1]), alive[:-1]])
        return h * before

    def forward_trace(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(spikes_out, membrane)``, both ``[T, ..., out]`` (membrane is not reset after the spike)."""
        v = self.potential(spikes)
        return self.fire(v), v

    def forward(self, spikes: Tensor) -> Tensor:
        """Return the output spikes ``[T, ..., out]``: at most one per neuron, at its first threshold crossing."""
        return self.fire(self.potential(spikes))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, delays={self.delays}, "
            f"tau={self.tau:.3g}, threshold={self.threshold:.3g}, surrogate={self.surrogate}"
        )


# --------------------------------------------------------------------------- registry

NEURONS = ("lif", "penalty")


def make_neuron(name: str, **options) -> nn.Module:
    """Build a multi-step neuron by name: ``lif`` (``LIF(**options)``) or ``penalty`` (``PenaltyNeuron(**options)``)."""
    check_choice("neuron", name, NEURONS)
    cls = LIF if name == "lif" else PenaltyNeuron
    allowed = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for neuron {name!r}; allowed: {', '.join(allowed)}")
    return cls(**options)

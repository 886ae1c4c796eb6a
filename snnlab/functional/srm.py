"""The spike-response model of Lyu & Yin: the SRM kernel, delayed-synapse filtering, first-spike firing.

``srm_kernel`` is the postsynaptic potential of one input spike; ``srm_kernel_matrix`` stacks it for
every delay as a causal Toeplitz filter (one matmul instead of a time loop); ``delayed_potential``
computes a delayed synapse's potential in the cheapest of three orders (gathered from sparse input
spikes, weight first for a narrow layer, or those traces then one GEMM); ``first_spike_step``
is one step of the fire-once rule and ``first_spikes`` the same over a whole trace at once.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlab.functional.surrogate import Surrogate


def srm_kernel(a: Tensor, tau: float) -> Tensor:
    """Spike-response kernel ``sigma(a) = (a/tau) * exp(1 - a/tau)`` for ``a > 0``, else 0 (peak 1 at ``a = tau``)."""
    r = a / tau
    return torch.where(a > 0, r * torch.exp(1.0 - r), torch.zeros_like(r))


def srm_kernel_matrix(
    T: int, delays: tuple[int, ...], tau: float, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """Causal filter of every delay stacked: ``M[k*T + t, t'] = sigma(t - t' - delays[k])``, shape ``[K*T, T]``.

    ``M @ s`` for spikes ``s[T, n]`` gives each delayed synapse's postsynaptic potential
    trace for all steps at once.
    """
    t = torch.arange(T, device=device, dtype=dtype)
    d = torch.tensor(delays, device=device, dtype=dtype)
    a = t.view(1, T, 1) - t.view(1, 1, T) - d.view(-1, 1, 1)
    return srm_kernel(a, tau).reshape(len(delays) * T, T)


def delayed_traces(spikes: Tensor, delays: tuple[int, ...], tau: float, *, dtype: torch.dtype | None = None) -> Tensor:
    """Every delayed synapse's postsynaptic trace: ``spikes [T, n..., in]`` -> ``[T, n..., in * K]``.

    Feature ``i * K + k`` is input i filtered by ``sigma(t - t' - delays[k])`` (in-major, like a
    delayed synapse's weight ``[out, in * K]``); one Toeplitz matmul for all steps and delays.
    """
    T, n_in = spikes.shape[0], spikes.shape[-1]
    K = len(delays)
    s = spikes.reshape(T, -1).to(dtype or spikes.dtype)  # [T, n*in]
    m = srm_kernel_matrix(T, delays, tau, dtype=s.dtype, device=s.device)  # [K*T, T]
    y = (m @ s).view(K, T, -1, n_in)  # [K, T, n, in]
    return y.permute(1, 2, 3, 0).reshape(*spikes.shape[:-1], n_in * K)


# At most this fraction of non-zero inputs, ``delayed_potential`` gathers on a CPU. ``snnlab bench delayed``:
# at 0.75% (a latency-coded MNIST-like image) the paper's 784-800 layer, T=25, batch 128, takes 0.23x the
# traces-then-GEMM time forward+backward; the crossover was not measured, so rate-coded input (about 20%)
# stays on the dense path.
SPARSE_INPUT_DENSITY = 0.05


def sparse_input_pays(spikes: Tensor) -> bool:
    """Whether ``delayed_potential`` takes the gather-sum path for these spikes: on a CPU (counting the
    non-zeros is free there, a host sync on a GPU), when no gradient is needed for the spikes
    themselves (a surrogate gradient is non-zero where no spike is), and when at most
    ``SPARSE_INPUT_DENSITY`` of them are non-zero."""
    if spikes.device.type != "cpu" or spikes.requires_grad or spikes.numel() == 0:
        return False
    return int(torch.count_nonzero(spikes)) <= SPARSE_INPUT_DENSITY * spikes.numel()


def delayed_potential(spikes: Tensor, weight: Tensor, delays: tuple[int, ...], tau: float, *,
                      gather: bool | None = None) -> Tensor:
    """The potential a delayed SRM synapse drives: ``spikes [T, n..., in]``, ``weight [out, in * K]`` ->
    ``[T, n..., out]``, ``v(t) = sum_{i,k} w[:, i*K+k] sum_t' sigma(t - t' - delays[k]) s(t', i)``.

    Three orders of the same sum, the cheapest for the input: sparse input spikes (``sparse_input_pays``:
    a latency-coded image has one spike per input at most) are gathered (``potential_by_gather``, a cost
    that grows with the number of spikes, not with ``T * in``); dense input to a layer with at most a
    quarter as many outputs as inputs (a readout) goes weight first (``potential_weight_first``: no
    ``[T, n, in * K]`` traces); otherwise every input is filtered into traces and one GEMM follows
    (``potential_by_traces``). ``gather``: None (default) decides with ``sparse_input_pays``; True or
    False forces it (True is refused for spikes that need a gradient: the gather gives them none).
    """
    if gather is None:
        gather = sparse_input_pays(spikes)
    elif not isinstance(gather, bool):
        raise TypeError(f"gather must be None, True or False, got {gather!r}")
    elif gather and spikes.requires_grad:
        raise ValueError("gather=True gives the spikes no gradient, and these spikes need one; use gather=None or False")
    if gather:
        return potential_by_gather(spikes, weight, delays, tau)
    if 4 * weight.shape[0] <= spikes.shape[-1]:
        return potential_weight_first(spikes, weight, delays, tau)
    return potential_by_traces(spikes, weight, delays, tau)


def potential_by_traces(spikes: Tensor, weight: Tensor, delays: tuple[int, ...], tau: float) -> Tensor:
    """``delayed_potential`` as ``delayed_traces`` (every input through every delay's filter) then one GEMM."""
    y = delayed_traces(spikes, delays, tau, dtype=weight.dtype)  # [T, ..., in*K]
    return (y.reshape(-1, y.shape[-1]) @ weight.t()).view(*spikes.shape[:-1], weight.shape[0])


def _filtered(arriving: Tensor, spikes: Tensor, out: int, tau: float) -> Tensor:
    """The SRM kernel applied over time to what arrives at each step, ``arriving [T*n, out]`` -> ``[T, n..., out]``."""
    T = spikes.shape[0]
    steps = torch.arange(T, dtype=arriving.dtype, device=arriving.device)
    kernel = srm_kernel(steps.view(T, 1) - steps.view(1, T), tau)  # [T, T]: sigma(t - t'')
    return (kernel @ arriving.view(T, -1)).view(*spikes.shape[:-1], out)


def potential_weight_first(spikes: Tensor, weight: Tensor, delays: tuple[int, ...], tau: float) -> Tensor:
    """``delayed_potential`` with the weight first (what each input sends through each delayed connection,
    ``[T*n, K*out]``), then each delay's shift, then one ``[T, T]`` filter: cheaper than the traces when
    the layer has few outputs."""
    T, n_in = spikes.shape[0], spikes.shape[-1]
    out, K = weight.shape[0], len(delays)
    flat = spikes.reshape(-1, n_in)  # [T*n, in], row t*n + b
    n = flat.shape[0] // T
    by_delay = weight.view(out, n_in, K).permute(1, 2, 0).reshape(n_in, K * out)  # [in, K*out]
    sent = (flat.to(weight.dtype) @ by_delay).view(T * n, K, out)
    arriving = torch.zeros(T * n, out, dtype=weight.dtype, device=spikes.device)
    for k, d in enumerate(delays):  # sent at step t, arriving at t + d; arriving at T or later is never seen
        if d < T:
            arriving[d * n:] += sent[: (T - d) * n, k]
    return _filtered(arriving, spikes, out, tau)


def potential_by_gather(spikes: Tensor, weight: Tensor, delays: tuple[int, ...], tau: float) -> Tensor:
    """``delayed_potential`` from the non-zero inputs alone: each adds its weight column, per delay, to the
    step it arrives at (an ``embedding_bag`` per delay), then one ``[T, T]`` filter. No gradient reaches
    ``spikes``."""
    T, n_in = spikes.shape[0], spikes.shape[-1]
    out, K = weight.shape[0], len(delays)
    flat = spikes.detach().reshape(-1, n_in)  # [T*n, in], row t*n + b
    n = flat.shape[0] // T
    rows, cols = flat.nonzero(as_tuple=True)  # row-major: sorted by row
    values = flat[rows, cols].to(weight.dtype)
    offsets = torch.zeros(T * n, dtype=torch.long, device=spikes.device)
    offsets[1:] = torch.bincount(rows, minlength=T * n).cumsum(0)[:-1]
    table = weight.t().contiguous()  # [in*K, out]: row i*K + k is input i's k-th delayed connection
    arriving = torch.zeros(T * n, out, dtype=weight.dtype, device=spikes.device)
    for k, d in enumerate(delays):  # sent at step t, arriving at t + d; arriving at T or later is never seen
        if d < T:
            used = len(cols) if d == 0 else int(offsets[(T - d) * n])  # non-zeros of the rows sent before T - d
            arriving[d * n:] += F.embedding_bag(cols[:used] * K + k, table, offsets[: (T - d) * n], mode="sum",
                                                per_sample_weights=values[:used])
    return _filtered(arriving, spikes, out, tau)


class FirstSpikeParams(NamedTuple):
    """Parameters of the fire-once rule: the threshold and the surrogate used for its gradient."""

    threshold: float | Tensor = 1.0
    surrogate: Surrogate = Surrogate()


class FirstSpikeState(NamedTuple):
    """``alive``: 1 while the neuron has not fired yet (a surrogate-smoothed product), else 0."""

    alive: Tensor


def first_spike_initial_state(v0: Tensor) -> FirstSpikeState:
    """Nobody has fired: ``alive = 1``."""
    return FirstSpikeState(torch.ones_like(v0))


def first_spike_step(v: Tensor, state: FirstSpikeState, params: FirstSpikeParams) -> tuple[Tensor, FirstSpikeState]:
    """One step of first-spike firing on potential ``v``: ``spike = H(v - threshold) * alive``."""
    h = params.surrogate(v - params.threshold)
    return h * state.alive, FirstSpikeState(state.alive * (1.0 - h))


def first_spikes(v: Tensor, params: FirstSpikeParams) -> Tensor:
    """First-crossing spikes of a whole trace ``v[T, ...]``: ``H(v_t - theta) * prod_{t'<t} (1 - H(v_t' - theta))``.

    The whole-trace form of a loop of ``first_spike_step``: the surrogate is applied to all steps at once.
    """
    h = params.surrogate(v - params.threshold)
    return fire_once_by_steps(h) if h.device.type == "cpu" else fire_once_by_cumprod(h)


def fire_once_by_cumprod(h: Tensor) -> Tensor:
    """``h[t] * prod_{t'<t} (1 - h[t'])`` over dim 0 with ``torch.cumprod``: one kernel (a GPU's form)."""
    alive = torch.cumprod(1.0 - h, dim=0)  # alive[t] = 1 while no crossing at <= t
    return h * torch.cat([torch.ones_like(alive[:1]), alive[:-1]])


def fire_once_by_steps(h: Tensor) -> Tensor:
    """The same product as ``fire_once_by_cumprod``, one step at a time (a CPU's form): the same values,
    multiplied in the same order, and about 5x faster forward and 11x faster forward+backward on a CPU,
    where cumprod's backward was the slowest part of a ``delayed_snn`` training step."""
    spikes = []
    alive = torch.ones_like(h[0])  # 1 while no crossing before t
    for h_t in h.unbind(0):
        spikes.append(h_t * alive)
        alive = alive * (1.0 - h_t)
    return torch.stack(spikes)

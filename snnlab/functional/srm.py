"""The spike-response model of Lyu & Yin: the SRM kernel, delayed-synapse filtering, first-spike firing.

``srm_kernel`` is the postsynaptic potential of one input spike; ``srm_kernel_matrix`` stacks it for
every delay as a causal Toeplitz filter (one matmul instead of a time loop); ``first_spike_step``
is one step of the fire-once rule and ``first_spikes`` the same over a whole trace at once.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
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

    The vectorised form of a loop of ``first_spike_step`` (a cumulative product instead of T steps).
    """
    h = params.surrogate(v - params.threshold)
    alive = torch.cumprod(1.0 - h, dim=0)  # alive[t] = 1 while no crossing at <= t
    before = torch.cat([torch.ones_like(alive[:1]), alive[:-1]])
    return h * before

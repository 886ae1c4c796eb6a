"""The Hodgkin–Huxley squid-axon model, for contrast with the LIF abstraction the models use.

Standard parameters (Hodgkin & Huxley 1952, shifted so that rest is about -65 mV): membrane
capacitance 1 uF/cm^2; sodium, potassium and leak conductances 120, 36, 0.3 mS/cm^2 with
reversal potentials 50, -77, -54.387 mV. Time in ms, current density in uA/cm^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from snnlab.validation import check_choice, check_float

C_M = 1.0
G_NA, G_K, G_L = 120.0, 36.0, 0.3
E_NA, E_K, E_L = 50.0, -77.0, -54.387
V_REST = -65.0
METHODS = ("rk4", "euler")


@dataclass(frozen=True)
class HHTrace:
    """A simulated trace; arrays are ``[steps]`` (one current) or ``[steps, N]`` (N currents at once).

    ``time`` (ms, ``[steps]``), membrane ``v`` (mV), gating variables ``m``, ``h``, ``n`` at the
    start of each step, and ``spikes`` (bool): True at the step where ``v`` crosses
    ``spike_threshold`` upwards.
    """

    time: np.ndarray
    v: np.ndarray
    m: np.ndarray
    h: np.ndarray
    n: np.ndarray
    spikes: np.ndarray

    @property
    def spike_count(self) -> np.ndarray:
        """Number of spikes per current (a 0-d array for a single current)."""
        return self.spikes.sum(axis=0)


def _x_over_expm1(u: np.ndarray) -> np.ndarray:
    """``u / (1 - exp(-u))``, with its limit 1 at u = 0 (the removable singularity of alpha_n, alpha_m).

    ``expm1`` keeps the quotient accurate arbitrarily close to 0; only u == 0 exactly is 0/0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        r = u / -np.expm1(-u)
    return np.where(u == 0.0, 1.0, r)


def _rates(v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Opening/closing rates (1/ms) of m, h, n at membrane potential ``v`` (mV)."""
    a_m = _x_over_expm1((v + 40.0) / 10.0)  # 0.1 (v+40) / (1 - exp(-(v+40)/10))
    b_m = 4.0 * np.exp(-(v + 65.0) / 18.0)
    a_h = 0.07 * np.exp(-(v + 65.0) / 20.0)
    b_h = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    a_n = 0.1 * _x_over_expm1((v + 55.0) / 10.0)  # 0.01 (v+55) / (1 - exp(-(v+55)/10))
    b_n = 0.125 * np.exp(-(v + 65.0) / 80.0)
    return a_m, b_m, a_h, b_h, a_n, b_n


def _derivatives(state: tuple[np.ndarray, ...], current: np.ndarray) -> tuple[np.ndarray, ...]:
    v, m, h, n = state
    a_m, b_m, a_h, b_h, a_n, b_n = _rates(v)
    i_ion = G_NA * m**3 * h * (v - E_NA) + G_K * n**4 * (v - E_K) + G_L * (v - E_L)
    return (
        (current - i_ion) / C_M,
        a_m * (1.0 - m) - b_m * m,
        a_h * (1.0 - h) - b_h * h,
        a_n * (1.0 - n) - b_n * n,
    )


def steady_state_gates(v: float) -> tuple[float, float, float]:
    """``(m_inf, h_inf, n_inf)`` at a fixed membrane potential ``v`` (mV): the resting initial condition."""
    a_m, b_m, a_h, b_h, a_n, b_n = (float(r) for r in _rates(np.asarray(float(v))))
    return a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n)


def simulate_hh(
    current: Tensor | np.ndarray,
    dt: float = 0.01,
    *,
    v0: float = V_REST,
    method: str = "rk4",
    spike_threshold: float = 0.0,
) -> HHTrace:
    """Integrate the HH equations under an injected current density (uA/cm^2), one value per step of ``dt`` ms.

    ``current`` is ``[steps]`` or ``[steps, N]`` (N neurons simulated at once). The gates start at
    their steady state for ``v0``. ``method`` is ``"rk4"`` (default) or ``"euler"`` (forward Euler;
    keep ``dt`` at or below ~0.01 ms). Returns the state at the start of every step.
    """
    if isinstance(current, Tensor):
        current = current.detach().cpu().numpy()
    if not isinstance(current, np.ndarray):
        raise TypeError(f"current must be a torch.Tensor or numpy.ndarray, got {type(current).__name__}")
    if current.ndim not in (1, 2) or current.shape[0] < 1:
        raise ValueError(f"current must have shape [steps] or [steps, N] with steps >= 1, got {current.shape}")
    current = current.astype(np.float64)
    if not np.isfinite(current).all():
        raise ValueError("current contains non-finite values (nan/inf)")
    dt = check_float("dt", dt, low=0.0, high=1.0, low_inclusive=False)
    v0 = check_float("v0", v0, low=-150.0, high=100.0)
    spike_threshold = check_float("spike_threshold", spike_threshold)
    check_choice("method", method, METHODS)

    steps, shape = current.shape[0], current.shape[1:]
    m0, h0, n0 = steady_state_gates(v0)
    state = tuple(np.full(shape, s, dtype=np.float64) for s in (v0, m0, h0, n0))
    out = np.empty((4, steps, *shape), dtype=np.float64)
    for k, i_k in enumerate(current):  # a time loop is inherent to the ODE; each step is vectorised over N
        out[:, k] = state
        if method == "euler":
            d = _derivatives(state, i_k)
            state = tuple(s + dt * ds for s, ds in zip(state, d))
        else:
            k1 = _derivatives(state, i_k)
            k2 = _derivatives(tuple(s + 0.5 * dt * d for s, d in zip(state, k1)), i_k)
            k3 = _derivatives(tuple(s + 0.5 * dt * d for s, d in zip(state, k2)), i_k)
            k4 = _derivatives(tuple(s + dt * d for s, d in zip(state, k3)), i_k)
            state = tuple(s + dt / 6.0 * (a + 2 * b + 2 * c + e) for s, a, b, c, e in zip(state, k1, k2, k3, k4))
    v, m, h, n = out
    above = v >= spike_threshold
    spikes = np.zeros_like(above)
    spikes[1:] = above[1:] & ~above[:-1]
    time = np.arange(steps, dtype=np.float64) * dt
    return HHTrace(time=time, v=v, m=m, h=h, n=n, spikes=spikes)

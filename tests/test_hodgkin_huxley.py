"""The Hodgkin–Huxley reference model: ``snnlab/hodgkin_huxley.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnlab.hodgkin_huxley import HHTrace, simulate_hh


def test_hh_rests_near_minus_65_without_current() -> None:
    trace = simulate_hh(np.zeros(2000), dt=0.025)
    assert isinstance(trace, HHTrace)
    assert trace.spikes.sum() == 0
    assert np.all(np.abs(trace.v - (-65.0)) < 0.5)
    assert trace.time[1] == pytest.approx(0.025) and trace.v.shape == trace.m.shape == (2000,)


def test_hh_fires_repetitively_and_rate_grows_with_current() -> None:
    dt, duration = 0.025, 100.0
    steps = int(duration / dt)
    amps = np.array([0.0, 10.0, 20.0, 40.0])
    trace = simulate_hh(torch.tensor(amps).repeat(steps, 1), dt=dt)
    counts = trace.spike_count
    assert counts[0] == 0
    assert counts[1] >= 5  # ~10 uA/cm^2: repetitive firing (about 60-70 Hz)
    assert np.all(np.diff(counts) > 0)
    assert trace.v[:, 1].max() > 20.0  # action potentials overshoot 0 mV
    # forward Euler with a small step agrees with RK4 on the spike times at 10 uA/cm^2 (first 40 ms)
    euler = simulate_hh(np.full(4000, 10.0), dt=0.01, method="euler")
    rk4_times = trace.time[trace.spikes[:, 1]]
    euler_times = euler.time[euler.spikes]
    assert len(euler_times) == np.sum(rk4_times < 40.0) >= 2
    assert np.allclose(euler_times, rk4_times[: len(euler_times)], atol=0.2)


def test_hh_bad_arguments() -> None:
    with pytest.raises(ValueError, match="method"):
        simulate_hh(np.zeros(10), method="midpoint")
    with pytest.raises(ValueError, match="dt"):
        simulate_hh(np.zeros(10), dt=0.0)
    with pytest.raises(ValueError, match="shape"):
        simulate_hh(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="current"):
        simulate_hh([0.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        simulate_hh(np.array([0.0, np.nan]))

"""``DropoutStats``: what one training forward of a dropout method did to its input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DropoutStats:
    """What the last training forward of a dropout module did to its input.

    ``dropped_fraction``: fraction of mask entries that dropped (over every t, sample, unit).
    ``spikes_removed``: fraction of the input's spikes (non-zero entries) that were dropped.
    ``silent_fraction``: fraction of dropped (sample, unit) pairs whose unit was silent over the whole window.
    ``out_mean`` / ``out_min`` / ``out_max``: of the output values (rescaling makes them non-binary,
    the alpha variants make them negative).
    """

    method: str
    p: float
    dropped_fraction: float
    spikes_removed: float
    silent_fraction: float
    out_mean: float
    out_min: float
    out_max: float

"""Opt-in recording of per-layer spikes and membrane potentials (``model.record()``).

Off by default and free when off: layers call ``Recorder.capture`` only when a recording
is active. ``kind="full"`` keeps every tensor (detached, batches concatenated along the
batch axis); ``kind="rates"`` keeps only running spike sums, for cheap firing rates over
a whole data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from snnlab.validation import check_choice

RECORD_KINDS = ("full", "rates")


@dataclass
class Recording:
    """What a ``model.record()`` context captured; ``layers`` in network order."""

    kind: str = "full"
    layers: list[str] = field(default_factory=list)
    _spikes: dict[str, list[Tensor]] = field(default_factory=dict)
    _membrane: dict[str, list[Tensor]] = field(default_factory=dict)
    _spike_sum: dict[str, float] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, RECORD_KINDS)

    def capture(self, name: str, spikes: Tensor | None, membrane: Tensor | None) -> None:
        """Store one forward's tensors of layer ``name`` ([T, B, ...])."""
        if name not in self.layers:
            self.layers.append(name)
        if spikes is not None:
            s = spikes.detach()
            self._spike_sum[name] = self._spike_sum.get(name, 0.0) + float(s.sum())
            self._count[name] = self._count.get(name, 0) + s.numel()
            if self.kind == "full":
                self._spikes.setdefault(name, []).append(s)
        if membrane is not None and self.kind == "full":
            self._membrane.setdefault(name, []).append(membrane.detach())

    @property
    def spikes(self) -> dict[str, Tensor]:
        """Layer name -> spikes [T, B_total, ...] (full recordings only)."""
        self._need_full("spikes")
        return {k: torch.cat(v, dim=1) for k, v in self._spikes.items()}

    @property
    def membrane(self) -> dict[str, Tensor]:
        """Layer name -> membrane potential [T, B_total, ...] (pre-reset; full recordings only)."""
        self._need_full("membrane")
        return {k: torch.cat(v, dim=1) for k, v in self._membrane.items()}

    @property
    def rates(self) -> dict[str, float]:
        """Layer name -> mean spike value over every (t, sample, unit) recorded."""
        return {k: self._spike_sum[k] / self._count[k] for k in self._spike_sum if self._count[k]}

    def _need_full(self, what: str) -> None:
        if self.kind != "full":
            raise ValueError(f"this recording was made with kind={self.kind!r}; {what} needs model.record(kind='full')")

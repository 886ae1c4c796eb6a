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
    members: int | None = None  # a population's K: spike sums are also kept per member (axis 1)
    layers: list[str] = field(default_factory=list)
    _spikes: dict[str, list[Tensor]] = field(default_factory=dict)
    _membrane: dict[str, list[Tensor]] = field(default_factory=dict)
    _spike_sum: dict[str, Tensor] = field(default_factory=dict)  # float64 on the spikes' device: no host sync
    _member_sum: dict[str, Tensor] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, RECORD_KINDS)

    def capture(self, name: str, spikes: Tensor | None, membrane: Tensor | None) -> None:
        """Store one forward's tensors of layer ``name`` ([T, B, ...])."""
        if name not in self.layers:
            self.layers.append(name)
        if spikes is not None:
            s = spikes.detach()
            total = s.sum().double()
            self._spike_sum[name] = total if name not in self._spike_sum else self._spike_sum[name] + total
            if self.members is not None:
                per = s.transpose(0, 1).reshape(self.members, -1).sum(1).double()
                self._member_sum[name] = per if name not in self._member_sum else self._member_sum[name] + per
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
        """Layer name -> mean spike value over every (t, sample, unit) recorded (read from the device here)."""
        return {k: float(self._spike_sum[k]) / self._count[k] for k in self._spike_sum if self._count[k]}

    @property
    def member_rates(self) -> dict[str, list[float]]:
        """Layer name -> each member's mean spike value (recordings of a population only)."""
        if self.members is None:
            raise ValueError("member_rates needs a recording of a population (members=K)")
        return {k: (v * self.members / self._count[k]).tolist() for k, v in self._member_sum.items() if self._count[k]}

    def _need_full(self, what: str) -> None:
        if self.kind != "full":
            raise ValueError(f"this recording was made with kind={self.kind!r}; {what} needs model.record(kind='full')")

"""Dropout for spiking networks: classic methods migrated as-is and SNN-aware methods.

``make_dropout(name, p, **options)`` builds any method by its registry key; see DESIGN.md.
"""

from snnlab.dropout.base import DropoutStats, SpikeDropout, mc_mode
from snnlab.dropout.registry import available, make_dropout, register
from snnlab.dropout import baseline  # noqa: F401  (registers "none"; keep first)

__all__ = ["DropoutStats", "SpikeDropout", "available", "make_dropout", "mc_mode", "register"]

"""Dropout for spiking networks: classic methods migrated as-is and SNN-aware methods.

``make_dropout(name, p, **options)`` builds any method by its registry key; see DESIGN.md.
"""

from snnlab.dropout.base import DropoutStats, SpikeDropout, mc_mode
from snnlab.dropout.registry import available, make_dropout, register
from snnlab.dropout import baseline  # noqa: F401  (registers "none"; keep first)
from snnlab.dropout import classic  # noqa: F401  (standard, dropout2d, feature_alpha, alpha)
from snnlab.dropout import temporal  # noqa: F401  (temporal)
from snnlab.dropout import shaped  # noqa: F401  (membrane, synaptic, activity)
from snnlab.dropout import dropconnect  # noqa: F401  (dropconnect)

__all__ = ["DropoutStats", "SpikeDropout", "available", "make_dropout", "mc_mode", "register"]

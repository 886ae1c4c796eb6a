"""Monte-Carlo dropout: keep every dropout method of a model sampling in ``eval()``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from snnlab.dropout.base import SpikeDropout


@contextmanager
def mc_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Keep every dropout module of ``model`` sampling in ``eval()`` (Monte-Carlo dropout); restores on exit."""
    mods = [m for m in model.modules() if isinstance(m, SpikeDropout)]
    before = [m.mc for m in mods]
    for m in mods:
        m.mc = True
    try:
        yield model
    finally:
        for m, b in zip(mods, before):
            m.mc = b

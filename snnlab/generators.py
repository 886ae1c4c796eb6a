"""Seeded randomness: ``torch.Generator``s created lazily on the device where they are first
needed, and parameter initialisation from a seed that leaves the global RNG alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def generator_on(current: torch.Generator | None, device: torch.device, seed: int) -> torch.Generator:
    """``current`` if it already lives on ``device``'s type, else a new generator there seeded with ``seed``.

    Models and dropout modules keep one stream each; moving a model to another device restarts
    that stream from its seed (a CPU generator cannot draw CUDA tensors).
    """
    if current is not None and current.device.type == device.type:
        return current
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


@contextmanager
def seeded_init(seed: int | None) -> Iterator[None]:
    """Initialise parameters (or draw default seeds) from ``seed`` without touching the caller's global RNG state."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield

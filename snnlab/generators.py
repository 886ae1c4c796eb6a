"""Seeded ``torch.Generator``s created lazily on the device where they are first needed."""

from __future__ import annotations

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

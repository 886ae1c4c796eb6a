"""Shared pieces of the dropout tests: inputs, the layer context a method declares it needs, a tiny
synapse and the statistical tolerance (the per-element ``kernel`` fixture is in conftest.py) (5 standard errors).

Everything a helper needs to know about a method it reads from the registry (``method_info``), so
the contract tests cover any registered method.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from snnlab.dropout import LayerContext, SpikeDropout, make_dropout, method_info

P = 0.3
T, B, N = 10, 200, 60


def spikes(shape: tuple[int, ...] = (T, B, N), rate: float = 0.3, seed: int = 0) -> Tensor:
    """Binary spikes of ``shape`` firing with probability ``rate``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < rate).float()


def context(key: str, x: Tensor, seed: int = 1, n_in: int = 16) -> LayerContext:
    """The ``LayerContext`` a block hands method ``key`` for spikes ``x``: a membrane of the summary it
    declares (trace or time mean), the driving weight if it needs one (rows = neurons of ``x``)."""
    g = torch.Generator().manual_seed(seed)
    info = method_info(key)
    membrane = None
    if info.membrane == "trace":
        membrane = torch.randn(x.shape, generator=g)
    elif info.membrane == "mean":
        membrane = torch.randn((1,) + tuple(x.shape[1:]), generator=g)
    weight = torch.randn(x.shape[2], n_in, generator=g) if info.needs_weight else None
    return LayerContext(x, membrane=membrane, weight=weight)


def run(key: str, x: Tensor, p: float = P, **options) -> tuple[Tensor, SpikeDropout]:
    """One training-mode forward of a fresh ``make_dropout(key, p, **options)`` on ``x``."""
    d = make_dropout(key, p, **options)
    return d(context(key, x)), d


def five_se(p: float, n: int) -> float:
    """Five standard errors of a Bernoulli(p) proportion over ``n`` independent draws."""
    return 5.0 * math.sqrt(p * (1.0 - p) / n)


def independent_draws(key: str, x: Tensor) -> int:
    """How many independent mask draws a forward on an MLP input ``x`` [T, B, N] makes (its default options)."""
    return x[0].numel() if method_info(key).time_consistent else x.numel()


class TinySynapse(nn.Module):
    """The smallest synapse: a linear map ``[T, B, in] -> [T, B, out]`` whose ``forward`` accepts a
    replacement weight, as every synapse of snnlab does; it remembers the weight of its last call."""

    def __init__(self, n_out: int, n_in: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(n_out, n_in, generator=g))
        self.__dict__["last_weight"] = None  # a plain attribute: the weight may be the Parameter itself

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        w = self.weight if weight is None else weight
        self.__dict__["last_weight"] = w
        return x @ w.T

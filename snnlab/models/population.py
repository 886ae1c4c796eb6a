"""Populations: K independent trials of one spiking architecture trained as one batched model.

``PopulationModel(members)`` stacks K standalone models built by their own specs (same
architecture; seeds, ``p`` and numeric method options may differ): tensors are ``[T, K, B, ...]``,
synapses are member-stacked (``snnlab.blocks.members``: ``[K, in, out]`` GEMMs, grouped
convolutions), the neurons are shared (elementwise, they never see K), and each member keeps its
own dropout modules (its ``p`` and mask stream) and its own encoding stream. Member k starts from
exactly the weights of its standalone model; its forward takes member k's own batch
``x[k]`` and returns ``logits[k]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from snnlab.blocks import Readout, SpikingBlock
from snnlab.blocks.members import stack_synapses
from snnlab.dropout.members import MemberDropout
from snnlab.encoding import encode
from snnlab.generators import generator_on
from snnlab.models.base import SpikingModel, derived_seed
from snnlab.validation import check_int


def _same_neurons(members: Sequence[SpikingModel], i: int | None) -> None:
    """Layer ``i``'s neuron (the readout's for None) is one every member can share: fixed, equal."""
    where = "the readout" if i is None else f"layer {members[0].blocks[i].name!r}"
    neurons = [m.readout.neuron if i is None else m.blocks[i].neuron for m in members]
    first = neurons[0]
    if first is None:
        return
    if any(True for _ in first.parameters()):
        raise ValueError(
            f"{where}: the neuron has learnable parameters ({', '.join(n for n, _ in first.named_parameters())}); "
            "a population shares its neurons, so their parameters must be fixed"
        )
    for k, other in enumerate(neurons[1:], start=1):
        same = type(other) is type(first) and repr(other) == repr(first) and all(
            torch.equal(a, b) for a, b in zip(first.buffers(), other.buffers())
        )
        if not same:
            raise ValueError(f"member {k} has another neuron than member 0 in {where} ({other!r} vs {first!r})")


class PopulationModel(SpikingModel):
    """K spiking models of one architecture as one model: ``forward(x[K, B, ...]) -> logits[K, B, classes]``."""

    def __init__(self, members: Sequence[SpikingModel]) -> None:
        members = list(members)
        if not members:
            raise ValueError("a population needs at least one member model")
        first = members[0]
        for k, m in enumerate(members):
            if type(m) is not type(first) or not isinstance(m, SpikingModel):
                raise TypeError(f"member {k} is a {type(m).__name__}; every member must be a {type(first).__name__}")
            if (m.T, m.encoding, m.encoding_options, m.layer_names) != (first.T, first.encoding, first.encoding_options,
                                                                         first.layer_names):
                raise ValueError(f"member {k} differs from member 0 in T, encoding or layers; a population needs one architecture")
        super().__init__(first.T, encoding=first.encoding, encoding_options=first.encoding_options, seed=None)
        self.member_class = type(first)
        for attr in ("sizes", "input_shape"):  # what the member class's input check reads
            if attr in vars(first):
                setattr(self, attr, getattr(first, attr))
        self.k = self.members = len(members)
        blocks = []
        for i, b in enumerate(first.blocks):
            _same_neurons(members, i)
            synapse = stack_synapses([m.blocks[i].synapse.unwrapped for m in members])
            dropout = MemberDropout([m.blocks[i].dropout for m in members])
            blocks.append(SpikingBlock(b.name, synapse, b.neuron, dropout, pool=b.pool))
        _same_neurons(members, None)
        readout = Readout(stack_synapses([m.readout.synapse.unwrapped for m in members]), first.readout.neuron,
                          first.readout.logits)
        self._encoding_seeds = [m._encoding_seed for m in members]
        self._encoding_generators: list[torch.Generator | None] = [None] * self.k
        self._assemble(blocks, readout, None)

    # ---------------------------------------------------------------- randomness
    def reseed(self, seeds: Sequence[int]) -> None:  # type: ignore[override]
        """Restart member k's encoding and dropout streams from ``seeds[k]`` (as its standalone ``reseed``)."""
        if isinstance(seeds, int) or len(seeds) != self.k:
            raise ValueError(f"seeds must list one seed per member ({self.k}), got {seeds!r}")
        seeds = [check_int(f"seeds[{k}]", s) for k, s in enumerate(seeds)]
        self._encoding_seeds = [derived_seed(s, 0) for s in seeds]
        self._encoding_generators = [None] * self.k
        for i, block in enumerate(self.blocks):
            block.dropout.reseed([derived_seed(s, i + 1) for s in seeds])

    # ---------------------------------------------------------------- forward
    def _prepare_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() < 3 or x.shape[0] != self.k:
            raise ValueError(f"x must be [K={self.k}, B, ...] (one batch per member), got {getattr(x, 'shape', type(x).__name__)}")
        K, B = x.shape[:2]
        flat = self.member_class._prepare_input(self, x.reshape(K * B, *x.shape[2:]))
        return flat.reshape(K, B, *flat.shape[1:])

    def _encode(self, x: Tensor) -> tuple[Tensor, int | None]:
        if self.encoding == "direct":
            return x, self.T
        steps = []
        for k in range(self.k):
            self._encoding_generators[k] = generator_on(self._encoding_generators[k], x.device, self._encoding_seeds[k])
            steps.append(encode(x[k], self.encoding, self.T, generator=self._encoding_generators[k], validate=False,
                                **self.encoding_options))
        return torch.stack(steps, dim=1), None

"""The two reference networks: the "SNN with PyTorch" write-up's ``PenaltySNN`` and the paper's ``DelayedSNN``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from snnlab.blocks import DelayedLinear, LinearSynapse, Readout, SpikingBlock
from snnlab.dropout import make_slots
from snnlab.generators import seeded_init
from snnlab.models.base import SpikingModel, check_options, check_sizes
from snnlab.neurons import FirstSpike, PenaltyNeuron
from snnlab.validation import check_float


class PenaltySNN(SpikingModel):
    """The write-up's network: input repeated over T with noisy masks, hidden layers of penalty
    neurons, and output penalty neurons whose delayed inner state, averaged over time, gives the
    logits (softmax in the loss)."""

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        T: int = 16,
        decay: float = 0.9,
        threshold: float = 2.0,
        penalty_threshold: float = 2.5,
        keep: float = 0.5,
        init_gain: float = 3.0,
        dropout: Any = None,
        p: float = 0.0,
        dropout_options: dict | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(T, encoding="noisy_repeat", encoding_options={"keep": keep}, seed=seed)
        self.sizes = check_sizes(sizes)
        init_gain = check_float("init_gain", init_gain, low=0.0, low_inclusive=False)
        with seeded_init(seed):
            synapses = [LinearSynapse(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
            for syn in synapses:  # inputs must be able to reach the firing threshold at initialisation
                nn.init.xavier_uniform_(syn.weight, gain=init_gain)
                nn.init.zeros_(syn.bias)
        neurons = [PenaltyNeuron(decay=decay, threshold=threshold, penalty_threshold=penalty_threshold) for _ in self.sizes[1:]]
        slots = make_slots(len(self.sizes) - 2, dropout, p, check_options("dropout_options", dropout_options), seed)
        blocks = [SpikingBlock(f"hidden{i + 1}", s, n, d) for i, (s, n, d) in enumerate(zip(synapses, neurons, slots))]
        # As in the write-up's network: the output layer's (delayed) inner state, averaged over time.
        self._assemble(blocks, Readout(synapses[-1], neurons[-1], "trace_mean"), seed)

    def _prepare_input(self, x: Tensor) -> Tensor:
        self._check_batch(x, n_features=self.sizes[0])
        return x.reshape(x.shape[0], -1)


class DelayedSNN(SpikingModel):
    """The paper's 3-layer FC network: first-spike-time (latency) input, a hidden layer of delayed
    SRM synapses and fire-once neurons, and an SRM output whose mean potential over T gives the
    logits."""

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        T: int = 16,
        delays: Sequence[int] = (0, 1, 2, 3),
        tau: float = 2.0,
        threshold: float = 1.0,
        dropout: Any = None,
        p: float = 0.0,
        dropout_options: dict | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(T, encoding="latency", encoding_options=None, seed=seed)
        self.sizes = check_sizes(sizes, min_len=3)
        if len(self.sizes) != 3:
            raise ValueError(f"DelayedSNN is the paper's 3-layer network: sizes=[in, hidden, out], got {list(sizes)}")
        if isinstance(delays, (str, bytes)) or not isinstance(delays, Sequence):
            raise TypeError(f"delays must be a sequence of synaptic delays in steps such as (0, 1, 2, 3), "
                            f"got {type(delays).__name__} ({delays!r})")
        options = dict(delays=tuple(delays), tau=tau, threshold=threshold)
        with seeded_init(seed):
            hidden = DelayedLinear(self.sizes[0], self.sizes[1], **options)
            out = DelayedLinear(self.sizes[1], self.sizes[2], **options)
        neuron = FirstSpike(threshold)
        (slot,) = make_slots(1, dropout, p, check_options("dropout_options", dropout_options), seed)
        self._assemble([SpikingBlock("hidden1", hidden, neuron, slot)], Readout(out, None, "trace_mean"), seed)

    def _prepare_input(self, x: Tensor) -> Tensor:
        self._check_batch(x, n_features=self.sizes[0])
        return x.reshape(x.shape[0], -1)

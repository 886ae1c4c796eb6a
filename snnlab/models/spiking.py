"""The study's spiking networks: ``SpikingMLP`` and ``SpikingCNN`` (any registered neuron, any encoding)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from snnlab.blocks import ConvSynapse, LinearSynapse, Readout, SpikingBlock
from snnlab.dropout import make_slots
from snnlab.generators import seeded_init
from snnlab.models.base import SpikingModel, check_options, check_output_beta, check_sizes
from snnlab.neurons import LIF, LeakyIntegrator, make_neuron
from snnlab.validation import check_choice, check_int

READOUTS = ("membrane", "rate")


def leaky_or_rate_readout(synapse: LinearSynapse, readout: str, output_beta: float, backend: str = "auto") -> Readout:
    """A leaky integrator whose mean potential gives the logits (``"membrane"``), or LIF neurons
    (on ``backend``) whose spike counts do (``"rate"``)."""
    if readout == "rate":
        return Readout(synapse, LIF(beta=output_beta, backend=backend), "count")
    return Readout(synapse, LeakyIntegrator(output_beta), "mean")


class SpikingMLP(SpikingModel):
    """Fully connected spiking network ``sizes=[in, hidden..., classes]``.

    Hidden layers are blocks of a registered neuron (``neuron="lif"``, ``"penalty"``, ...); the
    output layer is a leaky integrator whose mean potential over T gives the logits
    (``readout="membrane"``), or LIF neurons whose spike counts are the logits (``readout="rate"``);
    ``output_beta`` in [0, 1] is that layer's leak.
    With direct encoding the first GEMM is computed once and broadcast over T.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        T: int = 25,
        neuron: str = "lif",
        neuron_options: dict | None = None,
        encoding: str = "direct",
        encoding_options: dict | None = None,
        dropout: Any = None,
        p: float = 0.0,
        dropout_options: dict | None = None,
        readout: str = "membrane",
        output_beta: float = 0.9,
        seed: int | None = None,
    ) -> None:
        super().__init__(T, encoding=encoding, encoding_options=encoding_options, seed=seed)
        self.sizes = check_sizes(sizes)
        self.readout_kind = check_choice("readout", readout, READOUTS)
        self.neuron = neuron
        self.output_beta = check_output_beta(output_beta)
        neuron_options = check_options("neuron_options", neuron_options)
        dropout_options = check_options("dropout_options", dropout_options)
        with seeded_init(seed):
            synapses = [LinearSynapse(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
            neurons = [make_neuron(neuron, **(neuron_options or {})) for _ in self.sizes[1:-1]]
        slots = make_slots(len(neurons), dropout, p, dropout_options, seed)
        blocks = [SpikingBlock(f"hidden{i + 1}", s, n, d) for i, (s, n, d) in enumerate(zip(synapses, neurons, slots))]
        # LIF output neurons run on the hidden LIF neurons' backend when one is given.
        backend = (neuron_options or {}).get("backend", "auto") if neuron == "lif" else "auto"
        self._assemble(blocks, leaky_or_rate_readout(synapses[-1], readout, self.output_beta, backend), seed)

    def _prepare_input(self, x: Tensor) -> Tensor:
        self._check_batch(x, n_features=self.sizes[0])
        return x.reshape(x.shape[0], -1)


class SpikingCNN(SpikingModel):
    """Convolutional spiking network for images: (conv–BN–neuron–dropout–maxpool) blocks, then a
    spiking hidden FC block and a leaky-integrator readout. Dropout slots follow every spiking
    layer (channel-wise where the method has a channel form)."""

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        n_classes: int = 10,
        *,
        T: int = 8,
        neuron: str = "lif",
        neuron_options: dict | None = None,
        encoding: str = "direct",
        encoding_options: dict | None = None,
        dropout: Any = None,
        p: float = 0.0,
        dropout_options: dict | None = None,
        output_beta: float = 0.9,
        seed: int | None = None,
    ) -> None:
        super().__init__(T, encoding=encoding, encoding_options=encoding_options, seed=seed)
        self.input_shape = check_sizes(input_shape, min_len=3, name="input_shape")
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        self.channels = check_sizes(channels, min_len=1, name="channels")
        check_int("hidden", hidden, minimum=1)
        check_int("n_classes", n_classes, minimum=1)
        C, H, W = self.input_shape
        n_conv = len(self.channels)
        if H >> n_conv < 1 or W >> n_conv < 1:
            raise ValueError(f"input_shape {self.input_shape} is too small for {n_conv} pooling blocks")
        self.neuron = neuron
        self.output_beta = check_output_beta(output_beta)
        neuron_options = check_options("neuron_options", neuron_options)
        dropout_options = check_options("dropout_options", dropout_options)
        with seeded_init(seed):
            convs = [ConvSynapse(a, b) for a, b in zip((C,) + self.channels[:-1], self.channels)]
            flat = self.channels[-1] * (H >> n_conv) * (W >> n_conv)
            fc, out = LinearSynapse(flat, hidden), LinearSynapse(hidden, n_classes)
            neurons = [make_neuron(neuron, **(neuron_options or {})) for _ in range(n_conv + 1)]
        slots = make_slots(n_conv + 1, dropout, p, dropout_options, seed)
        blocks = [SpikingBlock(f"conv{i + 1}", s, n, d, pool=2) for i, (s, n, d) in enumerate(zip(convs, neurons, slots))]
        blocks.append(SpikingBlock("fc", fc, neurons[-1], slots[-1]))
        self._assemble(blocks, Readout(out, LeakyIntegrator(self.output_beta), "mean"), seed)

    def _prepare_input(self, x: Tensor) -> Tensor:
        self._check_batch(x, shape=self.input_shape)
        return x

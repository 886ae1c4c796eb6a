"""``SpikingModel``: a spiking network as a list of blocks plus a readout.

Everything that is the same for every spiking model lives here, derived from the blocks in one
place: the input encoding (a direct input is computed once by the first synapse and broadcast
over T), the forward pass, layer names, weight accessors, ``record()``, dropout slots
(``dropouts``, ``set_dropout``), the DropConnect wiring (each method may wrap the synapse after
its layer, once, at build time) and seeding. Subclasses only say which blocks they are made of.

Input checks: a batch's type, dimensions, floating dtype, size and shape are checked on every
forward (metadata only). Its *values* (finite: a NaN input would otherwise give the same output as
zeros) are checked on every forward of a CPU tensor, where that costs nothing; on an accelerator
the check would be a device->host synchronisation per step (docs/design.md: none inside the
training step), so it is skipped there and ``snnlab.train.fit``/``evaluate`` check each data set
once, where it enters (``snnlab.train.check_data``).

The member dimension of population training (K independent networks, ``[T, K, B, ...]``) enters
through the synapses and the dropout methods; neurons are elementwise and never see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from snnlab.blocks import Readout, SpikingBlock
from snnlab.dropout import SpikeDropout, make_slots
from snnlab.encoding import ENCODINGS, check_encoding_options, encode
from snnlab.generators import generator_on
from snnlab.recording import Recording
from snnlab.validation import check_choice, check_finite, check_float, check_int, check_seed


def check_sizes(sizes: Sequence[int], *, min_len: int = 2, name: str = "sizes") -> tuple[int, ...]:
    """Layer widths as a tuple of positive ints (at least ``min_len`` of them)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"{name} must be a sequence of layer widths such as [64, 128, 10], got {sizes!r}")
    if len(sizes) < min_len:
        raise ValueError(f"{name}={list(sizes)} needs at least {min_len} entries (input, ..., output)")
    for i, s in enumerate(sizes):
        check_int(f"{name}[{i}]", s, minimum=1)
    return tuple(int(s) for s in sizes)


def derived_seed(seed: int, slot: int) -> int:
    """A distinct, reproducible stream seed per randomness slot of a model (0: encoding, i+1: dropout i)."""
    return (int(seed) * 1_000_003 + 7919 * (slot + 1)) % (2**62)


class SpikingModel(nn.Module):
    """A spiking network: ``blocks`` (hidden layers) then ``readout``; logits ``[B, classes]``.

    Subclasses build their blocks and call ``_assemble``; ``_prepare_input`` may reshape the batch
    (the MLP-shaped networks flatten it).
    """

    def __init__(self, T: int, *, encoding: str, encoding_options: dict | None, seed: int | None) -> None:
        super().__init__()
        check_seed("seed", seed, optional=True)
        self.T = check_int("T", T, minimum=1)
        self.encoding = check_choice("encoding", encoding, ENCODINGS)
        self.encoding_options = check_encoding_options(self.encoding, encoding_options)
        self._recording: Recording | None = None
        self._encoding_seed = derived_seed(0 if seed is None else seed, 0)
        self._encoding_generator: torch.Generator | None = None
        self.blocks = nn.ModuleList()
        self.readout: Readout | None = None

    members: int | None = None  # K for a population (tensors [T, K, B, ...]); None for one network
    #: Let the last hidden layer sum its spikes for a leaky readout in its kernel instead of writing them,
    #: where its slot is the identity (see ``forward``). Set False to have every layer write its spikes and
    #: every synapse be called (forward hooks that count events, as ``analysis.energy`` does). Logits and
    #: gradients are the same either way, bit for bit on CPU.
    fuse_readout: bool = True

    # ---------------------------------------------------------------- construction
    def _assemble(self, blocks: Sequence[SpikingBlock], readout: Readout, seed: int | None) -> None:
        """Install the blocks and the readout, wire each slot's method to the next synapse, seed."""
        self.blocks = nn.ModuleList(blocks)
        self.readout = readout
        self._wire()
        if seed is not None:
            self.reseed(seed)

    def _next_layers(self) -> list[nn.Module]:
        """For each hidden block, the layer it drives (the next block, the readout after the last)."""
        return list(self.blocks[1:]) + [self.readout]

    def _wire(self) -> None:
        """Let each dropout method wrap the synapse after its layer (DropConnect masks it)."""
        for block, owner in zip(self.blocks, self._next_layers()):
            owner.synapse = block.dropout.wrap_next(owner.synapse.unwrapped)

    @property
    def layer_names(self) -> list[str]:
        """Hidden layer names, then ``"output"``."""
        return [b.name for b in self.blocks] + [self.readout.name]

    @property
    def dropouts(self) -> tuple[SpikeDropout, ...]:
        """The dropout slot of every hidden layer, in order."""
        return tuple(b.dropout for b in self.blocks)

    def block(self, name: str) -> SpikingBlock:
        """The hidden block called ``name``."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise ValueError(f"layer={name!r} is not a hidden layer; allowed: {', '.join(repr(b.name) for b in self.blocks)}")

    def set_dropout(self, dropout: Any, p: float = 0.0, **options: Any) -> None:
        """Replace every dropout slot (a name, a module, or a list with one entry per slot)."""
        slots = make_slots(len(self.blocks), dropout, p, options, None)
        for block, slot in zip(self.blocks, slots):
            block.dropout = slot
        self._wire()

    # ---------------------------------------------------------------- randomness
    def reseed(self, seed: int) -> None:
        """Restart the encoding and every dropout mask stream from ``seed`` (fit() calls this)."""
        check_seed("seed", seed)
        self._encoding_seed = derived_seed(seed, 0)
        self._encoding_generator = None
        for i, block in enumerate(self.blocks):
            block.dropout.reseed(derived_seed(seed, i + 1))

    def _encoding_gen(self, device: torch.device) -> torch.Generator:
        self._encoding_generator = generator_on(self._encoding_generator, device, self._encoding_seed)
        return self._encoding_generator

    # ---------------------------------------------------------------- forward
    def _prepare_input(self, x: Tensor) -> Tensor:
        """Check the batch ``x[B, ...]`` and bring it to the shape the first synapse takes."""
        raise NotImplementedError

    def _encode(self, x: Tensor) -> tuple[Tensor, int | None]:
        """The first synapse's input: ``(x, T)`` for a direct input (computed once, broadcast over the
        T steps), else ``(spikes [T, B, ...], None)``."""
        if self.encoding == "direct":
            return x, self.T
        # The encoder's value checks (in [0, 1] where the encoding needs it: a latency code of x > 1 would
        # index a step before 0) run on the CPU, where they cost nothing; on an accelerator they would be
        # a device->host sync per forward, so they are skipped there (fit() checks the data once).
        spikes = encode(x, self.encoding, self.T, generator=self._encoding_gen(x.device),
                        validate=x.device.type == "cpu", **self.encoding_options)
        return spikes, None

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` for a batch of analogue inputs ``x[B, ...]`` in [0, 1].

        When the readout is linear in its input's time-weighted spike sum (``Readout.reads_time_sum``),
        the last hidden layer's slot is the identity now (``passes_through``: the ``none`` method, or
        eval) and its neuron sums in a kernel (``sums_in_kernel``: LIF on the CPU), that layer sums its
        spikes as it makes them and never writes them, unless a recording is active or
        ``fuse_readout`` is False. The logits and gradients are those of the written spikes, bit for bit.
        A slot whose mask is held over the window and drawn from spike counts and weights at most
        (``drops_time_sum``: temporal, synaptic, activity) masks the sum instead: the same mask from the
        same generator, the same logits up to rounding (the kept spikes are scaled after the sum).

        A NaN or infinite value in ``x`` is a ValueError when ``x`` is on the CPU, and so is a value
        outside [0, 1] with an encoding that needs intensities (``rate``: ``gain*x``; ``latency``); on an
        accelerator neither is checked here (a host sync per step): ``fit``/``evaluate`` check their data once.
        """
        x = self._prepare_input(x)
        if x.device.type == "cpu":
            check_finite("x", x)
        h, static = self._encode(x)
        rec = self._recording
        last = len(self.blocks) - 1
        for i, (block, nxt) in enumerate(zip(self.blocks, self._next_layers())):
            steps = static if i == 0 else None
            if (i == last and rec is None and self.fuse_readout and self.readout.reads_time_sum
                    and block.sums_in_kernel(h)):
                # The readout is linear in the last layer's time-weighted spike sum and that layer's slot is
                # the identity: the kernel sums the spikes as it makes them (none written), and the readout
                # multiplies once per sample. Both add in the readout's own order: the same logits, bit for bit.
                T = steps if steps is not None else h.shape[0]
                # In the model's dtype (the readout weight's), not the input's: h may be float32 data for a
                # float64 model; the readout's own sum uses the same values (its spikes are in that dtype).
                weights = self.readout.time_weights(T, self.readout.synapse.weight)
                z = block.time_sum(h, weights, static_steps=steps)
                return self.readout.from_time_sum(z, T)
            h = block(h, recording=rec, static_steps=steps, next_weight=nxt.synapse.weight)
        return self.readout(h, recording=rec)

    # ---------------------------------------------------------------- recording
    @contextmanager
    def record(self, kind: str = "full") -> Iterator[Recording]:
        """Capture per-layer spikes and membranes of every forward inside the block."""
        if self._recording is not None:
            raise RuntimeError("model.record() is already active; recordings do not nest")
        rec = Recording(kind=kind, members=self.members)
        self._recording = rec
        try:
            yield rec
        finally:
            self._recording = None

    # ---------------------------------------------------------------- weights
    def hidden_weights(self) -> dict[str, Tensor]:
        """Hidden layer name -> the weight driving it (first dim = that layer's neurons)."""
        return {b.name: b.synapse.weight for b in self.blocks}

    def outgoing_synapses(self) -> dict[str, nn.Module]:
        """Hidden layer name -> the synapse it drives (unwrapped; ``.weight``, ``.taps``)."""
        return {b.name: o.synapse.unwrapped for b, o in zip(self.blocks, self._next_layers())}

    def outgoing_weights(self) -> dict[str, Tensor]:
        """Hidden layer name -> the weight of the layer it drives (second dim = its neurons)."""
        return {name: s.weight for name, s in self.outgoing_synapses().items()}

    def _check_batch(self, x: Tensor, n_features: int | None = None, shape: tuple[int, ...] | None = None) -> None:
        """``x`` must be a non-empty floating-point batch ``[B, ...]`` of the model's input size (metadata only)."""
        check_batch(x, n_features=n_features, shape=shape)


def check_batch(x: Tensor, *, n_features: int | None = None, shape: tuple[int, ...] | None = None) -> None:
    """``x`` must be a non-empty floating-point batch ``[B, ...]`` with ``n_features`` values (or the
    per-sample ``shape``) per sample. Reads only metadata: no device->host synchronisation."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor [B, ...], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (analogue inputs in [0, 1], e.g. float32), "
                        f"got dtype {x.dtype}; convert it (x.float() / 255 for 8-bit pixels)")
    if x.dim() < 2:
        raise ValueError(f"x must be a batch [B, ...] with at least 2 dims, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"x is an empty batch (shape {tuple(x.shape)}); allowed: at least one sample")
    if n_features is not None and x[0].numel() != n_features:
        raise ValueError(f"x has {x[0].numel()} features per sample (shape {tuple(x.shape)}); the model expects {n_features}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"x has per-sample shape {tuple(x.shape[1:])}; the model expects {tuple(shape)}")


def check_options(name: str, options: dict | None) -> dict:
    """Keyword options given as a dict (or None: none), as a new dict; anything else is a TypeError naming ``name``."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict of keyword options or None, got {type(options).__name__} ({options!r})")
    return dict(options)


def check_output_beta(output_beta: float) -> float:
    """The output layer's leak ``output_beta`` as a float in [0, 1] (a larger one makes the logits explode)."""
    return check_float("output_beta", output_beta, low=0.0, high=1.0)

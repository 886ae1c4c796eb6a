"""Models of the study: spiking MLP and CNN, their ANN baselines, and the two reference networks.

Every spiking model takes a batch ``[B, ...]`` of analogue inputs in [0, 1], encodes it
into ``T`` steps, runs its layers over the whole sequence and returns logits ``[B, classes]``.
Each hidden spiking layer is followed by a dropout slot (``model.dropouts``; the ``none``
method until filled) that receives the layer's membrane trace and weight when the method
needs them. ``with model.record() as rec:`` captures per-layer spikes and membranes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlab.dropout import SpikeDropout, make_dropout
from snnlab.encoding import ENCODINGS, encode
from snnlab.generators import generator_on
from snnlab.neurons import LIF, PenaltyNeuron, SRMLayer, make_neuron
from snnlab.recording import Recording
from snnlab.validation import check_choice, check_int

READOUTS = ("membrane", "rate")
MODEL_KINDS = ("spiking_mlp", "spiking_cnn", "mlp", "cnn", "penalty_snn", "delayed_snn")
SPIKING_KINDS = ("spiking_mlp", "spiking_cnn", "penalty_snn", "delayed_snn")


def _check_sizes(sizes: Sequence[int], *, min_len: int = 2, name: str = "sizes") -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"{name} must be a sequence of layer widths such as [64, 128, 10], got {sizes!r}")
    if len(sizes) < min_len:
        raise ValueError(f"{name}={list(sizes)} needs at least {min_len} entries (input, ..., output)")
    for i, s in enumerate(sizes):
        check_int(f"{name}[{i}]", s, minimum=1)
    return tuple(int(s) for s in sizes)


def _derived_seed(seed: int, slot: int) -> int:
    """A distinct, reproducible stream seed per randomness slot of a model."""
    return (int(seed) * 1_000_003 + 7919 * (slot + 1)) % (2**62)


@contextmanager
def _seeded_init(seed: int | None) -> Iterator[None]:
    """Initialise parameters from ``seed`` without touching the caller's global RNG state."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class SpikingModel(nn.Module):
    """Shared machinery of the spiking models: dropout slots, recording, seeding, input checks."""

    def __init__(self, T: int, *, encoding: str, encoding_options: dict | None, seed: int | None) -> None:
        super().__init__()
        self.T = check_int("T", T, minimum=1)
        self.encoding = check_choice("encoding", encoding, ENCODINGS)
        self.encoding_options = dict(encoding_options or {})
        self._recording: Recording | None = None
        self._encoding_seed = _derived_seed(0 if seed is None else seed, 0)
        self._encoding_generator: torch.Generator | None = None
        self.dropouts = nn.ModuleList()
        self.layer_names: list[str] = []

    # ---------------------------------------------------------------- dropout slots
    def _build_dropouts(
        self, n_slots: int, dropout: Any, p: float, dropout_options: dict | None, seed: int | None
    ) -> None:
        if isinstance(dropout, (list, tuple)):
            if len(dropout) != n_slots:
                raise ValueError(f"dropout has {len(dropout)} entries but the model has {n_slots} hidden spiking layers")
            specs = list(dropout)
        else:
            specs = [dropout] * n_slots
        if isinstance(dropout, SpikeDropout) and n_slots > 1:
            raise ValueError("one dropout module instance cannot fill several layers; pass a list with one module per layer")
        with _seeded_init(seed):  # modules built here draw their default seed without touching the global RNG
            mods = [self._make_slot(spec, dropout, p, dropout_options) for spec in specs]
        for mod in mods:
            self.dropouts.append(mod)
        if seed is not None:
            self.reseed(seed)

    @staticmethod
    def _make_slot(spec: Any, dropout: Any, p: float, dropout_options: dict | None) -> SpikeDropout:
        if spec is None or spec == "none":
            if p and spec is None and dropout is None:
                raise ValueError(f"p={p} was given without a dropout method; pass dropout=<name>")
            mod = make_dropout("none")
        elif isinstance(spec, str):
            mod = make_dropout(spec, p, **(dropout_options or {}))
        elif isinstance(spec, SpikeDropout):
            mod = spec
        else:
            raise TypeError(f"dropout entries must be a method name, a SpikeDropout module or None, got {type(spec).__name__}")
        return mod

    def set_dropout(self, dropout: Any, p: float = 0.0, **options: Any) -> None:
        """Replace every dropout slot (a name, a module, or a list with one entry per slot)."""
        n = len(self.dropouts)
        self.dropouts = nn.ModuleList()
        self._build_dropouts(n, dropout, p, options, None)

    def reseed(self, seed: int) -> None:
        """Restart the encoding and every dropout mask stream from ``seed`` (fit() calls this)."""
        check_int("seed", seed)
        self._encoding_seed = _derived_seed(seed, 0)
        self._encoding_generator = None
        for i, d in enumerate(self.dropouts):
            d.reseed(_derived_seed(seed, i + 1))

    def _encoding_gen(self, device: torch.device) -> torch.Generator:
        self._encoding_generator = generator_on(self._encoding_generator, device, self._encoding_seed)
        return self._encoding_generator

    def _apply_slot(self, i: int, spikes: Tensor, membrane: Tensor | None, weight: Tensor) -> Tensor:
        drop = self.dropouts[i]
        y = drop(
            spikes,
            membrane=membrane if drop.needs_membrane else None,
            weight=weight.reshape(weight.shape[0], -1) if drop.needs_weight else None,
        )
        scale = drop.inference_scale
        return y * scale if scale != 1.0 else y

    def _next_weight(self, i: int, weight: Tensor) -> Tensor:
        drop = self.dropouts[i]
        return drop.mask_weight(weight) if drop.acts_on == "synapses" else weight

    def _wants_membrane(self, i: int) -> bool:
        return self._recording is not None or (i < len(self.dropouts) and self.dropouts[i].needs_membrane)

    def _spiking_layer(self, i: int, neuron: nn.Module, cur: Tensor, weight: Tensor) -> Tensor:
        """Run hidden layer ``i`` over ``cur`` [T, B, ...], record it, and pass it through its dropout slot.

        The membrane trace is built only when recording or when the slot needs it; a slot that
        reads only the time mean of the membrane gets that, without the [T, B, ...] stack.
        """
        if not self._wants_membrane(i):
            spk, mem = neuron(cur), None
        elif (
            self._recording is None
            and self.dropouts[i].membrane_summary == "time_mean"
            and hasattr(neuron, "forward_mean_membrane")
        ):
            spk, mem = neuron.forward_mean_membrane(cur)
        else:
            spk, mem = neuron.forward_trace(cur)
        self._capture(self.layer_names[i], spk, mem)
        return self._apply_slot(i, spk, mem, weight)

    def _leaky_readout(self, cur: Tensor, beta: float) -> Tensor:
        """Non-spiking leaky integrator over ``cur`` [T, B, C]; logits = its mean potential over T."""
        v = torch.zeros_like(cur[0])
        acc = torch.zeros_like(v)
        trace = []
        for ct in cur.unbind(0):
            v = beta * v + ct
            acc = acc + v
            if self._recording is not None:
                trace.append(v)
        if self._recording is not None:
            self._capture("output", None, torch.stack(trace))
        return acc / cur.shape[0]

    # ---------------------------------------------------------------- recording
    @contextmanager
    def record(self, kind: str = "full") -> Iterator[Recording]:
        """Capture per-layer spikes and membranes of every forward inside the block."""
        if self._recording is not None:
            raise RuntimeError("model.record() is already active; recordings do not nest")
        rec = Recording(kind=kind)
        self._recording = rec
        try:
            yield rec
        finally:
            self._recording = None

    def _capture(self, name: str, spikes: Tensor | None, membrane: Tensor | None) -> None:
        if self._recording is not None:
            self._recording.capture(name, spikes, membrane)

    # ---------------------------------------------------------------- weights
    def hidden_weights(self) -> dict[str, Tensor]:
        """Hidden layer name -> the weight driving it (rows = that layer's neurons)."""
        raise NotImplementedError

    def outgoing_weights(self) -> dict[str, Tensor]:
        """Hidden layer name -> the weight of the layer it drives (columns = its neurons)."""
        raise NotImplementedError

    def _check_input(self, x: Tensor, n_features: int | None = None, shape: tuple[int, ...] | None = None) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor [B, ...], got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"x must be a batch [B, ...] with at least 2 dims, got shape {tuple(x.shape)}")
        if n_features is not None and x[0].numel() != n_features:
            raise ValueError(f"x has {x[0].numel()} features per sample (shape {tuple(x.shape)}); the model expects {n_features}")
        if shape is not None and tuple(x.shape[1:]) != tuple(shape):
            raise ValueError(f"x has per-sample shape {tuple(x.shape[1:])}; the model expects {tuple(shape)}")


def _readout(potential_steps: Tensor, readout: str) -> Tensor:
    return potential_steps.mean(0) if readout == "membrane" else potential_steps.sum(0)


class SpikingMLP(SpikingModel):
    """Fully connected spiking network ``sizes=[in, hidden..., classes]``.

    Hidden layers are spiking neurons (``neuron="lif"`` or ``"penalty"``); the output layer is
    a leaky integrator whose mean potential over T gives the logits (``readout="membrane"``),
    or LIF neurons whose spike counts are the logits (``readout="rate"``). With direct
    encoding the first GEMM is computed once and broadcast over T.
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
        self.sizes = _check_sizes(sizes)
        self.readout = check_choice("readout", readout, READOUTS)
        self.neuron = neuron
        with _seeded_init(seed):
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:]))
            self.neurons = nn.ModuleList(make_neuron(neuron, **(neuron_options or {})) for _ in self.sizes[1:-1])
        self.output_beta = float(output_beta)
        self.output_neuron = LIF(beta=output_beta) if readout == "rate" else None
        self.layer_names = [f"hidden{i + 1}" for i in range(len(self.sizes) - 2)] + ["output"]
        self._build_dropouts(len(self.sizes) - 2, dropout, p, dropout_options, seed)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, n_features=self.sizes[0])
        B, T = x.shape[0], self.T
        x = x.reshape(B, -1)
        if self.encoding == "direct":
            cur = self.linears[0](x).unsqueeze(0).expand(T, B, -1)
        else:
            s_in = encode(x, self.encoding, T, generator=self._encoding_gen(x.device), **self.encoding_options)
            cur = self.linears[0](s_in.reshape(T * B, -1)).reshape(T, B, -1)
        for i, neuron in enumerate(self.neurons):
            y = self._spiking_layer(i, neuron, cur, self.linears[i].weight)
            lin = self.linears[i + 1]
            w = self._next_weight(i, lin.weight)
            cur = F.linear(y.reshape(T * B, -1), w, lin.bias).reshape(T, B, -1)
        return self._output(cur)

    def _output(self, cur: Tensor) -> Tensor:
        if self.output_neuron is not None:
            if self._recording is not None:
                spk, mem = self.output_neuron.forward_trace(cur)
                self._capture("output", spk, mem)
            else:
                spk = self.output_neuron(cur)
            return spk.sum(0)
        return self._leaky_readout(cur, self.output_beta)

    def hidden_weights(self) -> dict[str, Tensor]:
        return {n: self.linears[i].weight for i, n in enumerate(self.layer_names[:-1])}

    def outgoing_weights(self) -> dict[str, Tensor]:
        return {n: self.linears[i + 1].weight for i, n in enumerate(self.layer_names[:-1])}


class SpikingCNN(SpikingModel):
    """Convolutional spiking network for images: (conv–BN–LIF–dropout–maxpool) blocks, then
    a spiking hidden FC layer and a leaky-integrator readout. Dropout slots follow every
    spiking layer (channel-wise where the method has a channel form)."""

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
        self.input_shape = _check_sizes(input_shape, min_len=3, name="input_shape")
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        self.channels = _check_sizes(channels, min_len=1, name="channels")
        check_int("hidden", hidden, minimum=1)
        check_int("n_classes", n_classes, minimum=1)
        C, H, W = self.input_shape
        if H >> len(self.channels) < 1 or W >> len(self.channels) < 1:
            raise ValueError(f"input_shape {self.input_shape} is too small for {len(self.channels)} pooling blocks")
        with _seeded_init(seed):
            convs, norms = [], []
            c_in = C
            for c in self.channels:
                convs.append(nn.Conv2d(c_in, c, 3, padding=1, bias=False))
                norms.append(nn.BatchNorm2d(c))
                c_in = c
            self.convs = nn.ModuleList(convs)
            self.norms = nn.ModuleList(norms)
            flat = c_in * (H >> len(self.channels)) * (W >> len(self.channels))
            self.fc = nn.Linear(flat, hidden)
            self.out = nn.Linear(hidden, n_classes)
            self.neurons = nn.ModuleList(make_neuron(neuron, **(neuron_options or {})) for _ in range(len(self.channels) + 1))
        self.neuron = neuron
        self.output_beta = float(output_beta)
        self.layer_names = [f"conv{i + 1}" for i in range(len(self.channels))] + ["fc", "output"]
        self._build_dropouts(len(self.channels) + 1, dropout, p, dropout_options, seed)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, shape=self.input_shape)
        B, T = x.shape[0], self.T
        if self.encoding == "direct":
            first = self.norms[0](self.convs[0](x))
            cur = first.unsqueeze(0).expand(T, *first.shape)
        else:
            s_in = encode(x, self.encoding, T, generator=self._encoding_gen(x.device), **self.encoding_options)
            first = self.norms[0](self.convs[0](s_in.reshape(T * B, *x.shape[1:])))
            cur = first.reshape(T, B, *first.shape[1:])
        n_conv = len(self.convs)
        for i in range(n_conv):
            y = self._spiking_layer(i, self.neurons[i], cur, self.convs[i].weight)
            y = F.max_pool2d(y.reshape(T * B, *y.shape[2:]), 2)
            if i + 1 < n_conv:
                w = self._next_weight(i, self.convs[i + 1].weight)
                z = self.norms[i + 1](F.conv2d(y, w, padding=1))
            else:
                w = self._next_weight(i, self.fc.weight)
                z = F.linear(y.reshape(T * B, -1), w, self.fc.bias)
            cur = z.reshape(T, B, *z.shape[1:])
        k = n_conv
        y = self._spiking_layer(k, self.neurons[k], cur, self.fc.weight)
        w = self._next_weight(k, self.out.weight)
        cur = F.linear(y.reshape(T * B, -1), w, self.out.bias).reshape(T, B, -1)
        return self._leaky_readout(cur, self.output_beta)

    def hidden_weights(self) -> dict[str, Tensor]:
        ws = {n: c.weight for n, c in zip(self.layer_names, self.convs)}
        ws["fc"] = self.fc.weight
        return ws

    def outgoing_weights(self) -> dict[str, Tensor]:
        ws = {n: c.weight for n, c in zip(self.layer_names, list(self.convs[1:]) + [self.fc])}
        ws["fc"] = self.out.weight
        return ws


class PenaltySNN(SpikingModel):
    """The "SNN with PyTorch" write-up's network: input repeated over T with noisy masks,
    hidden layers of penalty neurons, and output penalty neurons whose delayed inner state,
    averaged over time, gives the logits (softmax in the loss)."""

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
        self.sizes = _check_sizes(sizes)
        with _seeded_init(seed):
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:]))
            for lin in self.linears:  # inputs must be able to reach the firing threshold at initialisation
                nn.init.xavier_uniform_(lin.weight, gain=init_gain)
                nn.init.zeros_(lin.bias)
        self.neurons = nn.ModuleList(
            PenaltyNeuron(decay=decay, threshold=threshold, penalty_threshold=penalty_threshold)
            for _ in self.sizes[1:]
        )
        self.layer_names = [f"hidden{i + 1}" for i in range(len(self.sizes) - 2)] + ["output"]
        self._build_dropouts(len(self.sizes) - 2, dropout, p, dropout_options, seed)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, n_features=self.sizes[0])
        B, T = x.shape[0], self.T
        s_in = encode(x.reshape(B, -1), "noisy_repeat", T, generator=self._encoding_gen(x.device), **self.encoding_options)
        cur = self.linears[0](s_in.reshape(T * B, -1)).reshape(T, B, -1)
        n_hidden = len(self.sizes) - 2
        for i in range(n_hidden):
            y = self._spiking_layer(i, self.neurons[i], cur, self.linears[i].weight)
            lin = self.linears[i + 1]
            cur = F.linear(y.reshape(T * B, -1), self._next_weight(i, lin.weight), lin.bias).reshape(T, B, -1)
        out, inner = self.neurons[-1].forward_trace(cur)
        self._capture("output", out, inner)
        # As in the write-up's network: the output layer's (delayed) inner state, averaged over time.
        return inner.mean(0)

    def hidden_weights(self) -> dict[str, Tensor]:
        return {n: self.linears[i].weight for i, n in enumerate(self.layer_names[:-1])}

    def outgoing_weights(self) -> dict[str, Tensor]:
        return {n: self.linears[i + 1].weight for i, n in enumerate(self.layer_names[:-1])}


class DelayedSNN(SpikingModel):
    """The paper's 3-layer FC network: first-spike-time (latency) input, an SRM hidden layer with
    several delayed synapses per connection firing once at its first threshold crossing, and
    an SRM output whose mean potential over T gives the logits."""

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
        self.sizes = _check_sizes(sizes, min_len=3)
        if len(self.sizes) != 3:
            raise ValueError(f"DelayedSNN is the paper's 3-layer network: sizes=[in, hidden, out], got {list(sizes)}")
        with _seeded_init(seed):
            self.hidden = SRMLayer(self.sizes[0], self.sizes[1], delays=tuple(delays), tau=tau, threshold=threshold)
            self.readout_layer = SRMLayer(self.sizes[1], self.sizes[2], delays=tuple(delays), tau=tau, threshold=threshold)
        self.layer_names = ["hidden1", "output"]
        self._build_dropouts(1, dropout, p, dropout_options, seed)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, n_features=self.sizes[0])
        B = x.shape[0]
        s_in = encode(x.reshape(B, -1), "latency", self.T)
        y = self._spiking_layer(0, self.hidden, s_in, self.hidden.weight)
        if self.dropouts[0].acts_on == "synapses":
            raise ValueError("dropconnect is not supported by DelayedSNN (its readout owns delayed synapse weights)")
        v = self.readout_layer.potential(y)
        self._capture("output", None, v)
        return v.mean(0)

    def hidden_weights(self) -> dict[str, Tensor]:
        return {"hidden1": self.hidden.weight}

    def outgoing_weights(self) -> dict[str, Tensor]:
        return {"hidden1": self.readout_layer.weight}


class MLP(nn.Module):
    """ANN baseline of the spiking MLP's shape: Linear–ReLU–(Dropout) hidden layers."""

    def __init__(self, sizes: Sequence[int], *, dropout_p: float = 0.0, seed: int | None = None) -> None:
        super().__init__()
        self.sizes = _check_sizes(sizes)
        layers: list[nn.Module] = []
        with _seeded_init(seed):
            for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
                layers.append(nn.Linear(a, b))
                if i < len(self.sizes) - 2:
                    layers.append(nn.ReLU())
                    if dropout_p:
                        layers.append(nn.Dropout(dropout_p))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() < 2 or x[0].numel() != self.sizes[0]:
            raise ValueError(f"x must be a batch [B, ...] with {self.sizes[0]} features per sample, got {getattr(x, 'shape', x)}")
        return self.net(x.reshape(x.shape[0], -1))


class CNN(nn.Module):
    """ANN baseline of the spiking CNN's shape: (conv–BN–ReLU–maxpool) blocks, FC–ReLU, FC."""

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        n_classes: int = 10,
        *,
        dropout_p: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = _check_sizes(input_shape, min_len=3, name="input_shape")
        chans = _check_sizes(channels, min_len=1, name="channels")
        C, H, W = self.input_shape
        layers: list[nn.Module] = []
        with _seeded_init(seed):
            c_in = C
            for c in chans:
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
                c_in = c
            flat = c_in * (H >> len(chans)) * (W >> len(chans))
            layers += [nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU()]
            if dropout_p:
                layers.append(nn.Dropout(dropout_p))
            layers.append(nn.Linear(hidden, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must be a batch [B, {', '.join(map(str, self.input_shape))}], got {getattr(x, 'shape', x)}")
        return self.net(x)


_SPIKING_ONLY = ("T", "neuron", "neuron_options", "encoding", "encoding_options", "dropout_options", "readout")


def build_model(kind: str, sizes: Sequence[int], *, input_shape: Sequence[int] | None = None, **options: Any) -> nn.Module:
    """Build a model by name (``MODEL_KINDS``).

    ``sizes`` are the full layer widths ``[in, hidden..., classes]`` for the MLP-shaped kinds, and
    ``(channels..., hidden, classes)`` for ``spiking_cnn``/``cnn`` (which also need ``input_shape``).
    For the ANN kinds the spiking-only options (T, neuron, encoding, ...) are accepted and ignored,
    so one spec can describe a whole grid; ``dropout`` must be ``None``/``"none"``/``"standard"``.
    """
    check_choice("kind", kind, MODEL_KINDS)
    if kind in ("mlp", "cnn"):
        method = options.pop("dropout", None)
        p = float(options.pop("p", 0.0))
        for k in _SPIKING_ONLY:
            options.pop(k, None)
        if method not in (None, "none", "standard"):
            raise ValueError(f"the ANN baseline {kind!r} supports dropout None, 'none' or 'standard', got {method!r}")
        options["dropout_p"] = p if method == "standard" else 0.0
    if kind in ("spiking_cnn", "cnn"):
        if input_shape is None:
            raise ValueError(f"model {kind!r} needs input_shape=(C, H, W)")
        sizes = _check_sizes(sizes, min_len=3)
        return (SpikingCNN if kind == "spiking_cnn" else CNN)(
            input_shape, sizes[:-2], sizes[-2], sizes[-1], **options
        )
    cls = {"spiking_mlp": SpikingMLP, "mlp": MLP, "penalty_snn": PenaltySNN, "delayed_snn": DelayedSNN}[kind]
    for k in ("neuron", "encoding") if kind in ("penalty_snn", "delayed_snn") else ():
        options.pop(k, None)  # fixed by the reference network's definition
    return cls(sizes, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "CNN",
    "MLP",
    "MODEL_KINDS",
    "DelayedSNN",
    "PenaltySNN",
    "SpikingCNN",
    "SpikingMLP",
    "SpikingModel",
    "build_model",
    "count_parameters",
]

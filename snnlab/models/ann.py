"""ANN baselines of the spiking networks' shapes (ReLU units, ``nn.Dropout``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from snnlab.generators import seeded_init as _seeded_init
from snnlab.models.base import check_batch as _check_batch
from snnlab.models.base import check_sizes as _check_sizes
from snnlab.validation import check_finite, check_float, check_int, check_seed


def _check_dropout_p(dropout_p: float) -> float:
    """``nn.Dropout``'s rate: a finite number in [0, 1)."""
    return check_float("dropout_p", dropout_p, low=0.0, high=1.0, high_inclusive=False)


def _check_input(x: Tensor, **expected: object) -> None:
    """A floating, non-empty batch of the model's input size; finite values checked on the CPU only
    (on an accelerator that would be a host sync per step: ``fit``/``evaluate`` check the data once)."""
    _check_batch(x, **expected)
    if x.device.type == "cpu":
        check_finite("x", x)


class MLP(nn.Module):
    """ANN baseline of the spiking MLP's shape: Linear–ReLU–(Dropout) hidden layers."""

    def __init__(self, sizes: Sequence[int], *, dropout_p: float = 0.0, seed: int | None = None) -> None:
        super().__init__()
        self.sizes = _check_sizes(sizes)
        dropout_p = _check_dropout_p(dropout_p)
        check_seed("seed", seed, optional=True)
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
        """Logits ``[B, classes]`` of a batch ``x[B, ...]`` with ``sizes[0]`` values per sample.

        Computed in the weights' dtype (the input is cast, as the spiking models' synapses do)."""
        _check_input(x, n_features=self.sizes[0])
        return self.net(x.reshape(x.shape[0], -1).to(self.net[0].weight.dtype))


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
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        chans = _check_sizes(channels, min_len=1, name="channels")
        check_int("hidden", hidden, minimum=1)
        check_int("n_classes", n_classes, minimum=1)
        if self.input_shape[1] >> len(chans) < 1 or self.input_shape[2] >> len(chans) < 1:
            raise ValueError(f"input_shape {self.input_shape} is too small for {len(chans)} pooling blocks")
        dropout_p = _check_dropout_p(dropout_p)
        check_seed("seed", seed, optional=True)
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
        """Logits ``[B, classes]`` of a batch of images ``x[B, C, H, W]`` (``input_shape``), computed in
        the weights' dtype (the input is cast, as the spiking models' synapses do)."""
        _check_input(x, shape=self.input_shape)
        return self.net(x.to(self.net[0].weight.dtype))

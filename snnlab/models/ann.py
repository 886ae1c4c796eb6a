"""ANN baselines of the spiking networks' shapes (ReLU units, ``nn.Dropout``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from snnlab.models.base import check_sizes as _check_sizes
from snnlab.generators import seeded_init as _seeded_init


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

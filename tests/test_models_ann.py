"""snnlab.models.ann: the ANN baselines (MLP, CNN) of the spiking networks' shapes."""

from __future__ import annotations

import pytest
import torch

from snnlab.models import CNN, MLP


def test_mlp() -> None:
    m = MLP([64, 32, 16, 10], dropout_p=0.2, seed=0)
    assert m(torch.rand(2, 64)).shape == (2, 10)
    assert m(torch.rand(2, 1, 8, 8)).shape == (2, 10)  # flattened
    kinds = [type(layer).__name__ for layer in m.net]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert not any(isinstance(layer, torch.nn.Dropout) for layer in MLP([64, 32, 10]).net)


def test_cnn() -> None:
    x = torch.rand(2, 3, 16, 16)
    m = CNN((3, 16, 16), (4, 8), 12, 10, dropout_p=0.3, seed=0)
    assert m(x).shape == (2, 10)
    assert sum(isinstance(layer, torch.nn.Dropout) for layer in m.net) == 1
    assert [layer.out_features for layer in m.net if isinstance(layer, torch.nn.Linear)] == [12, 10]
    assert CNN((3, 16, 16), (4, 8), 12, 10)(x).shape == (2, 10)


def test_seed_gives_identical_initialisation() -> None:
    for make in (lambda s: MLP([64, 16, 10], seed=s), lambda s: CNN((1, 8, 8), (2,), 4, 3, seed=s)):
        a, b, c = make(1), make(1), make(2)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_wrong_inputs() -> None:
    with pytest.raises(ValueError, match="64 features"):
        MLP([64, 10])(torch.rand(2, 32))
    with pytest.raises(ValueError, match="64 features"):
        MLP([64, 10])(torch.rand(64))
    with pytest.raises(ValueError, match=r"\[B, 3, 16, 16\]"):
        CNN((3, 16, 16), (4,), 8, 10)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="input_shape"):
        CNN((3, 16), (4,), 8, 10)
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        MLP([64, 0, 10])

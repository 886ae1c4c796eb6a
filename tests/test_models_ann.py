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
    with pytest.raises(ValueError, match="the model expects 64"):
        MLP([64, 10])(torch.rand(2, 32))
    with pytest.raises(ValueError, match="at least 2 dims"):
        MLP([64, 10])(torch.rand(64))
    with pytest.raises(ValueError, match=r"expects \(3, 16, 16\)"):
        CNN((3, 16, 16), (4,), 8, 10)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="input_shape"):
        CNN((3, 16), (4,), 8, 10)
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        MLP([64, 0, 10])


@pytest.mark.parametrize("make, shape", [(lambda: MLP([4, 3, 2], seed=0), (2, 4)),
                                         (lambda: CNN((1, 4, 4), (2,), 3, 2, seed=0), (2, 1, 4, 4))])
def test_non_finite_integer_and_empty_inputs_are_refused(make, shape) -> None:
    model = make()
    x = torch.rand(*shape)
    x.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=r"x contains 1 non-finite value\(s\) \(1 NaN"):
        model(x)
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(*shape, dtype=torch.uint8))
    with pytest.raises(ValueError, match="empty batch"):
        model(torch.zeros(0, *shape[1:]))


@pytest.mark.parametrize("dropout_p, exc", [(1.0, ValueError), (float("nan"), ValueError), ("0.3", TypeError), (-0.1, ValueError)])
def test_dropout_p_is_checked(dropout_p, exc) -> None:
    with pytest.raises(exc, match="dropout_p"):
        MLP([4, 3, 2], dropout_p=dropout_p)
    with pytest.raises(exc, match="dropout_p"):
        CNN((1, 4, 4), (2,), 3, 2, dropout_p=dropout_p)


def test_cnn_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        CNN((1, 4, 4, 4), (2,), 3, 2)
    with pytest.raises(ValueError, match="hidden=0"):
        CNN((1, 4, 4), (2,), 0, 2)
    with pytest.raises(ValueError, match="too small for 3 pooling blocks"):
        CNN((1, 4, 4), (2, 2, 2), 3, 2)


@pytest.mark.parametrize("make, shape", [(lambda: MLP([8, 5, 3], seed=0), (2, 8)),
                                         (lambda: CNN((1, 4, 4), (2,), 5, 3, seed=0), (2, 1, 4, 4))])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.bfloat16])
def test_other_float_dtypes_are_cast_to_the_weights(make, shape, dtype) -> None:
    """float64 or float16 inputs used to fail with "mat1 and mat2 must have the same dtype" (the spiking
    models cast them; found by tests/test_properties.py)."""
    model = make()
    x = torch.rand(shape)
    out = model(x.to(dtype))
    assert out.dtype == torch.float32 and out.shape == (2, 3)
    if dtype == torch.float64:
        assert torch.allclose(out, model(x))


@pytest.mark.parametrize("make", [MLP, CNN])
def test_a_seed_that_is_not_an_integer_seed_is_refused(make) -> None:
    args = ([8, 5, 3],) if make is MLP else ()
    with pytest.raises(TypeError, match="seed must be an integer"):
        make(*args, seed="0")
    with pytest.raises(ValueError, match="a seed must be an integer in"):
        make(*args, seed=2**70)

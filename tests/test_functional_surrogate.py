"""snnlab.functional.surrogate: Heaviside forward, the surrogate derivatives backward, building surrogates."""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.functional.surrogate import (
    SURROGATES,
    Surrogate,
    arctan,
    fast_sigmoid,
    heaviside,
    make_surrogate,
    resolve_surrogate,
)


def test_heaviside_is_strict_step_in_the_input_dtype() -> None:
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    assert heaviside(x).dtype == torch.float64
    assert heaviside(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert heaviside(x, 1.0).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]  # strictly above the level
    nc = torch.arange(12.0).view(3, 4).t()  # non-contiguous input
    assert torch.equal(heaviside(nc, 5.0), (nc > 5.0).float())


@pytest.mark.parametrize("slope", [1.0, 25.0])
def test_fast_sigmoid_forward_is_heaviside_and_gradient_matches_formula(slope: float) -> None:
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).requires_grad_()
    x_nz = x.detach().clone()
    y = fast_sigmoid(x, slope)
    assert torch.equal(y.detach(), (x_nz > 0).double())
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(g, 1.0 / (slope * x_nz.abs() + 1.0) ** 2)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_arctan_gradient_is_derivative_of_its_smooth_arctan(alpha: float) -> None:
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).requires_grad_()
    y = arctan(x, alpha)
    assert torch.equal(y.detach(), (x.detach() > 0).double())
    (g,) = torch.autograd.grad(y.sum(), x)
    # the smooth function whose derivative the surrogate uses: 1/pi * atan(pi/2 * alpha * x) + 1/2
    xs = x.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad((torch.atan(math.pi / 2 * alpha * xs) / math.pi + 0.5).sum(), xs)
    assert torch.allclose(g, ref)


def test_fast_sigmoid_gradient_is_derivative_of_its_smooth_sigmoid() -> None:
    slope = 5.0
    xs = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(fast_sigmoid(xs, slope).sum(), xs)
    # d/dx of x / (1 + slope*|x|) is 1 / (1 + slope*|x|)^2: check with gradcheck on the smooth function
    smooth = lambda z: z / (1.0 + slope * z.abs())  # noqa: E731
    assert torch.autograd.gradcheck(smooth, (xs.detach()[xs.detach() != 0].clone().requires_grad_(),))
    x2 = xs.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad(smooth(x2).sum(), x2)
    assert torch.allclose(g, ref)


@pytest.mark.parametrize("surrogate", [Surrogate("fast_sigmoid", 7.0), Surrogate("arctan", 1.5)])
def test_surrogate_call_is_its_named_function(surrogate: Surrogate) -> None:
    x = torch.linspace(-2, 2, 33, dtype=torch.float64).requires_grad_()
    fn = fast_sigmoid if surrogate.name == "fast_sigmoid" else arctan
    y1, y2 = surrogate(x), fn(x, surrogate.scale)
    assert torch.equal(y1, y2)
    # the same autograd Function: identical gradients
    assert torch.equal(torch.autograd.grad(y1.sum(), x)[0], torch.autograd.grad(y2.sum(), x)[0])


@pytest.mark.parametrize("surrogate", [Surrogate("fast_sigmoid", 7.0), Surrogate("arctan", 1.5)])
def test_surrogate_derivative_matches_its_backward(surrogate: Surrogate) -> None:
    x = torch.linspace(-2, 2, 33, dtype=torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(surrogate(x).sum(), x)
    xd = x.detach().clone()
    assert torch.allclose(surrogate.derivative(xd), g) and torch.equal(xd, x.detach())
    assert torch.allclose(surrogate.derivative(xd, inplace=True), g) and torch.allclose(xd, g)


def test_make_surrogate_validates() -> None:
    assert SURROGATES == ("fast_sigmoid", "arctan")
    assert make_surrogate("arctan", alpha=3.0) == Surrogate("arctan", 3.0)
    assert make_surrogate("arctan") == Surrogate("arctan", 2.0)
    assert make_surrogate("fast_sigmoid", slope=4.0) == Surrogate("fast_sigmoid", 4.0)
    assert make_surrogate() == Surrogate("fast_sigmoid", 25.0) == Surrogate()
    with pytest.raises(ValueError, match="surrogate"):
        make_surrogate("sigmoid")
    with pytest.raises(ValueError, match="alpha"):
        make_surrogate("fast_sigmoid", alpha=2.0)
    with pytest.raises(ValueError, match="slope"):
        make_surrogate("arctan", slope=2.0)
    with pytest.raises(ValueError, match="slope"):
        make_surrogate("fast_sigmoid", slope=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        make_surrogate("arctan", alpha=0.0)


def test_resolve_surrogate() -> None:
    s = Surrogate("arctan", 1.0)
    assert resolve_surrogate(s) is s
    assert resolve_surrogate("arctan", {"alpha": 4.0}) == Surrogate("arctan", 4.0)
    assert resolve_surrogate("fast_sigmoid") == Surrogate()
    with pytest.raises(ValueError, match="surrogate_options"):
        resolve_surrogate(s, {"alpha": 4.0})

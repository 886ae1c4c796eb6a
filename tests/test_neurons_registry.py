"""snnlab.neurons.registry: make_neuron and friends; adding a neuron is one module usable in every spiking model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import snnlab.neurons as neurons
from snnlab.functional.surrogate import fast_sigmoid
from snnlab.models import SpikingCNN, SpikingMLP
from snnlab.neurons import (
    LIF,
    FirstSpike,
    PenaltyNeuron,
    StepNeuron,
    make_neuron,
    neuron_class,
    neuron_keys,
    neuron_options,
    register_neuron,
    unregister_neuron,
)


def test_registered_neurons() -> None:
    assert {"lif", "penalty", "first_spike"} <= set(neuron_keys())  # a new module may add more
    assert neurons.NEURONS == neuron_keys()
    assert neuron_class("lif") is LIF and neuron_class("penalty") is PenaltyNeuron
    assert neuron_class("first_spike") is FirstSpike
    assert neuron_options("penalty") == ("decay", "threshold", "penalty_threshold")
    assert "backend" in neuron_options("lif") and "self" not in neuron_options("lif")


def test_make_neuron() -> None:
    lif = make_neuron("lif", beta=0.5, reset="zero")
    assert isinstance(lif, LIF) and lif.reset == "zero" and float(lif.beta) == 0.5
    pen = make_neuron("penalty", decay=0.8)
    assert isinstance(pen, PenaltyNeuron) and pen.decay == 0.8
    assert isinstance(make_neuron("first_spike"), FirstSpike)


def test_make_neuron_errors() -> None:
    with pytest.raises(ValueError, match="neuron='izhikevich'"):
        make_neuron("izhikevich")
    with pytest.raises(ValueError, match="unknown option.*penalty_threshold"):
        make_neuron("lif", penalty_threshold=1.0)
    with pytest.raises(TypeError, match="neuron must be a string"):
        make_neuron(3)
    with pytest.raises(AttributeError, match="nonexistent"):
        neurons.nonexistent  # noqa: B018


def test_register_checks() -> None:
    class NoKey(StepNeuron):
        key = ""

    with pytest.raises(TypeError, match="key"):
        register_neuron(NoKey)

    class Clash(StepNeuron):
        key = "lif"

    with pytest.raises(ValueError, match="registered twice"):
        register_neuron(Clash)
    assert neuron_class("lif") is LIF
    assert register_neuron(LIF) is LIF  # registering the same class again is harmless
    unregister_neuron("not-there")  # a no-op


# --------------------------------------------------------------------------- acceptance: a new neuron


@pytest.fixture
def throwaway():
    """A neuron defined in one place with ``@register_neuron``; removed from the registry afterwards."""
    assert "throwaway" not in neuron_keys()
    try:

        @register_neuron
        class Throwaway(StepNeuron):
            """Half-leaky integrate-and-fire with a reset to zero (the surrogate from the functional core)."""

            key = "throwaway"

            def __init__(self, threshold: float = 0.5, leak: float = 0.5) -> None:
                super().__init__()
                self.threshold = threshold
                self.leak = leak

            def params(self) -> tuple[float, float]:
                return self.leak, self.threshold

            def initial_state(self, x0: Tensor) -> Tensor:
                return torch.zeros_like(x0)

            def step(self, x: Tensor, v: Tensor, params: tuple[float, float]) -> tuple[Tensor, Tensor, Tensor]:
                leak, thr = params
                h = leak * v + x
                s = fast_sigmoid(h - thr)
                return s, h, h * (1.0 - s)

        yield Throwaway
    finally:
        unregister_neuron("throwaway")
    assert "throwaway" not in neuron_keys()


def _train_step(model: torch.nn.Module, x: Tensor, y: Tensor) -> None:
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_a_new_neuron_is_one_definition_usable_in_every_spiking_model(throwaway) -> None:
    assert "throwaway" in neuron_keys() and neuron_options("throwaway") == ("threshold", "leak")
    assert isinstance(make_neuron("throwaway", threshold=0.3), throwaway)
    g = torch.Generator().manual_seed(0)
    mlp = SpikingMLP([16, 12, 4], T=4, neuron="throwaway", neuron_options={"threshold": 0.2},
                     dropout="membrane", p=0.2, seed=0)
    assert all(isinstance(b.neuron, throwaway) for b in mlp.blocks)
    x, y = torch.rand(6, 16, generator=g), torch.randint(0, 4, (6,), generator=g)
    _train_step(mlp, x, y)
    assert mlp.blocks[0].synapse.weight.grad.abs().sum() > 0  # the surrogate reaches the first layer
    with mlp.record() as rec:
        mlp(x)
    assert rec.spikes["hidden1"].shape == (4, 6, 12) and rec.spikes["hidden1"].sum() > 0
    cnn = SpikingCNN((2, 8, 8), channels=(3,), hidden=6, n_classes=4, T=3, neuron="throwaway",
                     dropout="temporal", p=0.2, seed=0)
    assert all(isinstance(b.neuron, throwaway) for b in cnn.blocks)
    _train_step(cnn, torch.rand(5, 2, 8, 8, generator=g), torch.randint(0, 4, (5,), generator=g))

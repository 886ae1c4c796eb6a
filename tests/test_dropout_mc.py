"""``snnlab/dropout/mc.py``: ``mc_mode`` keeps every dropout module of a model sampling in eval()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropout_helpers import P, spikes
from snnlab.dropout import LayerContext, make_dropout, mc_mode


def test_mc_mode_samples_in_eval_and_restores_every_slot():
    model = nn.ModuleList([make_dropout("standard", P, seed=0), make_dropout("temporal", P, seed=1, mc=True)])
    model.eval()
    x = spikes()
    assert model[0](LayerContext(x)) is x
    with mc_mode(model) as same:
        assert same is model
        assert all(m.mc and m.sampling for m in model)
        assert not torch.equal(model[0](LayerContext(x)), x)
    assert model[0].mc is False and model[1].mc is True  # each slot's own setting is restored
    assert model[0](LayerContext(x)) is x


def test_mc_mode_restores_after_an_error():
    d = make_dropout("temporal", P)
    with pytest.raises(RuntimeError, match="boom"):
        with mc_mode(d):
            raise RuntimeError("boom")
    assert d.mc is False


def test_mc_mode_on_a_module_without_dropout_is_harmless():
    lin = nn.Linear(3, 2)
    with mc_mode(lin) as m:
        assert m is lin

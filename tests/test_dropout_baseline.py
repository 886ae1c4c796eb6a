"""``snnlab/dropout/baseline.py``: the ``none`` slot is the identity, always, and refuses a rate."""

from __future__ import annotations

import pytest

from dropout_helpers import TinySynapse, spikes
from snnlab.dropout import LayerContext, make_dropout, method_info, mc_mode


def test_none_describes_itself():
    info = method_info("none")
    assert info.family == "baseline" and info.label == "no dropout" and info.color == "#222222"
    assert info.acts_on == "spikes" and info.membrane is None and not info.needs_weight


def test_none_is_the_identity_in_every_mode_and_reports_nothing():
    x = spikes()
    d = make_dropout("none")
    assert d(LayerContext(x)) is x
    d.eval()
    assert d(LayerContext(x)) is x
    with mc_mode(d):
        assert d(LayerContext(x)) is x
    assert d.last_stats is None
    syn = TinySynapse(3, x.shape[2])
    assert d.wrap_next(syn) is syn


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_none_refuses_a_rate(p):
    with pytest.raises(ValueError, match=f"p={p} was given with dropout method 'none'; use p=0 or choose a method"):
        make_dropout("none", p)

"""MemberDropout: each member's method on its slice; DropConnect masks each member's weight."""

from __future__ import annotations

import pytest
import torch

from snnlab.blocks import LinearSynapse
from snnlab.blocks.members import MemberLinear
from snnlab.dropout import LayerContext, make_dropout
from snnlab.dropout.members import MemberDropout


def test_each_member_gets_its_own_mask_and_p():
    x = (torch.rand(4, 3, 8, 20) > 0.5).float()
    methods = [make_dropout("standard", p, seed=s) for s, p in ((1, 0.1), (2, 0.5), (3, 0.8))]
    twins = [make_dropout("standard", p, seed=s) for s, p in ((1, 0.1), (2, 0.5), (3, 0.8))]
    out = MemberDropout(methods)(LayerContext(x))
    for k, twin in enumerate(twins):
        assert torch.equal(out[:, k], twin(LayerContext(x[:, k].contiguous())))
    assert MemberDropout(methods).membrane is None and MemberDropout(methods).key == "standard"


def test_membrane_and_weight_are_sliced_per_member():
    x = (torch.rand(4, 2, 8, 20) > 0.5).float()
    mem = torch.randn(1, 2, 8, 20)
    w = torch.randn(2, 20, 5)
    methods = [make_dropout("membrane", 0.3, seed=s) for s in (1, 2)]
    twins = [make_dropout("membrane", 0.3, seed=s) for s in (1, 2)]
    drop = MemberDropout(methods)
    assert drop.membrane == "mean"
    out = drop(LayerContext(x, membrane=mem, weight=w))
    for k, twin in enumerate(twins):
        assert torch.equal(out[:, k], twin(LayerContext(x[:, k].contiguous(), membrane=mem[:, k], weight=w[k])))


def test_dropconnect_wraps_each_members_weight():
    torch.manual_seed(0)
    singles = [LinearSynapse(6, 3) for _ in range(2)]
    stacked = MemberLinear.from_members(singles)
    methods = [make_dropout("dropconnect", 0.5, seed=s) for s in (1, 2)]
    twins = [make_dropout("dropconnect", 0.5, seed=s) for s in (1, 2)]
    wrapped = MemberDropout(methods).wrap_next(stacked)
    assert wrapped is not stacked and wrapped.unwrapped is stacked
    x = (torch.rand(3, 2, 4, 6) > 0.5).float()
    y = wrapped(x)
    for k, twin in enumerate(twins):
        want = twin.wrap_next(singles[k])(x[:, k].contiguous())
        assert torch.allclose(y[:, k], want, atol=1e-6)
        assert methods[k].last_stats == twin.last_stats
    assert MemberDropout([make_dropout("standard", 0.1) for _ in range(2)]).wrap_next(stacked) is stacked


def test_errors():
    with pytest.raises(ValueError, match="one method per member"):
        MemberDropout([])
    with pytest.raises(TypeError, match="same method"):
        MemberDropout([make_dropout("standard", 0.1), make_dropout("temporal", 0.1)])
    with pytest.raises(ValueError, match="2 members"):
        MemberDropout([make_dropout("standard", 0.1) for _ in range(2)]).reseed([1])


def test_a_population_slot_passes_through_when_every_member_does() -> None:
    slot = MemberDropout([make_dropout("standard", p, seed=k) for k, p in enumerate((0.1, 0.2))])
    assert not slot.train().passes_through()
    assert slot.eval().passes_through()
    assert MemberDropout([make_dropout("none") for _ in range(3)]).train().passes_through()


def test_a_member_weight_transform_sums_over_time_under_each_members_mask() -> None:
    """The population's DropConnect wrapper: ``of_time_sum`` is member k's standalone wrapper's, mask included."""
    torch.manual_seed(0)
    synapses = [LinearSynapse(4, 3).double() for _ in range(2)]
    methods = [make_dropout("dropconnect", 0.5, seed=k) for k in range(2)]
    wrapped = MemberDropout(methods).wrap_next(MemberLinear.from_members(synapses))
    assert wrapped.sums_over_time
    x = (torch.rand(6, 2, 5, 4) < 0.4).double()
    c = torch.rand(6, dtype=torch.float64)
    got = wrapped.of_time_sum(torch.tensordot(c, x, dims=1), c.sum(), spikes=x)
    for k, syn in enumerate(synapses):
        method = make_dropout("dropconnect", 0.5, seed=k)
        want = method.wrap_next(syn).of_time_sum(torch.tensordot(c, x[:, k], dims=1), c.sum(), spikes=x[:, k])
        torch.testing.assert_close(got[k], want, rtol=1e-12, atol=1e-12)

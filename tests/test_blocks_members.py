"""Member-stacked synapses: member k computes what its standalone synapse computes."""

from __future__ import annotations

import pytest
import torch

from snnlab.blocks import ConvSynapse, DelayedLinear, LinearSynapse
from snnlab.blocks.members import MemberConv, MemberDelayed, MemberLinear, stack_synapses


def _members(kind: str) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    if kind == "linear":
        return [LinearSynapse(12, 5) for _ in range(3)]
    if kind == "conv":
        return [ConvSynapse(2, 4) for _ in range(3)]
    return [DelayedLinear(12, 5, delays=(0, 2), tau=2.0) for _ in range(3)]


SHAPES = {"linear": (12,), "conv": (2, 6, 6), "delayed": (12,)}


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_member_k_is_its_standalone_synapse(kind):
    members = _members(kind)
    stacked = stack_synapses(members)
    x = (torch.rand(5, 3, 4, *SHAPES[kind]) > 0.6).float()
    y = stacked(x)
    for k, m in enumerate(members):
        assert torch.allclose(y[:, k], m(x[:, k].contiguous()), atol=1e-6)
        assert torch.equal(stacked.weight[k], m.weight.detach())
    w = stacked.weight.detach() * 0.5
    assert torch.allclose(stacked(x, weight=w)[:, 1], members[1](x[:, 1].contiguous(), weight=w[1]), atol=1e-6)
    assert stacked.unwrapped is stacked and stacked.members == 3


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_static_input(kind):
    members = _members(kind)
    stacked = stack_synapses(members)
    x = torch.rand(3, 4, *SHAPES[kind])
    y = stacked.static(x)
    for k, m in enumerate(members):
        assert torch.allclose(y[k], m.static(x[k]), atol=1e-6)


def test_unstack_and_errors():
    members = _members("linear")
    stacked = MemberLinear.from_members(members)
    assert torch.equal(stacked.unstack(2).weight, members[2].weight)
    with pytest.raises(TypeError, match="supported"):
        stack_synapses([torch.nn.Identity()])
    with pytest.raises(TypeError, match="expected LinearSynapse"):
        MemberLinear.from_members([members[0], ConvSynapse(1, 1)])
    with pytest.raises(ValueError, match="at least one"):
        MemberConv.from_members([])
    with pytest.raises(ValueError, match="static"):
        MemberDelayed.from_members(_members("delayed")).static(torch.rand(3, 2, 12))
    other = DelayedLinear(12, 5, delays=(0, 1), tau=2.0)
    with pytest.raises(ValueError, match="other delays"):
        MemberDelayed.from_members(_members("delayed")[:1] + [other])

"""Member-stacked synapses: member k computes what its standalone synapse computes."""

from __future__ import annotations

import pytest
import torch

from snnlab.blocks import ConvSynapse, DelayedLinear, LinearSynapse
from snnlab.blocks.members import (
    MemberConv,
    MemberDelayed,
    MemberLinear,
    _MemberLinearCPU,
    _MemberLinearStaticCPU,
    stack_synapses,
)


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


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("layout", ["time-major", "strided"])
def test_cpu_member_linear_values_and_gradients_are_each_members_linear(K, layout):
    """The CPU path (batched over members per step, gradients written in place) against one
    ``F.linear`` per member, in float64: outputs and the gradients of x, weight and bias."""
    g = torch.Generator().manual_seed(K)
    T, B, n_in, n_out = 4, 5, 6, 3
    syn = MemberLinear(torch.randn(K, n_out, n_in, generator=g, dtype=torch.float64),
                       torch.randn(K, n_out, generator=g, dtype=torch.float64))
    x = torch.randn(T, K, B, n_in, generator=g, dtype=torch.float64)
    if layout == "strided":  # member-major memory seen as [T, K, B, in]
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
    x.requires_grad_(True)
    upstream = torch.randn(T, K, B, n_out, generator=g, dtype=torch.float64)
    y = syn(x)
    gx, gw, gb = torch.autograd.grad(y, (x, syn.weight, syn.bias), upstream)
    xr = x.detach().clone().requires_grad_(True)
    w, b = syn.weight.detach().clone().requires_grad_(True), syn.bias.detach().clone().requires_grad_(True)
    ref = torch.stack([torch.nn.functional.linear(xr[:, k], w[k], b[k]) for k in range(K)], dim=1)
    rx, rw, rb = torch.autograd.grad(ref, (xr, w, b), upstream)
    for got, want in ((y, ref), (gx, rx), (gw, rw), (gb, rb)):
        assert got.shape == want.shape
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    leaves = (x.detach().requires_grad_(True), syn.weight.detach().requires_grad_(True),
              syn.bias.detach().requires_grad_(True))
    assert torch.autograd.gradcheck(_MemberLinearCPU.apply, leaves)


@pytest.mark.parametrize("K", [1, 3])
def test_cpu_static_member_linear_is_each_members_linear_bit_for_bit(K):
    """A time-constant input (direct encoding): each member's GEMM is its standalone one, so values and
    gradients equal one ``F.linear`` per member exactly (float32)."""
    g = torch.Generator().manual_seed(10 + K)
    B, n_in, n_out = 5, 6, 4
    syn = MemberLinear(torch.randn(K, n_out, n_in, generator=g), torch.randn(K, n_out, generator=g))
    x = torch.randn(K, B, n_in, generator=g, requires_grad=True)
    upstream = torch.randn(K, B, n_out, generator=g)
    y = syn.static(x)
    got = torch.autograd.grad(y, (x, syn.weight, syn.bias), upstream)
    xr = x.detach().clone().requires_grad_(True)
    w, b = syn.weight.detach().clone().requires_grad_(True), syn.bias.detach().clone().requires_grad_(True)
    ref = torch.stack([torch.nn.functional.linear(xr[k], w[k], b[k]) for k in range(K)])
    want = torch.autograd.grad(ref, (xr, w, b), upstream)
    assert torch.equal(y, ref)
    for a, c in zip(got, want):
        assert torch.allclose(a, c, rtol=1e-6, atol=1e-6)
    leaves = tuple(t.detach().double().requires_grad_(True) for t in (x, syn.weight, syn.bias))
    assert torch.autograd.gradcheck(_MemberLinearStaticCPU.apply, leaves)


def test_member_linear_of_a_time_sum_is_each_members_own() -> None:
    """Member k of ``MemberLinear.of_time_sum`` is its standalone synapse's ``of_time_sum``, bit for bit
    on the CPU (one GEMM per member, the standalone one)."""
    torch.manual_seed(0)
    members = [LinearSynapse(6, 4) for _ in range(3)]
    stacked = MemberLinear.from_members(members)
    z = torch.rand(3, 5, 6)
    c_sum = torch.tensor(2.5)
    got = stacked.of_time_sum(z, c_sum)
    assert got.shape == (3, 5, 4)
    for k, m in enumerate(members):
        assert torch.equal(got[k], m.of_time_sum(z[k], c_sum))

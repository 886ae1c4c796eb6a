"""PopulationModel: K standalone models stacked; member k's forward is its standalone forward."""

from __future__ import annotations

import pytest
import torch

from snnlab.dropout import available
from snnlab.models import DelayedSNN, PenaltySNN, SpikingCNN, SpikingMLP
from snnlab.models.population import PopulationModel

CASES = {
    "spiking_mlp": (lambda **kw: SpikingMLP([64, 24, 10], **kw), (64,)),
    "spiking_mlp_rate": (lambda **kw: SpikingMLP([64, 24, 16, 10], encoding="rate", **kw), (64,)),
    "spiking_cnn": (lambda **kw: SpikingCNN((1, 8, 8), (3,), 16, 10, **kw), (1, 8, 8)),
    "penalty_snn": (lambda **kw: PenaltySNN([64, 24, 10], **kw), (64,)),
    "delayed_snn": (lambda **kw: DelayedSNN([64, 24, 10], **kw), (64,)),
}
SEEDS = (4, 5, 6)


def _members(case: str, method: str) -> list[torch.nn.Module]:
    build, _ = CASES[case]
    ps = [0.0] * 3 if method == "none" else [0.1, 0.2, 0.3]
    return [build(T=4, dropout=method, p=p, seed=s) for s, p in zip(SEEDS, ps)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_member_weights_are_the_standalone_initial_weights_bit_for_bit(case):
    members = _members(case, "none")
    pop = PopulationModel(_members(case, "none"))
    for k, m in enumerate(members):
        for name, w in m.hidden_weights().items():
            assert torch.equal(pop.hidden_weights()[name][k], w.detach())
        assert torch.equal(pop.readout.synapse.unwrapped.weight[k], m.readout.synapse.unwrapped.weight.detach())


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", available())
def test_member_forward_is_the_standalone_forward(case, method):
    """Training-mode forward (masks, encodings, p per member): logits within float32 rounding of the
    standalone model's (the stacked GEMM rounds differently from one GEMM per member)."""
    _, shape = CASES[case]
    members = _members(case, method)
    pop = PopulationModel(_members(case, method))
    x = torch.rand(3, 6, *shape, generator=torch.Generator().manual_seed(1))
    pop.train()
    pop.reseed(list(SEEDS))
    got = pop(x)
    for k, m in enumerate(members):
        m.train()
        m.reseed(SEEDS[k])
        assert torch.allclose(got[k], m(x[k]), rtol=0, atol=2e-6), (case, method, k)


def test_record_gives_per_member_rates():
    members = _members("spiking_mlp", "none")
    pop = PopulationModel(_members("spiking_mlp", "none"))
    x = torch.rand(3, 8, 64)
    with torch.no_grad(), pop.record(kind="rates") as rec:
        pop(x)
    for k, m in enumerate(members):
        with torch.no_grad(), m.record(kind="rates") as one:
            m(x[k])
        assert rec.member_rates["hidden1"][k] == pytest.approx(one.rates["hidden1"], abs=1e-6)


def test_bad_populations():
    with pytest.raises(ValueError, match="at least one"):
        PopulationModel([])
    with pytest.raises(TypeError, match="every member"):
        PopulationModel([SpikingMLP([64, 8, 10], T=4, seed=0), PenaltySNN([64, 8, 10], T=4, seed=1)])
    with pytest.raises(ValueError, match="one architecture"):
        PopulationModel([SpikingMLP([64, 8, 10], T=4, seed=0), SpikingMLP([64, 8, 10], T=5, seed=1)])
    with pytest.raises(ValueError, match="learnable"):
        PopulationModel([SpikingMLP([64, 8, 10], T=4, neuron_options={"learn_beta": True}, seed=s) for s in (0, 1)])
    with pytest.raises(ValueError, match="another neuron"):
        PopulationModel([SpikingMLP([64, 8, 10], T=4, neuron_options={"beta": b}, seed=0) for b in (0.8, 0.9)])
    with pytest.raises(TypeError, match="same method"):
        PopulationModel([SpikingMLP([64, 8, 10], T=4, dropout=m, p=0.2, seed=0) for m in ("standard", "temporal")])
    pop = PopulationModel([SpikingMLP([64, 8, 10], T=4, seed=s) for s in (0, 1)])
    with pytest.raises(ValueError, match=r"\[K=2, B"):
        pop(torch.rand(3, 4, 64))
    with pytest.raises(ValueError, match="one seed per member"):
        pop.reseed([1])

"""snnlab.recording: Recording keeps per-layer spikes/membrane ("full") or running spike sums ("rates")."""

from __future__ import annotations

import pytest
import torch

from snnlab.recording import RECORD_KINDS, Recording


def test_kinds() -> None:
    assert RECORD_KINDS == ("full", "rates")
    assert Recording().kind == "full" and Recording().layers == []
    with pytest.raises(ValueError, match=r"kind='all' is not known; allowed: 'full', 'rates'"):
        Recording(kind="all")


def test_layers_in_first_capture_order() -> None:
    rec = Recording()
    s = torch.zeros(2, 1, 3)
    for name in ("hidden1", "hidden2", "output", "hidden1", "output"):
        rec.capture(name, s, None)
    assert rec.layers == ["hidden1", "hidden2", "output"]
    rec.capture("readout", None, None)  # a layer with nothing to record is still listed
    assert rec.layers[-1] == "readout" and "readout" not in rec.rates


def test_full_concatenates_batches_and_detaches() -> None:
    rec = Recording()
    s1, s2 = (torch.rand(4, 2, 3) < 0.5).float(), (torch.rand(4, 5, 3) < 0.5).float()
    m1 = torch.randn(4, 2, 3, requires_grad=True)
    m2 = torch.randn(4, 5, 3, requires_grad=True)
    rec.capture("hidden1", s1, m1)
    rec.capture("hidden1", s2, m2)
    rec.capture("output", None, m1 * 2)  # an integrator: membrane only
    assert torch.equal(rec.spikes["hidden1"], torch.cat([s1, s2], dim=1))
    assert rec.spikes["hidden1"].shape == (4, 7, 3)
    assert torch.equal(rec.membrane["hidden1"], torch.cat([m1, m2], dim=1).detach())
    assert not rec.membrane["hidden1"].requires_grad and not rec.membrane["output"].requires_grad
    assert set(rec.spikes) == {"hidden1"} and set(rec.membrane) == {"hidden1", "output"}
    expected = torch.cat([s1.flatten(), s2.flatten()]).mean().item()
    assert rec.rates == {"hidden1": pytest.approx(expected)}


def test_rates_keeps_sums_only() -> None:
    rec = Recording(kind="rates")
    rec.capture("hidden1", torch.ones(2, 3, 4), torch.ones(2, 3, 4))
    rec.capture("hidden1", torch.zeros(2, 1, 4), None)
    assert rec.rates["hidden1"] == pytest.approx(24 / 32)
    assert rec._spikes == {} and rec._membrane == {}
    with pytest.raises(ValueError, match=r"kind='rates'; spikes needs model.record\(kind='full'\)"):
        rec.spikes  # noqa: B018
    with pytest.raises(ValueError, match=r"membrane needs model.record\(kind='full'\)"):
        rec.membrane  # noqa: B018


def test_member_rates_needs_members() -> None:
    with pytest.raises(ValueError, match=r"member_rates needs a recording of a population \(members=K\)"):
        Recording().member_rates  # noqa: B018
    rec = Recording(kind="rates", members=2)
    # [T=2, K*B=4, N=3]: member 0 is samples 0-1, member 1 samples 2-3
    s = torch.zeros(2, 4, 3)
    s[:, :2] = 1.0
    s[0, 2:, 0] = 1.0
    rec.capture("hidden1", s, None)
    rec.capture("hidden1", s, None)
    rates = rec.member_rates["hidden1"]
    assert rates == [pytest.approx(1.0), pytest.approx(2 / 12)]
    assert rec.rates["hidden1"] == pytest.approx(sum(rates) / 2)


def test_sums_stay_on_the_spikes_device_in_float64() -> None:
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("meta")
    rec = Recording(kind="rates", members=2)
    rec.capture("hidden1", torch.ones(2, 4, 3, device=device), None)
    rec.capture("hidden1", torch.ones(2, 4, 3, device=device), None)
    assert rec._spike_sum["hidden1"].device.type == device.type
    assert rec._spike_sum["hidden1"].dtype == torch.float64
    assert rec._member_sum["hidden1"].device.type == device.type and rec._member_sum["hidden1"].shape == (2,)
    assert rec._count["hidden1"] == 48
    if device.type == "cuda":
        assert rec.rates["hidden1"] == pytest.approx(1.0)

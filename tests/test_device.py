"""snnlab.device: resolve_device turns "auto"/"cpu"/"cuda"/"mps" (or a torch.device) into a torch.device."""

from __future__ import annotations

import pytest
import torch

from snnlab.device import DEVICE_CHOICES, resolve_device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def test_auto_picks_cuda_then_mps_then_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    assert resolve_device().type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("  AUTO ").type == expected  # stripped and case-insensitive


def test_auto_falls_back_to_cpu_without_accelerators(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_cpu_and_a_torch_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    dev = torch.device("cpu")
    assert resolve_device(dev) is dev  # a torch.device is returned as given
    meta = torch.device("meta")
    assert resolve_device(meta) is meta  # not checked against DEVICE_CHOICES


def test_cuda_and_mps_when_asked_for() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda:0") == torch.device("cuda:0")
    else:
        with pytest.raises(ValueError, match=r"device='cuda' was asked for but CUDA is not available"):
            resolve_device("cuda")
    if not _mps_available():
        with pytest.raises(ValueError, match="MPS is not available"):
            resolve_device("mps")


@pytest.mark.parametrize("name", ["gpu", "tpu", "", "cpux"])
def test_unknown_names_list_the_choices(name: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_device(name)
    message = str(info.value)
    assert f"device={name!r} is not known" in message
    assert all(choice in message for choice in DEVICE_CHOICES)


@pytest.mark.parametrize("value", [0, None, 1.5, ["cpu"]])
def test_wrong_types(value) -> None:
    with pytest.raises(TypeError, match="device must be a str or torch.device"):
        resolve_device(value)

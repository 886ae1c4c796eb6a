"""snnlab.models.build: every model of the study by name."""

from __future__ import annotations

import pytest
import torch

from snnlab.models import CNN, MLP, MODEL_KINDS, SPIKING_KINDS, DelayedSNN, PenaltySNN, SpikingCNN, SpikingMLP, build_model


def test_kinds() -> None:
    assert set(SPIKING_KINDS) < set(MODEL_KINDS)
    assert set(MODEL_KINDS) - set(SPIKING_KINDS) == {"mlp", "cnn"}


def test_build_model_by_name() -> None:
    m = build_model("spiking_mlp", [64, 16, 10], T=3, dropout="standard", p=0.1)
    assert isinstance(m, SpikingMLP) and m.T == 3 and m.dropouts[0].key == "standard"
    ann = build_model("mlp", [64, 16, 10], T=3, neuron="lif", encoding="rate", dropout="standard", p=0.1)
    assert isinstance(ann, MLP) and any(isinstance(m, torch.nn.Dropout) for m in ann.modules())
    plain = build_model("mlp", [64, 16, 10], dropout="none", p=0.1)
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())
    cnn = build_model("spiking_cnn", (4, 8, 12, 10), input_shape=(3, 16, 16), T=2)
    assert isinstance(cnn, SpikingCNN) and cnn.channels == (4, 8) and cnn.blocks[-1].synapse.out_features == 12
    assert isinstance(build_model("cnn", (4, 12, 10), input_shape=(3, 8, 8), readout="rate"), CNN)


def test_build_reference_networks_ignore_fixed_options() -> None:
    p = build_model("penalty_snn", [64, 16, 10], T=4, neuron="lif", encoding="rate", seed=0)
    assert isinstance(p, PenaltySNN) and p.encoding == "noisy_repeat"
    d = build_model("delayed_snn", [64, 16, 10], T=4, neuron="lif", encoding="direct", dropout="dropconnect", p=0.2)
    assert isinstance(d, DelayedSNN) and d.encoding == "latency" and d.dropouts[0].key == "dropconnect"


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="kind"):
        build_model("transformer", [64, 10])
    with pytest.raises(ValueError, match="input_shape"):
        build_model("cnn", (4, 12, 10))
    with pytest.raises(ValueError, match="input_shape"):
        build_model("spiking_cnn", (4, 12, 10))
    with pytest.raises(ValueError, match="ANN baseline"):
        build_model("mlp", [64, 16, 10], dropout="temporal", p=0.1)
    with pytest.raises(ValueError, match="at least 3"):
        build_model("spiking_cnn", (12, 10), input_shape=(3, 8, 8))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("p, exc, match", [("0.3", TypeError, "p must be a real number"),
                                           (float("nan"), ValueError, "p=nan"),
                                           (1.0, ValueError, "p=1.0"),
                                           (-0.2, ValueError, "p=-0.2")])
def test_ann_p_is_checked_not_converted(kind, p, exc, match) -> None:
    extra = dict(input_shape=(1, 8, 8)) if kind == "cnn" else {}
    with pytest.raises(exc, match=match):
        build_model(kind, [64, 16, 10], dropout="standard", p=p, **extra)


def test_ann_p_without_a_method_is_an_error() -> None:
    with pytest.raises(ValueError, match="p=0.3 was given without a dropout method"):
        build_model("mlp", [64, 16, 10], p=0.3)


@pytest.mark.parametrize("kind, p", [("spiking_mlp", "0.3"), ("spiking_mlp", float("nan")), ("penalty_snn", "0.3")])
def test_spiking_p_is_checked(kind, p) -> None:
    with pytest.raises((TypeError, ValueError), match="p must be a real number|p=nan"):
        build_model(kind, [64, 16, 10], dropout="standard", p=p)


def test_unknown_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"model 'spiking_mlp' does not take option\(s\) \['hiden'\]; allowed: .*T,"):
        build_model("spiking_mlp", [64, 16, 10], hiden=3)
    with pytest.raises(ValueError, match=r"model 'penalty_snn' does not take option\(s\) \['encoding_options'\]"):
        build_model("penalty_snn", [64, 16, 10], encoding_options={"keep": 0.3})
    with pytest.raises(ValueError, match="for encoding 'direct'; allowed: none"):
        build_model("spiking_mlp", [64, 16, 10], encoding="direct", encoding_options={"gain": 2.0})

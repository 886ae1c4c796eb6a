"""``snnlab/study/spec.py``: TrialSpec validation, canonical JSON, a key that is stable across processes, grids."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from snnlab.study import TrialSpec, grid
from snnlab.study.spec import spec_fields


def test_json_round_trip_and_normalisation() -> None:
    spec = TrialSpec(dataset="digits", sizes=[64, 32], method="standard", p=0.25, lr=1,
                     method_options={}, neuron_options={"beta": 0.95, "threshold": 1.0}, seed=3)
    assert spec.sizes == (64, 32)
    assert spec.lr == 1.0 and isinstance(spec.lr, float)
    assert spec.neuron_options == (("beta", 0.95), ("threshold", 1.0))
    back = TrialSpec.from_json(spec.to_json())
    assert back == spec
    assert back.key == spec.key
    # order of option keys does not matter; values do
    same = spec.replace(neuron_options={"threshold": 1.0, "beta": 0.95})
    assert same.key == spec.key
    assert spec.replace(seed=4).key != spec.key
    assert spec.replace(p=0.3).key != spec.key


def test_key_is_identical_in_another_process() -> None:
    spec = TrialSpec(method="temporal", p=0.3, sizes=(100,), encoding_options={"gain": 0.5}, encoding="rate")
    # one from the JSON, one built field by field in a different order in the other process
    code = (
        "from snnlab.study import TrialSpec; import sys; "
        "print(TrialSpec.from_json(sys.argv[1]).key); "
        "print(TrialSpec(encoding_options={'gain': 0.5}, encoding='rate', sizes=[100], p=0.3, method='temporal').key)"
    )
    out = subprocess.run([sys.executable, "-c", code, spec.to_json()], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [spec.key, spec.key]


@pytest.mark.parametrize(
    ("changes", "error", "names"),
    [
        ({"p": 1.0, "method": "standard"}, ValueError, "p="),
        ({"p": -0.1, "method": "standard"}, ValueError, "p="),
        ({"dataset": "imagenet"}, ValueError, "dataset"),
        ({"encoding": "morse"}, ValueError, "encoding"),
        ({"method": "dropblock"}, ValueError, "dropblock"),
        ({"model": "transformer"}, ValueError, "model"),
        ({"neuron": "izhikevich"}, ValueError, "neuron"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": "ten"}, TypeError, "epochs"),
        ({"T": 2.5}, TypeError, "T"),
        ({"sizes": ()}, ValueError, "sizes"),
        ({"sizes": (10, -1)}, ValueError, "sizes[1]"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"method": "standard", "p": 0.2, "method_options": {"bogus": 1}}, ValueError, "bogus"),
        ({"method": "temporal", "p": 0.2, "model": "mlp"}, ValueError, "method"),
        ({"neuron_options": {"beta": {"nested": 1}}}, TypeError, "neuron_options"),
    ],
)
def test_invalid_specs_name_the_field(changes: dict, error: type, names: str) -> None:
    with pytest.raises(error, match=re.escape(names)):
        TrialSpec(**changes)


def test_replace_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="colour"):
        TrialSpec().replace(colour="red")
    with pytest.raises(ValueError, match="colour"):
        TrialSpec.from_dict({"colour": "red"})


def test_grid_is_the_cartesian_product_in_keyword_order() -> None:
    base = TrialSpec(method="standard", p=0.1, epochs=2)
    specs = grid(base, p=[0.1, 0.5], seed=[0, 1, 2])
    assert len(specs) == 6
    assert [(s.p, s.seed) for s in specs] == [(0.1, 0), (0.1, 1), (0.1, 2), (0.5, 0), (0.5, 1), (0.5, 2)]
    assert all(s.epochs == 2 and s.method == "standard" for s in specs)
    assert len({s.key for s in specs}) == 6
    with pytest.raises(ValueError, match="'p' is empty"):
        grid(base, p=[])
    with pytest.raises(ValueError, match="colour"):
        grid(base, colour=["red"])
    with pytest.raises(ValueError, match="p="):
        grid(base, p=[0.5, 1.0])


def test_every_field_is_in_the_json() -> None:
    assert set(TrialSpec().to_dict()) == set(spec_fields())

"""``snnlab/study/spec.py``: TrialSpec validation, canonical JSON, a key that is stable across processes, grids."""

from __future__ import annotations

import json
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
    spec = TrialSpec(method="temporal", p=0.3, sizes=(100,), encoding_options={"gain": 0.5}, encoding="rate",
                     val_fraction=0.1, train_eval_size=500)
    ref = TrialSpec(model="delayed_snn", sizes=(50,))
    # one from the JSON, one built field by field in a different order in the other process
    code = (
        "from snnlab.study import TrialSpec; import sys; "
        "print(TrialSpec.from_json(sys.argv[1]).key); "
        "print(TrialSpec(train_eval_size=500, encoding_options={'gain': 0.5}, val_fraction=0.1, encoding='rate', "
        "sizes=[100], p=0.3, method='temporal').key); "
        "print(TrialSpec(sizes=[50], model='delayed_snn', neuron='first_spike').key)"
    )
    out = subprocess.run([sys.executable, "-c", code, spec.to_json()], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [spec.key, spec.key, ref.key]


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
        ({"val_fraction": 1.5}, ValueError, "val_fraction=1.5; allowed: a fraction in (0, 1)"),
        ({"val_fraction": 0}, ValueError, "val_fraction=0; allowed: a fraction in (0, 1)"),
        ({"val_fraction": "0.1"}, TypeError, "val_fraction"),
        ({"select": "best_val"}, ValueError, "select='best_val' needs a validation set"),
        ({"select": "best_test", "val_fraction": 0.1}, ValueError, "select='best_test'"),
        ({"train_eval_size": 0}, ValueError, "train_eval_size=0"),
        ({"model": "delayed_snn", "neuron": "lif"}, ValueError, "neuron='lif' is not what model='delayed_snn' uses"),
        ({"model": "penalty_snn", "encoding": "direct"}, ValueError, "always runs with encoding='noisy_repeat'"),
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


def test_spec_version_and_tuning_defaults() -> None:
    from snnlab.study.spec import SELECTIONS, SPEC_VERSION
    from snnlab.train import SELECTIONS as FIT_SELECTIONS

    assert SPEC_VERSION == 4 and SELECTIONS == FIT_SELECTIONS
    plain = TrialSpec()
    assert (plain.val_fraction, plain.select, plain.train_eval_size) == (None, "last", None)
    tuned = TrialSpec(val_fraction=0.1)
    assert tuned.select == "best_val" and tuned.to_dict()["select"] == "best_val"
    assert TrialSpec(val_fraction=0.1, select="last").select == "last"
    assert tuned.key == TrialSpec(val_fraction=0.1, select="best_val").key  # the default is stored explicitly
    assert tuned.key != plain.key and tuned.key != tuned.replace(train_eval_size=100).key
    # a select that was the default follows val_fraction; an explicit one stays
    assert plain.replace(val_fraction=0.2).select == "best_val"
    assert tuned.replace(val_fraction=None).select == "last"
    assert TrialSpec(val_fraction=0.1, select="last").replace(val_fraction=0.2).select == "last"


def test_reference_networks_record_the_neuron_and_encoding_they_use() -> None:
    assert (TrialSpec().neuron, TrialSpec().encoding) == ("lif", "direct")
    delayed = TrialSpec(model="delayed_snn")
    assert (delayed.neuron, delayed.encoding) == ("first_spike", "latency")
    penalty = TrialSpec(model="penalty_snn", neuron="penalty", encoding="noisy_repeat")  # the same, given
    assert (penalty.neuron, penalty.encoding) == ("penalty", "noisy_repeat")
    assert penalty.key == TrialSpec(model="penalty_snn").key
    # switching the model of a spec whose neuron/encoding were the old model's own follows the new model
    base = TrialSpec(neuron="lif", encoding="direct", method="standard", p=0.2)
    assert (base.replace(model="delayed_snn").neuron, base.replace(model="delayed_snn").encoding) == \
        ("first_spike", "latency")
    assert [s.neuron for s in grid(base, model=["spiking_mlp", "penalty_snn", "delayed_snn"])] == \
        ["lif", "penalty", "first_spike"]
    assert delayed.replace(model="spiking_mlp").neuron == "lif"
    with pytest.raises(ValueError, match="neuron='penalty' is not what model='delayed_snn' uses"):
        base.replace(neuron="penalty").replace(model="delayed_snn")  # an explicit other neuron is refused


def test_stored_specs_of_earlier_versions_read_what_the_reference_networks_ran() -> None:
    old = TrialSpec(model="delayed_snn").to_dict()
    old.update(neuron="lif", encoding="direct")  # what v3 stored for the paper's network
    for field in ("val_fraction", "select", "train_eval_size"):
        del old[field]
    with pytest.raises(ValueError, match="neuron='lif'"):
        TrialSpec.from_dict(old)
    spec = TrialSpec.from_stored(json.dumps(old))
    assert (spec.neuron, spec.encoding, spec.select) == ("first_spike", "latency", "last")
    mlp = TrialSpec(neuron="penalty", encoding="rate")
    assert TrialSpec.from_stored(mlp.to_json()) == mlp

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


# ---------------------------------------------------------------------- complete validation on construction
@pytest.mark.parametrize(
    ("fields", "error", "problem"),
    [
        ({"model": "spiking_cnn", "sizes": (32,)}, ValueError, "sizes=(32,) is too short for model 'spiking_cnn'"),
        ({"model": "spiking_cnn", "sizes": (8, 8, 8, 8, 32)}, ValueError, "too small for 4 pooling blocks"),
        ({"model": "delayed_snn", "sizes": (50, 50)}, ValueError, "3-layer network"),
        ({"model": "delayed_snn", "neuron_options": {"threshold": 2.0}}, ValueError, "neuron_options={'threshold': 2.0}"),
        ({"model": "delayed_snn", "model_options": {"tau": -1.0}}, ValueError, "tau=-1.0"),
        ({"model": "penalty_snn", "encoding_options": {"keep": 0.5}}, ValueError, "give its parameters in model_options"),
        ({"model": "penalty_snn", "model_options": {"keep": 2.0}}, ValueError, "keep=2.0"),
        ({"neuron_options": {"beta": 1.5}}, ValueError, "beta=1.5"),
        ({"neuron_options": {"bogus": 1}}, ValueError, "bogus"),
        ({"encoding": "rate", "encoding_options": {"gain": -1.0}}, ValueError, "gain=-1.0"),
        ({"encoding_options": {"gain": 0.5}}, ValueError, "gain"),  # direct encoding takes no options
        ({"model_options": {"readout": "spikes"}}, ValueError, "readout='spikes'"),
        ({"model_options": {"bogus": 1}}, (ValueError, TypeError), "bogus"),
        ({"model_options": {"T": 5}}, ValueError, "model_options['T'] is set by the spec itself; use the field 'T'"),
        ({"model": "mlp", "model_options": {"dropout_p": 0.5}}, ValueError, "use the field 'p'"),
        ({"train_subset": 1348}, ValueError, "train_subset=1348 is larger than the 1347 training samples of digits"),
        ({"test_subset": 451}, ValueError, "test_subset=451 is larger than the 450 test samples of digits"),
        ({"dataset": "mnist", "train_subset": 60001}, ValueError, "60000 training samples of mnist"),
        ({"dataset": "fashion-mnist", "test_subset": 10001}, ValueError, "10000 test samples of fashion-mnist"),
        ({"dataset": "cifar10", "train_subset": 50001}, ValueError, "50000 training samples of cifar10"),
        ({"train_subset": 1300, "val_fraction": 0.1}, ValueError, "left after val_fraction=0.1"),
        ({"val_fraction": 0.001}, ValueError, "leaves 0 for validation"),
    ],
)
def test_a_spec_that_could_only_fail_in_training_is_refused_naming_the_trial(fields: dict, error: type,
                                                                             problem: str) -> None:
    base = {"method": "dropconnect", "p": 0.3, "seed": 2}
    if fields.get("model") == "mlp":
        base["method"] = "standard"
    spec_fields_ = {**base, **fields}
    name = (f"trial {spec_fields_.get('model', 'spiking_mlp')}/{spec_fields_['method']} p=0.3 seed=2 "
            f"on {spec_fields_.get('dataset', 'digits')}: ")
    with pytest.raises(error) as caught:
        TrialSpec(**spec_fields_)
    assert str(caught.value).startswith(name) and problem in str(caught.value), str(caught.value)


def test_the_largest_valid_subsets_are_accepted() -> None:
    from snnlab.data import load_dataset, split_validation

    train, test = load_dataset("digits", "train", device="cpu"), load_dataset("digits", "test", device="cpu")
    assert TrialSpec(train_subset=len(train), test_subset=len(test)).train_subset == len(train)
    left, _ = split_validation(train, 0.1)
    assert TrialSpec(train_subset=len(left), val_fraction=0.1).train_subset == len(left)
    with pytest.raises(ValueError, match=f"larger than the {len(left)} training samples of digits left after"):
        TrialSpec(train_subset=len(left) + 1, val_fraction=0.1)
    assert TrialSpec(dataset="mnist", train_subset=60000, test_subset=10000).test_subset == 10000


def _check_table(name: str, root: object) -> None:
    import torch

    from snnlab.data import load_dataset
    from snnlab.study.spec import DATASET_SHAPES

    table = DATASET_SHAPES[name]
    train = load_dataset(name, "train", root=root, device="cpu", download=False, progress=False)
    test = load_dataset(name, "test", root=root, device="cpu", download=False, progress=False)
    assert train.input_shape == table.input_shape == test.input_shape
    assert train.n_classes == table.n_classes
    assert tuple(torch.bincount(train.y, minlength=train.n_classes).tolist()) == table.train_per_class
    assert len(test) == table.test_size


def test_the_dataset_table_is_what_the_data_module_loads() -> None:
    from snnlab.data import DATASETS
    from snnlab.study.spec import DATASET_SHAPES

    assert set(DATASET_SHAPES) == set(DATASETS)
    _check_table("digits", None)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_the_dataset_table_matches_the_real_data(name: str, shared_data: object) -> None:
    _check_table(name, shared_data)


def test_validation_builds_on_meta_once_per_architecture_and_leaves_the_rng_alone() -> None:
    import torch

    from snnlab.study.spec import _check_build

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    before = _check_build.cache_info()
    specs = grid(TrialSpec(model="spiking_mlp", sizes=(37, 11), method="temporal", p=0.2), seed=range(20))
    after = _check_build.cache_info()
    assert after.misses - before.misses == 1 and len({s.key for s in specs}) == 20
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_meta_build_is_fast_and_imports_no_compiler() -> None:
    # In a fresh process: every model kind validates without importing torch._dynamo or sympy (torch's Python
    # meta kernels and broadcast_shapes would, seconds), and an uncached build of the paper's largest models
    # takes well under 50 ms.
    code = """
import sys, time
from snnlab.study import TrialSpec
from snnlab.study.spec import _check_build
TrialSpec()
before = {m for m in ("torch._dynamo", "sympy") if m in sys.modules}
big = [dict(dataset="cifar10", model="spiking_cnn", sizes=(64, 128, 256, 1024), T=8, method="dropconnect", p=0.3),
       dict(dataset="cifar10", model="delayed_snn", sizes=(1000,), method="temporal", p=0.3),
       dict(dataset="mnist", model="penalty_snn", sizes=(800,), method="standard", p=0.3),
       dict(dataset="mnist", model="spiking_mlp", sizes=(800, 800), encoding="rate", method="membrane", p=0.3),
       dict(dataset="cifar10", model="cnn", sizes=(32, 64, 256), method="standard", p=0.3),
       dict(dataset="mnist", model="mlp", sizes=(800,))]
for kw in big:
    TrialSpec(**kw)
worst = 0.0
for kw in big:
    times = []
    for _ in range(3):
        _check_build.cache_clear()
        t = time.perf_counter(); TrialSpec(**kw); times.append(time.perf_counter() - t)
    worst = max(worst, sorted(times)[1])
print(",".join(sorted({m for m in ("torch._dynamo", "sympy") if m in sys.modules} - before)) or "-", worst)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, worst = out.stdout.split()
    assert imported == "-", f"validating specs imported {imported}"
    assert float(worst) < 0.05, f"an uncached spec validation took {float(worst) * 1e3:.1f} ms"


def test_label_names_the_trial_and_the_keys_did_not_change() -> None:
    assert TrialSpec(model="spiking_cnn", sizes=(8, 16, 32), method="dropconnect", p=0.3, seed=2).label() == \
        "spiking_cnn/dropconnect p=0.3 seed=2 on digits"
    # the canonical JSON (hence every stored key) is what it was before construction validated the model
    assert TrialSpec().key == "c6fe126b4917e8932bc9119a549070960b6d36d4e26f201b445fca0de9389fca"


def test_a_model_that_cannot_be_built_on_meta_is_built_on_the_cpu_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from snnlab.study import runner
    from snnlab.study.spec import _check_build

    real = runner.build_trial_model
    devices = []

    def meta_shy(spec: TrialSpec, input_shape: tuple, n_classes: int) -> object:
        device = torch.empty(0).device.type  # the device the build's factories use
        devices.append(device)
        if device == "meta":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        return real(spec, input_shape, n_classes)

    monkeypatch.setattr(runner, "build_trial_model", meta_shy)
    _check_build.cache_clear()
    assert TrialSpec(sizes=(43,)).sizes == (43,) and devices == ["meta", "cpu"]

    def broken(spec: TrialSpec, input_shape: tuple, n_classes: int) -> object:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(runner, "build_trial_model", broken)
    with pytest.raises(ValueError, match=re.escape("trial spiking_mlp/none p=0 seed=0 on digits: the model cannot be "
                                                   "built: RuntimeError: mat1 and mat2")):
        TrialSpec(sizes=(47,))
    _check_build.cache_clear()


def test_a_seed_no_generator_takes_is_refused_when_the_spec_is_made() -> None:
    with pytest.raises(ValueError, match="seed"):
        TrialSpec(seed=2**70)

"""``snnlab/study/profiles.py``: the profiles and the notebooks' ``notebook_config``."""

from __future__ import annotations

import pytest

from snnlab.study import get_profile, notebook_config


def test_profiles_and_notebook_config(tmp_path) -> None:
    smoke = notebook_config("smoke", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    assert smoke.dataset == "digits" and smoke.epochs == 1 and smoke.seeds == [0]
    assert smoke.device == "cpu" and smoke.data_root == str(tmp_path)
    quick = notebook_config("quick", device="cpu", seed=5, data_root=tmp_path)
    assert len(quick.seeds) >= 3 and quick.seeds[0] == 5 and len(set(quick.seeds)) == len(quick.seeds)
    assert quick.datasets == ("digits",)  # no MNIST files under tmp_path
    custom = notebook_config("quick", device="cpu", seeds=2, epochs=4, data_root=tmp_path)
    assert custom.seeds == [0, 1] and custom.epochs == 4
    spec = smoke.base_spec(method="temporal", p=0.3)
    assert spec.dataset == "digits" and spec.T == smoke.T and spec.sizes == (smoke.hidden,)
    assert spec.epochs == 1 and spec.device == "cpu" and spec.train_subset == smoke.train_subset
    other = quick.base_spec(dataset="mnist")  # switches to the profile's MNIST settings
    mnist = get_profile("quick").settings_for("mnist")
    assert (other.T, other.sizes, other.lr) == (mnist.T, (mnist.hidden,), mnist.lr)
    store = smoke.store()
    assert store.path == tmp_path / "s.sqlite" and len(store) == 0
    assert get_profile("paper").seeds == 5 and set(get_profile("paper").datasets) == {"mnist", "cifar10"}
    with pytest.raises(ValueError, match="profile"):
        notebook_config("huge")
    with pytest.raises(ValueError, match="seeds"):
        notebook_config("smoke", seeds=0, device="cpu")


def test_quick_profile_adds_mnist_when_its_files_are_present(tmp_path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / f"{name}.gz").write_bytes(b"")
    cfg = notebook_config("quick", device="cpu", data_root=tmp_path)
    assert cfg.datasets == ("digits", "mnist") and cfg.dataset == "digits"


def test_paper_comparison_covers_every_network_size_and_distinct_method(tmp_path) -> None:
    """Issue 12: in ``paper`` every network and data size, every distinct method at a tuned p, >= 5 seeds."""
    from snnlab.analysis.statistics import study_conditions
    from snnlab.study.comparison import NETWORKS

    with pytest.warns(RuntimeWarning, match="sized for a GPU"):
        cfg = notebook_config("paper", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    designs = {d.settings[0].dataset: d for d in cfg.comparison_designs()}
    assert set(designs) == {"mnist", "cifar10"}
    for dataset, design in designs.items():
        networks = {s.network for s in design.settings}
        assert {"spiking_mlp", "delayed_snn", "penalty_snn"} <= networks <= set(NETWORKS)
        sizes = {s.train_size for s in design.settings}
        assert None in sizes and len(sizes) >= 2  # a small-data regime and the full training set
        assert len(design.settings) == len(networks) * len(sizes)
        assert set(design.conditions) == set(study_conditions())
        assert len(design.seeds) >= 5 and len(design.p_grid) >= 2 and 0 < design.val_fraction < 1
    assert "spiking_cnn" in {s.network for s in designs["cifar10"].settings}
    spec = cfg.network_spec(designs["mnist"].settings[2])
    assert spec.model == "delayed_snn" and spec.neuron != "lif"


def test_paper_profile_builds_every_trial_spec(tmp_path) -> None:
    """Every trial of both stages of the paper comparison is a valid spec (the CNN once failed here)."""
    from snnlab.study import comparison as cmp

    with pytest.warns(RuntimeWarning, match="sized for a GPU"):
        cfg = notebook_config("paper", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    for design in cfg.comparison_designs():
        stage1 = cmp.lr_specs(design, cfg.network_spec)
        lrs = {s: cfg.network_spec(s).lr for s in design.settings}
        stage2 = cmp.condition_specs(design, cfg.network_spec, lrs)
        assert len(stage1) + len(stage2) == design.n_trials
    cnn = cfg.network_spec(next(s for s in design.settings if s.network == "spiking_cnn"))
    assert cnn.sizes == (32, 64, 256) and cnn.dataset == "cifar10"


def test_quick_comparison_is_small_and_overridable(tmp_path) -> None:
    cfg = notebook_config("quick", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    (design,) = cfg.comparison_designs()
    assert [s.label for s in design.settings] == ["digits · 300 · spiking_mlp", "digits · full · spiking_mlp"]
    assert design.epochs == {"digits": 30}
    fewer = notebook_config("quick", device="cpu", epochs=3, seeds=2, data_root=tmp_path)
    (small,) = fewer.comparison_designs()
    assert small.epochs == {"digits": 3} and small.seeds == (0, 1)


def test_load_shipped_results_says_when_there_are_none(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SNNLAB_RESULTS", str(tmp_path))
    cfg = notebook_config("smoke", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    assert "no shipped results for profile 'smoke'" in cfg.load_shipped_results()


def test_auto_device_keeps_trial_keys_machine_independent(tmp_path) -> None:
    """With device="auto" (the notebooks' default) the specs say "auto", so results trained on a GPU
    and shipped have the keys a CPU run of the same notebook asks the store for."""
    auto = notebook_config("quick", device="auto", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    cpu = notebook_config("quick", device="cpu", data_root=tmp_path, store_path=tmp_path / "s.sqlite")
    assert auto.base_spec().device == "auto" and cpu.base_spec().device == "cpu"
    assert auto.base_spec().key != cpu.base_spec().key
    assert auto.device in ("cpu", "cuda", "mps")  # the class of device present, for the notebooks' own calls

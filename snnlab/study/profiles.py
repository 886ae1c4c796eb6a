"""Study profiles in one place: ``smoke`` (tests), ``quick`` (the default, a laptop CPU) and ``paper``.

A profile fixes the scale of the study: which datasets, how many seeds and epochs, which drop
rates, and per dataset the network size, time steps, subsets, batch size and learning rate.
Notebooks turn their parameters cell into a resolved ``StudyConfig`` with ``notebook_config``
and build every trial from ``cfg.base_spec(...)``, so one switch scales the whole study.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnlab.study.comparison import ComparisonDesign, Setting, distinct_conditions
from snnlab.study.spec import TrialSpec
from snnlab.study.store import DEFAULT_STORE, ResultsStore
from snnlab.validation import check_choice, check_int


@dataclass(frozen=True)
class DatasetSettings:
    """How one dataset is trained in a profile (hidden width, time steps, subsets, optimiser)."""

    T: int
    hidden: int
    train_subset: int | None
    test_subset: int | None
    batch_size: int
    lr: float


@dataclass(frozen=True)
class ComparisonPlan:
    """The tuned comparison of notebook 04 in a profile (see ``snnlab.study.comparison``).

    Per dataset: the training-set sizes (None: all the training data left after the validation
    split), the networks, and the epochs (enough for the base network to overfit at the smallest
    size); ``conditions`` is ``"all"`` (every condition of the registry) or the method keys to
    compare (each with all its presets); ``datasets_limited`` lists the datasets that compare only
    ``limited_conditions`` (a CPU profile cannot afford the whole grid on MNIST).
    """

    train_sizes: tuple[tuple[str, tuple[int | None, ...]], ...]
    networks: tuple[tuple[str, tuple[str, ...]], ...]
    epochs: tuple[tuple[str, int], ...]
    p_grid: tuple[float, ...]
    lr_factors: tuple[float, ...]
    val_fraction: float
    limited_conditions: tuple[str, ...] = ()
    datasets_limited: tuple[str, ...] = ()
    margins: tuple[tuple[str, float], ...] = ()  # equivalence margin per dataset (accuracy; 0.005 = 0.5 pp)


@dataclass(frozen=True)
class Profile:
    """A named study scale. ``datasets`` are the ones the study covers; ``dataset`` is the default."""

    name: str
    description: str
    dataset: str
    datasets: tuple[str, ...]
    seeds: int
    epochs: int
    p_values: tuple[float, ...]
    settings: tuple[tuple[str, DatasetSettings], ...]
    wants_gpu: bool = False
    optional_datasets: tuple[str, ...] = field(default=())  # added when their files are under the data root
    comparison: ComparisonPlan | None = None

    def settings_for(self, dataset: str) -> DatasetSettings:
        """The settings of ``dataset`` in this profile (ValueError listing the profile's datasets)."""
        table = dict(self.settings)
        if dataset not in table:
            raise ValueError(
                f"dataset={dataset!r} has no settings in profile {self.name!r}; "
                f"allowed: {', '.join(map(repr, table))}"
            )
        return table[dataset]


_DIGITS_SMOKE = DatasetSettings(T=4, hidden=32, train_subset=256, test_subset=128, batch_size=64, lr=5e-3)
_MNIST_SMOKE = DatasetSettings(T=4, hidden=32, train_subset=256, test_subset=128, batch_size=64, lr=5e-3)
_CIFAR_SMOKE = DatasetSettings(T=4, hidden=32, train_subset=256, test_subset=128, batch_size=64, lr=1e-3)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per notebook: digits, tiny subsets, 1 epoch, 1 seed (for tests)",
        dataset="digits",
        datasets=("digits",),
        seeds=1,
        epochs=1,
        p_values=(0.3,),
        settings=(("digits", _DIGITS_SMOKE), ("mnist", _MNIST_SMOKE), ("fashion-mnist", _MNIST_SMOKE),
                  ("cifar10", _CIFAR_SMOKE)),
        comparison=ComparisonPlan(
            train_sizes=(("digits", (256,)),), networks=(("digits", ("spiking_mlp",)),), epochs=(("digits", 1),),
            p_grid=(0.3,), lr_factors=(1.0,), val_fraction=0.2, limited_conditions=("standard", "temporal"),
            datasets_limited=("digits",), margins=(("digits", 0.01),),
        ),
    ),
    "quick": Profile(
        name="quick",
        description="the default: the whole notebook set in minutes on a laptop CPU (digits, "
                    "plus an MNIST subset when the MNIST files are present), 3 seeds",
        dataset="digits",
        datasets=("digits",),
        optional_datasets=("mnist",),
        seeds=3,
        epochs=15,
        p_values=(0.2, 0.5),
        settings=(
            ("digits", DatasetSettings(T=12, hidden=128, train_subset=None, test_subset=None, batch_size=64, lr=2e-3)),
            ("mnist", DatasetSettings(T=12, hidden=256, train_subset=5000, test_subset=2000, batch_size=128, lr=1e-3)),
            ("fashion-mnist", DatasetSettings(T=12, hidden=256, train_subset=5000, test_subset=2000, batch_size=128,
                                              lr=1e-3)),
            ("cifar10", DatasetSettings(T=8, hidden=512, train_subset=5000, test_subset=2000, batch_size=128, lr=5e-4)),
        ),
        comparison=ComparisonPlan(
            train_sizes=(("digits", (300, None)), ("mnist", (1000,))),
            networks=(("digits", ("spiking_mlp",)), ("mnist", ("spiking_mlp",))),
            epochs=(("digits", 30), ("mnist", 20)),
            p_grid=(0.2, 0.5),
            lr_factors=(0.5, 1.0),
            val_fraction=0.2,
            limited_conditions=("standard", "temporal", "membrane"),
            datasets_limited=("mnist",),
            margins=(("digits", 0.01), ("mnist", 0.005)),
        ),
    ),
    "paper": Profile(
        name="paper",
        description="the full study: MNIST and CIFAR-10 complete, 5 seeds; wants a GPU",
        dataset="mnist",
        datasets=("mnist", "cifar10"),
        seeds=5,
        epochs=15,
        p_values=(0.1, 0.2, 0.3, 0.5),
        wants_gpu=True,
        settings=(
            ("digits", DatasetSettings(T=25, hidden=256, train_subset=None, test_subset=None, batch_size=64, lr=2e-3)),
            ("mnist", DatasetSettings(T=25, hidden=800, train_subset=None, test_subset=None, batch_size=128, lr=1e-3)),
            ("fashion-mnist", DatasetSettings(T=25, hidden=800, train_subset=None, test_subset=None, batch_size=128,
                                              lr=1e-3)),
            ("cifar10", DatasetSettings(T=8, hidden=1000, train_subset=None, test_subset=None, batch_size=128, lr=5e-4)),
        ),
        comparison=ComparisonPlan(
            train_sizes=(("mnist", (1000, None)), ("cifar10", (5000, None))),
            networks=(("mnist", ("spiking_mlp", "delayed_snn", "penalty_snn")),
                      ("cifar10", ("spiking_mlp", "spiking_cnn", "delayed_snn", "penalty_snn"))),
            epochs=(("mnist", 30), ("cifar10", 30)),
            p_grid=(0.1, 0.25, 0.5),
            lr_factors=(0.5, 1.0, 2.0),
            val_fraction=0.1,
            margins=(("mnist", 0.002), ("cifar10", 0.005)),
        ),
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (ValueError listing the profiles)."""
    check_choice("profile", name, tuple(PROFILES))
    return PROFILES[name]


def dataset_present(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``name``'s files are already under the data root (no download is attempted)."""
    from snnlab.data import CIFAR_BATCHES_FOLDER, CIFAR_IMAGE_FOLDER, MNIST_FILES, MNIST_FOLDERS, resolve_root

    base = resolve_root(root)
    if name == "digits":
        return True
    if name in MNIST_FOLDERS:
        raw = base / MNIST_FOLDERS[name] / "raw"
        wanted = [f for pair in MNIST_FILES.values() for f in pair]
        return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in wanted)
    if name == "cifar10":
        return (base / CIFAR_BATCHES_FOLDER).is_dir() or (base / CIFAR_IMAGE_FOLDER / "train").is_dir()
    return False


@dataclass(frozen=True)
class StudyConfig:
    """The resolved parameters a notebook works with (see docs/architecture.md).

    ``seeds`` are the seed values (``seed``, ``seed + 1``, ...); ``T``, ``hidden``, subsets,
    ``batch_size`` and ``lr`` are those of ``dataset`` in the profile.
    """

    profile: str
    dataset: str
    datasets: tuple[str, ...]
    device: str
    seed: int
    seeds: list[int]
    epochs: int
    p_values: tuple[float, ...]
    T: int
    hidden: int
    train_subset: int | None
    test_subset: int | None
    batch_size: int
    lr: float
    data_root: str
    store_path: str
    spec_device: str = "auto"  # the device trials are specified with: "auto" keeps a trial's key machine-independent


    def base_spec(self, **overrides: Any) -> TrialSpec:
        """A ``TrialSpec`` with this config's settings (spiking MLP, LIF, direct encoding, no dropout).

        The spec's ``device`` is the one the notebook asked for (``spec_device``): with the default
        ``"auto"`` a trial has the same key on a GPU and on a laptop, so shipped results trained on a
        GPU are found by a CPU run (where each trial really ran is stored as ``device_used``).
        ``overrides`` are TrialSpec fields. Overriding ``dataset`` switches to that dataset's
        profile settings (T, hidden width, subsets, batch size, lr) unless those are overridden too.
        """
        dataset = overrides.get("dataset", self.dataset)
        if dataset == self.dataset:
            s = DatasetSettings(self.T, self.hidden, self.train_subset, self.test_subset, self.batch_size, self.lr)
        else:
            s = get_profile(self.profile).settings_for(dataset)
        base = TrialSpec(
            dataset=dataset, train_subset=s.train_subset, test_subset=s.test_subset, model="spiking_mlp",
            sizes=(s.hidden,), neuron="lif", encoding="direct", T=s.T, method="none", p=0.0, seed=self.seed,
            epochs=self.epochs, lr=s.lr, batch_size=s.batch_size, device=self.spec_device,
        )
        return base.replace(**overrides) if overrides else base

    def store(self) -> ResultsStore:
        """The results store at ``store_path``."""
        return ResultsStore(self.store_path)

    def load_shipped_results(self) -> str:
        """Import this profile's shipped results (``results/<profile>/``, or ``$SNNLAB_RESULTS``; see
        ``snnlab.study.artefact``) into the store, so that the notebooks train only what they lack;
        returns one line saying what was imported (or that nothing is shipped for the profile)."""
        from snnlab.study.artefact import import_results, shipped_results

        path = shipped_results(self.profile)
        if path is None:
            return f"no shipped results for profile {self.profile!r}: every trial not in the store is trained"
        return import_results(path, self.store()).summary()

    def network_spec(self, setting: Setting) -> TrialSpec:
        """The base spec of a comparison ``setting``: its dataset's profile settings, its network (the
        reference networks with their own neuron and encoding; the CNN with channels (32, 64) before
        its dense layer) and its training-set size."""
        changes: dict[str, Any] = dict(dataset=setting.dataset, model=setting.network, train_subset=setting.train_size)
        if setting.network in ("delayed_snn", "penalty_snn"):
            changes.update(neuron=None, encoding=None)
        elif setting.network == "spiking_cnn":
            changes["sizes"] = (32, 64, 256)  # one replace: a CNN spec with the MLP's sizes is refused
        return self.base_spec(**changes)

    def comparison_designs(self) -> list[ComparisonDesign]:
        """The tuned comparison of this profile, one ``ComparisonDesign`` per dataset present
        (``snnlab.study.comparison``): every setting (network x training-set size) of the dataset,
        its conditions (all distinct conditions of the registry, or the profile's limited set), the
        p grid, the learning-rate factors, this config's seeds and the validation fraction. The
        epochs are the plan's per dataset unless the notebook's ``epochs`` overrode the profile's."""
        from snnlab.analysis.statistics import study_conditions

        prof = get_profile(self.profile)
        plan = prof.comparison
        if plan is None:
            raise ValueError(f"profile {self.profile!r} defines no comparison plan")
        sizes, networks, epochs = dict(plan.train_sizes), dict(plan.networks), dict(plan.epochs)
        designs = []
        for dataset in self.datasets:
            if dataset not in sizes:
                continue
            conditions = study_conditions()
            if dataset in plan.datasets_limited:
                conditions = tuple(c for c in conditions if c[0] in plan.limited_conditions)
            n_epochs = self.epochs if self.epochs != prof.epochs else epochs.get(dataset, self.epochs)
            designs.append(ComparisonDesign(
                settings=tuple(Setting(dataset, net, size) for net in networks[dataset] for size in sizes[dataset]),
                conditions=distinct_conditions(conditions), p_grid=plan.p_grid, seeds=tuple(self.seeds),
                val_fraction=plan.val_fraction, lr_factors=plan.lr_factors, epochs={dataset: n_epochs},
                margin=dict(plan.margins).get(dataset, 0.005),
            ))
        return designs


def notebook_config(
    profile: str = "quick",
    *,
    dataset: str | None = None,
    device: str = "auto",
    seed: int = 0,
    seeds: int | None = None,
    epochs: int | None = None,
    data_root: str | os.PathLike[str] | None = None,
    store_path: str | os.PathLike[str] = DEFAULT_STORE,
) -> StudyConfig:
    """Resolve a notebook's parameters cell against a profile into a ``StudyConfig``.

    ``None`` means "the profile's value": ``dataset`` (its default dataset), ``seeds`` (its
    number of seeds), ``epochs``. ``device="auto"`` is resolved to the class of device present
    ("cuda", "mps" or "cpu"). ``data_root=None`` means ``$SNNLAB_DATA`` or ``<repo>/data``.
    """
    from snnlab.data import DATASETS, resolve_root
    from snnlab.device import resolve_device

    prof = get_profile(profile)
    check_int("seed", seed, minimum=0)
    n_seeds = prof.seeds if seeds is None else check_int("seeds", seeds, minimum=1)
    n_epochs = prof.epochs if epochs is None else check_int("epochs", epochs, minimum=1)
    root = resolve_root(data_root)
    datasets = prof.datasets + tuple(d for d in prof.optional_datasets if dataset_present(d, root))
    if dataset is None:
        dataset = prof.dataset
    else:
        check_choice("dataset", dataset, DATASETS)
        if dataset not in datasets:
            datasets = (dataset, *datasets)
    settings = prof.settings_for(dataset)
    device_class = resolve_device(device).type
    if prof.wants_gpu and device_class == "cpu":
        warnings.warn(f"profile {profile!r} is sized for a GPU but runs on the CPU here: notebook 04 shows the "
                      "shipped results and trains what is missing only with train_missing=True (hours); other "
                      "training takes hours too, or use profile='quick'", RuntimeWarning, stacklevel=2)
    if not isinstance(store_path, (str, os.PathLike)):
        raise TypeError(f"store_path must be a path, got {type(store_path).__name__} ({store_path!r})")
    return StudyConfig(
        profile=profile, dataset=dataset, datasets=datasets, device=device_class, seed=seed,
        seeds=[seed + i for i in range(n_seeds)], epochs=n_epochs, p_values=prof.p_values, T=settings.T,
        hidden=settings.hidden, train_subset=settings.train_subset, test_subset=settings.test_subset,
        batch_size=settings.batch_size, lr=settings.lr, data_root=str(root), store_path=str(Path(store_path)),
        spec_device="auto" if device == "auto" else device_class,
    )

"""``TrialSpec``: one training run, validated on construction, keyed by a stable hash.

A spec is everything that determines a trial's result. Its ``key`` is the sha256 of
its canonical JSON (sorted keys, fixed separators, normalised numbers), so the same
spec gets the same key in every process and on every machine; the results store uses
it as primary key, which is what makes sweeps resumable.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

from snnlab.validation import check_choice, check_float, check_int, check_seed

DEVICE_CLASSES = ("auto", "cpu", "cuda", "mps")
# Part of the hash: bump when the meaning of a field changes, or when what a spec and seed produce
# changes (v2: the per-step dropout masks come from the counter-based kernel lanes), so that a
# store never hands back trials that the current code would not reproduce.
# v3: the LIF neuron runs on the fused kernel by default (backend "auto": same forward values,
# gradients summed in another order, so trained results differ slightly from v2's loop).
# v4: new fields val_fraction, select, train_eval_size (fair tuning); the reference networks'
# neuron and encoding are recorded as what they use (first_spike/latency, penalty/noisy_repeat),
# no longer the spec defaults lif/direct. Also from v4 on: the leaky readout's time mean is one
# weighted sum over T and a direct input takes the LIF kernel's static path (float32 rounding
# differs from v3's, so trained results differ slightly).
SPEC_VERSION = 4

SELECTIONS = ("last", "best_val")  # = snnlab.train.SELECTIONS (this module imports no torch)
# What the fixed-architecture models really run with; the other models take neuron/encoding from the spec.
MODEL_NEURON_ENCODING = {
    "delayed_snn": ("first_spike", "latency"),
    "penalty_snn": ("penalty", "noisy_repeat"),
}
DEFAULT_NEURON, DEFAULT_ENCODING = "lif", "direct"

Scalar = str | int | float | bool | None
OptionPairs = tuple[tuple[str, Any], ...]

_OPTION_FIELDS = ("method_options", "neuron_options", "encoding_options", "model_options")


class DatasetShape(NamedTuple):
    """What a spec needs to know of a dataset without loading it: one sample's ``(C, H, W)``, the
    training split's size per class (in label order) and the test split's size."""

    input_shape: tuple[int, int, int]
    train_per_class: tuple[int, ...]
    test_size: int

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.train_per_class)

    @property
    def train_size(self) -> int:
        """Samples in the training split."""
        return sum(self.train_per_class)


# The splits ``snnlab.data.load_dataset`` returns (checked against the loaded data by the tests): digits is
# split 75/25 per class with a fixed seed; the others are the published splits.
DATASET_SHAPES: dict[str, DatasetShape] = {
    "digits": DatasetShape((1, 8, 8), (134, 136, 133, 137, 136, 136, 136, 134, 130, 135), 450),
    "mnist": DatasetShape((1, 28, 28), (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949), 10000),
    "fashion-mnist": DatasetShape((1, 28, 28), (6000,) * 10, 10000),
    "cifar10": DatasetShape((3, 32, 32), (5000,) * 10, 10000),
}

# build_model keywords that a spec sets from its own fields (``model_options`` must not give them):
# keyword -> the field to use instead.
_RESERVED_MODEL_OPTIONS = {
    "sizes": "sizes", "channels": "sizes", "hidden": "sizes", "input_shape": "dataset", "n_classes": "dataset",
    "T": "T", "neuron": "neuron", "neuron_options": "neuron_options", "encoding": "encoding",
    "encoding_options": "encoding_options", "dropout": "method", "p": "p", "dropout_p": "p",
    "dropout_options": "method_options", "seed": "seed",
}


def _known_models() -> tuple[str, ...]:
    from snnlab.models import MODEL_KINDS

    return tuple(MODEL_KINDS)


def _known_datasets() -> tuple[str, ...]:
    from snnlab.data import DATASETS

    return tuple(DATASETS)


def _known_encodings() -> tuple[str, ...]:
    from snnlab.encoding import ENCODINGS

    return tuple(ENCODINGS)


def _known_neurons() -> tuple[str, ...]:
    from snnlab.neurons import NEURONS

    return tuple(NEURONS)


def _known_methods() -> tuple[str, ...]:
    from snnlab.dropout import available

    return tuple(available())


def _freeze_value(name: str, key: str, value: Any) -> Any:
    """An option value as a hashable, JSON-able scalar or tuple of scalars."""
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, float):
            check_float(f"{name}[{key!r}]", value)
        return value
    if isinstance(value, (list, tuple)):
        items = tuple(value)
        for item in items:
            if not (item is None or isinstance(item, (str, bool, int, float))):
                raise TypeError(
                    f"{name}[{key!r}] must be a scalar or a list of scalars (str, int, float, bool, None); "
                    f"got an item {item!r} of type {type(item).__name__}"
                )
        return items
    raise TypeError(
        f"{name}[{key!r}] must be a scalar or a list of scalars (str, int, float, bool, None); "
        f"got {type(value).__name__} ({value!r})"
    )


def freeze_options(name: str, options: Any) -> OptionPairs:
    """Turn a mapping (or pairs) of options into the canonical sorted tuple of ``(key, value)`` pairs."""
    if options is None:
        return ()
    if isinstance(options, Mapping):
        items = list(options.items())
    elif isinstance(options, (list, tuple)):
        items = []
        for pair in options:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise TypeError(f"{name} must be a mapping or a sequence of (key, value) pairs; got an item {pair!r}")
            items.append((pair[0], pair[1]))
    else:
        raise TypeError(f"{name} must be a mapping of option -> value, got {type(options).__name__} ({options!r})")
    seen: set[str] = set()
    frozen = []
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be strings, got {key!r} ({type(key).__name__})")
        if key in seen:
            raise ValueError(f"{name} has the key {key!r} twice")
        seen.add(key)
        frozen.append((key, _freeze_value(name, key, value)))
    return tuple(sorted(frozen))


def options_dict(pairs: OptionPairs) -> dict[str, Any]:
    """The options of a spec field as a plain dict (tuples become lists only in JSON, not here)."""
    return {key: value for key, value in pairs}


def _check_optional_int(name: str, value: Any, minimum: int) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


def _check_fraction(name: str, value: Any) -> float | None:
    """None, or a fraction strictly inside (0, 1)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be None or a real number, a fraction in (0, 1); got {type(value).__name__} ({value!r})")
    if not 0.0 < float(value) < 1.0:  # also refuses NaN
        raise ValueError(f"{name}={value}; allowed: a fraction in (0, 1)")
    return float(value)


def model_neuron_encoding(model: str) -> tuple[str, str]:
    """``(neuron, encoding)`` a spec of ``model`` gets when it leaves them unset: what the reference
    networks always use, the spiking MLP/CNN defaults (``lif``, ``direct``) otherwise."""
    return MODEL_NEURON_ENCODING.get(model, (DEFAULT_NEURON, DEFAULT_ENCODING))


@dataclass(frozen=True)
class TrialSpec:
    """Everything that determines one training run; ``key`` identifies it in the results store.

    ``sizes`` are the *hidden* layer sizes: the input and output sizes come from the dataset
    (so ``dataset`` can be a sweep axis). For ``spiking_cnn``/``cnn`` the last entry is the
    dense hidden size and the ones before it the conv channels, e.g. ``(32, 64, 256)``.
    The ``*_options`` fields are sorted ``(key, value)`` pairs (a mapping is accepted and
    normalised): ``method_options`` go to ``make_dropout``, ``neuron_options`` and
    ``encoding_options`` to the model's neuron and encoder, ``model_options`` to
    ``build_model``. ``device`` is a device class; ``"auto"`` is resolved when the trial runs.

    ``neuron``/``encoding`` left as None become the model's own (``model_neuron_encoding``): the
    reference networks fix theirs (``delayed_snn``: ``first_spike``/``latency``; ``penalty_snn``:
    ``penalty``/``noisy_repeat``) and refuse another value; the others default to ``lif``/``direct``.

    Fair tuning: ``val_fraction`` carves a validation set from the training data (stratified, with a
    fixed seed, ``snnlab.data.split_validation``; ``train_subset`` is then drawn from the rest);
    ``select`` is how the result is chosen: ``"best_val"`` (the epoch of best validation accuracy,
    its weights restored) or ``"last"``; None becomes ``"best_val"`` with validation, ``"last"``
    without. ``train_eval_size``: also measure training loss/accuracy in eval mode (dropout off)
    on at most that many fixed training samples per epoch (None: not measured).

    A spec is validated completely when it is made (``validate``): one that could only fail when
    trained (a model that cannot be built, options the model, neuron or encoder refuse, subsets
    larger than the dataset's splits) raises a ValueError/TypeError naming the trial (``label``).
    """

    dataset: str = "digits"
    train_subset: int | None = None
    test_subset: int | None = None
    model: str = "spiking_mlp"
    sizes: tuple[int, ...] = (128,)
    neuron: str | None = None
    encoding: str | None = None
    T: int = 16
    method: str = "none"
    p: float = 0.0
    rescale: str = "inverted"
    method_options: OptionPairs = ()
    seed: int = 0
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    device: str = "auto"
    weight_decay: float = 0.0
    neuron_options: OptionPairs = ()
    encoding_options: OptionPairs = ()
    model_options: OptionPairs = ()
    val_fraction: float | None = None
    select: str | None = None
    train_eval_size: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, before anyone sees the object
        check_choice("dataset", self.dataset, _known_datasets())
        set_(self, "train_subset", _check_optional_int("train_subset", self.train_subset, 1))
        set_(self, "test_subset", _check_optional_int("test_subset", self.test_subset, 1))
        check_choice("model", self.model, _known_models())
        if isinstance(self.sizes, (str, bytes)) or not isinstance(self.sizes, Iterable):
            raise TypeError(f"sizes must be a sequence of positive integers (hidden layer sizes), got {self.sizes!r}")
        sizes = tuple(self.sizes)
        if not sizes:
            raise ValueError("sizes=() is not allowed; give at least one hidden layer size, e.g. (128,)")
        set_(self, "sizes", tuple(check_int(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)))
        self._set_neuron_encoding()
        set_(self, "T", check_int("T", self.T, minimum=1))
        check_choice("method", self.method, _known_methods())
        set_(self, "p", check_float("p", self.p, low=0.0, high=1.0, high_inclusive=False))
        check_choice("rescale", self.rescale, ("inverted", "none"))
        for name in _OPTION_FIELDS:
            set_(self, name, freeze_options(name, getattr(self, name)))
        check_int("seed", self.seed, minimum=0)
        set_(self, "seed", check_seed("seed", self.seed))
        set_(self, "epochs", check_int("epochs", self.epochs, minimum=1))
        set_(self, "lr", check_float("lr", self.lr, low=0.0, low_inclusive=False))
        set_(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        check_choice("device", self.device, DEVICE_CLASSES)
        set_(self, "weight_decay", check_float("weight_decay", self.weight_decay, low=0.0))
        set_(self, "val_fraction", _check_fraction("val_fraction", self.val_fraction))
        if self.select is None:
            set_(self, "select", "last" if self.val_fraction is None else "best_val")
        check_choice("select", self.select, SELECTIONS)
        if self.select == "best_val" and self.val_fraction is None:
            raise ValueError("select='best_val' needs a validation set: set val_fraction (a fraction in (0, 1)), "
                             "or use select='last'")
        set_(self, "train_eval_size", _check_optional_int("train_eval_size", self.train_eval_size, 1))
        self._check_method()
        self.validate()

    def _set_neuron_encoding(self) -> None:
        """Fill an unset neuron/encoding with the model's own; refuse one a reference network does not use."""
        own = model_neuron_encoding(self.model)
        for name, known, value in (("neuron", _known_neurons(), own[0]), ("encoding", _known_encodings(), own[1])):
            given = getattr(self, name)
            if given is None:
                object.__setattr__(self, name, value)
                continue
            check_choice(name, given, known)
            if self.model in MODEL_NEURON_ENCODING and given != value:
                raise ValueError(
                    f"{name}={given!r} is not what model={self.model!r} uses: that network always runs with "
                    f"{name}={value!r}; leave {name} unset (None) or give {value!r}"
                )

    def _check_method(self) -> None:
        """Build the dropout module once so unknown method options / unsupported rescale fail now, not mid-sweep."""
        from snnlab.dropout import make_dropout

        if self.model in ("mlp", "cnn") and self.method not in ("none", "standard"):
            raise ValueError(
                f"method={self.method!r} is not available for the ANN baseline model={self.model!r}; "
                "allowed: 'none', 'standard'"
            )
        make_dropout(self.method, self.p, rescale=self.rescale, seed=0, **options_dict(self.method_options))

    def validate(self) -> None:
        """Check everything that would otherwise fail only when the trial trains; raise naming the trial.

        The subset sizes are checked against the dataset's known split sizes (``DATASET_SHAPES``);
        the model is built on PyTorch's ``meta`` device (no memory, no data: the input shape and
        class count come from ``DATASET_SHAPES``), so the model's own checks of ``sizes``,
        ``model_options``, ``neuron_options`` and the dropout wiring run now, and the encoder is run
        once on a one-element input with the options the model passes it. An error is a
        ``ValueError``/``TypeError`` whose message starts with ``trial <label()>: ``.
        ``__post_init__`` calls this; a build is done once per architecture and process (memoised).
        """
        try:
            self._check_subsets()
            self._check_option_fields()
            _check_build(_build_check(self))
        except (ValueError, TypeError) as err:
            kind = TypeError if isinstance(err, TypeError) else ValueError
            raise kind(f"trial {self.label()}: {err}") from err

    def _check_subsets(self) -> None:
        """``train_subset``/``test_subset`` fit in the splits (the training split less the validation part)."""
        shape = DATASET_SHAPES[self.dataset]
        if self.test_subset is not None and self.test_subset > shape.test_size:
            raise ValueError(f"test_subset={self.test_subset} is larger than the {shape.test_size} test samples of "
                             f"{self.dataset}; allowed: test_subset <= {shape.test_size} or None")
        available, where = shape.train_size, f"the {shape.train_size} training samples of {self.dataset}"
        if self.val_fraction is not None:
            # the rule of snnlab.data.split_validation: round(fraction * n_c) of each class validate
            n_val = sum(math.floor(self.val_fraction * n + 0.5) for n in shape.train_per_class)
            if n_val in (0, shape.train_size):
                raise ValueError(f"val_fraction={self.val_fraction} of the {shape.train_size} training samples of "
                                 f"{self.dataset} leaves {n_val} for validation and {shape.train_size - n_val} for "
                                 "training; both must be non-empty")
            available = shape.train_size - n_val
            where = (f"the {available} training samples of {self.dataset} left after "
                     f"val_fraction={self.val_fraction} ({n_val} for validation)")
        if self.train_subset is not None and self.train_subset > available:
            raise ValueError(f"train_subset={self.train_subset} is larger than {where}; "
                             f"allowed: train_subset <= {available} or None")

    def _check_option_fields(self) -> None:
        """Option fields that the model would ignore or override."""
        for key, _ in self.model_options:
            if key in _RESERVED_MODEL_OPTIONS:
                raise ValueError(f"model_options[{key!r}] is set by the spec itself; "
                                 f"use the field {_RESERVED_MODEL_OPTIONS[key]!r} instead")
        if self.model in MODEL_NEURON_ENCODING:
            for name in ("neuron_options", "encoding_options"):
                if getattr(self, name):
                    raise ValueError(
                        f"{name}={options_dict(getattr(self, name))} is not accepted by model={self.model!r}: "
                        f"that network fixes its neuron and encoding; give its parameters in model_options"
                    )

    # ------------------------------------------------------------------ identity
    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-able dict (tuples become lists, option pairs become mappings)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _OPTION_FIELDS:
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; equal specs give identical strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialSpec:
        """Rebuild a spec from ``to_dict`` output; unknown keys raise ValueError naming them."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a TrialSpec needs a mapping of field -> value, got {type(data).__name__}")
        unknown = sorted(set(data) - set(spec_fields()))
        if unknown:
            raise ValueError(
                f"unknown TrialSpec field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(spec_fields())}"
            )
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> TrialSpec:
        """Inverse of ``to_json``."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_stored(cls, text: str) -> TrialSpec:
        """A spec from a results store, also one written by an earlier spec version.

        Before v4 the reference networks' records held the spec defaults (``lif``/``direct``)
        although the networks ran with their own neuron and encoding; those are read as what ran.
        Fields added since take their defaults.
        """
        data = dict(json.loads(text))
        own = MODEL_NEURON_ENCODING.get(data.get("model", ""))
        if own is not None:
            data["neuron"], data["encoding"] = own
        return cls.from_dict(data)

    @property
    def key(self) -> str:
        """Stable sha256 hex digest of the canonical JSON (plus the spec format version)."""
        payload = f"snnlab.TrialSpec/v{SPEC_VERSION}:{self.to_json()}"
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def replace(self, **changes: Any) -> TrialSpec:
        """A copy with ``changes`` applied (validated like a new spec); unknown fields raise ValueError.

        Changing ``model`` resets a neuron/encoding that was the old model's own (not given in
        ``changes``) to the new model's own, so ``base.replace(model="delayed_snn")`` of a LIF MLP
        spec works; so does changing ``val_fraction`` for a ``select`` that was its default.
        """
        unknown = sorted(set(changes) - set(spec_fields()))
        if unknown:
            raise ValueError(
                f"unknown TrialSpec field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(spec_fields())}"
            )
        changes = dict(changes)
        if "model" in changes and changes["model"] != self.model:
            own = model_neuron_encoding(self.model)
            for name, value in zip(("neuron", "encoding"), own):
                if name not in changes and getattr(self, name) == value:
                    changes[name] = None
        if "val_fraction" in changes and "select" not in changes:
            default = "last" if self.val_fraction is None else "best_val"
            if self.select == default:
                changes["select"] = None
        return replace(self, **changes)

    def label(self) -> str:
        """A short description naming the trial by its distinguishing fields (progress bars, tables, errors),
        e.g. ``spiking_cnn/dropconnect p=0.3 seed=2 on digits``."""
        return f"{self.model}/{self.method} p={self.p:g} seed={self.seed} on {self.dataset}"


def spec_fields() -> tuple[str, ...]:
    """Names of the TrialSpec fields, in declaration order."""
    return tuple(f.name for f in fields(TrialSpec))


def normalize_field(name: str, value: Any) -> Any:
    """``value`` as it would be stored on a spec's field ``name`` (for filtering the store)."""
    if name not in spec_fields():
        raise ValueError(f"unknown TrialSpec field {name!r}; allowed: {', '.join(spec_fields())}")
    if name in _OPTION_FIELDS:
        return freeze_options(name, value)
    if name == "sizes":
        return tuple(value) if isinstance(value, (list, tuple)) else value
    if name in ("p", "lr", "weight_decay", "val_fraction") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def grid(base: TrialSpec, **axes: Iterable[Any]) -> list[TrialSpec]:
    """Every combination of ``axes`` (field -> values) applied to ``base``, in row-major order.

    Axis order follows the keyword order; the last axis varies fastest. An empty axis is a
    ValueError (it would silently produce no trials).
    """
    if not isinstance(base, TrialSpec):
        raise TypeError(f"base must be a TrialSpec, got {type(base).__name__}")
    names = list(axes)
    unknown = sorted(set(names) - set(spec_fields()))
    if unknown:
        raise ValueError(f"unknown grid axis {', '.join(map(repr, unknown))}; allowed: {', '.join(spec_fields())}")
    values = []
    for name in names:
        raw = axes[name]
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
            raise TypeError(f"grid axis {name!r} must be a list of values, got {type(raw).__name__} ({raw!r})")
        items = list(raw)
        if not items:
            raise ValueError(f"grid axis {name!r} is empty; give at least one value")
        values.append(items)
    return [base.replace(**dict(zip(names, combo))) for combo in itertools.product(*values)]



# ---------------------------------------------------------------------- the model check (meta build)
_BUILD_FIELDS = ("dataset", "model", "sizes", "neuron", "encoding", "T", "method", "p", "rescale", *_OPTION_FIELDS)


@dataclass(frozen=True)
class _BuildCheck:
    """One architecture to check: equal (and hashed) by ``key``, the canonical JSON of the fields the build
    depends on (not the seed, data sizes or training settings), so one build serves a whole grid."""

    key: str
    spec: TrialSpec = field(compare=False, hash=False)


def _build_check(spec: TrialSpec) -> _BuildCheck:
    data = spec.to_dict()
    return _BuildCheck(json.dumps({k: data[k] for k in _BUILD_FIELDS}, sort_keys=True, separators=(",", ":")), spec)


@functools.lru_cache(maxsize=1024)  # a memo of a pure check: only successes are kept (an error is not cached)
def _check_build(check: _BuildCheck) -> None:
    """Build ``check.spec``'s model as ``run_trial`` would, on the ``meta`` device, and run its encoder once.

    The global RNG is left as it was. Should a model not build on ``meta`` (an error other than
    ValueError/TypeError there), it is built for real on the CPU once instead.
    """
    import torch

    from snnlab.study.runner import build_trial_model

    spec = check.spec
    shape = DATASET_SHAPES[spec.dataset]
    with torch.random.fork_rng(devices=[]):
        try:
            with torch.device("meta"), _meta_build_mode()():
                model = build_trial_model(spec, shape.input_shape, shape.n_classes)
        except (ValueError, TypeError):
            raise
        except Exception:  # noqa: BLE001 - torch cannot run some construction step on meta: build it for real
            try:
                model = build_trial_model(spec, shape.input_shape, shape.n_classes)
            except (ValueError, TypeError):
                raise
            except Exception as err:  # noqa: BLE001 - any other failure of the build is a spec that cannot run
                raise ValueError(f"the model cannot be built: {type(err).__name__}: {err}") from err
        _check_encoder(model)


def _check_encoder(model: Any) -> None:
    """Run a spiking model's encoder on a one-element input with the options the model passes it (these are
    only read in the forward pass, so a build alone would not check them)."""
    import torch

    from snnlab.encoding import encode
    from snnlab.models import SpikingModel

    if not isinstance(model, SpikingModel):
        return  # the ANN baselines have no encoder
    encode(torch.zeros(1, 1), model.encoding, 1, generator=torch.Generator().manual_seed(0), validate=False,
           **model.encoding_options)


@functools.lru_cache(maxsize=1)
def _meta_build_mode() -> type:
    """The torch-function mode class used inside ``torch.device("meta")`` for a build (made on first use,
    so that importing this module does not import torch)."""
    import torch
    from torch.overrides import TorchFunctionMode

    random_fills = {torch.rand, torch.randn}
    random_fills_like = {torch.rand_like, torch.randn_like}
    arithmetic = {torch.Tensor.mul, torch.Tensor.div, torch.Tensor.add, torch.Tensor.sub, torch.Tensor.maximum,
                  torch.Tensor.minimum, torch.mul, torch.div, torch.add, torch.sub, torch.maximum, torch.minimum}
    comparisons = {torch.Tensor.lt, torch.Tensor.le, torch.Tensor.gt, torch.Tensor.ge, torch.Tensor.eq, torch.Tensor.ne,
                   torch.lt, torch.le, torch.gt, torch.ge, torch.eq, torch.ne}

    def meta_or_number(value: Any) -> bool:
        return (isinstance(value, torch.Tensor) and value.is_meta) or (
            isinstance(value, (int, float)) and not isinstance(value, bool))

    def broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
        # torch.broadcast_shapes imports sympy (seconds) on its first call; concrete shapes need none of it
        ndim = max(len(s) for s in shapes)
        out = []
        for dims in zip(*[(1,) * (ndim - len(s)) + s for s in shapes]):
            sizes = {d for d in dims if d != 1}
            if len(sizes) > 1:
                raise ValueError(f"shapes {shapes} cannot be broadcast together")
            out.append(sizes.pop() if sizes else 1)
        return tuple(out)

    def on_meta(kwargs: dict) -> bool:
        device = kwargs.get("device")
        return device is None or torch.device(device).type == "meta"

    class MetaBuild(TorchFunctionMode):
        """What the meta device cannot do, or does slowly, done here. A default seed drawn with
        ``torch.randint(...).item()`` is drawn on the host (a real number; the caller's RNG is forked).
        Random fills (``rand``, ``randn``) are ``empty``: their values do not matter. Elementwise arithmetic
        and comparisons of meta tensors (and Python numbers) are ``empty`` of the broadcast shape and
        promoted dtype: torch computes these meta results in Python reference code whose first call
        imports ``torch._dynamo`` (seconds)."""

        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = dict(kwargs or {})
            if func is torch.randint and kwargs.get("device") is None:
                kwargs["device"] = "cpu"
            elif func in random_fills and on_meta(kwargs):
                kwargs.pop("generator", None)
                return torch.empty(*args, **kwargs)
            elif func in random_fills_like and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                kwargs.pop("generator", None)
                return torch.empty_like(*args, **kwargs)
            elif ((func in arithmetic or func in comparisons) and len(args) == 2 and not kwargs
                  and all(meta_or_number(a) for a in args) and any(isinstance(a, torch.Tensor) for a in args)):
                shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
                dtype = torch.bool if func in comparisons else torch.result_type(*args)
                return torch.empty(broadcast(*shapes), dtype=dtype, device="meta")
            return func(*args, **kwargs)

    return MetaBuild

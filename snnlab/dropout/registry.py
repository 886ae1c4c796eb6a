"""The catalogue of dropout methods: ``make_dropout(key, p, **options)`` and what each method is.

A method class registers itself with ``@register`` and carries its own description (class
attributes of ``SpikeDropout``). Everything that lists, labels or colours methods (plots, widgets,
explorers, statistics, the comparison grid, the CLI help, the contract tests) reads it from here,
so a new method is one new module of ``snnlab.dropout`` (imported automatically) plus its test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from snnlab.dropout.base import FAMILIES, MEMBRANE_SUMMARIES, SpikeDropout

_REGISTRY: dict[str, type[SpikeDropout]] = {}


@dataclass(frozen=True)
class MethodInfo:
    """The description a method class carries, as one record (see ``SpikeDropout``'s class attributes)."""

    key: str
    label: str
    family: str
    conditions_on: str
    time_consistent: bool
    causal: bool
    rescale: tuple[str, ...]
    options: tuple[str, ...]
    presets: tuple[tuple[tuple[str, Any], ...], ...]
    color: str
    acts_on: str
    membrane: str | None
    needs_weight: bool
    probability_map: bool


@dataclass(frozen=True)
class Condition:
    """One condition of the study: a method with an option preset, its label and colour."""

    method: str
    options: tuple[tuple[str, Any], ...]
    label: str
    color: str
    family: str


def _check_class(cls: type) -> None:
    if not (isinstance(cls, type) and issubclass(cls, SpikeDropout)):
        raise TypeError(f"only SpikeDropout subclasses can be registered, got {cls!r}")
    key = cls.__dict__.get("key")
    if not isinstance(key, str) or not key or key == "base":
        raise TypeError(f"{cls.__name__} needs its own string class attribute 'key' (the registry key)")
    if cls.family not in FAMILIES:
        raise ValueError(f"{cls.__name__}.family={cls.family!r}; allowed: {', '.join(FAMILIES)}")
    if cls.membrane is not None and cls.membrane not in MEMBRANE_SUMMARIES:
        raise ValueError(f"{cls.__name__}.membrane={cls.membrane!r}; allowed: None, {', '.join(map(repr, MEMBRANE_SUMMARIES))}")
    for preset in cls.presets:
        unknown = sorted(set(preset) - set(cls.option_names()))
        if unknown:
            raise ValueError(f"{cls.__name__}.presets uses unknown option(s) {unknown}; allowed: {cls.option_names()}")


def register(cls: type[SpikeDropout]) -> type[SpikeDropout]:
    """Class decorator: add a method to the catalogue under its ``key``."""
    _check_class(cls)
    if cls.key in _REGISTRY and _REGISTRY[cls.key] is not cls:
        raise ValueError(f"dropout method {cls.key!r} is registered twice")
    _REGISTRY[cls.key] = cls
    return cls


def unregister(key: str) -> None:
    """Remove a method from the catalogue (for tests that register a throwaway one)."""
    _REGISTRY.pop(key, None)


def available() -> tuple[str, ...]:
    """The registry keys, in registration order (the baseline first, then the classic methods)."""
    return tuple(_REGISTRY)


def method_class(key: str) -> type[SpikeDropout]:
    """The class registered under ``key``."""
    if not isinstance(key, str):
        raise TypeError(f"method must be a string (a dropout method), got {type(key).__name__} ({key!r})")
    if key not in _REGISTRY:
        raise ValueError(f"dropout method {key!r} is not known; allowed: {', '.join(map(repr, _REGISTRY))}")
    return _REGISTRY[key]


def method_info(key: str) -> MethodInfo:
    """What the method ``key`` is, read from its class."""
    cls = method_class(key)
    return MethodInfo(
        key=cls.key, label=cls.label, family=cls.family, conditions_on=cls.conditions_on,
        time_consistent=cls.time_consistent, causal=cls.causal, rescale=tuple(cls.supported_rescale),
        options=cls.option_names(), presets=tuple(tuple(sorted(p.items())) for p in cls.presets), color=cls.color,
        acts_on=cls.acts_on, membrane=cls.membrane, needs_weight=cls.needs_weight, probability_map=cls.probability_map,
    )


def methods(*, family: str | Iterable[str] | None = None, acts_on: str | None = None,
            probability_map: bool | None = None) -> tuple[str, ...]:
    """Registry keys filtered by family (a name or several), what they act on, and whether they
    expose a per-neuron probability map; registration order."""
    fams = None if family is None else ((family,) if isinstance(family, str) else tuple(family))
    for f in fams or ():
        if f not in FAMILIES:
            raise ValueError(f"family={f!r} is not known; allowed: {', '.join(FAMILIES)}")
    out = []
    for key, cls in _REGISTRY.items():
        if fams is not None and cls.family not in fams:
            continue
        if acts_on is not None and cls.acts_on != acts_on:
            continue
        if probability_map is not None and cls.probability_map != probability_map:
            continue
        out.append(key)
    return tuple(out)


def condition_label(method: str, options: Iterable[tuple[str, Any]] = ()) -> str:
    """A condition's name in tables and legends: the key, with ``_<value>`` for each option the
    method declares as naming (``label_options``), e.g. ``membrane_protect``."""
    cls = method_class(method)
    opts = dict(options or ())
    return method + "".join(f"_{opts[name]}" for name in cls.label_options if name in opts)


def label_color(label: str) -> str | None:
    """The colour of a condition label (a key, or ``<key>_<variant>``); None when no method matches."""
    if label in _REGISTRY:
        return _REGISTRY[label].color
    for key, cls in _REGISTRY.items():
        if label.startswith(key + "_"):
            return cls.variant_colors.get(label[len(key) + 1:], cls.color)
    return None


def conditions(*, family: str | Iterable[str] | None = None) -> tuple[Condition, ...]:
    """The conditions the study compares: every method but the baseline (or those of ``family``)
    with each of its option presets, labelled and coloured."""
    keys = methods(family=family if family is not None else ("classic", "snn_aware"))
    out = []
    for key in keys:
        cls = _REGISTRY[key]
        for preset in cls.presets:
            options = tuple(sorted(preset.items()))
            label = condition_label(key, options)
            out.append(Condition(key, options, label, label_color(label) or cls.color, cls.family))
    return tuple(out)


def make_dropout(name: str, p: float = 0.0, **options: Any) -> SpikeDropout:
    """Build the dropout method ``name`` (a registry key) with nominal rate ``p`` and method ``options``.

    Unknown names and unknown options raise ValueError listing what is allowed.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (a dropout method), got {type(name).__name__} ({name!r})")
    if name not in _REGISTRY:
        raise ValueError(f"dropout method {name!r} is not known; allowed: {', '.join(map(repr, _REGISTRY))}")
    cls = _REGISTRY[name]
    allowed = cls.option_names()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for dropout method {name!r}; "
            f"allowed: {', '.join(map(repr, allowed)) or '(none)'}"
        )
    return cls(p, **options)

"""The neuron registry: ``make_neuron(key, **options)`` builds any registered neuron.

A neuron module registers itself with ``@register_neuron``; ``snnlab.neurons`` imports every
module of the package, so adding a neuron is one new module (plus its test) and nothing else.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

_NEURONS: dict[str, type[nn.Module]] = {}


def register_neuron(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: add a neuron class under its ``key``."""
    key = getattr(cls, "key", None)
    if not isinstance(key, str) or not key:
        raise TypeError(f"{cls.__name__} needs a string class attribute 'key' to be registered")
    if key in _NEURONS and _NEURONS[key] is not cls:
        raise ValueError(f"neuron {key!r} is registered twice ({_NEURONS[key].__name__} and {cls.__name__})")
    _NEURONS[key] = cls
    return cls


def unregister_neuron(key: str) -> None:
    """Remove a neuron from the registry (for tests that register a throwaway one)."""
    _NEURONS.pop(key, None)


def neuron_keys() -> tuple[str, ...]:
    """Registered neuron keys, in registration order."""
    return tuple(_NEURONS)


def neuron_class(key: str) -> type[nn.Module]:
    """The class registered under ``key``."""
    if not isinstance(key, str):
        raise TypeError(f"neuron must be a string (a registered neuron), got {type(key).__name__} ({key!r})")
    if key not in _NEURONS:
        raise ValueError(f"neuron={key!r} is not known; allowed: {', '.join(map(repr, _NEURONS))}")
    return _NEURONS[key]


def neuron_options(key: str) -> tuple[str, ...]:
    """Keyword options the neuron ``key`` accepts."""
    return tuple(k for k in inspect.signature(neuron_class(key).__init__).parameters if k != "self")


def make_neuron(key: str, **options: Any) -> nn.Module:
    """Build the registered neuron ``key`` with ``options``; unknown options are a ValueError listing the allowed ones."""
    allowed = neuron_options(key)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for neuron {key!r}; allowed: {', '.join(allowed)}")
    return neuron_class(key)(**options)

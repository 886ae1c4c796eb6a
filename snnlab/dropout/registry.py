"""The registry of dropout methods: ``make_dropout(name, p, **options)``."""

from __future__ import annotations

from typing import Any

from snnlab.dropout.base import SpikeDropout

_REGISTRY: dict[str, type[SpikeDropout]] = {}


def register(cls: type[SpikeDropout]) -> type[SpikeDropout]:
    """Class decorator: add a method under its ``name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"dropout method {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> tuple[str, ...]:
    """The registry keys, in the order of DESIGN.md's table."""
    return tuple(_REGISTRY)


def make_dropout(name: str, p: float = 0.0, **options: Any) -> SpikeDropout:
    """Build the dropout method ``name`` with nominal rate ``p`` and method ``options``.

    Unknown names and unknown options raise ValueError listing what is allowed.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (a dropout method), got {type(name).__name__} ({name!r})")
    if name not in _REGISTRY:
        raise ValueError(f"dropout method {name!r} is not known; allowed: {', '.join(map(repr, _REGISTRY))}")
    cls = _REGISTRY[name]
    allowed = cls.option_names() if hasattr(cls, "option_names") else None
    if allowed is not None:
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(map(repr, unknown))} for dropout method {name!r}; "
                f"allowed: {', '.join(map(repr, allowed)) or '(none)'}"
            )
    return cls(p, **options)

"""Dropout for spiking networks: classic methods migrated as-is and SNN-aware methods.

``make_dropout(key, p, **options)`` builds any method by its registry key (see docs/design.md).
Every module of this package that defines a method registers it with ``@register``; the modules
are imported here in a fixed order (the baseline, the classic methods, then the rest by name), so
a new method is one new module and appears in every catalogue with no other file changed.
"""

import importlib
import pkgutil

from snnlab.dropout.base import FAMILIES, LayerContext, SpikeDropout
from snnlab.dropout.registry import (
    Condition,
    MethodInfo,
    available,
    condition_label,
    conditions,
    label_color,
    make_dropout,
    method_class,
    method_info,
    methods,
    register,
    unregister,
)
from snnlab.dropout.slots import make_slots
from snnlab.dropout.stats import DropoutStats
from snnlab.dropout.mc import mc_mode

_FIRST = ("baseline", "classic", "temporal", "shaped", "dropconnect")  # the order of docs/design.md's table
for _name in _FIRST + tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _FIRST)):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "FAMILIES", "Condition", "DropoutStats", "LayerContext", "MethodInfo", "SpikeDropout", "available",
    "condition_label", "conditions", "label_color", "make_dropout", "make_slots", "mc_mode", "method_class", "method_info",
    "methods", "register", "unregister",
]

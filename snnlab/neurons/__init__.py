"""Spiking neurons: multi-step shells over the functional core, each owning its state trace.

Every module of this package is imported here, so a module that defines a neuron with
``@register_neuron`` is available everywhere (``make_neuron``, every spiking model) with no other
file changed. The protocol a neuron follows is ``snnlab.neurons.protocol.Neuron``.
"""

import importlib
import pkgutil

from snnlab.functional.lif import RESETS, LIFParams, LIFState, beta_from_tau, lif_step
from snnlab.functional.penalty import PenaltyParams, PenaltyState, penalty_step
from snnlab.functional.srm import srm_kernel, srm_kernel_matrix
from snnlab.functional.surrogate import SURROGATES, Surrogate, arctan, fast_sigmoid, make_surrogate, resolve_surrogate
from snnlab.neurons.protocol import Neuron, NeuronOutput, StepNeuron, check_sequence
from snnlab.neurons.registry import make_neuron, neuron_class, neuron_keys, neuron_options, register_neuron, unregister_neuron

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

from snnlab.neurons.first_spike import FirstSpike  # noqa: E402
from snnlab.neurons.integrator import LeakyIntegrator  # noqa: E402
from snnlab.neurons.lif import LIF, LIF_BACKENDS  # noqa: E402
from snnlab.neurons.penalty import PenaltyNeuron  # noqa: E402


def __getattr__(name: str):
    if name == "NEURONS":  # the registry's keys, read at access time (a module may register later)
        return neuron_keys()
    raise AttributeError(f"module 'snnlab.neurons' has no attribute {name!r}")


__all__ = [
    "RESETS", "LIFParams", "LIFState", "PenaltyParams", "PenaltyState", "beta_from_tau", "lif_step", "penalty_step",
    "srm_kernel", "srm_kernel_matrix",
    "LIF", "LIF_BACKENDS", "NEURONS", "SURROGATES", "FirstSpike", "LeakyIntegrator", "Neuron", "NeuronOutput",
    "PenaltyNeuron", "StepNeuron", "Surrogate", "arctan", "check_sequence", "fast_sigmoid", "make_neuron",
    "make_surrogate", "neuron_class", "neuron_keys", "neuron_options", "register_neuron", "resolve_surrogate",
    "unregister_neuron",
]

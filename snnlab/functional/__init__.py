"""The functional core: pure single-step maths with named parameter and state tuples.

No modules, no randomness. The neuron shells (``snnlab.neurons``) run these over time, and every
multi-step module and fast kernel is tested against a loop of them.
"""

from snnlab.functional.lif import (
    RESETS,
    LIFParams,
    LIFState,
    beta_from_tau,
    leaky_step,
    lif_initial_state,
    lif_step,
)
from snnlab.functional.penalty import PenaltyParams, PenaltyState, penalty_initial_state, penalty_step
from snnlab.functional.srm import (
    FirstSpikeParams,
    FirstSpikeState,
    first_spike_initial_state,
    first_spike_step,
    first_spikes,
    srm_kernel,
    srm_kernel_matrix,
)
from snnlab.functional.surrogate import (
    SURROGATES,
    Surrogate,
    arctan,
    fast_sigmoid,
    heaviside,
    make_surrogate,
    resolve_surrogate,
)

__all__ = [
    "RESETS", "SURROGATES", "FirstSpikeParams", "FirstSpikeState", "LIFParams", "LIFState", "PenaltyParams",
    "PenaltyState", "Surrogate", "arctan", "beta_from_tau", "fast_sigmoid", "first_spike_initial_state",
    "first_spike_step", "first_spikes", "heaviside", "leaky_step", "lif_initial_state", "lif_step",
    "make_surrogate", "penalty_initial_state", "penalty_step", "resolve_surrogate", "srm_kernel",
    "srm_kernel_matrix",
]

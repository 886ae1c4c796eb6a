"""Models of the study: spiking MLP and CNN, the two reference networks, and their ANN baselines.

Every spiking model is a list of spiking blocks (synapse -> neuron -> dropout) plus a readout
(``snnlab.blocks``); it takes a batch ``[B, ...]`` of analogue inputs in [0, 1], encodes it into
``T`` steps and returns logits ``[B, classes]``. ``with model.record() as rec:`` captures per-layer
spikes and membranes; ``model.dropouts`` are the slots, ``model.block(name)`` a layer.
"""

from snnlab.models.ann import CNN, MLP
from snnlab.models.base import SpikingModel
from snnlab.models.build import MODEL_KINDS, SPIKING_KINDS, build_model
from snnlab.models.reference import DelayedSNN, PenaltySNN
from snnlab.models.spiking import READOUTS, SpikingCNN, SpikingMLP

__all__ = [
    "CNN", "MLP", "MODEL_KINDS", "READOUTS", "SPIKING_KINDS", "DelayedSNN", "PenaltySNN", "SpikingCNN", "SpikingMLP",
    "SpikingModel", "build_model",
]

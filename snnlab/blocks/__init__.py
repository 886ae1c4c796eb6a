"""Spiking blocks (synapse -> neuron -> dropout) and readouts: what every spiking model is a list of."""

from snnlab.blocks.block import READOUT_LOGITS, Readout, SpikingBlock
from snnlab.blocks.synapses import ConvSynapse, DelayedLinear, LinearSynapse

__all__ = ["READOUT_LOGITS", "ConvSynapse", "DelayedLinear", "LinearSynapse", "Readout", "SpikingBlock"]

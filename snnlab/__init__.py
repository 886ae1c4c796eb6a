"""snnlab: an interactive study of dropout for spiking neural networks."""

__version__ = "0.1.0"

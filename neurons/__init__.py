"""Spiking neurons of neuro-llm: pure dynamics in :mod:`neurons.functional`, one snntorch module per file."""
from . import functional
from .gif import GIF
from .ternary_gif import TernaryGIF

__all__ = ["GIF", "TernaryGIF", "functional"]

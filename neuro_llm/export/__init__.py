"""Leaving the framework: export of the spiking parts of a converted model to other simulators and chips
(:mod:`neuro_llm.export.nir`: the Neuromorphic Intermediate Representation)."""

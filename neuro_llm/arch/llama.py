"""Llama (and Llama-2/3, SmolLM2): the defaults of :class:`~neuro_llm.arch.base.Architecture`."""
from neuro_llm.arch.base import Architecture


class Llama(Architecture):
    family = "llama"
    model_types = ("llama",)

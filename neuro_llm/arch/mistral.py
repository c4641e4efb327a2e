"""Mistral: LLaMA blocks, every layer with the same sliding window when ``config.sliding_window`` is set."""
from neuro_llm.arch.base import FULL, SLIDING, Architecture


class Mistral(Architecture):
    family = "mistral"
    model_types = ("mistral",)
    modeling_module = "transformers.models.mistral.modeling_mistral"

    def layer_types(self, config) -> list[str]:
        kind = FULL if getattr(config, "sliding_window", None) is None else SLIDING
        return [kind] * config.num_hidden_layers

"""Qwen2 / Qwen2.5: LLaMA blocks with q/k/v biases and a per-layer sliding/full pattern (``layer_types``)."""
from neuro_llm.arch.base import Architecture


class Qwen2(Architecture):
    family = "qwen2"
    model_types = ("qwen2",)
    modeling_module = "transformers.models.qwen2.modeling_qwen2"

"""Architecture adapters: one module per family, one registry mapping ``config.model_type`` to it.

Adding a family: subclass :class:`Architecture` in a new module, override what differs, list it in
``_FAMILIES`` below. Every other module asks :func:`adapter_for`."""
from __future__ import annotations

from torch import nn

from neuro_llm.arch.base import FULL, LINEAR_NAMES, SLIDING, Architecture, BlockInputs, BlockProfile, NormFold
from neuro_llm.arch.gemma3 import Gemma3
from neuro_llm.arch.llama import Llama
from neuro_llm.arch.mistral import Mistral
from neuro_llm.arch.qwen2 import Qwen2
from neuro_llm.arch.qwen3 import Qwen3

_FAMILIES = (Llama(), Mistral(), Qwen2(), Qwen3(), Gemma3())
ADAPTERS = {model_type: adapter for adapter in _FAMILIES for model_type in adapter.model_types}
SUPPORTED_FAMILIES = tuple(adapter.family for adapter in _FAMILIES)


def supported_message() -> str:
    return "supported families: Llama, Mistral, Qwen2, Qwen3, Gemma 3 (text)"


def adapter_for(model_or_config) -> Architecture:
    """The adapter of a model (or its config); a one-line error naming the supported families."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    if model_type not in ADAPTERS:
        raise ValueError(f"architecture {model_type!r} is not supported; {supported_message()}")
    return ADAPTERS[model_type]


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of ``model`` (through its adapter)."""
    return adapter_for(model).decoder_layers(model)


__all__ = ["ADAPTERS", "SUPPORTED_FAMILIES", "Architecture", "BlockInputs", "BlockProfile", "NormFold", "FULL",
           "SLIDING", "LINEAR_NAMES", "adapter_for", "decoder_layers", "supported_message"]

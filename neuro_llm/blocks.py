"""Where the parts of a LLaMA-shaped model live (Llama, Mistral, Qwen2 share this layout)."""
from __future__ import annotations

from torch import nn

LINEAR_NAMES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks; a clear error for models without the LLaMA block shape."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None or not all(_has_llama_shape(layer) for layer in layers):
        raise ValueError(
            f"{type(model).__name__} does not have the LLaMA block shape (model.layers[i].self_attn.q_proj ... "
            "mlp.down_proj); supported: Llama, Mistral, Qwen2"
        )
    return layers


def _has_llama_shape(layer: nn.Module) -> bool:
    try:
        return all(layer.get_submodule(name) is not None for name in LINEAR_NAMES)
    except AttributeError:
        return False


def linear_sites(model: nn.Module):
    """Yield ``("layers.{i}.{name}", module)`` for the seven linear layers of every block."""
    for i, layer in enumerate(decoder_layers(model)):
        for name in LINEAR_NAMES:
            yield f"layers.{i}.{name}", layer.get_submodule(name)

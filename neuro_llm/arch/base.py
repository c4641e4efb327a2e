"""What every architecture adapter answers, with the LLaMA answers as defaults.

Everything that differs between decoder-only families — where the blocks live, which positional
embedding and which mask each layer gets, the final head, which norm feeds which linears (the pairs
OmniQuant may fold a per-channel scale through), and the floating-point work the energy model counts —
is asked of an adapter, never re-derived elsewhere. A block is always run as the model runs it::

    h_{i+1} = block_i(h_i, attention_mask=M[type_i], position_embeddings=R[type_i], position_ids=p)

with ``M``/``R`` built by transformers' own mask functions and rotary embedding, so a layer-by-layer run
equals the model's forward (sliding windows and per-layer patterns included).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

Tensor = torch.Tensor

LINEAR_NAMES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
FULL, SLIDING = "full_attention", "sliding_attention"


@dataclass(frozen=True)
class NormFold:
    """A norm whose output feeds ``linears`` only: a per-channel scale ``s`` folds as ``γ' = γ / s`` into the
    norm's effective weight ``γ`` and as ``W' = W diag(s)`` into each linear."""
    norm: str
    linears: tuple[str, ...]


@dataclass(frozen=True)
class BlockProfile:
    """The floating-point work of one block besides its linears and attention products (op counting)."""
    norms: int                  # hidden-size RMSNorms per block (2 for LLaMA, 4 for Gemma 3)
    qk_norm: bool               # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    activation: str             # "silu" or "gelu_tanh" (the gate's activation)


@dataclass
class BlockInputs:
    """Per-layer inputs besides the hidden state: masks and rotary tables by layer type."""
    layer_types: list[str]
    masks: dict
    position_embeddings: dict
    position_ids: Tensor

    def kwargs(self, index: int) -> dict:
        kind = self.layer_types[index]
        return {"attention_mask": self.masks[kind], "position_embeddings": self.position_embeddings[kind],
                "position_ids": self.position_ids}


def _mask_arguments(maker, config, hidden: Tensor, position_ids: Tensor) -> dict:
    """Arguments of transformers' mask functions for a cache-less causal run, across the versions that
    named the cache ``past_key_values`` (with ``cache_position``) or ``cache``."""
    import inspect

    accepted = inspect.signature(maker).parameters
    arguments = dict(config=config, input_embeds=hidden, inputs_embeds=hidden, attention_mask=None, cache=None,
                     past_key_values=None, position_ids=position_ids,
                     cache_position=torch.arange(hidden.shape[1], device=hidden.device))
    if "cache" in accepted:   # transformers 5 still accepts the old name beside it, with a FutureWarning
        arguments.pop("past_key_values")
    return {name: value for name, value in arguments.items() if name in accepted}


class Architecture:
    """The adapter of one family. Subclasses override what their family does differently."""
    family = "llama"
    model_types: tuple[str, ...] = ("llama",)
    linear_names = LINEAR_NAMES
    modeling_module = "transformers.models.llama.modeling_llama"
    folds = (NormFold("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
             NormFold("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")))
    norm_offset = 0.0           # RMSNorm computes x̂ · (offset + w): Gemma's (1 + w)
    qk_scale_folds = True       # a per-channel q/k scale (RoPE-paired) folds into q_proj/k_proj rows
    profile = BlockProfile(norms=2, qk_norm=False, activation="silu")
    bos_first = False           # the family is only in distribution after a BOS token (Gemma)

    # -- structure ----------------------------------------------------------------------------------
    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        layers = getattr(getattr(model, "model", None), "layers", None)
        if layers is None or not all(self._has_linears(layer) for layer in layers):
            raise ValueError(f"{type(model).__name__} does not have the {self.family} block layout "
                             f"(model.layers[i].{' / '.join(self.linear_names)})")
        return layers

    def _has_linears(self, layer: nn.Module) -> bool:
        try:
            return all(isinstance(layer.get_submodule(name), nn.Module) for name in self.linear_names)
        except AttributeError:
            return False

    def embeddings(self, model: nn.Module) -> nn.Module:
        """The token embedding (Gemma's scales by √d inside the module)."""
        return model.model.embed_tokens

    def final_norm(self, model: nn.Module) -> nn.Module:
        return model.model.norm

    def logits(self, model: nn.Module, hidden: Tensor) -> Tensor:
        """Final norm, ``lm_head`` and the family's logit soft-capping if its config sets one."""
        head = model.lm_head
        hidden = self.final_norm(model).to(head.weight.device)(hidden.to(head.weight.device))
        logits = head(hidden)
        cap = getattr(model.config, "final_logit_softcapping", None)
        return logits if cap is None else torch.tanh(logits / cap) * cap

    # -- per-layer inputs ---------------------------------------------------------------------------
    def layer_types(self, config) -> list[str]:
        types = getattr(config, "layer_types", None)
        return list(types) if types else [FULL] * config.num_hidden_layers

    def rotary(self, model: nn.Module, hidden: Tensor, position_ids: Tensor, kinds) -> dict:
        rotary = model.model.rotary_emb.to(hidden.device)
        table = rotary(hidden, position_ids)
        return {kind: table for kind in kinds}

    def block_inputs(self, model: nn.Module, hidden: Tensor, position_ids: Tensor | None = None) -> BlockInputs:
        """Masks and rotary tables for a causal run over ``hidden`` ``[b, S, d]`` (no cache, no padding)."""
        from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

        if position_ids is None:
            position_ids = torch.arange(hidden.shape[1], device=hidden.device).view(1, -1)
        types = self.layer_types(model.config)
        kinds = sorted(set(types))
        makers = {FULL: create_causal_mask, SLIDING: create_sliding_window_causal_mask}
        masks = {kind: makers[kind](**_mask_arguments(makers[kind], model.config, hidden, position_ids))
                 for kind in kinds}
        return BlockInputs(types, masks, self.rotary(model, hidden, position_ids, kinds), position_ids)

    # -- attention ----------------------------------------------------------------------------------
    def eager_attention(self):
        """The family's own eager attention (the FP path inside a converted model)."""
        from importlib import import_module

        return import_module(self.modeling_module).eager_attention_forward

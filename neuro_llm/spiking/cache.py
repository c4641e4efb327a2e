"""A KV cache that holds the *encoded* K and V: a decode step encodes only its new token.

Every attention encoder is causal (:mod:`neuro_llm.spiking.attention`): token ``j``'s ``K̂_j = Δ_j (q_j - z_j)``
depends on tokens ``0..j`` only, so it never changes once formed. :class:`EncodedCache` encodes each new
token's K and V once, when the layer hands them to the cache, and keeps ``K̂``/``V̂`` — exact integer counts times
their float32 steps, cast to the model's dtype, exactly the rows the full forward computes — so the attention
of a decode step reads the past rows as they are instead of re-encoding them. Spike statistics then count each
token's K/V spikes once (when the token arrives), which is what a spiking chip would fire.

K with ``key_scale="running"`` (per channel over the tokens so far) continues the running threshold's statistics
of the past keys (min/max, max|x|, or Σ|x| and the count, kept per layer), so a sliding-window layer that drops
old rows still encodes new keys as the full forward does.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache, StaticCache

from neuro_llm.arch import decoder_layers
from neuro_llm.core.modes import KeyScale

Tensor = torch.Tensor


class _Encoding:
    """The cache side of the encoding: each new token's K and V are encoded once, on arrival (mixed into a
    ``transformers`` cache class; ``self.encoders`` maps layer index → ``SpikingAttention`` or ``None``)."""

    def _bind(self, model) -> None:
        self.encoders = {index: getattr(layer.self_attn, "spiking", None)
                         for index, layer in enumerate(decoder_layers(model))}
        self.key_statistics: dict[int, object] = {}   # running K thresholds: the past keys' statistics per layer

    def update(self, key_states: Tensor, value_states: Tensor, layer_idx: int, *args, **kwargs):
        encoder = self.encoders.get(layer_idx)
        if encoder is None:   # an FP layer (not converted, or attention left unquantized)
            return super().update(key_states, value_states, layer_idx, *args, **kwargs)
        if encoder.key_scale is KeyScale.RUNNING:
            prior = self.key_statistics.get(layer_idx)
            k_new = encoder.encode_keys(key_states, prior)
            self.key_statistics[layer_idx] = encoder.code.running_statistics(key_states.float(), -2, prior)
        else:
            k_new = encoder.encode_keys(key_states)
        keys, values = super().update(k_new, encoder.encode_values(value_states), layer_idx, *args, **kwargs)
        encoder.expect_encoded(keys, values)
        return keys, values


class EncodedCache(_Encoding, DynamicCache):
    """``DynamicCache`` (sliding-window layers included) whose layers store spike-encoded ``K̂``, ``V̂``."""

    def __init__(self, model, **kwargs):
        super().__init__(config=model.config, **kwargs)
        self._bind(model)


class EncodedStaticCache(_Encoding, StaticCache):
    """``StaticCache`` (preallocated ``max_cache_len`` rows, positions kept on the device) holding ``K̂``, ``V̂``:
    a decode step has fixed shapes and no host synchronization, so it can be captured as a CUDA graph
    (``benchmarks/decode.py``). Per-token K only (the running threshold's statistics are host-side state)."""

    def __init__(self, model, max_cache_len: int, **kwargs):
        super().__init__(config=model.config, max_cache_len=max_cache_len, **kwargs)
        self._bind(model)
        if any(e is not None and e.key_scale is not KeyScale.TOKEN for e in self.encoders.values()):
            raise ValueError("EncodedStaticCache holds per-token K only: convert with key_scale='token' or decode "
                             "with EncodedCache")

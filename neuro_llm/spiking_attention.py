"""Spiking self-attention: the two activation-by-activation products driven by spikes.

* ``QKᵀ``: Q is encoded per token (and head), K per channel over tokens. K's spike trains are integrated
  into the synaptic matrix ``K̂ = Δ_k (Σ_t S_k[t] - z_k)``; Q's spikes then drive it step by step:
  ``scores = Δ_q · (Σ_t S_q[t] K̂ᵀ - z_q · rowsum K̂)``.
* ``P·V``: V is encoded per token; the softmax probabilities ``P`` (floating point) weight V's spikes:
  ``out = Σ_t P (Δ_v S_v[t]) - P (Δ_v z_v)``.

Grouped-query attention: K and V are encoded per key/value head (their scales belong to the head
group), then shared by the query heads of the group. Softmax, RoPE and the KV cache stay floating point
(the cache holds un-encoded K and V; each forward re-encodes them). The products accumulate in float64
in both modes, so ``explicit`` and ``collapsed`` differ only by float64 rounding.
"""
from __future__ import annotations

import torch
from torch import nn

from neuro_llm import observe
from neuro_llm.encoding import SpikeCode

Tensor = torch.Tensor
ACC = torch.float64
ATTENTION_NAME = "neuro_llm_spiking"


def repeat_heads(x: Tensor, groups: int, head_dim: int = -3) -> Tensor:
    """Share each key/value head with the ``groups`` query heads of its group."""
    return x if groups == 1 else torch.repeat_interleave(x, groups, dim=head_dim)


class SpikingAttention(nn.Module):
    """Spike encoders of Q, K and V for one attention module (attached as ``attn.spiking``)."""

    def __init__(self, code: SpikeCode, steps: int, site: str = "", layer: int = -1, mode: str = "collapsed"):
        super().__init__()
        self.code, self.steps, self.site, self.layer, self.mode = code, steps, site, layer, mode

    def _encode(self, x: Tensor, dim: int, name: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Returns ``(count, scale, zero, spikes)``; ``spikes`` only in explicit mode."""
        scale, zero = self.code.scale_zero(x, self.steps, dim)
        if self.mode == "explicit":
            spikes = self.code.spikes(x, scale, zero, self.steps)
            count = spikes.sum(0)
        else:
            spikes, count = None, self.code.count(x, scale, zero, self.steps)
        if observe.active():
            observe.notify(observe.Encoded(f"{self.site}.{name}", self.layer, self.code, count, self.steps,
                                           spikes=spikes))
        return count, scale, zero, spikes

    @staticmethod
    def _decode(count: Tensor, scale: Tensor, zero: Tensor | None) -> Tensor:
        centred = count - zero if zero is not None else count
        return scale.to(ACC) * centred.to(ACC)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None,
                scaling: float, groups: int) -> tuple[Tensor, Tensor]:
        dtype = query.dtype
        q_count, q_scale, q_zero, q_spikes = self._encode(query.float(), -1, "q")
        k_count, k_scale, k_zero, _ = self._encode(key.float(), -2, "k")
        v_count, v_scale, v_zero, v_spikes = self._encode(value.float(), -1, "v")
        k_hat = repeat_heads(self._decode(k_count, k_scale, k_zero), groups)

        if self.mode == "explicit":
            scores = torch.matmul(q_spikes.to(ACC), k_hat.transpose(-1, -2)).sum(0)
            if q_zero is not None:
                scores = scores - q_zero.to(ACC) * k_hat.sum(-1).unsqueeze(-2)
            scores = q_scale.to(ACC) * scores
        else:
            scores = torch.matmul(self._decode(q_count, q_scale, q_zero), k_hat.transpose(-1, -2))

        scores = scores.to(dtype) * scaling
        if attention_mask is not None:
            scores = scores + attention_mask[..., : key.shape[-2]]
        elif query.shape[-2] > 1:
            q_len, kv_len = query.shape[-2], key.shape[-2]
            causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
            scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)

        p = probs.to(ACC)
        if self.mode == "explicit":
            psp = repeat_heads(v_spikes.to(ACC) * v_scale.to(ACC), groups, head_dim=-3)
            out = torch.matmul(p, psp).sum(0)
            if v_zero is not None:
                out = out - torch.matmul(p, repeat_heads(v_scale.to(ACC) * v_zero.to(ACC), groups))
        else:
            out = torch.matmul(p, repeat_heads(self._decode(v_count, v_scale, v_zero), groups))
        return out.to(dtype).transpose(1, 2).contiguous(), probs


def spiking_attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """``transformers`` attention interface: spiking where the module was converted, eager otherwise."""
    from transformers.models.llama.modeling_llama import eager_attention_forward

    spiking = getattr(module, "spiking", None)
    if spiking is None:
        return eager_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                       dropout=dropout, **kwargs)
    if scaling is None:
        scaling = module.head_dim ** -0.5
    return spiking(query, key, value, attention_mask, scaling, module.num_key_value_groups)


def register_attention() -> None:
    """Make ``config._attn_implementation = "neuro_llm_spiking"`` valid (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(ATTENTION_NAME, spiking_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, eager_mask)

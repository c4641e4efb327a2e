"""Optimal Brain Spiking: which input channels deserve more GIF steps.

First order (SpikeLLM): for ``y = x Wᵀ`` the Taylor term of ``½‖y‖²`` in the input is ``x ⊙ (x Wᵀ W)``;
a channel's saliency is its mean over calibration tokens, ``s_c = mean_tokens(x ⊙ x Wᵀ W)_c``
(accumulated by :class:`neuro_llm.calibrate.loop.LinearInputStats`).

Second order (OBS / GPTQ / PB-LLM): removing weight ``w_oc`` costs ``w_oc² / [H⁻¹]_cc²``-weighted error
with ``H = 2 X Xᵀ``; a channel's saliency sums it over the output rows, ``s_c = Σ_o w_oc² / [H⁻¹]_cc²``.

Attention (the operands are activations, so the "weights" of one product are the other operand): for
``QKᵀ`` the K channels are ranked by ``mean_tokens(K ⊙ K Qᵀ Q)`` and for ``P·V`` the V channels by
``mean_tokens(V ⊙ Pᵀ P V)`` (:class:`AttentionSaliency`), summed over the query heads of each key/value
group and over the key/value heads (one allocation per head dimension, shared by the heads).

Either way the ``round(fraction · C)`` channels of largest ``|s|`` get ``salient_steps`` steps.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def inverse_hessian_diagonal(hessian: Tensor, damp: float = 0.01) -> Tensor:
    """``diag(H⁻¹)`` with GPTQ's dampening ``H + damp · mean(diag H) · I`` (dead channels get ``H_cc = 1``)."""
    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    h += damp * torch.mean(torch.diag(h)) * torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    return torch.diag(torch.cholesky_inverse(torch.linalg.cholesky(h))).float()


def second_order_saliency(weights, hessian: Tensor) -> Tensor:
    """``s_c = Σ_o w_oc² / [H⁻¹]_cc²`` for a layer's (dequantized) weights."""
    w = weights.codes * weights.scale if weights.scale is not None else weights.codes
    return (w.float() ** 2).sum(0) / inverse_hessian_diagonal(hessian).to(w.device) ** 2


class AttentionSaliency:
    """Accumulates the K and V channel saliencies ``[head_dim]`` over calibration windows."""

    def __init__(self, keep_terms: bool = False):
        self.k = self.v = None
        self.tokens = 0
        self.terms = [] if keep_terms else None   # data-parallel runs: (s_k, s_v) of each window

    def add(self, query: Tensor, key: Tensor, value: Tensor, probs: Tensor, groups: int) -> None:
        q, k, v, p = query.float(), key.float(), value.float(), probs.float()
        b, kv_heads, s, d = k.shape
        gram_q = (q.transpose(-1, -2) @ q).view(b, kv_heads, groups, d, d).sum(2)          # Σ_h∈g Q_hᵀ Q_h
        s_k = (k * (k @ gram_q)).sum((0, 1, 2))
        gram_p = (p.transpose(-1, -2) @ p).view(b, kv_heads, groups, s, s).sum(2)          # Σ_h∈g P_hᵀ P_h
        s_v = (v * (gram_p @ v)).sum((0, 1, 2))
        if self.terms is not None:
            self.terms.append((s_k, s_v))
        self.k = s_k if self.k is None else self.k + s_k
        self.v = s_v if self.v is None else self.v + s_v
        self.tokens += b * s


def allocate_steps(saliency: Tensor, fraction: float, base_steps: int, salient_steps: int) -> Tensor:
    """Per-channel step counts: the ``round(fraction·C)`` channels of largest ``|s|`` get ``salient_steps``."""
    steps = torch.full(saliency.shape, base_steps, dtype=torch.long)
    k = int(round(fraction * saliency.numel()))
    if k > 0:
        steps[torch.topk(saliency.abs(), k).indices] = salient_steps
    return steps

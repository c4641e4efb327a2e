"""Optimal Brain Spiking: which input channels deserve more GIF steps.

First order (SpikeLLM): for ``y = x Wᵀ`` the Taylor term of ``½‖y‖²`` in the input is ``x ⊙ (x Wᵀ W)``;
a channel's saliency is its mean over calibration tokens, ``s_c = mean_tokens(x ⊙ x Wᵀ W)_c``
(accumulated by :class:`neuro_llm.calibrate.loop.LinearInputStats`).

Second order (OBS / GPTQ / PB-LLM): removing weight ``w_oc`` costs ``w_oc² / [H⁻¹]_cc²``-weighted error
with ``H = 2 X Xᵀ``; a channel's saliency sums it over the output rows, ``s_c = Σ_o w_oc² / [H⁻¹]_cc²``.

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


def allocate_steps(saliency: Tensor, fraction: float, base_steps: int, salient_steps: int) -> Tensor:
    """Per-channel step counts: the ``round(fraction·C)`` channels of largest ``|s|`` get ``salient_steps``."""
    steps = torch.full(saliency.shape, base_steps, dtype=torch.long)
    k = int(round(fraction * saliency.numel()))
    if k > 0:
        steps[torch.topk(saliency.abs(), k).indices] = salient_steps
    return steps

"""PB-LLM (Shang et al., 2023), the partially binarized baseline, in its GPTQ-PB form.

Per linear layer ``y = x Wᵀ`` with ``H = (2/n) Σ x xᵀ``:

1. **Salient weights** (unstructured, per weight): the ``p = weight_salient`` fraction (exactly
   ``round(p · out · in)`` weights) of largest OBS saliency ``s_oc = w_oc² / [H⁻¹]_cc²``
   (:func:`salient_mask`). They are kept at 8 bits: per-row asymmetric RTN on the salient weights' own
   range, ``ŵ = Δ_o (clamp(round(w/Δ_o) + z_o, 0, 255) - z_o)``.
2. **The rest is binarized**: ``ŵ = α_o · sign(w)`` (``sign(0) = +1``) with the per-row scale
   ``α_o = mean |w_oc|`` over the row's non-salient weights (the L2-optimal scale for fixed signs).
3. **GPTQ error compensation**: columns are quantized left to right and each column's error is pushed
   onto the columns not yet quantized (:func:`neuro_llm.calibrate.gptq.gptq_quantize`). The mask, ``α``
   and the 8-bit grids come from the original weights.

Differences to the reference code: the saliency uses the true ``diag(H⁻¹)`` (PB-LLM divides by the
diagonal of the Cholesky factor of ``H⁻¹``); the binarizer is plain ``α·sign(w)`` without PB-LLM's
"xnor" per-row mean offset; the 8-bit grid spans the salient weights only.

The weights come back as float (``scale=None``): binary and 8-bit values do not share one integer grid.
``bits = (1-p)·1 + p·8`` (1.7 at ``p = 0.1``), as PB-LLM reports it: the per-row scales and the salient
mask's position bits are **not** counted (a bitmap would add 1 bit per weight, a CSR index about
``p · log2(in)``).
"""
from __future__ import annotations

import torch

from neuro_llm.arch import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.calibrate.gptq import gptq_quantize
from neuro_llm.calibrate.saliency import inverse_hessian_diagonal

Tensor = torch.Tensor
SALIENT_BITS = 8


def salient_mask(weight: Tensor, hessian: Tensor, fraction: float) -> Tensor:
    """Boolean ``[out, in]`` mask of the ``round(fraction · numel)`` weights of largest ``w² / [H⁻¹]_cc²``."""
    k = int(round(fraction * weight.numel()))
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    if k > 0:
        score = weight.float() ** 2 / inverse_hessian_diagonal(hessian).to(weight.device) ** 2
        mask[torch.topk(score.flatten(), k).indices] = True
    return mask.view_as(weight)


def quantize_columns(weight: Tensor, hessian: Tensor, quantize_column, compensate: bool = True) -> Tensor:
    """``quantize_column(w_j, j)`` over all columns, with GPTQ error feedback or (``compensate=False``)
    plain per-column rounding of the original weights (dead input channels zeroed either way)."""
    if compensate:
        return gptq_quantize(weight, hessian, quantize_column)
    w = weight.detach().float().clone()
    w[:, torch.diag(hessian).to(w.device) == 0] = 0
    return torch.stack([quantize_column(w[:, j], j) for j in range(w.shape[1])], dim=1)


def row_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Per-row mean of ``values`` over ``mask`` (``0`` for a row with nothing selected); ``[out, 1]``."""
    return (values * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1)


@torch.no_grad()
def pbllm_weight(weight: Tensor, hessian: Tensor, fraction: float, compensate: bool = True) -> tuple[Tensor, Tensor]:
    """``(Ŵ, salient mask)`` of one layer: 8-bit salient weights, ``α·sign(w)`` elsewhere."""
    w = weight.detach().float().clone()
    w[:, torch.diag(hessian).to(w.device) == 0] = 0
    mask = salient_mask(w, hessian, fraction)
    alpha = row_mean(w.abs(), ~mask)[:, 0]
    n = 2 ** SALIENT_BITS - 1
    big = torch.finfo(w.dtype).max
    lo = torch.where(mask, w, big).amin(1).clamp_max(0)   # the salient range, widened to contain 0
    hi = torch.where(mask, w, -big).amax(1).clamp_min(0)
    step = ((hi - lo) / n).clamp_min(1e-8)
    zero = torch.round(-lo / step)

    def column(col: Tensor, j: int) -> Tensor:
        binary = alpha * torch.where(col >= 0, 1.0, -1.0)
        high = step * (torch.clamp(torch.round(col / step) + zero, 0, n) - zero)
        return torch.where(mask[:, j], high, binary)

    return quantize_columns(w, hessian, column, compensate), mask


def average_bits(fraction: float) -> float:
    """``(1-p)·1 + p·8`` storage bits per weight (mask positions and scales not counted)."""
    return (1 - fraction) * 1 + fraction * SALIENT_BITS


class PBLLM(BlockCalibrator):
    """PB-LLM with GPTQ-PB error compensation; ``compensate=False`` gives plain partial binarization."""
    needs_data = True
    needs_hessian = True

    def __init__(self, compensate: bool = True):
        self.compensate = compensate

    def calibrate_block(self, block, inputs, targets, ctx):
        out = {}
        for name in LINEAR_NAMES:
            weight = block.get_submodule(name).weight
            w_hat, mask = pbllm_weight(weight, ctx.stats[name].mean_hessian, ctx.config.weight_salient, self.compensate)
            out[name] = LinearWeights(w_hat, None, average_bits(float(mask.float().mean())))
        return out

"""Sparse ternary weight spikes (SpikeLLM): additive-only linear layers.

Every weight is an integer code times a per-row step, ``W_oc = α_o · c_oc``, and ``c_oc`` is the sum of
the weight's ternary GIF spikes (each step ``-1 / 0 / +1``): a synapse only ever adds or subtracts
``α_o`` (or, executed as a code, its integer ``c``), so the layer needs no multiplications.

* **Salient weights** (unstructured): the ``p = weight_salient`` fraction (exactly ``round(p·out·in)``
  per layer) of largest OBS saliency ``w_oc² / [H⁻¹]_cc²`` (:func:`neuro_llm.calibrate.pbllm.salient_mask`)
  get ``T = 2**weight_extra_steps`` ternary steps: ``c ∈ {-T..T}``.
* **The rest** get one step: ``c ∈ {-1, 0, 1}``.
* **Codes** ``c = clamp(round(w / α_o), -m_oc, m_oc)`` (``m = 1`` or ``T``): the zero band is
  ``|w| < α_o / 2``.
* **The step** ``α_o`` of a row minimizes the ``H_cc``-weighted rounding error of the original weights,
  ``Σ_c H_cc (w_oc - α_o c_oc)²`` (the diagonal part of the layer output error ``(w - ŵ) H (w - ŵ)ᵀ``),
  over the geometric grid ``α = r · mean_c |w_oc|``, ``r ∈ [0.3, 32]`` (:func:`ternary_step`): a per-row
  search of the zero band ``|w| < α/2``. TWN's closed form (``Δ = 0.7 mean|w|``, ``α = mean |w|`` over
  ``|w| > Δ``) gives ``r ≈ 1.5`` for Gaussian weights, and most rows pick ``r ≈ 1.1–1.4``. The tail
  matters: a row whose outlier weight (``max|w| / mean|w|`` up to ~57 in SmolLM2-135M) sits on a
  high-energy input channel picks ``r`` up to ~25, zeroing most of the row rather than clipping the
  outlier at ``T·α`` (the unweighted error over ``r ∈ [0.5, 2.5]`` collapsed the model).
* **GPTQ error compensation** over columns (:func:`neuro_llm.calibrate.gptq.gptq_quantize`), with the
  mask and ``α`` fixed from the original weights.

Returns integer ``codes = c`` with ``scale = α`` (``[out, 1]``), so explicit and collapsed execution stay
bit-identical. ``bits`` counts spike steps of ``log2 3`` bits: ``(1-p)·log2 3 + p·T·log2 3`` (1.74 at
``p = 0.1, T = 2``; mask positions and per-row scales not counted). The fraction of zero codes (no spike
at all) is kept in :attr:`SparseTernary.sparsity`; :func:`code_sparsity` reads it off a converted model.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from neuro_llm.arch import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.calibrate.pbllm import quantize_columns, salient_mask
from neuro_llm.spiking.linear import SpikingLinear

Tensor = torch.Tensor
STEP_GRID = torch.logspace(math.log10(0.3), math.log10(32), 80)  # r: α = r · mean|w|


def ternary_codes(w: Tensor, alpha: Tensor, levels: Tensor) -> Tensor:
    """``clamp(round(w / α), -m, m)`` elementwise (``alpha`` and ``levels`` broadcast against ``w``)."""
    return torch.maximum(torch.minimum(torch.round(w / alpha), levels), -levels)


def ternary_step(w: Tensor, levels: Tensor, importance: Tensor | None = None) -> Tensor:
    """Per-row ``α`` (``[out]``) minimizing ``Σ_c h_c (w - α·clamp(round(w/α), ±m))²`` over ``r · mean|w|``
    (``h_c = importance``, e.g. ``H_cc``; 1 if ``None``)."""
    h = torch.ones(w.shape[1], device=w.device) if importance is None else importance.to(w.device).float()
    base = w.abs().mean(1, keepdim=True).clamp_min(1e-8)
    best_err, best = None, None
    for r in STEP_GRID.tolist():
        alpha = r * base
        err = (h * (w - alpha * ternary_codes(w, alpha, levels)) ** 2).sum(1, keepdim=True)
        best = alpha if best is None else torch.where(err < best_err, alpha, best)
        best_err = err if best_err is None else torch.minimum(err, best_err)
    return best[:, 0]


@torch.no_grad()
def sparse_ternary_weight(weight: Tensor, hessian: Tensor, fraction: float, steps: int,
                          compensate: bool = True, weighted: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(codes, α [out, 1], salient mask)`` of one layer: ``|c| ≤ steps`` on salient weights, ``≤ 1`` elsewhere."""
    w = weight.detach().float().clone()
    w[:, torch.diag(hessian).to(w.device) == 0] = 0
    mask = salient_mask(w, hessian, fraction) if steps > 1 else torch.zeros_like(w, dtype=torch.bool)
    levels = torch.where(mask, float(steps), 1.0)
    alpha = ternary_step(w, levels, torch.diag(hessian) if weighted else None)
    w_hat = quantize_columns(w, hessian, lambda col, j: alpha * ternary_codes(col, alpha, levels[:, j]), compensate)
    return torch.round(w_hat / alpha[:, None]), alpha[:, None], mask


def average_bits(fraction: float, steps: int) -> float:
    """``(1-p)·log2 3 + p·T·log2 3``: one ternary spike step carries ``log2 3`` bits."""
    return ((1 - fraction) + fraction * steps) * math.log2(3)


def code_sparsity(model: nn.Module) -> float:
    """Fraction of zero weight codes over all integer-coded spiking linears of a converted ``model``."""
    layers = [m for m in model.modules() if isinstance(m, SpikingLinear) and m.integer_weights]
    return sum(int((m.codes == 0).sum()) for m in layers) / max(1, sum(m.codes.numel() for m in layers))


class SparseTernary(BlockCalibrator):
    """Sparse ternary weight spikes; ``sparsity[(block, name)]`` = fraction of zero codes of each layer."""
    needs_data = True
    needs_hessian = True

    def __init__(self, compensate: bool = True):
        self.compensate = compensate
        self.sparsity: dict[tuple[int, str], float] = {}

    def calibrate_block(self, block, inputs, targets, ctx):
        steps = 2 ** ctx.config.weight_extra_steps
        out = {}
        for name in LINEAR_NAMES:
            weight = block.get_submodule(name).weight
            codes, alpha, mask = sparse_ternary_weight(weight, ctx.stats[name].mean_hessian,
                                                       ctx.config.weight_salient, steps, self.compensate)
            self.sparsity[(ctx.index, name)] = float((codes == 0).float().mean())
            out[name] = LinearWeights(codes, alpha, average_bits(float(mask.float().mean()), steps))
        return out

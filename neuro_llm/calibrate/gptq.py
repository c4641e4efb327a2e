"""GPTQ (Frantar et al., ICLR 2023): quantize a weight matrix column by column, pushing each column's
rounding error onto the columns not yet quantized, weighted by the inverse Hessian of the layer input.

With ``H = (2/n) Σ x xᵀ`` (dampened by ``1 %`` of its mean diagonal) and ``U`` the upper Cholesky factor
of ``H⁻¹``, for column ``j``::

    q_j = Q(w_j),   e_j = (w_j - q_j) / U_jj,   w_{k>j} -= e_j · U_{j,k}

processed in blocks of 128 columns (lazy batch updates). ``act_order`` visits columns by decreasing
``H_jj``. The column quantizer ``Q`` is pluggable (:func:`gptq_quantize`), so PB-LLM's binarization and
the sparse ternary weight spikes reuse the same error feedback.
"""
from __future__ import annotations

from typing import Callable

import torch

from neuro_llm.spiking import quant
from neuro_llm.arch import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.calibrate.rtn import float_weights
from neuro_llm.config import FULL_PRECISION_BITS

Tensor = torch.Tensor
ColumnQuantizer = Callable[[Tensor, int], Tensor]   # (column w_j [out], original index j) -> quantized column


def inverse_hessian_factor(hessian: Tensor, damp: float = 0.01) -> tuple[Tensor, Tensor]:
    """``(U, dead)``: upper Cholesky factor of the dampened ``H⁻¹``, and the channels that never fired."""
    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    h += damp * torch.mean(torch.diag(h)) * torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True).float(), dead


def gptq_quantize(weight: Tensor, hessian: Tensor, quantize_column: ColumnQuantizer, block_size: int = 128,
                  act_order: bool = False, damp: float = 0.01) -> Tensor:
    """Quantized copy of ``weight`` (``[out, in]``) with GPTQ's error feedback; ``quantize_column(w_j, j)``
    maps a column to its quantized values (``j`` is the column's original index)."""
    hessian = hessian.to(weight.device)
    columns = weight.shape[1]
    order = torch.argsort(torch.diag(hessian), descending=True) if act_order else torch.arange(columns, device=weight.device)
    u, dead = inverse_hessian_factor(hessian[order][:, order], damp)
    w = weight.detach().float()[:, order].clone()
    w[:, dead] = 0
    q = torch.zeros_like(w)
    for start in range(0, columns, block_size):
        end = min(start + block_size, columns)
        block, errors, ub = w[:, start:end].clone(), torch.zeros_like(w[:, start:end]), u[start:end, start:end]
        for i in range(end - start):
            q[:, start + i] = quantize_column(block[:, i], int(order[start + i]))
            err = (block[:, i] - q[:, start + i]) / ub[i, i]
            block[:, i:] -= err.unsqueeze(1) * ub[i, i:].unsqueeze(0)
            errors[:, i] = err
        w[:, end:] -= errors @ u[start:end, end:]
    out = torch.empty_like(q)
    out[:, order] = q
    return out


def _row_grid(weight: Tensor, bits: int) -> tuple[Tensor, Tensor, int]:
    n = 2 ** bits - 1
    scale, zero = quant.asymmetric_scale_zero(weight, n, dim=1)
    return scale, zero, n


def gptq_linear(weight: Tensor, hessian: Tensor, bits: int, group_size: int | None = None,
                act_order: bool = False) -> LinearWeights:
    """GPTQ with per-row asymmetric ``bits``-bit grids: integer codes + per-row scale; with ``group_size``,
    a grid per group of input columns (float weights, since one row then has several scales)."""
    w = weight.detach().float()
    if group_size is None:
        scale, zero, n = _row_grid(w, bits)
        deq = gptq_quantize(w, hessian, lambda col, j: scale[:, 0] * (quant.asymmetric_count(col, scale[:, 0], zero[:, 0], n) - zero[:, 0]),
                            act_order=act_order)
        return LinearWeights(torch.round(deq / scale), scale, float(bits))
    grids = {}

    def column(col: Tensor, j: int) -> Tensor:
        g = j // group_size
        if g not in grids:  # the group's grid, from the original weights of its columns
            grids[g] = _row_grid(w[:, g * group_size: (g + 1) * group_size], bits)
        scale, zero, n = grids[g]
        return scale[:, 0] * (quant.asymmetric_count(col, scale[:, 0], zero[:, 0], n) - zero[:, 0])

    deq = gptq_quantize(w, hessian, column, act_order=act_order)
    return LinearWeights(deq, None, bits + 32 / group_size)  # + one fp16 scale and zero per group


class GPTQ(BlockCalibrator):
    needs_data = True
    needs_hessian = True

    def calibrate_block(self, block, inputs, targets, ctx):
        c = ctx.config
        out = {}
        for name in LINEAR_NAMES:
            linear = block.get_submodule(name)
            if c.wbits >= FULL_PRECISION_BITS:
                out[name] = float_weights(linear)
            else:
                out[name] = gptq_linear(linear.weight, ctx.stats[name].mean_hessian, c.wbits, c.group_size, c.act_order)
        return out

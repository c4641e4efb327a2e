"""GPTQ (Frantar et al., ICLR 2023): quantize a weight matrix column by column, pushing each column's
rounding error onto the columns not yet quantized, weighted by the inverse Hessian of the layer input.

With ``H = (2/n) Σ x xᵀ`` (dampened by ``1 %`` of its mean diagonal) and ``U`` the upper Cholesky factor
of ``H⁻¹``, for column ``j``::

    q_j = Q(w_j),   e_j = (w_j - q_j) / U_jj,   w_{k>j} -= e_j · U_{j,k}

processed in blocks of 128 columns (lazy batch updates: later blocks get one GEMM of the block's errors).
On CUDA the per-row integer grid runs each block as one Triton launch (rows are independent; each
program keeps its rows' block in registers and runs the column loop there), checked against the
per-column reference loop (:func:`gptq_quantize`). ``act_order`` visits columns by decreasing ``H_jj``. The column quantizer ``Q`` is pluggable (:func:`gptq_quantize`), so PB-LLM's binarization and
the sparse ternary weight spikes reuse the same error feedback.
"""
from __future__ import annotations

from typing import Callable

import torch

from neuro_llm.spiking import kernels, quant
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


def _prepare(weight: Tensor, hessian: Tensor, act_order: bool, damp: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(order, U, w)``: the column order, the upper Cholesky factor of the dampened ``H⁻¹`` in that order,
    and the float32 working copy of the weights in that order with dead columns zeroed."""
    hessian = hessian.to(weight.device)
    columns = weight.shape[1]
    order = torch.argsort(torch.diag(hessian), descending=True) if act_order else torch.arange(columns, device=weight.device)
    u, dead = inverse_hessian_factor(hessian[order][:, order], damp)
    w = weight.detach().float()[:, order].clone()
    w[:, dead] = 0
    return order, u, w


def gptq_quantize(weight: Tensor, hessian: Tensor, quantize_column: ColumnQuantizer, block_size: int = 128,
                  act_order: bool = False, damp: float = 0.01) -> Tensor:
    """Quantized copy of ``weight`` (``[out, in]``) with GPTQ's error feedback; ``quantize_column(w_j, j)``
    maps a column to its quantized values (``j`` is the column's original index). The reference loop: one
    column at a time inside blocks of ``block_size`` columns, lazy updates of the later blocks."""
    order, u, w = _prepare(weight, hessian, act_order, damp)
    columns = w.shape[1]
    original = order.tolist()  # one transfer, not one per column
    q = torch.zeros_like(w)
    for start in range(0, columns, block_size):
        end = min(start + block_size, columns)
        block, errors, ub = w[:, start:end].clone(), torch.zeros_like(w[:, start:end]), u[start:end, start:end]
        for i in range(end - start):
            q[:, start + i] = quantize_column(block[:, i], original[start + i])
            err = (block[:, i] - q[:, start + i]) / ub[i, i]
            block[:, i:] -= err.unsqueeze(1) * ub[i, i:].unsqueeze(0)
            errors[:, i] = err
        w[:, end:] -= errors @ u[start:end, end:]
    out = torch.empty_like(q)
    out[:, order] = q
    return out


def gptq_quantize_rows(weight: Tensor, hessian: Tensor, scale: Tensor, zero: Tensor, n: int, block_size: int = 128,
                       act_order: bool = False, damp: float = 0.01) -> Tensor:
    """:func:`gptq_quantize` with the per-row asymmetric grid ``s (clamp(round(w/s + z), 0, n) - z)``
    (``scale``, ``zero``: ``[out, 1]``). On CUDA (Triton) each block of ``block_size`` columns is one kernel
    launch whose programs own a slice of rows and run the column loop in registers; elsewhere the
    reference loop runs. The two agree up to float rounding (fused multiply-adds)."""
    if not kernels.enabled(weight):
        return gptq_quantize(weight, hessian, lambda col, j: scale[:, 0] * (
            quant.asymmetric_count(col, scale[:, 0], zero[:, 0], n) - zero[:, 0]), block_size, act_order, damp)
    from neuro_llm.calibrate._triton_gptq import gptq_block_kernel

    order, u, w = _prepare(weight, hessian, act_order, damp)
    rows, columns = w.shape
    u = u.contiguous()
    s = scale.reshape(-1).float().contiguous()
    z = zero.reshape(-1).float().contiguous()
    q = torch.zeros_like(w)
    errors = torch.empty(rows, block_size, dtype=w.dtype, device=w.device)
    block_r = 16
    width_max = 1 << (block_size - 1).bit_length()
    for start in range(0, columns, block_size):
        end = min(start + block_size, columns)
        gptq_block_kernel[(triton_cdiv(rows, block_r),)](w, w.stride(0), q, q.stride(0), errors, errors.stride(0),
                                                         u, u.stride(0), s, z, rows, start, end - start, float(n),
                                                         BLOCK_R=block_r, BLOCK_C=width_max, num_warps=4)
        if end < columns:
            w[:, end:] -= errors[:, : end - start] @ u[start:end, end:]
    out = torch.empty_like(q)
    out[:, order] = q
    return out


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


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
        deq = gptq_quantize_rows(w, hessian, scale, zero, n, act_order=act_order)
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

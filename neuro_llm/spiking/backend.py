"""The GEMM back ends of a spiking linear layer: one exact integer GEMM per channel group.

``operand [M, tiles·W] @ [C_g … C_g]ᵀ`` (``tiles = T`` explicit: the spike rows against the codes tiled ``T``
times; 1 collapsed: the counts) with the accumulation its :class:`~neuro_llm.spiking.layout.GroupPlan` fixed at
build time. Two back ends, one a storage layout of the codes (the layout decides which; streaming swaps the
stored codes between a host and a device form, so the back end follows the codes rather than a flag):

* :class:`IntegerGemm`: canonical int8/int16 codes; on CUDA bf16/fp16 operands with float32 output where exact,
  else the plan's float32 / float64 accumulator.
* :class:`Float8Gemm`: float8 e4m3 codes, each group zero-padded to 16 columns (:mod:`neuro_llm.spiking.gemm`);
  groups whose operand is beyond float8's exact range take the bf16/fp16/float32 path on the same codes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from neuro_llm.spiking import gemm
from neuro_llm.spiking.layout import EXACT_FP32, GroupPlan

Tensor = torch.Tensor
HALF = (torch.bfloat16, torch.float16)


def mm_float32_out(operand: Tensor, weight: Tensor) -> Tensor:
    """``operand @ weightᵀ`` of bf16/fp16 operands with float32 output (exact for integers; float32 operands
    on a torch without ``mm(..., out_dtype=)``)."""
    try:
        return torch.mm(operand, weight.t(), out_dtype=torch.float32)
    except (TypeError, RuntimeError):
        return torch.mm(operand.float(), weight.float().t())


class IntegerGemm:
    """The canonical integer codes (and float weights, in float64)."""

    @staticmethod
    def width(plan: GroupPlan) -> int:
        """Columns of the group's operand."""
        return plan.width

    @staticmethod
    def operand_dtype(plan: GroupPlan, explicit: bool, device: torch.device) -> torch.dtype:
        """The dtype the encoder writes its GEMM operand in (integers, exact in every choice)."""
        if plan.operand in HALF and device.type == "cuda":
            return plan.operand
        return torch.float32

    @staticmethod
    def matmul(codes: Tensor, operand: Tensor, plan: GroupPlan, explicit: bool) -> Tensor:
        tiles = plan.steps if explicit else 1
        weight = codes[:, plan.start:plan.end]
        cuda_half = operand.is_cuda and plan.operand in HALF
        dtype = plan.operand if cuda_half else plan.accumulate
        weight = weight.to(dtype)
        if tiles > 1:
            weight = weight.repeat(1, tiles)
        if cuda_half and weight.shape[1] % 16:
            # cuBLAS falls back to slow (sm75) kernels for a K that breaks 16-byte alignment (a salient group
            # of 2867 channels): zero columns on both operands change nothing and keep the fast kernels
            pad = 16 - weight.shape[1] % 16
            weight, operand = F.pad(weight, (0, pad)), F.pad(operand.to(dtype), (0, pad))
        if cuda_half:
            return mm_float32_out(operand.to(dtype), weight)
        return torch.mm(operand.to(dtype), weight.t())


class Float8Gemm:
    """The float8 layout: every group zero-padded to a multiple of 16 columns (the operand's pad columns are
    zeros, against zero weight columns)."""

    @staticmethod
    def width(plan: GroupPlan) -> int:
        return plan.padded_width

    @staticmethod
    def operand_dtype(plan: GroupPlan, explicit: bool, device: torch.device) -> torch.dtype:
        if plan.fp8_spikes if explicit else plan.fp8_counts:
            return gemm.FP8
        return IntegerGemm.operand_dtype(plan, explicit, device)

    @staticmethod
    def matmul(codes: Tensor, operand: Tensor, plan: GroupPlan, explicit: bool) -> Tensor:
        tiles = plan.steps if explicit else 1
        weight = codes[:, plan.offset:plan.offset + plan.padded_width]
        if plan.fp8_spikes if explicit else plan.fp8_counts:
            weight = weight if tiles == 1 else weight.repeat(1, tiles)
            if operand.is_cuda or gemm.exact_on(operand.device):
                return gemm.mm(operand if operand.dtype == gemm.FP8 else operand.to(gemm.FP8), weight)
            return torch.mm(operand.float(), weight.float().t())   # float8 codes on a host: exact in float32
        # counts beyond float8's exact range (a salient group's collapsed count): bf16/fp16 or float32
        dtype = plan.operand if operand.is_cuda and plan.operand in HALF else plan.accumulate
        weight = weight.to(dtype)
        weight = weight if tiles == 1 else weight.repeat(1, tiles)
        if dtype == torch.float32:
            return torch.mm(operand.to(dtype), weight.t())
        return mm_float32_out(operand.to(dtype), weight)


def backend_for(layer) -> type:
    """The back end of ``layer``'s stored codes (its layout)."""
    return Float8Gemm if layer.fp8_layout else IntegerGemm


def adaptive_accumulator(codes: Tensor, integer_weights: bool, reach: float) -> torch.dtype:
    """Adaptive codes: float32 when ``reach · max_row Σ|C|`` stays below 2^24 (exact), else float64."""
    if not integer_weights:
        return torch.float64
    row_abs = float(codes.abs().sum(1, dtype=torch.int64).max())
    return torch.float32 if reach * row_abs < EXACT_FP32 else torch.float64

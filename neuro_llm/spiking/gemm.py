"""Exact integer GEMMs in float8 (e4m3): spikes, counts and weight codes are small integers.

Every integer of magnitude at most 16 is exact in ``float8_e4m3fn`` (3 mantissa bits), so 4- and 5-bit
weight codes, and the spikes of a GIF neuron with up to 17 levels, are stored and multiplied in one
byte. Products of two such integers are exact in float32, and so is every partial sum below 2^24 —
*if* the GEMM really accumulates in float32. Hopper's float8 tensor cores keep only about 14 bits while
they add up a tile (DeepSeek-V3 report, section 3.3.2), which cuBLAS corrects by promoting partial sums to
float32 unless ``use_fast_accum`` is asked for. Measured on an H200 (torch 2.11), on integer operands with
sums up to 1.46·10^6 and K up to 44032: ``use_fast_accum=False`` matched float64 in every element, fast
accumulation was wrong in up to every element. We therefore never use fast accumulation, and before the
first float8 GEMM on a device :func:`exact_on` runs a probe of that worst case (sums growing past 2^14 with
small odd terms after large ones) against float64 — a device or library that fails it keeps the bf16 path.

On an H200 the float8 GEMM runs about 1.7× faster than bf16 and reads the stored codes directly (no
per-call int8 → bf16 cast, which cost half a bf16 GEMM's time).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os

import torch

Tensor = torch.Tensor
FP8 = getattr(torch, "float8_e4m3fn", None)
FP8_EXACT = 16          # every integer with |v| ≤ 16 is exact in e4m3
ALIGN = 16              # cuBLAS float8 GEMMs need K and N multiples of 16 (and 16-byte aligned operands)
_FORCED: contextvars.ContextVar[bool] = contextvars.ContextVar("neuro_llm_fp8_forced", default=False)


def padded(width: int) -> int:
    """``width`` rounded up to a multiple of :data:`ALIGN`."""
    return -(-width // ALIGN) * ALIGN


@contextlib.contextmanager
def forced():
    """Let :func:`exact_on` answer for CPU devices too (tests run the float8 layout on the CPU, where
    ``torch._scaled_mm`` exists in recent torch builds; it is still probed)."""
    token = _FORCED.set(True)
    try:
        yield
    finally:
        _FORCED.reset(token)


def exact_on(device: torch.device | str) -> bool:
    """Whether exact float8 GEMMs are used on ``device``: CUDA of compute capability ≥ 8.9 (or any device
    inside :func:`forced`), ``NEURO_LLM_FP8`` not ``0``, and the probe passes (cached per device)."""
    device = torch.device(device)
    if FP8 is None or not hasattr(torch, "_scaled_mm") or os.environ.get("NEURO_LLM_FP8", "1") == "0":
        return False
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.get_device_capability(index) < (8, 9):
            return False
        return _probe(f"cuda:{index}")
    return _FORCED.get() and _probe(device.type)


@functools.lru_cache(maxsize=None)
def _probe(device: str) -> bool:
    """One worst case against float64: rows whose sums climb past 2^14 with large products first and small
    odd ones after (what a 14-bit accumulator loses), K = 4096."""
    g = torch.Generator().manual_seed(0)
    k = 4096
    a = torch.randint(0, 4, (64, k), generator=g)
    b = torch.randint(4, 8, (64, k), generator=g)
    a[:, : k // 2], b[:, : k // 2] = 15, 7
    b[1::2] *= -1
    try:
        got = mm(a.to(device, FP8), b.to(device, FP8))
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return bool(torch.equal(got.double().cpu(), a.double() @ b.double().t()))


@functools.lru_cache(maxsize=None)
def _one(device: torch.device) -> Tensor:
    return torch.ones((), dtype=torch.float32, device=device)


def mm(operand: Tensor, weight: Tensor) -> Tensor:
    """``operand [M, K] @ weight [N, K]ᵀ`` in float8 with float32 accumulation and output (exact for integer
    operands of magnitude ≤ 16 and sums below 2^24; never fast accumulation)."""
    one = _one(operand.device)
    return torch._scaled_mm(operand, weight.t(), one, one, out_dtype=torch.float32, use_fast_accum=False)

"""The weight layout of a spiking linear layer: channel order, channel groups, and how the codes are stored.

Input channels are sorted by their step count (``perm``) and cut into groups of equal steps; each group's GEMM
gets a :class:`GroupPlan` when the layer is built (exact float32 or float64 accumulation, the operand dtype,
whether float8 is exact). The integer codes ``C`` are stored as the narrowest exact integer type (canonical,
what is saved), as float8 e4m3 with every group zero-padded to 16 columns on GPUs with exact float8 GEMMs
(:meth:`WeightLayout.prepare_for`), or as 4-bit nibbles for a transfer (:meth:`WeightLayout.pack_codes`); every
layout gives the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neuro_llm.spiking import gemm, kernels

Tensor = torch.Tensor
EXACT_FP32 = 2 ** 24
EXACT_OPERAND = ((torch.bfloat16, 256), (torch.float16, 2048))  # largest integer exact in each, and all below


@dataclass(frozen=True)
class GroupPlan:
    """How one channel group's GEMM runs, fixed when the layer is built (no per-call host syncs):
    ``accumulate`` float32 (exact: ``bound < 2^24``) or float64; ``operand``: the dtype of both GEMM
    operands on CUDA without float8 (bf16/fp16 when exact, with float32 output; else the accumulator dtype);
    ``fp8_spikes`` / ``fp8_counts``: the explicit / collapsed operand and the codes are exact in float8
    (magnitudes ≤ 16); ``offset``: the group's first column in the float8 layout, where every group is
    zero-padded to ``padded_width`` (a multiple of 16) columns."""
    start: int
    end: int
    steps: int
    bound: float          # n · max_row Σ_c |C_gc|: no partial sum of the GEMM exceeds it
    accumulate: torch.dtype
    operand: torch.dtype
    offset: int = 0
    fp8_spikes: bool = False
    fp8_counts: bool = False

    @property
    def width(self) -> int:
        return self.end - self.start

    @property
    def padded_width(self) -> int:
        return gemm.padded(self.width)


def operand_dtype(largest: float, accumulate: torch.dtype) -> torch.dtype:
    """The narrowest GEMM operand dtype exact for integers up to ``largest`` (float32 accumulation only)."""
    if accumulate == torch.float32:
        for dtype, exact in EXACT_OPERAND:
            if largest <= exact:
                return dtype
    return accumulate


def codes_storage(codes: Tensor, integer: bool) -> Tensor:
    """Integer codes as the narrowest exact integer type (int8, else int16, else int32); float weights as float32."""
    if not integer:
        return codes.float()
    largest = int(codes.abs().max()) if codes.numel() else 0
    for dtype in (torch.int8, torch.int16, torch.int32):
        if largest <= torch.iinfo(dtype).max:
            return codes.to(dtype)
    raise ValueError(f"integer weight codes up to {largest} do not fit int32")


def channel_groups(sorted_steps: Tensor) -> list[tuple[int, int, int]]:
    """``[(start, end, steps)]``: the runs of equal step counts over the sorted channels."""
    groups = []
    for steps in torch.unique(sorted_steps).tolist():
        idx = torch.nonzero(sorted_steps == steps).flatten()
        groups.append((int(idx[0]), int(idx[-1]) + 1, int(steps)))
    return groups


def plan_group(codes: Tensor, code, integer_weights: bool, out_features: int, start: int, end: int, steps: int,
               offset: int) -> GroupPlan:
    """The :class:`GroupPlan` of columns ``start:end`` of the (permuted, canonical) ``codes`` under ``code``."""
    if not integer_weights or code is None:
        return GroupPlan(start, end, steps, float("inf"), torch.float64, torch.float64, offset)
    codes = codes[:, start:end]
    n = float(code.capacity(steps))             # spikes and counts of the group are at most n in magnitude
    magnitude = codes.abs()                     # int8/int16/int32: no int64 copy of the whole matrix
    bound = n * float(magnitude.sum(1, dtype=torch.int64).max()) if codes.numel() else 0.0
    accumulate = torch.float32 if bound < EXACT_FP32 else torch.float64
    largest_code = float(magnitude.max()) if codes.numel() else 0.0
    del magnitude
    largest = max(n, largest_code)
    fp8 = (accumulate == torch.float32 and not code.adaptive and largest_code <= gemm.FP8_EXACT
           and out_features % gemm.ALIGN == 0)
    return GroupPlan(start, end, steps, bound, accumulate, operand_dtype(largest, accumulate), offset,
                     fp8_spikes=fp8 and code.capacity(1) <= gemm.FP8_EXACT,
                     fp8_counts=fp8 and n <= gemm.FP8_EXACT)


class WeightLayout(nn.Module):
    """The storage of a layer's codes (``codes``, ``perm``, ``weight_scale``, ``plans``): canonical integers,
    the float8 layout, or 4-bit nibbles for transfer; saved state always holds the canonical codes."""

    def _build_layout(self, codes: Tensor, weight_scale: Tensor | None, channel_steps: Tensor | None) -> None:
        out_features, in_features = codes.shape
        if self.integer_weights and codes.is_floating_point() and not torch.equal(codes, codes.round()):
            raise ValueError(f"{self.site}: integer weight codes (with a weight scale) must be integers")
        if channel_steps is None:
            channel_steps = torch.ones(in_features, dtype=torch.long)
        if channel_steps.shape != (in_features,):
            raise ValueError(f"channel_steps must have shape ({in_features},), got {tuple(channel_steps.shape)}")
        order = torch.argsort(channel_steps.cpu(), stable=True).to(channel_steps.device)
        self.register_buffer("channel_steps", channel_steps.to(torch.long).clone())
        self.register_buffer("perm", order)
        self.register_buffer("codes", codes_storage(codes[:, order], self.integer_weights).contiguous())
        self.register_buffer("weight_scale", None if weight_scale is None
                             else weight_scale.reshape(-1, 1).float().clone())
        self.register_buffer("_cols", order.to(torch.int32), persistent=False)  # the kernel's gather index
        self.groups = channel_groups(channel_steps.cpu()[order.cpu()])  # (start, end, steps) over permuted channels
        rowsums = [self.codes[:, a:b].sum(1, dtype=torch.int64) for a, b, _ in self.groups]
        self.register_buffer("_rowsum", torch.stack(rowsums).to(torch.int32) if self.integer_weights and rowsums
                             else None, persistent=False)
        self.plans, offset = [], 0
        for a, b, steps in self.groups:
            self.plans.append(plan_group(self.codes, self.code, self.integer_weights, out_features, a, b, steps, offset))
            offset += self.plans[-1].padded_width
        self._canonical_dtype = self.codes.dtype

    @property
    def fp8_eligible(self) -> bool:
        """Whether the codes can take the float8 layout (every group exact in float8 in at least one mode)."""
        return gemm.FP8 is not None and bool(self.plans) and all(p.fp8_spikes or p.fp8_counts for p in self.plans)

    @property
    def fp8_layout(self) -> bool:
        """Whether the codes are in the float8 layout (float8, each group zero-padded; see :meth:`prepare_for`),
        also while packed for transfer."""
        return (self._unpacked_dtype if self.codes_packed else self.codes.dtype) == gemm.FP8

    def canonical_codes(self) -> Tensor:
        """The codes ``[out, in]`` in ``perm``'s order as the narrowest integer type (what is saved)."""
        codes = self.unpack_transfer("codes", self.codes) if self.codes_packed else self.codes
        if not self.fp8_layout:
            return codes
        return torch.cat([codes[:, p.offset:p.offset + p.width] for p in self.plans], 1).to(self._canonical_dtype)

    def _fp8_codes(self, canonical: Tensor) -> Tensor:
        out = torch.zeros(self.out_features, sum(p.padded_width for p in self.plans), dtype=gemm.FP8,
                          device=canonical.device)
        for p in self.plans:
            out[:, p.offset:p.offset + p.width] = canonical[:, p.start:p.end].to(gemm.FP8)
        return out

    def prepare_for(self, device: torch.device | str) -> None:
        """Lay the codes out for ``device`` (where they are now or are about to be copied): float8 with
        16-aligned zero-padded groups where exact float8 GEMMs run there (:func:`gemm.exact_on`), else the
        canonical integer codes. The values, and every output, are the same in both layouts."""
        want = self.fp8_eligible and gemm.exact_on(device)
        if want == self.fp8_layout:
            return
        self.unpack_codes()
        self.codes = self._fp8_codes(self.codes) if want else self.canonical_codes()

    # -- 4-bit transfer form (streaming) -----------------------------------------------------------------
    @property
    def codes_packed(self) -> bool:
        """Whether the codes are held as 4-bit nibbles for transfer (:meth:`pack_codes`); not runnable so."""
        return self.codes.dtype == torch.uint8

    def pack_codes(self) -> bool:
        """Hold the codes as two 4-bit nibbles per byte plus a per-row floor, ``C = nibble + floor_row`` (half
        the bytes to copy to a device). Possible where every row's codes — with the zero pad columns — span at
        most 16 consecutive integers (true of RTN/GPTQ ``q - z`` codes of 4-bit weights) and the row width is
        even; returns whether it packed."""
        if self.codes_packed:
            return True
        if not self.integer_weights or self.codes.shape[1] % 2 or not self.codes.numel():
            return False
        values = self.codes.float() if self.codes.dtype == gemm.FP8 else self.codes
        floor = values.amin(1, keepdim=True).to(torch.int16)
        spread = values.amax(1, keepdim=True).to(torch.int16) - floor
        if int(spread.max()) > 15:
            return False
        nibbles = (values.to(torch.int16) - floor).to(torch.uint8)
        self._unpacked_dtype = self.codes.dtype
        self.register_buffer("_code_floor", floor.to(torch.int8), persistent=False)
        self.codes = nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)
        return True

    def unpack_transfer(self, name: str, tensor: Tensor) -> Tensor:
        """The device form of buffer ``name`` copied to a device (``tensor``): packed codes become the codes
        they stand for (in the stream the copy ran on); every other buffer is used as it arrives."""
        if name != "codes" or tensor.dtype != torch.uint8:
            return tensor
        floor = self._code_floor.to(tensor.device, non_blocking=True)
        if kernels.enabled(tensor) and (tensor.is_cuda or self._unpacked_dtype != gemm.FP8):
            return kernels.unpack_nibbles(tensor, floor, self._unpacked_dtype)   # one pass on the device
        nibbles = torch.stack((tensor & 15, tensor >> 4), -1).view(tensor.shape[0], -1)
        return (nibbles.view(torch.int8) + floor).to(self._unpacked_dtype)

    def unpack_codes(self) -> None:
        """Undo :meth:`pack_codes` in place."""
        if self.codes_packed:
            self.codes = self.unpack_transfer("codes", self.codes)
            self._buffers.pop("_code_floor", None)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.fp8_layout or self.codes_packed:
            destination[prefix + "codes"] = self.canonical_codes()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "codes"
        incoming = state_dict.get(key)
        if self.fp8_layout and incoming is not None and incoming.shape == (self.out_features, self.in_features):
            state_dict[key] = self._fp8_codes(incoming.to(self.codes.device))
            try:
                return super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
            finally:
                state_dict[key] = incoming
        return super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _apply(self, fn, recurse=True):
        """``.to(dtype)`` casts the bias like the dense model's; the float32 weight scale and the (float8)
        codes only move; arriving on a CUDA device lays the codes out for it (:meth:`prepare_for`). A host
        keeps the layout the codes arrive in (both compute the same numbers there; no conversion pass when
        a converted block goes back to the host to be streamed)."""
        self.unpack_codes()   # a packed (streaming) host copy moved as a whole: back to runnable codes
        scale, codes = self.weight_scale, self.codes
        super()._apply(fn, recurse)
        if scale is not None and self.weight_scale.dtype != scale.dtype:
            self.weight_scale = scale.to(self.weight_scale.device)
        if self.codes.dtype != codes.dtype:
            self.codes = codes.to(self.codes.device)
        if self.codes.is_cuda:
            self.prepare_for(self.codes.device)
        return self

    @property
    def weight(self) -> Tensor:
        """Dequantized weight ``s ⊙ C`` (float32) in the original channel order (for inspection and saliency)."""
        w = torch.empty(self.out_features, self.in_features, dtype=torch.float32, device=self.codes.device)
        w[:, self.perm] = self.canonical_codes().float()
        return w * self.weight_scale if self.weight_scale is not None else w

    def weight_bytes(self) -> int:
        """Bytes this layer's weights occupy (codes, scales, bias, channel order)."""
        return sum(t.numel() * t.element_size() for t in (*self.buffers(), *self.parameters()) if t is not None)

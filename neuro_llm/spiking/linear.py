"""A linear layer driven by spike-encoded inputs, with integer weight codes.

Input channels are grouped by their step count ``T_g`` (salient channels get more steps); within a
token, each group has its own threshold ``Δ_g`` and zero point ``z_g``. With weight codes ``C`` (integers,
``W = s ⊙ C`` row-wise, stored as int8 — int16 where 8-bit codes need it) the output is::

    collapsed:  y = s ⊙ Σ_g Δ_g · (q_g C_gᵀ - z_g · rowsum C_g) + b
    explicit:   y = s ⊙ Σ_g Δ_g · ([S_g[0] … S_g[T-1]] [C_g … C_g]ᵀ - z_g · rowsum C_g) + b

In explicit mode every step's spikes drive the synapses: the spike trains of a token are laid out
``[T·C]`` (step-major) against the codes tiled ``T`` times, so one GEMM sums over channels *and* time
(no output per step is formed). The bracketed GEMMs are sums of products of integers: spikes and counts
are at most ``n = T_g·(L-1)``, so every partial sum is an integer bounded by ``n · max_row Σ|C_g|``. Where
that bound is below 2^24 (decided once, when the layer is built) the GEMM runs exactly with float32
accumulation — on CUDA with bf16 operands (integers up to 256 are exact in bf16; fp16 up to 2048) and a
float32 output, elsewhere in float32; otherwise, and for float weights, in float64. The zero-point term
``z_g · rowsum C_g`` and everything after the GEMM are the same float operations in both modes, so the two
modes are bit-identical whenever the weights are quantized.

The GIF encoder runs as one fused Triton kernel on CUDA (:mod:`neuro_llm.spiking.kernels`, tested bit for
bit against the torch path, which runs everywhere else and for other codes).

On GPUs with exact float8 GEMMs (:mod:`neuro_llm.spiking.gemm`) the codes are held as float8 e4m3 (exact for
|c| ≤ 16), each channel group zero-padded to a multiple of 16 columns (:meth:`SpikingLinear.prepare_for`),
and the encoder writes float8 spikes into the same padded layout: the GEMM reads the stored codes directly.
Saved state and the CPU use the canonical int8 codes; both layouts give the same bits.

SDLLM's adaptive code (``mean|x|/k`` per token, no fixed range) has a data-dependent train length ``T``:
its groups take the torch path, choose their accumulator per call from the same counts in both modes
(fp32 below 2^24, else fp64), and the bitwise train weights step ``t`` by ``2^(T-1-t)`` (exact powers of
two), so the modes stay bit-identical there too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from neuro_llm.spiking import gemm, kernels, observe
from neuro_llm.spiking.codes import SpikeCode

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


def _operand_dtype(largest: float, accumulate: torch.dtype) -> torch.dtype:
    if accumulate == torch.float32:
        for dtype, exact in EXACT_OPERAND:
            if largest <= exact:
                return dtype
    return accumulate


def _codes_storage(codes: Tensor, integer: bool) -> Tensor:
    """Integer codes as the narrowest exact integer type (int8, else int16, else int32); float weights as float32."""
    if not integer:
        return codes.float()
    largest = int(codes.abs().max()) if codes.numel() else 0
    for dtype in (torch.int8, torch.int16, torch.int32):
        if largest <= torch.iinfo(dtype).max:
            return codes.to(dtype)
    raise ValueError(f"integer weight codes up to {largest} do not fit int32")


class SpikingLinear(nn.Module):
    def __init__(self, codes: Tensor, weight_scale: Tensor | None, bias: Tensor | None,
                 code: SpikeCode | None, channel_steps: Tensor | None, site: str = "", layer: int = -1,
                 mode: str = "collapsed"):
        super().__init__()
        out_features, in_features = codes.shape
        self.in_features, self.out_features = in_features, out_features
        self.code, self.site, self.layer, self.mode = code, site, layer, mode
        self.integer_weights = weight_scale is not None
        if self.integer_weights and codes.is_floating_point() and not torch.equal(codes, codes.round()):
            raise ValueError(f"{site}: integer weight codes (with a weight scale) must be integers")
        if channel_steps is None:
            channel_steps = torch.ones(in_features, dtype=torch.long)
        if channel_steps.shape != (in_features,):
            raise ValueError(f"channel_steps must have shape ({in_features},), got {tuple(channel_steps.shape)}")
        order = torch.argsort(channel_steps.cpu(), stable=True).to(channel_steps.device)
        self.register_buffer("channel_steps", channel_steps.to(torch.long).clone())
        self.register_buffer("perm", order)
        self.register_buffer("codes", _codes_storage(codes[:, order], self.integer_weights).contiguous())
        self.register_buffer("weight_scale", None if weight_scale is None
                             else weight_scale.reshape(-1, 1).float().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.register_buffer("_cols", order.to(torch.int32), persistent=False)  # the kernel's gather index
        sorted_steps = channel_steps.cpu()[order.cpu()]
        self.groups = []  # (start, end, steps) over the permuted channels
        for steps in torch.unique(sorted_steps).tolist():
            idx = torch.nonzero(sorted_steps == steps).flatten()
            self.groups.append((int(idx[0]), int(idx[-1]) + 1, int(steps)))
        rowsums = [self.codes[:, a:b].sum(1, dtype=torch.int64) for a, b, _ in self.groups]
        self.register_buffer("_rowsum", torch.stack(rowsums).to(torch.int32) if self.integer_weights and rowsums
                             else None, persistent=False)
        self.plans, offset = [], 0
        for a, b, steps in self.groups:
            self.plans.append(self._plan(a, b, steps, offset))
            offset += self.plans[-1].padded_width
        self._canonical_dtype = self.codes.dtype
        # the fused CUDA path (encoder kernel + epilogue kernel): GIF codes on integer weights, float32 GEMMs
        self._fused_epilogue = (code is not None and code.kind == "gif" and self.integer_weights
                                and all(p.accumulate == torch.float32 for p in self.plans))

    def _plan(self, start: int, end: int, steps: int, offset: int) -> GroupPlan:
        if not self.integer_weights or self.code is None:
            return GroupPlan(start, end, steps, float("inf"), torch.float64, torch.float64, offset)
        codes = self.codes[:, start:end]
        n = float(self.code.capacity(steps))        # spikes and counts of the group are at most n in magnitude
        magnitude = codes.abs()                     # int8/int16/int32: no int64 copy of the whole matrix
        bound = n * float(magnitude.sum(1, dtype=torch.int64).max()) if codes.numel() else 0.0
        accumulate = torch.float32 if bound < EXACT_FP32 else torch.float64
        largest_code = float(magnitude.max()) if codes.numel() else 0.0
        del magnitude
        largest = max(n, largest_code)
        fp8 = (accumulate == torch.float32 and not self.code.adaptive and largest_code <= gemm.FP8_EXACT
               and self.out_features % gemm.ALIGN == 0)
        return GroupPlan(start, end, steps, bound, accumulate, _operand_dtype(largest, accumulate), offset,
                         fp8_spikes=fp8 and self.code.capacity(1) <= gemm.FP8_EXACT,
                         fp8_counts=fp8 and n <= gemm.FP8_EXACT)

    # -- storage layout ------------------------------------------------------------------------------
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

    # -- helpers ------------------------------------------------------------------------------------
    @classmethod
    def from_linear(cls, linear: nn.Linear, codes: Tensor, weight_scale: Tensor | None, **kwargs) -> "SpikingLinear":
        return cls(codes, weight_scale, linear.bias, **kwargs).to(linear.weight.device)

    @property
    def weight(self) -> Tensor:
        """Dequantized weight ``s ⊙ C`` (float32) in the original channel order (for inspection and saliency)."""
        w = torch.empty(self.out_features, self.in_features, dtype=torch.float32, device=self.codes.device)
        w[:, self.perm] = self.canonical_codes().float()
        return w * self.weight_scale if self.weight_scale is not None else w

    def weight_bytes(self) -> int:
        """Bytes this layer's weights occupy (codes, scales, bias, channel order)."""
        return sum(t.numel() * t.element_size() for t in (*self.buffers(), *self.parameters()) if t is not None)

    def _gemm(self, operand: Tensor, plan: GroupPlan, explicit: bool) -> Tensor:
        """``operand [M, tiles·W] @ [C_g … C_g]ᵀ`` with the plan's exact accumulation (float32 or float64 out);
        ``W`` is the group's width, or its padded width when the codes are in the float8 layout (then the
        operand's pad columns are zeros, against zero weight columns)."""
        tiles = plan.steps if explicit else 1
        if self.fp8_layout:
            weight = self.codes[:, plan.offset:plan.offset + plan.padded_width]
            if plan.fp8_spikes if explicit else plan.fp8_counts:
                weight = weight if tiles == 1 else weight.repeat(1, tiles)
                if operand.is_cuda or gemm.exact_on(operand.device):
                    return gemm.mm(operand if operand.dtype == gemm.FP8 else operand.to(gemm.FP8), weight)
                return torch.mm(operand.float(), weight.float().t())   # float8 codes on a host: exact in float32
            # counts beyond float8's exact range (a salient group's collapsed count): bf16/fp16 or float32
            dtype = plan.operand if operand.is_cuda and plan.operand in (torch.bfloat16, torch.float16) \
                else plan.accumulate
            weight = weight.to(dtype)
            weight = weight if tiles == 1 else weight.repeat(1, tiles)
            if dtype == torch.float32:
                return torch.mm(operand.to(dtype), weight.t())
            return _mm_float32_out(operand.to(dtype), weight)
        weight = self.codes[:, plan.start:plan.end]
        cuda_half = operand.is_cuda and plan.operand in (torch.bfloat16, torch.float16)
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
            return _mm_float32_out(operand.to(dtype), weight)
        return torch.mm(operand.to(dtype), weight.t())

    def _operand_dtype(self, plan: GroupPlan, explicit: bool, device: torch.device) -> torch.dtype:
        """The dtype the encoder writes its GEMM operand in (integers, exact in every choice)."""
        if self.fp8_layout and (plan.fp8_spikes if explicit else plan.fp8_counts):
            return gemm.FP8
        if plan.operand in (torch.bfloat16, torch.float16) and device.type == "cuda":
            return plan.operand
        return torch.float32

    def _encode(self, x2d: Tensor, xs: Tensor | None, plan: GroupPlan, explicit: bool):
        """``(operand [M, T·W] or [M, W], scale [M, 1], zero [M, 1] | None)``; ``W`` as in :meth:`_gemm`."""
        steps = plan.steps
        width = plan.padded_width if self.fp8_layout else plan.width
        if xs is None:  # fused kernel (GIF on CUDA): reads the group's columns of x itself
            operand, scale, zero = kernels.gif_encode(x2d, self.code.per_step, steps, explicit,
                                                      cols=self._cols[plan.start:plan.end],
                                                      out_dtype=self._operand_dtype(plan, explicit, x2d.device),
                                                      width=width)
            return operand, scale, zero
        xg = xs[:, plan.start:plan.end]
        scale, zero = self.code.scale_zero(xg, steps, dim=-1)
        if explicit:
            operand = F.pad(self.code.spikes(xg, scale, zero, steps), (0, width - plan.width))  # [T, M, W]
            operand = operand.permute(1, 0, 2).reshape(xg.shape[0], -1)   # [M, T·W], step-major
        else:
            operand = F.pad(self.code.count(xg, scale, zero, steps), (0, width - plan.width))
        return operand, scale, zero

    # -- forward ------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if self.code is None:  # activations not quantized (e.g. W4A16)
            return F.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.site}: expected {self.in_features} input features, got {x.shape[-1]}")
        if self.codes_packed:
            raise RuntimeError(f"{self.site}: the weight codes are packed for streaming (4-bit nibbles); run the block "
                               "through BlockStreamer, or call unpack_codes() first")
        lead = x.shape[:-1]
        x2d = x.reshape(-1, self.in_features)
        fused = self.code.kind == "gif" and kernels.enabled(x2d)
        if fused:
            x2d = x2d if x2d.stride(-1) == 1 else x2d.contiguous()
            xs = None
        else:
            xs = x2d.float()[:, self.perm]
        explicit = self.mode == "explicit"
        watched = observe.active()
        if fused and self._fused_epilogue:
            return self._forward_fused(x2d, explicit, watched, lead, x.dtype)
        out = None
        for g, plan in enumerate(self.plans):
            if self.code.adaptive:    # data-dependent train length: the per-call torch path
                term = self._adaptive_group(xs, g, plan, explicit, watched, lead)
                out = term if out is None else out + term
                continue
            operand, scale, zero = self._encode(x2d, xs, plan, explicit)
            acc = self._gemm(operand, plan, explicit)
            if zero is not None:
                if self.integer_weights:
                    acc = acc - zero.to(acc.dtype) * self._rowsum[g].to(acc.dtype)
                else:
                    acc = acc - zero.to(acc.dtype) * self.codes[:, plan.start:plan.end].to(acc.dtype).sum(1)
            term = scale.to(acc.dtype) * acc
            out = term if out is None else out + term
            if watched:
                self._notify(operand, plan, lead, explicit)
        if self.weight_scale is not None:
            out = out * self.weight_scale.reshape(-1).to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.to(x.dtype).reshape(*lead, self.out_features)

    def _adaptive_group(self, xs: Tensor, g: int, plan: GroupPlan, explicit: bool, watched: bool,
                        lead: torch.Size) -> Tensor:
        """One channel group under SDLLM's adaptive code: ``Δ·(Σ_t w_t S[t]) Cᵀ`` (explicit) or ``Δ·q Cᵀ``,
        accumulated exactly in float32 below 2^24, else float64 (decided from this input's train length)."""
        xg = xs[:, plan.start:plan.end]
        scale, zero = self.code.scale_zero(xg, plan.steps, dim=-1)
        codes = self.codes[:, plan.start:plan.end]
        clipped = _clipped(self.code, xg, scale, plan.steps) if watched else None
        if explicit:
            # Σ_t w_t S[t] Cᵀ = (Σ_t w_t S[t]) Cᵀ exactly (integers): integrate first, so a train thousands of
            # steps long (an outlier's count) never forms a [T, tokens, out] tensor (nor a [T, tokens, in] one)
            integrated, spikes = self.code.explicit_count(xg, scale, zero, plan.steps)
            length = spikes.shape[0] if spikes is not None else self.code.train_steps(integrated, plan.steps)
            acc_dtype = self._adaptive_accumulator(g, length)
            acc = torch.matmul(integrated.to(acc_dtype), codes.to(acc_dtype).t())
            if watched:
                columns = plan.end - plan.start
                spikes_out = None if spikes is None else spikes.reshape(length, *lead, columns)
                observe.notify(observe.Encoded(self.site, self.layer, self.code, integrated.reshape(*lead, columns),
                                               length, spikes=spikes_out, channels=self.perm[plan.start:plan.end],
                                               clipped=clipped))
        else:
            count = self.code.count(xg, scale, zero, plan.steps)
            length = self.code.train_steps(count, plan.steps)
            acc_dtype = self._adaptive_accumulator(g, length)
            acc = torch.matmul(count.to(acc_dtype), codes.to(acc_dtype).t())
            if watched:
                observe.notify(observe.Encoded(self.site, self.layer, self.code,
                                               count.reshape(*lead, plan.end - plan.start), length,
                                               channels=self.perm[plan.start:plan.end], clipped=clipped))
        if zero is not None:
            acc = acc - zero.to(acc_dtype) * codes.to(acc_dtype).sum(1)
        return scale.to(acc_dtype) * acc

    def _adaptive_accumulator(self, g: int, length: int) -> torch.dtype:
        if not self.integer_weights:
            return torch.float64
        reach = float(self.code.capacity(length))
        row_abs = float(self.codes[:, self.plans[g].start:self.plans[g].end].abs().sum(1, dtype=torch.int64).max())
        return torch.float32 if reach * row_abs < EXACT_FP32 else torch.float64

    def _forward_fused(self, x2d: Tensor, explicit: bool, watched: bool, lead: torch.Size, dtype) -> Tensor:
        """CUDA path: per group, the fused encoder, one exact GEMM and the fused epilogue (same numbers); two
        groups (plain and salient channels) share one epilogue pass over both accumulators."""
        out = torch.empty(x2d.shape[0], self.out_features, dtype=dtype, device=x2d.device)
        partial = None
        weight_scale = self.weight_scale.reshape(-1)
        if len(self.plans) == 2:
            terms = []
            for g, plan in enumerate(self.plans):
                operand, scale, zero = self._encode(x2d, None, plan, explicit)
                terms.append((self._gemm(operand, plan, explicit), scale, zero, self._rowsum[g]))
                if watched:
                    self._notify(operand, plan, lead, explicit)
            kernels.linear_epilogue(*terms[0], None, out, weight_scale, self.bias, second=terms[1])
            return out.reshape(*lead, self.out_features)
        for g, plan in enumerate(self.plans):
            operand, scale, zero = self._encode(x2d, None, plan, explicit)
            acc = self._gemm(operand, plan, explicit)
            last = g == len(self.plans) - 1
            partial = kernels.linear_epilogue(acc, scale, zero, self._rowsum[g], partial, out if last else None,
                                              weight_scale, self.bias)
            if watched:
                self._notify(operand, plan, lead, explicit)
        return out.reshape(*lead, self.out_features)

    def _notify(self, operand: Tensor, plan: GroupPlan, lead: torch.Size, explicit: bool) -> None:
        columns = plan.end - plan.start
        tiles = plan.steps if explicit else 1
        width = operand.shape[-1] // tiles
        if observe.operand_suffices():   # the observers sum the counts from the operand where it lies
            observe.notify(observe.Encoded(self.site, self.layer, self.code, None, plan.steps,
                                           channels=self.perm[plan.start:plan.end],
                                           operand=(operand, tiles, width, (*lead, columns))))
            return
        operand = operand.float().reshape(-1, tiles, width)[..., :columns]
        if explicit:
            spikes = operand.permute(1, 0, 2)
            spikes = spikes.reshape(plan.steps, *lead, columns)
            observe.notify(observe.Encoded(self.site, self.layer, self.code, spikes.sum(0), plan.steps,
                                           spikes=spikes, channels=self.perm[plan.start:plan.end]))
        else:
            observe.notify(observe.Encoded(self.site, self.layer, self.code,
                                           operand.reshape(*lead, columns), plan.steps,
                                           channels=self.perm[plan.start:plan.end]))

    def extra_repr(self) -> str:
        groups = ", ".join(f"{p.end - p.start}×T{p.steps}" for p in self.plans)
        return (f"{self.in_features}→{self.out_features}, code={self.code}, channels=[{groups}], mode={self.mode}, "
                f"codes={str(self.codes.dtype).removeprefix('torch.')}")


def _mm_float32_out(operand: Tensor, weight: Tensor) -> Tensor:
    """``operand @ weightᵀ`` of bf16/fp16 operands with float32 output (exact for integers; float32 operands
    on a torch without ``mm(..., out_dtype=)``)."""
    try:
        return torch.mm(operand, weight.t(), out_dtype=torch.float32)
    except (TypeError, RuntimeError):
        return torch.mm(operand.float(), weight.float().t())


def _clipped(code: SpikeCode, x: Tensor, scale: Tensor, steps) -> int | None:
    """How many values of ``x`` the count's clamp cut (for observers); ``None`` where nothing can clip."""
    mask = code.clip_mask(x, scale, steps)
    return None if mask is None else int(mask.sum())

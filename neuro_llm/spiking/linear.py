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

Codes with a ``fused_encoder`` (GIF) run as one fused Triton kernel on CUDA (:mod:`neuro_llm.spiking.kernels`,
tested bit for bit against the torch path, which runs everywhere else and for other codes).

The layer composes small units: the weight layout (:mod:`~neuro_llm.spiking.layout`: channel order, groups and
their :class:`GroupPlan`, int8 / float8 / packed codes), the encoder (:mod:`~neuro_llm.spiking.encoder`: the
code's operand of a group, and the hand-off to the spike observers) and the GEMM back end
(:mod:`~neuro_llm.spiking.backend`, the one of the codes' layout).

On GPUs with exact float8 GEMMs (:mod:`neuro_llm.spiking.gemm`) the codes are held as float8 e4m3 (exact for
|c| ≤ 16), each channel group zero-padded to a multiple of 16 columns (:meth:`~neuro_llm.spiking.layout.WeightLayout.prepare_for`),
and the encoder writes float8 spikes into the same padded layout: the GEMM reads the stored codes directly.
Saved state and the CPU use the canonical int8 codes; both layouts give the same bits.

SDLLM's adaptive code (``mean|x|/k`` per token, no fixed range) has a data-dependent train length ``T``:
its groups take the torch path, choose their accumulator per call from the same counts in both modes
(fp32 below 2^24, else fp64), and the bitwise train weights step ``t`` by ``2^(T-1-t)`` (exact powers of
two), so the modes stay bit-identical there too.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from neuro_llm.core.modes import Mode
from neuro_llm.spiking import backend, kernels, observe
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.encoder import adaptive_group, encode_group, notify_operand
from neuro_llm.spiking.layout import EXACT_FP32, EXACT_OPERAND, GroupPlan, WeightLayout  # noqa: F401 (re-exported)

Tensor = torch.Tensor
_mm_float32_out = backend.mm_float32_out   # the old private name (tests/test_gpu.py)


class SpikingLinear(WeightLayout):
    """``y = s ⊙ Σ_g Δ_g (q_g C_gᵀ - z_g rowsum C_g) + b`` from spike-encoded inputs (see the module docstring).

    ``codes [out, in]``: integer weight codes (with ``weight_scale`` ``s``) or float weights (``None`` scale);
    ``code``: the activations' :class:`SpikeCode` (``None``: activations stay floating point);
    ``channel_steps [in]``: each input channel's step count (salient channels get more)."""

    def __init__(self, codes: Tensor, weight_scale: Tensor | None, bias: Tensor | None,
                 code: SpikeCode | None, channel_steps: Tensor | None, site: str = "", layer: int = -1,
                 mode: str = Mode.COLLAPSED):
        super().__init__()
        self.out_features, self.in_features = codes.shape
        self.code, self.site, self.layer, self.mode = code, site, layer, mode
        self.integer_weights = weight_scale is not None
        self._build_layout(codes, weight_scale, channel_steps)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        # the fused CUDA path (encoder kernel + epilogue kernel): fused-encoder codes on integer weights, fp32 GEMMs
        self._fused_epilogue = (code is not None and code.fused_encoder and self.integer_weights
                                and all(p.accumulate == torch.float32 for p in self.plans))

    @classmethod
    def from_linear(cls, linear: nn.Linear, codes: Tensor, weight_scale: Tensor | None, **kwargs) -> "SpikingLinear":
        return cls(codes, weight_scale, linear.bias, **kwargs).to(linear.weight.device)

    @property
    def mode(self) -> Mode:
        """``explicit`` or ``collapsed`` (set from either string or :class:`Mode`)."""
        return self._mode

    @mode.setter
    def mode(self, value) -> None:
        self._mode = Mode.parse(value, "mode")

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
        fused = self.code.fused_encoder and kernels.enabled(x2d)
        if fused:
            x2d = x2d if x2d.stride(-1) == 1 else x2d.contiguous()
            xs = None
        else:
            xs = x2d.float()[:, self.perm]
        explicit = self.mode is Mode.EXPLICIT
        watched = observe.active()
        gemm = backend.backend_for(self)
        if fused and self._fused_epilogue:
            return self._forward_fused(x2d, explicit, watched, lead, x.dtype, gemm)
        out = None
        for g, plan in enumerate(self.plans):
            if self.code.adaptive:    # data-dependent train length: the per-call torch path
                term = adaptive_group(self, xs, plan, explicit, watched, lead)
                out = term if out is None else out + term
                continue
            operand, scale, zero = encode_group(self, x2d, xs, plan, explicit, gemm)
            acc = gemm.matmul(self.codes, operand, plan, explicit)
            if zero is not None:
                if self.integer_weights:
                    acc = acc - zero.to(acc.dtype) * self._rowsum[g].to(acc.dtype)
                else:
                    acc = acc - zero.to(acc.dtype) * self.codes[:, plan.start:plan.end].to(acc.dtype).sum(1)
            term = scale.to(acc.dtype) * acc
            out = term if out is None else out + term
            if watched:
                notify_operand(self, operand, plan, lead, explicit)
        if self.weight_scale is not None:
            out = out * self.weight_scale.reshape(-1).to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.to(x.dtype).reshape(*lead, self.out_features)

    def _forward_fused(self, x2d: Tensor, explicit: bool, watched: bool, lead: torch.Size, dtype, gemm) -> Tensor:
        """CUDA path: per group, the fused encoder, one exact GEMM and the fused epilogue (same numbers); two
        groups (plain and salient channels) share one epilogue pass over both accumulators."""
        out = torch.empty(x2d.shape[0], self.out_features, dtype=dtype, device=x2d.device)
        partial = None
        weight_scale = self.weight_scale.reshape(-1)
        if len(self.plans) == 2:
            terms = []
            for g, plan in enumerate(self.plans):
                operand, scale, zero = encode_group(self, x2d, None, plan, explicit, gemm)
                terms.append((gemm.matmul(self.codes, operand, plan, explicit), scale, zero, self._rowsum[g]))
                if watched:
                    notify_operand(self, operand, plan, lead, explicit)
            kernels.linear_epilogue(*terms[0], None, out, weight_scale, self.bias, second=terms[1])
            return out.reshape(*lead, self.out_features)
        for g, plan in enumerate(self.plans):
            operand, scale, zero = encode_group(self, x2d, None, plan, explicit, gemm)
            acc = gemm.matmul(self.codes, operand, plan, explicit)
            last = g == len(self.plans) - 1
            partial = kernels.linear_epilogue(acc, scale, zero, self._rowsum[g], partial, out if last else None,
                                              weight_scale, self.bias)
            if watched:
                notify_operand(self, operand, plan, lead, explicit)
        return out.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        groups = ", ".join(f"{p.end - p.start}×T{p.steps}" for p in self.plans)
        return (f"{self.in_features}→{self.out_features}, code={self.code}, channels=[{groups}], mode={self.mode}, "
                f"codes={str(self.codes.dtype).removeprefix('torch.')}")

"""A linear layer driven by spike-encoded inputs, with integer weight codes.

Input channels are grouped by their step count ``T_g`` (salient channels get more steps); within a
token, each group has its own threshold ``Δ_g`` and zero point ``z_g``. With weight codes ``C`` (integers,
``W = s ⊙ C`` row-wise) the output is::

    collapsed:  y = s ⊙ Σ_g Δ_g · ((q_g - z_g) C_gᵀ) + b                  (one matmul per group)
    explicit:   y = s ⊙ Σ_g Δ_g · (Σ_t S_g[t] C_gᵀ - z_g · rowsum C_g) + b  (every step's spikes drive
                                                                            the synapses; one batched
                                                                            matmul over the time axis)

Spike levels and codes are integers, so both bracketed accumulators are exact integers in float32 as long
as they stay below 2^24; otherwise (or for float weights) both accumulate in float64. The bound is the
train's capacity times the largest row sum of ``|C|``; for SDLLM's adaptive code the train length ``T``
depends on the data (the largest count of the input), and both modes derive it from the same counts. The
bitwise train weights step ``t`` by ``2^(T-1-t)`` (``Σ_t S_g[t]`` above becomes ``Σ_t 2^(T-1-t) S_g[t]``),
exact powers of two. The two modes are therefore bit-identical whenever the weights are quantized.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from neuro_llm.spiking import observe
from neuro_llm.spiking.codes import SpikeCode

Tensor = torch.Tensor
EXACT_FP32 = 2 ** 24


class SpikingLinear(nn.Module):
    def __init__(self, codes: Tensor, weight_scale: Tensor | None, bias: Tensor | None,
                 code: SpikeCode | None, channel_steps: Tensor | None, site: str = "", layer: int = -1,
                 mode: str = "collapsed"):
        super().__init__()
        out_features, in_features = codes.shape
        self.in_features, self.out_features = in_features, out_features
        self.code, self.site, self.layer, self.mode = code, site, layer, mode
        self.integer_weights = weight_scale is not None
        if channel_steps is None:
            channel_steps = torch.ones(in_features, dtype=torch.long)
        if channel_steps.shape != (in_features,):
            raise ValueError(f"channel_steps must have shape ({in_features},), got {tuple(channel_steps.shape)}")
        order = torch.argsort(channel_steps, stable=True)
        self.register_buffer("channel_steps", channel_steps.to(torch.long).clone())
        self.register_buffer("perm", order)
        self.register_buffer("codes", codes[:, order].contiguous())
        self.register_buffer("weight_scale", None if weight_scale is None else weight_scale.reshape(-1, 1).clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        sorted_steps = channel_steps[order]
        self.groups = []  # (start, end, steps) over the permuted channels
        for steps in torch.unique(sorted_steps).tolist():
            idx = torch.nonzero(sorted_steps == steps).flatten()
            self.groups.append((int(idx[0]), int(idx[-1]) + 1, int(steps)))
        self._row_abs = [float(self.codes[:, a:b].abs().sum(1).max()) for a, b, _ in self.groups]

    # -- helpers ------------------------------------------------------------------------------------
    @classmethod
    def from_linear(cls, linear: nn.Linear, codes: Tensor, weight_scale: Tensor | None, **kwargs) -> "SpikingLinear":
        return cls(codes, weight_scale, linear.bias, **kwargs).to(linear.weight.device)

    @property
    def weight(self) -> Tensor:
        """Dequantized weight ``s ⊙ C`` in the original channel order (for inspection and saliency)."""
        w = torch.empty_like(self.codes)
        w[:, self.perm] = self.codes
        return w * self.weight_scale if self.weight_scale is not None else w

    def _accumulator_dtype(self, group: int, zero: Tensor | None, steps: int) -> torch.dtype:
        if not self.integer_weights:
            return torch.float64
        reach = self.code.capacity(steps) + (float(zero.detach().abs().max()) if zero is not None else 0.0)
        return torch.float32 if reach * self._row_abs[group] < EXACT_FP32 else torch.float64

    # -- forward ------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if self.code is None:  # activations not quantized (e.g. W4A16)
            return F.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.site}: expected {self.in_features} input features, got {x.shape[-1]}")
        xs = x.float()[..., self.perm]
        out = None
        for g, (a, b, steps) in enumerate(self.groups):
            xg = xs[..., a:b]
            scale, zero = self.code.scale_zero(xg, steps, dim=-1)
            if self.mode == "explicit":
                spikes = self.code.spikes(xg, scale, zero, steps)
                length = spikes.shape[0]  # T: fixed, or what this input's largest count needs (adaptive)
                acc_dtype = self._accumulator_dtype(g, zero, length)
                weight = self.codes[:, a:b].to(acc_dtype)
                acc = self.code.integrate(torch.matmul(spikes.to(acc_dtype), weight.t()))
                if zero is not None:
                    acc = acc - zero.to(acc_dtype) * weight.sum(1)
                if observe.active():
                    observe.notify(observe.Encoded(self.site, self.layer, self.code, self.code.integrate(spikes),
                                                   length, spikes=spikes, channels=self.perm[a:b],
                                                   clipped=_clipped(self.code, xg, scale, steps)))
            else:
                count = self.code.count(xg, scale, zero, steps)
                length = self.code.train_steps(count, steps)
                acc_dtype = self._accumulator_dtype(g, zero, length)
                weight = self.codes[:, a:b].to(acc_dtype)
                centred = count - zero if zero is not None else count
                acc = torch.matmul(centred.to(acc_dtype), weight.t())
                if observe.active():
                    observe.notify(observe.Encoded(self.site, self.layer, self.code, count, length,
                                                   channels=self.perm[a:b],
                                                   clipped=_clipped(self.code, xg, scale, steps)))
            term = scale.to(acc_dtype) * acc
            out = term if out is None else out + term
        if self.weight_scale is not None:
            out = out * self.weight_scale.reshape(-1).to(out.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        groups = ", ".join(f"{b - a}×T{s}" for a, b, s in self.groups)
        return f"{self.in_features}→{self.out_features}, code={self.code}, channels=[{groups}], mode={self.mode}"


def _clipped(code: SpikeCode, x: Tensor, scale: Tensor, steps) -> int | None:
    """How many values of ``x`` the count's clamp cut (for observers); ``None`` where nothing can clip."""
    mask = code.clip_mask(x, scale, steps)
    return None if mask is None else int(mask.sum())

"""Adaptive ternary code with unit trains (SDLLM as the authors' code defines it): signed, data-dependent length.

``Δ = mean|x|/(k·m)`` with ``m`` the channel group's step multiplier (1, or ``2**extra_steps`` for salient
channels), ``q = clamp(round(x/Δ), -cap·m, cap·m)`` (no clamp without a cap); the train is as long as the
largest count of the tensor needs, ``T = ceil(max|q| / per_step)`` steps of ``S[t] = sign(q)·clamp(|q| - t·k, 0, k)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from neurons import functional as nf
from neuro_llm.spiking import quant
from neuro_llm.spiking.codes.base import SPIKE_BUDGET, SignedCode, Tensor
from neuro_llm.spiking.codes.registry import register_code


@register_code
@dataclass(frozen=True)
class AdaptiveTernaryCode(SignedCode):
    """``k``: threshold ``mean|x| / k``; ``cap``: ``|q| ≤ cap`` (membrane clipping; ``None``: unbounded);
    ``per_step``: the largest spike of one step."""
    per_step: int = 1
    k: float = 3.0
    cap: int | None = None
    kind: str = "ternary"
    name: ClassVar[str] = "adaptive-ternary"
    label: ClassVar[str] = "ternary (adaptive, SDLLM)"
    adaptive: ClassVar[bool] = True
    chunked: ClassVar[bool] = True   # a train too long to hold is integrated a chunk of steps at a time
    spike_budget: ClassVar[int] = SPIKE_BUDGET   # spike-tensor elements held at once beyond which it chunks

    @classmethod
    def from_config(cls, config) -> "AdaptiveTernaryCode":
        return cls(per_step=config.per_step, k=float(config.threshold_k), cap=config.count_cap)

    def limit(self, steps) -> Tensor | int | None:
        """``cap·m`` (``None``: no cap)."""
        return None if self.cap is None else self.cap * steps

    def scale_zero(self, x: Tensor, steps, dim, running: bool = False, prior=None):
        return quant.adaptive_scale(x, self.k * steps, dim, running, prior), None

    def running_statistics(self, x: Tensor, dim, prior=None):
        return quant.mean_abs_statistics(x, dim, prior)

    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        return quant.symmetric_count(x, scale, self.limit(steps))

    def drain(self, count: Tensor, steps: int) -> Tensor:
        return nf.ternary_drain(count, self.per_step, steps)

    def train_steps(self, count: Tensor, steps) -> int:
        """What the largest ``|q|`` of the tensor needs (at least 1)."""
        largest = count.abs().amax()
        if not torch.isfinite(largest):
            raise FloatingPointError("NaN/Inf activations reached an sdllm spike encoder: the model or its "
                                     "quantization produced non-finite values")
        return max(1, int(self.token_steps(largest)))

    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps, max_steps: int | None = None) -> Tensor:
        count = self.count(x, scale, zero, steps)
        return self.drain(count, self.train_steps(count, steps))

    def explicit_count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps,
                       max_steps: int | None = None) -> tuple[Tensor, Tensor | None]:
        """A unit train longer than :attr:`spike_budget` elements (an outlier's count takes thousands of steps) is
        generated and integrated a chunk of steps at a time and not kept (``S`` is ``None``): every spike is still
        formed; observers then get the counts, from which every statistic of the train follows (tested equal to
        counting the spikes)."""
        count = self.count(x, scale, zero, steps)
        length = self.train_steps(count, steps)
        if not self.chunked or length * count.numel() <= self.spike_budget:
            spikes = self.drain(count, length)
            return self.integrate(spikes), spikes
        chunk = max(1, self.spike_budget // max(1, count.numel()))
        total = torch.zeros_like(count)
        for start in range(0, length, chunk):
            total += nf.ternary_drain(count, self.per_step, min(length, start + chunk), start).sum(0)
        return total, None

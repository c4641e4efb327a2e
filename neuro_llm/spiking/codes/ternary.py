"""Max-scaled ternary code (the old SDLLM guess, kept as a comparison): signed, symmetric, fixed length.

``Δ = γ·max|x| / (T·k)``, ``q = clamp(round(x/Δ), -T·k, T·k)`` (ties toward zero); a ternary neuron charged
once with ``x/Δ`` fires ``S[t] = sign(q)·clamp(|q| - t·k, 0, k)`` for ``T`` steps (``γ = clip``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from neurons import functional as nf
from neuro_llm.spiking import quant
from neuro_llm.spiking.codes.base import SignedCode, Tensor
from neuro_llm.spiking.codes.registry import register_code


@register_code
@dataclass(frozen=True)
class TernaryCode(SignedCode):
    """``per_step = k``: spikes ``-k..k`` per step; ``clip``: the threshold covers ``clip · max|x|``."""
    per_step: int
    clip: float = 1.0
    kind: str = "ternary"
    name: ClassVar[str] = "ternary"
    label: ClassVar[str] = "ternary (max-scaled)"

    def scale_zero(self, x: Tensor, steps, dim, running: bool = False, prior=None):
        return quant.symmetric_scale(x, self.capacity(steps), dim, running, prior) * self.clip, None

    def running_statistics(self, x: Tensor, dim, prior=None):
        return quant.max_abs_statistics(x, dim, prior)

    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        return quant.symmetric_count(x, scale, self.limit(steps))

    def drain(self, count: Tensor, steps: int) -> Tensor:
        return nf.ternary_drain(count, self.per_step, steps)

    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps, max_steps: int | None = None) -> Tensor:
        return nf.ternary_encode(x / scale, 1.0, self.per_step, steps, max_steps)

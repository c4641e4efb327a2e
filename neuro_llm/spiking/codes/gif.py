"""GIF multi-level code (SpikeLLM): unsigned, asymmetric, with a zero point.

``Δ = (max - min)/(T(L-1))``, ``z = round(-min/Δ)``, ``q = clamp(round(x/Δ + z), 0, T(L-1))``; a GIF neuron
charged once with ``u = x/Δ + z`` fires ``S[t] = clamp(q - t(L-1), 0, L-1)`` for ``T`` steps (``T`` fixed per
channel group). The binary IF neuron is this code with ``L = 2`` (``per_step = 1``): the same equations, so
it is not a class of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from neurons import functional as nf
from neuro_llm.spiking import quant
from neuro_llm.spiking.codes.base import SpikeCode, Tensor
from neuro_llm.spiking.codes.registry import register_code


@register_code
@dataclass(frozen=True)
class GIFCode(SpikeCode):
    """``per_step = L - 1``: the largest spike of one step (``L`` levels ``0..L-1``)."""
    per_step: int
    kind: str = "gif"
    name: ClassVar[str] = "gif"
    label: ClassVar[str] = "GIF (SpikeLLM)"
    fused_encoder: ClassVar[bool] = True
    encode_ops: ClassVar[int] = 3
    decode_ops: ClassVar[int] = 2

    def scale_zero(self, x: Tensor, steps, dim, running: bool = False, prior=None):
        return quant.asymmetric_scale_zero(x, self.capacity(steps), dim, running, prior)

    def running_statistics(self, x: Tensor, dim, prior=None):
        return quant.range_statistics(x, dim, prior)

    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        return quant.asymmetric_count(x, scale, zero, self.capacity(steps))

    def drain(self, count: Tensor, steps: int) -> Tensor:
        return nf.gif_drain(count, self.per_step + 1, steps)

    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps, max_steps: int | None = None) -> Tensor:
        return nf.gif_encode(x / scale + zero, 1.0, self.per_step + 1, steps, max_steps)

"""Activation → spike trains, and the collapsed quantizer they equal.

An activation tensor ``x[..., C]`` is charged into a population of neurons whose threshold is the
quantizer step ``Δ`` (per token, or per channel over tokens). In threshold units the charge is
``u = x/Δ + z``; a GIF neuron charged with ``u`` and drained for ``T`` steps fires spikes summing to
``clamp(round(u), 0, T(L-1))`` = the asymmetric count ``q`` (ternary: signed, symmetric). The synaptic
input it delivers to the next layer is ``Σ_t Δ·S[t] - Δ·z`` = ``Δ(q - z)`` = ``x̂``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurons import functional as nf
from neuro_llm.spiking import quant

Tensor = torch.Tensor


@dataclass(frozen=True)
class SpikeCode:
    """How one activation becomes spikes: ``kind`` (gif | ternary) and the largest spike of one step."""
    kind: str
    per_step: int
    clip: float = 1.0   # ternary only: the threshold covers ``clip · max|x|`` (SDLLM clipping factor γ)

    @property
    def bits_per_step(self) -> float:
        """``log2 L`` for a GIF spike of ``L`` levels, ``log2(2k + 1)`` for a signed one."""
        return math.log2(self.per_step + 1) if self.kind == "gif" else math.log2(2 * self.per_step + 1)

    def capacity(self, steps) -> Tensor | int:
        """Largest count reachable in ``steps`` steps: ``T·(L-1)`` or ``T·k``."""
        return steps * self.per_step

    def scale_zero(self, x: Tensor, steps, dim) -> tuple[Tensor, Tensor | None]:
        """Threshold ``Δ`` and zero point ``z`` (``None`` for the symmetric ternary code) over ``dim``."""
        n = self.capacity(steps)
        if self.kind == "gif":
            return quant.asymmetric_scale_zero(x, n, dim)
        return quant.symmetric_scale(x, n, dim) * self.clip, None

    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        """Collapsed path: the quantizer's integer count (no spikes)."""
        n = self.capacity(steps)
        if self.kind == "gif":
            return quant.asymmetric_count(x, scale, zero, n)
        return quant.symmetric_count(x, scale, n)

    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        """Explicit path: the spike train ``[T_max, ..., C]`` of neurons charged once with ``x/Δ + z``."""
        if self.kind == "gif":
            return nf.gif_encode(x / scale + zero, 1.0, self.per_step + 1, steps)
        return nf.ternary_encode(x / scale, 1.0, self.per_step, steps)

    def events(self, count: Tensor) -> Tensor:
        """Number of non-zero spikes a neuron holding ``count`` fires when drained: ``ceil(|q| / per_step)``."""
        magnitude = count.abs().to(torch.int64)  # integer division: float ``q / k`` may be ``q · (1/k)`` on GPUs
        return torch.div(magnitude + self.per_step - 1, self.per_step, rounding_mode="floor")

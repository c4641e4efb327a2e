"""SDLLM's clipping factor: how much of each token's range the symmetric (ternary) code should cover.

Two-step encoding: ``x → q = clamp(round(x / Δ), -n, n)`` with ``Δ = γ · max|x| / n`` (per token), then
``q → spike train`` (ternary neurons, membrane clipped at ``±n``). ``γ < 1`` trades clipping the largest
values for a finer step on the rest. The SDLLM paper does not publish its γ search; we choose one ``γ``
per linear input from a grid by minimum reconstruction error ``‖x̂ - x‖²`` on calibration activations
(per layer, not per channel: a per-channel step would sit inside the dot product and break the integer
accumulation that keeps explicit and collapsed execution bit-identical).
"""
from __future__ import annotations

import torch

from neuro_llm.spiking.codes import SpikeCode

GRID = tuple(round(1.0 - 0.05 * i, 2) for i in range(15))  # 1.00, 0.95, ..., 0.30


def reconstruction_error(samples: torch.Tensor, code: SpikeCode, steps: int) -> float:
    scale, zero = code.scale_zero(samples, steps, dim=-1)
    count = code.count(samples, scale, zero, steps)
    return float(((scale * count - samples) ** 2).sum())


def best_clip(samples: torch.Tensor, code: SpikeCode, steps: int, grid=GRID) -> float:
    """The ``γ`` of ``grid`` with the smallest reconstruction error of ``samples`` (``[tokens, C]``)."""
    samples = samples.float()
    errors = {g: reconstruction_error(samples, SpikeCode(code.kind, code.per_step, g), steps) for g in grid}
    return min(errors, key=errors.get)

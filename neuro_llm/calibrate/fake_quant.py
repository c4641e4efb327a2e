"""Fake quantization with straight-through rounding: what OmniQuant trains through.

The forward values are the quantizers of :mod:`neuro_llm.spiking.quant` (the ones the spike trains equal); the
backward passes gradients through ``round`` unchanged (straight-through estimator), and not through the zero
point (as OmniQuant).
"""
from __future__ import annotations

import torch

from neuro_llm.spiking import quant
from neurons.functional import round_half_up

Tensor = torch.Tensor


def round_ste(v: Tensor) -> Tensor:
    """``round(v)`` forward (ties up, as the quantizers), identity backward."""
    return v + (round_half_up(v) - v).detach()


def scale_zero(xmin: Tensor, xmax: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """``Δ = (max - min)/n`` and ``z = round(-min/Δ)`` (no gradient through ``z``, as OmniQuant)."""
    scale = ((xmax - xmin) / n).clamp_min(quant.SCALE_EPS)
    return scale, round_half_up(-xmin / scale).detach()


def fake_asymmetric(x: Tensor, scale: Tensor, zero: Tensor, n: int) -> Tensor:
    """``x̂ = Δ (clamp(round(x/Δ + z), 0, n) - z)`` with a straight-through round."""
    return scale * (round_ste(x / scale + zero).clamp(0, n) - zero)


def fake_activation(x: Tensor, n: int | None, dim: int, symmetric: bool, k: float | None = None,
                    running: bool = False) -> Tensor:
    """Dynamic fake quantization over ``dim``: asymmetric (gif), or ``Δ clamp(round(x/Δ), -n, n)`` with
    ``Δ = max|x|/n`` (ternary), or ``Δ = mean|x|/k`` (SDLLM's adaptive threshold; ``n = None``: no clamp);
    ``running``: statistics over positions ``0..i`` of ``dim`` at every ``i`` (the causal running range)."""
    if k is not None:
        scale = quant.adaptive_scale(x, k, dim, running)
        q = round_ste(x / scale)
        return scale * (q if n is None else q.clamp(-n, n))
    if symmetric:
        scale = quant.symmetric_scale(x, n, dim, running)
        return scale * round_ste(x / scale).clamp(-n, n)
    low, high = quant.running_range(x, dim) if running else (x.amin(dim, keepdim=True), x.amax(dim, keepdim=True))
    return fake_asymmetric(x, *scale_zero(low, high, n), n)

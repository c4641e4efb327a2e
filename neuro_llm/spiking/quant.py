"""Uniform quantizers: the reference the spike trains are proven equal to.

Activations (dynamic, per token; or per channel over the tokens seen so far — the causal *running* range)::

    asymmetric:  Δ = (max - min) / n,  z = round(-min / Δ),  q = clamp(round(x/Δ + z), 0, n),  x̂ = Δ (q - z)
    symmetric:   Δ = max|x| / n,                            q = clamp(round(x/Δ), -n, n),      x̂ = Δ q
    adaptive:    Δ = mean|x| / k,                           q = clamp(round(x/Δ), -c, c),      x̂ = Δ q

The adaptive threshold is SDLLM's step 1 as the authors' code defines it (BICLab/SpikingBrain-7B,
``W8ASpike/quant_linear.py``, ``dynamic_spikes``; SpikingBrain report §3.3.1, eq. 19-21): the per-token
threshold is the mean absolute activation over ``k``, so ``E|q| ≈ k`` whatever the token's scale, and an
outlier is not clipped but gets a large count (more time steps). ``c`` is our optional cap on ``|q|``
(membrane clipping; ``None`` = no cap, as in the authors' code).

Weights (RTN, per output channel, asymmetric, ``b`` bits)::

    s = (max_c W - min_c W) / (2^b - 1),  z = round(-min/s),  W = s · (clamp(round(W/s) + z, 0, 2^b-1) - z)

``round`` is the neurons' own rounding (:mod:`neurons.functional`): nearest, ties up for the asymmetric
code and ties toward zero for the symmetric one. The quantizer shares the rounding primitive, not the
dynamics: counts here are one clamp of one rounding, the spike trains come from charge/fire/reset.
"""
from __future__ import annotations

import torch

from neurons.functional import round_half_to_zero, round_half_up

Tensor = torch.Tensor
SCALE_EPS = 1e-5  # as OmniQuant: a constant row still gets a usable step


def asymmetric_scale_zero(x: Tensor, n: Tensor | int, dim, running: bool = False,
                          prior=None) -> tuple[Tensor, Tensor]:
    """Step ``Δ`` and integer zero point ``z`` mapping ``[min, max]`` over ``dim`` onto ``0..n`` (``running``:
    the range of positions ``0..i`` of ``dim`` at every ``i``)."""
    if running:
        xmin, xmax = running_range(x, dim, prior)
    else:
        xmin, xmax = x.amin(dim, keepdim=True), x.amax(dim, keepdim=True)
    if not isinstance(n, torch.Tensor):  # true division on every device (CUDA turns ``/ scalar`` into ``* (1/scalar)``)
        n = torch.full_like(xmax, n)
    scale = ((xmax - xmin) / n).clamp_min(SCALE_EPS)
    zero = round_half_up(-xmin / scale)
    return scale, zero


def symmetric_scale(x: Tensor, n: Tensor | int, dim, running: bool = False, prior=None) -> Tensor:
    """Step ``Δ`` mapping ``[-max|x|, max|x|]`` over ``dim`` onto ``-n..n`` (``running``: prefix maxima)."""
    largest = running_max_abs(x, dim, prior) if running else x.abs().amax(dim, keepdim=True)
    return (largest / n).clamp_min(SCALE_EPS)


def adaptive_scale(x: Tensor, k: Tensor | float, dim, running: bool = False, prior=None) -> Tensor:
    """Threshold ``Δ = mean|x| / k`` over ``dim`` (floored at ``SCALE_EPS``, as the authors' code; ``running``:
    prefix means)."""
    mean = running_mean_abs(x, dim, prior) if running else x.abs().mean(dim, keepdim=True)
    return (mean / k).clamp_min(SCALE_EPS)


def asymmetric_count(x: Tensor, scale: Tensor, zero: Tensor, n: Tensor | int) -> Tensor:
    """``q = clamp(round(x/Δ + z), 0, n)``."""
    q = round_half_up(x / scale + zero)
    if not isinstance(n, torch.Tensor):  # no host-to-device copy of a Python number
        return q.clamp(0, n)
    return torch.minimum(q.clamp_min(0), n.to(device=q.device, dtype=q.dtype))


def symmetric_count(x: Tensor, scale: Tensor, n: Tensor | int | None) -> Tensor:
    """``q = clamp(round(x/Δ), -n, n)`` (ties toward zero); ``n = None``: no clamp."""
    q = round_half_to_zero(x / scale)
    if n is None:
        return q
    if not isinstance(n, torch.Tensor):  # no host-to-device copy of a Python number
        return q.clamp(-n, n)
    n = n.to(dtype=q.dtype, device=q.device)
    return torch.maximum(torch.minimum(q, n), -n)


def running_range(x: Tensor, dim: int, prior: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """``(min, max)`` of ``x`` over positions ``0..i`` of axis ``dim`` at every ``i`` (prefix extrema: causal);
    ``prior``: the extrema of earlier positions (a KV cache's past tokens), folded in exactly."""
    low, high = x.cummin(dim).values, x.cummax(dim).values
    if prior is not None:
        low, high = torch.minimum(low, prior[0]), torch.maximum(high, prior[1])
    return low, high


def running_max_abs(x: Tensor, dim: int, prior: Tensor | None = None) -> Tensor:
    """``max_{j <= i} |x_j|`` along ``dim`` at every ``i`` (``prior``: the maximum of earlier positions)."""
    largest = x.abs().cummax(dim).values
    return largest if prior is None else torch.maximum(largest, prior)


def running_mean_abs(x: Tensor, dim: int, prior: tuple[Tensor, int] | None = None) -> Tensor:
    """``mean_{j <= i} |x_j|`` along ``dim`` at every ``i`` (a prefix mean: causal). Summed in float64, so a sum
    continued from ``prior = (Σ|x| of earlier positions, their number)`` rounds to the same float32 mean as one
    running sum over all positions."""
    total = x.abs().double().cumsum(dim)
    start = 0
    if prior is not None:
        total, start = total + prior[0], prior[1]
    positions = torch.arange(start + 1, start + x.shape[dim] + 1, dtype=torch.float64, device=x.device)
    shape = [1] * x.dim()
    shape[dim] = -1
    return (total / positions.view(shape)).to(x.dtype)


def range_statistics(x: Tensor, dim: int, prior=None) -> tuple[Tensor, Tensor]:
    """What a running asymmetric threshold carries past positions ``0..last`` of ``dim`` (with ``prior``'s
    earlier ones): ``(min, max)``."""
    low, high = x.amin(dim, keepdim=True), x.amax(dim, keepdim=True)
    return (low, high) if prior is None else (torch.minimum(low, prior[0]), torch.maximum(high, prior[1]))


def max_abs_statistics(x: Tensor, dim: int, prior=None) -> Tensor:
    """The same for a running symmetric threshold: ``max|x|``."""
    largest = x.abs().amax(dim, keepdim=True)
    return largest if prior is None else torch.maximum(largest, prior)


def mean_abs_statistics(x: Tensor, dim: int, prior=None) -> tuple[Tensor, int]:
    """The same for a running adaptive threshold: ``(Σ|x| in float64, count)``."""
    total = x.abs().double().sum(dim, keepdim=True)
    return (total, x.shape[dim]) if prior is None else (total + prior[0], prior[1] + x.shape[dim])


def rtn_weight(weight: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """Round-to-nearest per output channel: ``(codes, scale)`` with integer ``codes = q - z`` in
    ``[-(2^b-1), 2^b-1]`` and ``W ≈ scale · codes`` (``scale`` is ``[out, 1]``)."""
    n = 2 ** bits - 1
    scale, zero = asymmetric_scale_zero(weight, n, dim=1)
    return asymmetric_count(weight, scale, zero, n) - zero, scale

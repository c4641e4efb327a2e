"""The activation encoder of a spiking linear layer: one channel group's GEMM operand from its inputs, and the
hand-off of what it encoded to the spike observers (:mod:`neuro_llm.spiking.observe`).

Per group ``g`` and token: the code's threshold ``Δ_g`` and zero point ``z_g``, then either the spike rows
``[S_g[0] … S_g[T-1]]`` laid out step-major (explicit: ``[M, T·W]``) or the counts ``q_g`` (collapsed:
``[M, W]``), zero-padded to the back end's width ``W``. Codes with a ``fused_encoder`` run the fused GPU kernel
(:func:`kernels.gif_encode`, bit for bit the torch path) where the kernels are enabled. Adaptive codes (a
data-dependent train length) integrate their train first and multiply once (:func:`adaptive_group`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from neuro_llm.spiking import backend, kernels, observe
from neuro_llm.spiking.layout import GroupPlan

Tensor = torch.Tensor


def encode_group(layer, x2d: Tensor, xs: Tensor | None, plan: GroupPlan, explicit: bool, gemm=None):
    """``(operand [M, T·W] or [M, W], scale [M, 1], zero [M, 1] | None)``; ``xs is None``: the fused kernel reads
    the group's columns of ``x2d`` itself; else ``xs`` are the inputs in ``perm``'s order."""
    gemm = gemm or backend.backend_for(layer)
    code, steps, width = layer.code, plan.steps, gemm.width(plan)
    if xs is None:
        return kernels.gif_encode(x2d, code.per_step, steps, explicit, cols=layer._cols[plan.start:plan.end],
                                  out_dtype=gemm.operand_dtype(plan, explicit, x2d.device), width=width)
    xg = xs[:, plan.start:plan.end]
    scale, zero = code.scale_zero(xg, steps, dim=-1)
    if explicit:
        operand = F.pad(code.spikes(xg, scale, zero, steps), (0, width - plan.width))  # [T, M, W]
        operand = operand.permute(1, 0, 2).reshape(xg.shape[0], -1)   # [M, T·W], step-major
    else:
        operand = F.pad(code.count(xg, scale, zero, steps), (0, width - plan.width))
    return operand, scale, zero


def adaptive_group(layer, xs: Tensor, plan: GroupPlan, explicit: bool, watched: bool, lead: torch.Size) -> Tensor:
    """One channel group under an adaptive code: ``Δ·(Σ_t w_t S[t]) Cᵀ`` (explicit) or ``Δ·q Cᵀ``, accumulated
    exactly in float32 below 2^24, else float64 (decided from this input's train length)."""
    code = layer.code
    xg = xs[:, plan.start:plan.end]
    scale, zero = code.scale_zero(xg, plan.steps, dim=-1)
    codes = layer.codes[:, plan.start:plan.end]
    clipped = clipped_count(code, xg, scale, plan.steps) if watched else None
    channels = layer.perm[plan.start:plan.end]
    if explicit:
        # Σ_t w_t S[t] Cᵀ = (Σ_t w_t S[t]) Cᵀ exactly (integers): integrate first, so a train thousands of
        # steps long (an outlier's count) never forms a [T, tokens, out] tensor (nor a [T, tokens, in] one)
        integrated, spikes = code.explicit_count(xg, scale, zero, plan.steps)
        length = spikes.shape[0] if spikes is not None else code.train_steps(integrated, plan.steps)
        acc_dtype = backend.adaptive_accumulator(codes, layer.integer_weights, float(code.capacity(length)))
        acc = torch.matmul(integrated.to(acc_dtype), codes.to(acc_dtype).t())
        if watched:
            spikes_out = None if spikes is None else spikes.reshape(length, *lead, plan.width)
            observe.notify(observe.Encoded(layer.site, layer.layer, code, integrated.reshape(*lead, plan.width),
                                           length, spikes=spikes_out, channels=channels, clipped=clipped))
    else:
        count = code.count(xg, scale, zero, plan.steps)
        length = code.train_steps(count, plan.steps)
        acc_dtype = backend.adaptive_accumulator(codes, layer.integer_weights, float(code.capacity(length)))
        acc = torch.matmul(count.to(acc_dtype), codes.to(acc_dtype).t())
        if watched:
            observe.notify(observe.Encoded(layer.site, layer.layer, code, count.reshape(*lead, plan.width), length,
                                           channels=channels, clipped=clipped))
    if zero is not None:
        acc = acc - zero.to(acc_dtype) * codes.to(acc_dtype).sum(1)
    return scale.to(acc_dtype) * acc


def notify_operand(layer, operand: Tensor, plan: GroupPlan, lead: torch.Size, explicit: bool) -> None:
    """Hand a group's GEMM operand to the observers: as it lies where every observer reads operands, else as
    counts (and, explicit, the spike trains ``[T, ..., C]``)."""
    columns = plan.width
    tiles = plan.steps if explicit else 1
    width = operand.shape[-1] // tiles
    channels = layer.perm[plan.start:plan.end]
    if observe.operand_suffices():   # the observers sum the counts from the operand where it lies
        observe.notify(observe.Encoded(layer.site, layer.layer, layer.code, None, plan.steps, channels=channels,
                                       operand=(operand, tiles, width, (*lead, columns))))
        return
    operand = operand.float().reshape(-1, tiles, width)[..., :columns]
    if explicit:
        spikes = operand.permute(1, 0, 2)
        spikes = spikes.reshape(plan.steps, *lead, columns)
        observe.notify(observe.Encoded(layer.site, layer.layer, layer.code, spikes.sum(0), plan.steps,
                                       spikes=spikes, channels=channels))
    else:
        observe.notify(observe.Encoded(layer.site, layer.layer, layer.code, operand.reshape(*lead, columns),
                                       plan.steps, channels=channels))


def clipped_count(code, x: Tensor, scale: Tensor, steps) -> int | None:
    """How many values of ``x`` the count's clamp cut (for observers); ``None`` where nothing can clip."""
    mask = code.clip_mask(x, scale, steps)
    return None if mask is None else int(mask.sum())

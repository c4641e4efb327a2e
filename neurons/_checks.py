"""Argument validation shared by the neuron modules: every bad value is a ``ValueError`` naming it."""
from __future__ import annotations

from numbers import Integral, Real

import torch

Tensor = torch.Tensor


def check_int(name: str, value, minimum: int) -> int:
    """An integer ``>= minimum`` (bools and integral floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_steps(steps) -> Tensor:
    """An int ``>= 1`` or a 1-D integer tensor of per-channel step counts ``>= 1``; returned as a LongTensor."""
    accepted = "an int >= 1 or a 1-D integer tensor of per-channel step counts >= 1"
    if isinstance(steps, Tensor):
        if steps.is_floating_point() or steps.is_complex() or steps.dtype == torch.bool or steps.dim() > 1 \
                or steps.numel() == 0:
            raise ValueError(f"steps must be {accepted}, got a {steps.dtype} tensor of shape {tuple(steps.shape)}")
        steps = steps.detach().long()
    elif isinstance(steps, Integral) and not isinstance(steps, bool):
        steps = torch.tensor(int(steps))
    else:
        raise ValueError(f"steps must be {accepted}, got {steps!r}")
    if (steps < 1).any():
        raise ValueError(f"steps must be {accepted}, got {steps.tolist()}")
    return steps


def check_threshold(threshold) -> Tensor:
    """A finite positive float, or a floating tensor of them (scalar, per-channel or per-token)."""
    accepted = "a finite float > 0 or a tensor of them broadcastable to the input"
    if isinstance(threshold, Tensor):
        if not threshold.is_floating_point():
            raise ValueError(f"threshold must be {accepted}, got a {threshold.dtype} tensor")
    elif isinstance(threshold, Real) and not isinstance(threshold, bool):
        threshold = torch.tensor(float(threshold))
    else:
        raise ValueError(f"threshold must be {accepted}, got {threshold!r}")
    if threshold.numel() == 0 or not (torch.isfinite(threshold).all() and (threshold > 0).all()):
        raise ValueError(f"threshold must be {accepted}, got {threshold}")
    return threshold


def check_input(x: Tensor, threshold: Tensor, steps: Tensor) -> None:
    """Per-channel ``steps`` must match the input's last dim; ``threshold`` must broadcast to the input."""
    if steps.dim() == 1 and (x.dim() == 0 or x.shape[-1] != steps.numel()):
        raise ValueError(f"per-channel steps has {steps.numel()} entries but the input's last dim is "
                         f"{x.shape[-1] if x.dim() else 'missing'} (input shape {tuple(x.shape)})")
    try:
        shape = torch.broadcast_shapes(threshold.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ValueError(f"threshold of shape {tuple(threshold.shape)} does not broadcast to the input "
                         f"shape {tuple(x.shape)}")

"""Ternary (bidirectional) GIF neuron (SDLLM): signed spikes ``-k..k`` per step, ``k = 1`` by default.

::

    charge:  V[t] = V[t-1] + I[t]
    clip:    V[t] = clamp(V[t], -T·k·θ, T·k·θ)      (input_style="once" only: SDLLM membrane clipping)
    fire:    S[t] = sign(V[t])·min(ceil(|V[t]|/θ - 1/2), k)    (ties toward zero)
    reset:   V[t] = V[t] - θ·S[t]                 (reset_mechanism="subtract"; "zero": V[t] = 0 where S[t] ≠ 0)

The synaptic current carried by a spike is ``θ·S``. Charged once with ``x`` and drained for ``T`` steps,
``θ·Σ S = θ·clamp(sign(x)·ceil(|x|/θ - 1/2), -T·k, T·k)``; an integer count ``n`` takes ``ceil(|n|/k)`` steps.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import functional as F
from ._checks import check_int
from ._graded import GradedNeuron

Tensor = torch.Tensor


class TernaryGIF(GradedNeuron):
    """Ternary GIF neuron as an ``snntorch.Leaky`` with ``beta=1``; see the module docstring for the equations.

    :param steps: ``T >= 1`` time steps, or a 1-D integer tensor of per-channel steps (last input dim);
        channel ``c`` is silent after ``steps[c]`` steps in :meth:`multi_step` and :meth:`run`.
    :param max_level: ``k >= 1``; spikes are the integers ``-k..k`` (not multiplied by ``θ``).
    :param threshold: ``θ > 0``: a float, or a tensor broadcastable to the input (per channel, per token).
    :param reset_mechanism: ``"subtract"`` (soft reset) or ``"zero"``.
    :param spike_grad: ``None`` (straight-through: ``dS/dV = 1/θ`` inside the firing range, 0 outside) or a
        differentiable ``g(u)`` of ``u = V/θ`` whose derivative replaces ``dS/du`` in the backward pass.
    :param init_hidden: keep the membrane in ``self.mem`` and return ``spk`` only.
    :param output: with ``init_hidden``, return ``(spk, mem)`` anyway.
    :param input_style: ``"once"``: the input of :meth:`multi_step` is a charge given at ``t = 0`` and the
        membrane is clipped; ``"constant"``: it is the current of every step (rate coding), no clipping.
    :param learn_threshold: make ``θ`` a parameter (its positivity is then not enforced).

    Single step: ``spk, mem = n(x, mem)``. Sequences: ``n.multi_step(x)`` (closed form) and ``n.run(currents)``.

    Unlike snntorch neurons, instances are not kept in ``snntorch.SpikingNeuron.instances`` (that list keeps
    every neuron alive). They hold their own state: use ``reset_mem()``; the class-wide
    ``reset_hidden()``/``detach_hidden()`` of snntorch do not reach them.
    """

    def __init__(self, steps: int | Tensor, max_level: int = 1, threshold: float | Tensor = 1.0,
                 reset_mechanism: str = "subtract", spike_grad: Callable[[Tensor], Tensor] | None = None,
                 init_hidden: bool = False, output: bool = False, input_style: str = "once",
                 learn_threshold: bool = False):
        max_level = check_int("max_level", max_level, 1)
        super().__init__(steps, threshold, reset_mechanism, spike_grad, init_hidden, output, input_style,
                         learn_threshold)
        self.max_level = max_level
        self.lo, self.hi = -max_level, max_level

    def _dynamics(self, current: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
        clip_steps = self.steps if self.input_style == "once" else None
        return F.ternary_step(current, mem, self.threshold, self.max_level, clip_steps)

    def _encode(self, x: Tensor) -> Tensor:
        encode = F.ternary_encode if self.input_style == "once" else F.ternary_encode_rate
        return encode(x, self.threshold, self.max_level, self.steps)

    def extra_repr(self) -> str:
        return f"max_level={self.max_level}, {super().extra_repr()}"

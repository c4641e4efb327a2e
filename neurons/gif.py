"""Generalized integrate-and-fire neuron (GIF, SpikeLLM): graded spikes ``0..L-1`` per step.

::

    charge:  V[t] = V[t-1] + I[t]
    fire:    S[t] = clamp(floor(V[t]/θ + 1/2), 0, L - 1)
    reset:   V[t] = V[t] - θ·S[t]          (reset_mechanism="subtract"; "zero": V[t] = 0 where S[t] > 0)

The synaptic current carried by a spike is ``θ·S``. Charged once with ``x`` and drained for ``T`` steps,
``θ·Σ S = θ·clamp(round(x/θ), 0, T(L-1))``: a uniform quantizer with ``T(L-1)+1`` levels.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import functional as F
from ._checks import check_int
from ._graded import GradedNeuron

Tensor = torch.Tensor


class GIF(GradedNeuron):
    """GIF neuron as an ``snntorch.Leaky`` with ``beta=1``; see the module docstring for the equations.

    :param levels: ``L >= 2`` spike levels; spikes are the integers ``0..L-1`` (not multiplied by ``θ``).
    :param steps: ``T >= 1`` time steps, or a 1-D integer tensor of per-channel steps (last input dim);
        channel ``c`` is silent after ``steps[c]`` steps in :meth:`multi_step` and :meth:`run`.
    :param threshold: ``θ > 0``: a float, or a tensor broadcastable to the input (per channel, per token).
    :param reset_mechanism: ``"subtract"`` (soft reset) or ``"zero"``.
    :param spike_grad: ``None`` (straight-through: ``dS/dV = 1/θ`` inside the firing range, 0 outside) or a
        differentiable ``g(u)`` of ``u = V/θ`` whose derivative replaces ``dS/du`` in the backward pass.
    :param init_hidden: keep the membrane in ``self.mem`` and return ``spk`` only.
    :param output: with ``init_hidden``, return ``(spk, mem)`` anyway.
    :param input_style: what :meth:`multi_step` reads its input as: ``"once"``, a charge given at ``t = 0``
        (SpikeLLM); ``"constant"``, the current of every step (rate coding).
    :param learn_threshold: make ``θ`` a parameter (its positivity is then not enforced).

    Single step: ``spk, mem = n(x, mem)``. Sequences: ``n.multi_step(x)`` (closed form) and ``n.run(currents)``.

    Unlike snntorch neurons, instances are not kept in ``snntorch.SpikingNeuron.instances`` (that list keeps
    every neuron alive). They hold their own state: use ``reset_mem()``; the class-wide
    ``reset_hidden()``/``detach_hidden()`` of snntorch do not reach them.
    """

    def __init__(self, levels: int, steps: int | Tensor, threshold: float | Tensor = 1.0,
                 reset_mechanism: str = "subtract", spike_grad: Callable[[Tensor], Tensor] | None = None,
                 init_hidden: bool = False, output: bool = False, input_style: str = "once",
                 learn_threshold: bool = False):
        levels = check_int("levels", levels, 2)
        super().__init__(steps, threshold, reset_mechanism, spike_grad, init_hidden, output, input_style,
                         learn_threshold)
        self.levels = levels
        self.lo, self.hi = 0, levels - 1

    def _dynamics(self, current: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
        return F.gif_step(current, mem, self.threshold, self.levels)

    def _encode(self, x: Tensor) -> Tensor:
        encode = F.gif_encode if self.input_style == "once" else F.gif_encode_rate
        return encode(x, self.threshold, self.levels, self.steps)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, {super().extra_repr()}"

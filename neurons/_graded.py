"""Shared machinery of the graded integrate-and-fire modules (:class:`~neurons.GIF`, :class:`~neurons.TernaryGIF`).

A subclass supplies the firing range ``lo..hi`` of its integer spike, one step of its dynamics and its
closed-form multi-step encoders (all from :mod:`neurons.functional`); this class adds the snntorch-style
state handling, the surrogate gradient, per-channel step gating and argument checks.

Surrogate gradient: the forward value is always the exact integer spike ``S``; the backward pass uses
``dS/du = g'(u)`` with ``u = V/θ`` the charged membrane in threshold units. The default ``g`` is the
straight-through ``clamp(u, lo - 1/2, hi + 1/2)``: ``dS/dV = 1/θ`` inside the firing range, 0 outside.
The reset uses the spike detached from the graph (as snntorch does).
"""
from __future__ import annotations

from typing import Callable

import snntorch
import torch

from . import functional as F
from ._checks import check_choice, check_input, check_steps, check_threshold
from ._registry import forget_instance

Tensor = torch.Tensor


class GradedNeuron(snntorch.Leaky):
    """Integrate-and-fire (``beta = 1``) neuron with integer spikes ``lo..hi``; see the module docstring."""

    lo: int
    hi: int

    def __init__(self, steps, threshold, reset_mechanism: str, spike_grad: Callable[[Tensor], Tensor] | None,
                 init_hidden: bool, output: bool, input_style: str, learn_threshold: bool):
        steps = check_steps(steps)
        threshold = check_threshold(threshold)
        check_choice("reset_mechanism", reset_mechanism, ("subtract", "zero"))
        check_choice("input_style", input_style, ("once", "constant"))
        if spike_grad is not None and not callable(spike_grad):
            raise ValueError(f"spike_grad must be None or a callable of the membrane in threshold units, "
                             f"got {spike_grad!r}")
        super().__init__(beta=1.0, threshold=threshold, init_hidden=init_hidden, learn_threshold=learn_threshold,
                         reset_mechanism=reset_mechanism, output=output)
        forget_instance(self)
        self.spike_grad = spike_grad
        self.input_style = input_style
        self.register_buffer("steps", steps)
        self.max_steps = int(steps.max())

    # -- subclass hooks ---------------------------------------------------------------------------
    def _dynamics(self, current: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
        """One step of the pure dynamics (charge, fire, reset by subtraction): ``(S, V)``."""
        raise NotImplementedError

    def _encode(self, x: Tensor) -> Tensor:
        """Closed-form spike train ``[T_max, ...]`` of :meth:`multi_step` for ``input_style``."""
        raise NotImplementedError

    # -- time stepping ----------------------------------------------------------------------------
    def forward(self, input_: Tensor, mem: Tensor | None = None):
        """One time step from ``mem`` (default: the stored ``self.mem``, zeros on a shape change).
        Returns ``(spk, mem)``, or ``spk`` alone when ``init_hidden=True`` and ``output=False``."""
        if self.init_hidden and mem is not None:
            raise TypeError("`mem` should not be passed as an argument while `init_hidden=True`")
        check_input(input_, self.threshold, self.steps)
        if mem is None:
            mem = self.mem if self.mem.shape == input_.shape else torch.zeros_like(input_)
        spk, self.mem = self._step(input_, mem)
        if self.init_hidden and not self.output:
            return spk
        return spk, self.mem

    def run(self, currents: Tensor, mem: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Loop the single step over ``currents`` ``[T, ...]`` from ``mem`` (default: rest), gating channel ``c``
        off after ``steps[c]`` steps. Returns ``(spikes [T, ...], mem)``; ``self.mem`` is untouched."""
        check_input(currents[0], self.threshold, self.steps)
        if mem is None:
            mem = torch.zeros_like(currents[0])
        return F.unroll(self._step, currents, mem, self.steps)

    def multi_step(self, x: Tensor) -> Tensor:
        """Spike train ``[T_max, ...]`` from rest: ``x`` is the charge (``input_style="once"``) or the current
        of every step (``"constant"``). Closed forms of :mod:`neurons.functional`; the loop :meth:`run`
        (same values) when a gradient is needed or the reset is to zero."""
        check_input(x, self.threshold, self.steps)
        if self.reset_mechanism == "subtract" and not self._needs_grad(x):
            return self._encode(x)
        if self.input_style == "once":
            currents = torch.cat([x.unsqueeze(0), x.new_zeros(self.max_steps - 1, *x.shape)])
        else:
            currents = x.expand(self.max_steps, *x.shape)
        return self.run(currents)[0]

    def _step(self, current: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
        spk, new_mem = self._dynamics(current, mem)
        if self.reset_mechanism == "zero":
            new_mem = F.zero_reset(spk, new_mem)
        if self._needs_grad(current, mem):
            u = (mem + current) / self.threshold
            soft = (self.spike_grad or self._straight_through)(u)
            spk = spk + (soft - soft.detach())
        return spk, new_mem

    def _straight_through(self, u: Tensor) -> Tensor:
        return torch.clamp(u, self.lo - 0.5, self.hi + 0.5)

    def _needs_grad(self, *tensors: Tensor) -> bool:
        return torch.is_grad_enabled() and any(t.requires_grad for t in (*tensors, self.threshold))

    def extra_repr(self) -> str:
        steps = self.steps.tolist() if self.steps.dim() else int(self.steps)
        return (f"steps={steps}, threshold={tuple(self.threshold.shape) or float(self.threshold)}, "
                f"reset_mechanism={self.reset_mechanism!r}, input_style={self.input_style!r}")

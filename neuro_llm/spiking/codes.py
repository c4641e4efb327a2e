"""Activation → spike trains, and the collapsed quantizer they equal.

An activation tensor ``x[..., C]`` is charged into a population of neurons whose threshold is the
quantizer step ``Δ`` (per token, or per channel over the tokens seen so far). In threshold units the charge is
``u = x/Δ + z``; a GIF neuron charged with ``u`` and drained for ``T`` steps fires spikes summing to
``clamp(round(u), 0, T(L-1))`` = the asymmetric count ``q`` (ternary: signed, symmetric). The synaptic
input it delivers to the next layer is ``Σ_t w_t Δ·S[t] - Δ·z`` = ``Δ(q - z)`` = ``x̂`` (``w_t = 1``, or
``2^(T-1-t)`` for the bitwise train).

Codes (one :class:`SpikeCode` each):

* ``gif`` (SpikeLLM): asymmetric, ``Δ = (max - min)/(T(L-1))``, ``T`` fixed per channel group.
* ``ternary``, max-scaled (``k = None``; the old SDLLM guess, kept as a comparison): ``Δ = γ·max|x|/(T·k)``,
  ``T`` fixed.
* ``ternary``, adaptive (``k`` set; SDLLM as the authors' code defines it): ``Δ = mean|x|/(k·m)`` with
  ``m`` the channel group's step multiplier (1, or ``2**extra_steps`` for salient channels),
  ``q = clamp(round(x/Δ), -cap·m, cap·m)`` (no clamp without a cap); the train is as long as the largest
  count of the tensor needs: ``T = ceil(max|q| / per_step)`` unit steps, or ``T = bit_length(max|q|)``
  steps of the bitwise train (``bitwise=True``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurons import functional as nf
from neuro_llm.spiking import quant

Tensor = torch.Tensor
SPIKE_BUDGET = 2 ** 26   # spike-tensor elements held at once in explicit mode (adaptive trains are chunked beyond)


@dataclass(frozen=True)
class SpikeCode:
    """How one activation becomes spikes: ``kind`` (gif | ternary) and the largest spike of one step.

    ``clip``: max-scaled ternary only, the threshold covers ``clip · max|x|`` (the old γ). ``k``: adaptive
    ternary threshold ``mean|x| / k`` (``None``: max-scaled). ``cap``: adaptive only, ``|q| ≤ cap``
    (membrane clipping; ``None``: unbounded). ``bitwise``: adaptive only, send counts bit by bit."""
    kind: str
    per_step: int
    clip: float = 1.0
    k: float | None = None
    cap: int | None = None
    bitwise: bool = False

    @property
    def adaptive(self) -> bool:
        """Data-dependent train length (SDLLM's adaptive threshold)."""
        return self.k is not None

    @property
    def bits_per_step(self) -> float:
        """``log2 L`` for a GIF spike of ``L`` levels, ``log2(2k + 1)`` for a signed one."""
        return math.log2(self.per_step + 1) if self.kind == "gif" else math.log2(2 * self.per_step + 1)

    def capacity(self, steps) -> Tensor | int:
        """Largest count reachable in ``steps`` steps: ``T·(L-1)``, ``T·k``, or ``2**T - 1`` (bitwise)."""
        return 2 ** steps - 1 if self.bitwise else steps * self.per_step

    def limit(self, steps) -> Tensor | int | None:
        """The clamp of ``|q|``: the capacity of fixed codes, ``cap·m`` of adaptive ones (``None``: no cap)."""
        if not self.adaptive:
            return self.capacity(steps)
        return None if self.cap is None else self.cap * steps

    def scale_zero(self, x: Tensor, steps, dim, running: bool = False, prior=None) -> tuple[Tensor, Tensor | None]:
        """Threshold ``Δ`` and zero point ``z`` (``None`` for the symmetric ternary code) over ``dim``;
        ``running``: over positions ``0..i`` of ``dim`` at every ``i`` (causal when ``dim`` is the token axis),
        continuing ``prior`` (:meth:`running_statistics` of earlier positions)."""
        if self.kind == "gif":
            return quant.asymmetric_scale_zero(x, self.capacity(steps), dim, running, prior)
        if self.adaptive:
            return quant.adaptive_scale(x, self.k * steps, dim, running, prior), None
        return quant.symmetric_scale(x, self.capacity(steps), dim, running, prior) * self.clip, None

    def running_statistics(self, x: Tensor, dim, prior=None):
        """The state a running threshold carries past positions ``0..last`` of ``dim`` (see ``scale_zero``)."""
        return quant.running_statistics(self.kind, self.adaptive, x, dim, prior)

    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        """Collapsed path: the quantizer's integer count (no spikes)."""
        if self.kind == "gif":
            return quant.asymmetric_count(x, scale, zero, self.capacity(steps))
        return quant.symmetric_count(x, scale, self.limit(steps))

    def train_steps(self, count: Tensor, steps) -> int:
        """Length ``T`` of the spike train that carries ``count``: the (largest) fixed step count, or what
        the largest ``|q|`` of the tensor needs (at least 1) for adaptive codes."""
        if not self.adaptive:
            return nf.largest_steps(steps)
        largest = count.abs().amax()
        if not torch.isfinite(largest):
            raise FloatingPointError("NaN/Inf activations reached an sdllm spike encoder: the model or its "
                                     "quantization produced non-finite values")
        return max(1, int(self.token_steps(largest)))

    def token_steps(self, count: Tensor) -> Tensor:
        """Steps each token (row over the last axis) needs to carry its counts: ``ceil(max|q| / per_step)``
        (unit trains) or ``bit_length(max|q|)`` (bitwise); for accounting. ``count`` may be 0-d."""
        largest = count.abs().amax(-1) if count.dim() else count.abs()
        if self.bitwise:
            return nf.bit_length(largest)
        magnitude = largest.to(torch.int64)
        return torch.div(magnitude + self.per_step - 1, self.per_step, rounding_mode="floor")

    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps, max_steps: int | None = None) -> Tensor:
        """Explicit path: the spike train ``[T, ..., C]`` of neurons charged once with ``x/Δ + z``
        (``max_steps``: the largest of per-channel ``steps``, when the caller knows it without a host read)."""
        if self.kind == "gif":
            return nf.gif_encode(x / scale + zero, 1.0, self.per_step + 1, steps, max_steps)
        if not self.adaptive:
            return nf.ternary_encode(x / scale, 1.0, self.per_step, steps, max_steps)
        count = self.count(x, scale, zero, steps)
        length = self.train_steps(count, steps)
        if self.bitwise:
            return nf.bitwise_drain(count, length)
        return nf.ternary_drain(count, self.per_step, length)

    def explicit_count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps,
                       max_steps: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Explicit path: ``(Σ_t w_t S[t], S)`` — what the receiving neurons integrate from the spike train,
        and the train ``[T, ..., C]``. An adaptive unit train longer than :data:`SPIKE_BUDGET` elements (an
        outlier's count takes thousands of steps) is generated and integrated a chunk of steps at a time and
        not kept (``S`` is ``None``): every spike is still formed; observers then get the counts, from which
        every statistic of the train follows (tested equal to counting the spikes)."""
        if not self.adaptive:
            spikes = self.spikes(x, scale, zero, steps, max_steps)
            return self.integrate(spikes), spikes
        count = self.count(x, scale, zero, steps)
        length = self.train_steps(count, steps)
        if self.bitwise or length * count.numel() <= SPIKE_BUDGET:
            spikes = nf.bitwise_drain(count, length) if self.bitwise else nf.ternary_drain(count, self.per_step, length)
            return self.integrate(spikes), spikes
        chunk = max(1, SPIKE_BUDGET // max(1, count.numel()))
        total = torch.zeros_like(count)
        for start in range(0, length, chunk):
            total += nf.ternary_drain(count, self.per_step, min(length, start + chunk), start).sum(0)
        return total, None

    def integrate(self, spikes: Tensor) -> Tensor:
        """What the receiving neuron integrates over the leading (time) axis: ``Σ_t S[t]``, or
        ``Σ_t 2^(T-1-t) S[t]`` for the bitwise train. Also applies to per-step synaptic sums ``S[t]·Cᵀ``."""
        return nf.bitwise_decode(spikes) if self.bitwise else spikes.sum(0)

    def events(self, count: Tensor) -> Tensor:
        """Non-zero spikes a neuron holding ``count`` fires: ``ceil(|q| / per_step)`` when drained, or
        ``popcount(|q|)`` bit by bit."""
        if self.bitwise:
            return _popcount(count.abs().to(torch.int64))
        if self.per_step == 1:  # unit levels: one event per unit of |q|
            return count.abs().to(torch.int64)
        magnitude = count.abs().to(torch.int64)  # integer division: float ``q / k`` may be ``q · (1/k)`` on GPUs
        return torch.div(magnitude + self.per_step - 1, self.per_step, rounding_mode="floor")

    def payload(self, count: Tensor) -> Tensor:
        """Unit spikes ``Σ_t |S[t]|`` (a level-``j`` spike counts ``j``): ``|q|``, or ``popcount(|q|)``
        bitwise (each bitwise spike is ±1; its weight ``2^(T-1-t)`` is applied by the synapse)."""
        return _popcount(count.abs().to(torch.int64)) if self.bitwise else count.abs()

    def clip_mask(self, x: Tensor, scale: Tensor, steps) -> Tensor | None:
        """Where the clamp of ``|q|`` bit (the charge needed more than the limit); ``None`` where nothing
        can clip (GIF's range covers ``[min, max]``; adaptive codes without a cap)."""
        if self.kind == "gif":
            return None
        limit = self.limit(steps)
        if limit is None:
            return None
        if isinstance(limit, Tensor):
            limit = limit.to(device=x.device, dtype=x.dtype)
        return nf.round_half_to_zero(x / scale).abs() > limit


def _popcount(magnitude: Tensor) -> Tensor:
    """Number of set bits of a non-negative int64 tensor."""
    count = torch.zeros_like(magnitude)
    m = magnitude
    while bool((m > 0).any()):
        count = count + (m & 1)
        m = m >> 1
    return count

"""The base of every spike code: what an activation encoder asks of its code.

An activation tensor ``x[..., C]`` is charged into a population of neurons whose threshold is the
quantizer step ``Δ`` (per token, or per channel over the tokens seen so far). In threshold units the charge is
``u = x/Δ + z``; the neurons fire spike trains whose integrated value (``Σ_t w_t S[t]``, ``w_t = 1`` or
``2^(T-1-t)`` bit by bit) is the integer count ``q`` of the collapsed quantizer, and the synaptic input they
deliver to the next layer is ``Δ(q - z)`` = ``x̂`` (:meth:`SpikeCode.decode`).

A code is a frozen dataclass (its fields are what a saved model stores: ``dataclasses.asdict``) with class
attributes that say what it is and what it may use; subclasses define the quantizer (``scale_zero``, ``count``,
``capacity``), the train (``spikes``/``drain``) and what a train costs (``events``, ``payload``).
Calling ``SpikeCode(kind, per_step, clip=, k=, cap=, bitwise=)`` (the old constructor, and what saved models
hold) builds the registered class that record stands for (:func:`registry.from_record`).
"""
from __future__ import annotations

import abc
import math
from typing import ClassVar

import torch

from neurons import functional as nf
from neuro_llm.spiking.codes import registry

Tensor = torch.Tensor
SPIKE_BUDGET = 2 ** 26   # spike-tensor elements held at once in explicit mode (adaptive trains are chunked beyond)


class _RecordDispatch(abc.ABCMeta):
    """``SpikeCode(...)`` itself builds the registered subclass its record names; subclasses build themselves."""

    def __call__(cls, *args, **kwargs):
        if cls is SpikeCode:
            return registry.from_record(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class SpikeCode(metaclass=_RecordDispatch):
    """How one activation becomes spikes. Subclasses are frozen dataclasses with at least ``per_step`` (the
    largest spike of one step) and ``kind`` (the recorded name), registered with ``@register_code``."""

    # -- what the code is (class attributes: the analysis asks them of recorded codes too) -------------
    name: ClassVar[str]                 # registry name
    kind: ClassVar[str]                 # recorded name (saved models, recordings): "gif" | "ternary" | a new one
    label: ClassVar[str]                # how a plot names it
    signed: ClassVar[bool] = False      # spikes are ±levels (symmetric counts, no zero point)
    adaptive: ClassVar[bool] = False    # data-dependent train length (SDLLM's adaptive threshold)
    bitwise: ClassVar[bool] = False     # counts are sent bit by bit (step t weighs 2^(T-1-t))
    # -- what it may use ------------------------------------------------------------------------------
    fused_encoder: ClassVar[bool] = False      # the fused GIF Triton encoders (linear and attention)
    fused_count_stats: ClassVar[bool] = True   # kernels.count_stats (unit-drain events from counts)
    # -- how the analysis prices it ---------------------------------------------------------------------
    encode_ops: ClassVar[int] = 2       # float ops per encoded element (threshold and rounding work)
    decode_ops: ClassVar[int] = 1       # ops per rescaled element: Δ·acc (1), or Δ·(acc - z·r) with a zero point (2)
    spike_train: ClassVar[str] = "graded"   # energy pricing of its spikes: graded | ternary | bitwise
    # attributes of the old one-class code, read by older callers (None / neutral where a code has no such option)
    clip: ClassVar[float] = 1.0
    k: ClassVar[float | None] = None
    cap: ClassVar[int | None] = None

    @classmethod
    def from_config(cls, config) -> "SpikeCode":
        """The code of a :class:`~neuro_llm.config.SpikeConfig` whose ``code_name`` is this code's."""
        return cls(per_step=config.per_step)

    def __post_init__(self):
        recorded = type(self).__dataclass_fields__["kind"].default
        if self.kind != recorded:
            raise ValueError(f"{type(self).__name__} records as kind {recorded!r}, not {self.kind!r}")
        if not isinstance(self.per_step, int) or self.per_step < 1:
            raise ValueError(f"{type(self).__name__}: per_step must be an integer >= 1, got {self.per_step!r}")

    @property
    def sign_bits(self) -> int:
        """Bits a stored spike needs for its sign (1 for signed codes)."""
        return int(self.signed)

    @property
    def bits_per_step(self) -> float:
        """``log2`` of the levels of one step: ``log2 L`` (``L - 1 = per_step``) unsigned, ``log2(2k + 1)`` signed."""
        return math.log2((2 if self.signed else 1) * self.per_step + 1)

    # -- the quantizer --------------------------------------------------------------------------------
    def capacity(self, steps) -> Tensor | int:
        """Largest count reachable in ``steps`` steps: ``T·per_step`` (unit drains)."""
        return steps * self.per_step

    def limit(self, steps) -> Tensor | int | None:
        """The clamp of ``|q|`` (``None``: no clamp)."""
        return self.capacity(steps)

    @abc.abstractmethod
    def scale_zero(self, x: Tensor, steps, dim, running: bool = False, prior=None) -> tuple[Tensor, Tensor | None]:
        """Threshold ``Δ`` and zero point ``z`` (``None`` for symmetric codes) over ``dim``; ``running``: over
        positions ``0..i`` of ``dim`` at every ``i`` (causal when ``dim`` is the token axis), continuing ``prior``
        (:meth:`running_statistics` of earlier positions)."""

    @abc.abstractmethod
    def running_statistics(self, x: Tensor, dim, prior=None):
        """The state a running threshold carries past positions ``0..last`` of ``dim`` (see ``scale_zero``)."""

    @abc.abstractmethod
    def count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps) -> Tensor:
        """Collapsed path: the quantizer's integer count (no spikes)."""

    def decode(self, count: Tensor, scale: Tensor, zero: Tensor | None) -> Tensor:
        """``x̂ = Δ(q - z)`` (``Δq`` without a zero point)."""
        return scale * (count - zero if zero is not None else count)

    # -- the spike train ------------------------------------------------------------------------------
    @abc.abstractmethod
    def drain(self, count: Tensor, steps: int) -> Tensor:
        """The train ``[steps, ...]`` of neurons holding ``count`` threshold units (closed form)."""

    def train_steps(self, count: Tensor, steps) -> int:
        """Length ``T`` of the spike train that carries ``count``: the (largest) fixed step count."""
        return nf.largest_steps(steps)

    def token_steps(self, count: Tensor) -> Tensor:
        """Steps each token (row over the last axis) needs to carry its counts: ``ceil(max|q| / per_step)``;
        for accounting. ``count`` may be 0-d."""
        largest = count.abs().amax(-1) if count.dim() else count.abs()
        magnitude = largest.to(torch.int64)
        return torch.div(magnitude + self.per_step - 1, self.per_step, rounding_mode="floor")

    @abc.abstractmethod
    def spikes(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps, max_steps: int | None = None) -> Tensor:
        """Explicit path: the spike train ``[T, ..., C]`` of neurons charged once with ``x/Δ + z``
        (``max_steps``: the largest of per-channel ``steps``, when the caller knows it without a host read)."""

    def explicit_count(self, x: Tensor, scale: Tensor, zero: Tensor | None, steps,
                       max_steps: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Explicit path: ``(Σ_t w_t S[t], S)`` — what the receiving neurons integrate from the spike train,
        and the train ``[T, ..., C]`` (``None`` where a code integrates a long train chunk by chunk)."""
        spikes = self.spikes(x, scale, zero, steps, max_steps)
        return self.integrate(spikes), spikes

    def integrate(self, spikes: Tensor) -> Tensor:
        """What the receiving neuron integrates over the leading (time) axis: ``Σ_t S[t]``. Also applies to
        per-step synaptic sums ``S[t]·Cᵀ``."""
        return spikes.sum(0)

    # -- what a train costs ---------------------------------------------------------------------------
    def events(self, count: Tensor) -> Tensor:
        """Non-zero spikes a neuron holding ``count`` fires when drained: ``ceil(|q| / per_step)``."""
        if self.per_step == 1:  # unit levels: one event per unit of |q|
            return count.abs().to(torch.int64)
        magnitude = count.abs().to(torch.int64)  # integer division: float ``q / k`` may be ``q · (1/k)`` on GPUs
        return torch.div(magnitude + self.per_step - 1, self.per_step, rounding_mode="floor")

    def payload(self, count: Tensor) -> Tensor:
        """Unit spikes ``Σ_t |S[t]|`` (a level-``j`` spike counts ``j``): ``|q|``."""
        return count.abs()

    def clip_mask(self, x: Tensor, scale: Tensor, steps) -> Tensor | None:
        """Where the clamp of ``|q|`` bit (the charge needed more than the limit); ``None`` where nothing
        can clip."""
        return None


class SignedCode(SpikeCode):
    """Shared by the symmetric (ternary) codes: ``q = clamp(round(x/Δ), -n, n)``, no zero point."""
    signed: ClassVar[bool] = True
    spike_train: ClassVar[str] = "ternary"

    def clip_mask(self, x: Tensor, scale: Tensor, steps) -> Tensor | None:
        limit = self.limit(steps)
        if limit is None:
            return None
        if isinstance(limit, Tensor):
            limit = limit.to(device=x.device, dtype=x.dtype)
        return nf.round_half_to_zero(x / scale).abs() > limit


def popcount(magnitude: Tensor) -> Tensor:
    """Number of set bits of a non-negative int64 tensor."""
    count = torch.zeros_like(magnitude)
    m = magnitude
    while bool((m > 0).any()):
        count = count + (m & 1)
        m = m >> 1
    return count

"""Pure dynamics of the spiking neurons, kept apart from any state-holding module.

Everything works on membrane potentials measured in *threshold units* when ``threshold=1`` and on
real units otherwise; all arguments broadcast against each other.

Generalized integrate-and-fire (GIF, SpikeLLM), ``L`` levels per step::

    charge:  V[t] = V[t-1] + I[t]
    fire:    S[t] = clamp(floor(V[t] / θ + 1/2), 0, L - 1)          (an integer spike, 0..L-1)
    reset:   V[t] = V[t] - θ · S[t]                                  (soft reset, by subtraction)

The ``+ 1/2`` makes the neuron round to nearest (it fires level k once V ≥ (k - 1/2)·θ), so that
``θ · Σ_t S[t]`` equals the uniform quantizer ``θ · clamp(round(V/θ), 0, T(L-1))``, where
``round(v) = floor(v + 1/2)`` in exact arithmetic (:func:`round_half_up`).

Ternary GIF (SDLLM), spikes in ``-k..k`` (``k = 1``: -1/0/+1) with membrane clipping::

    clip:    V[t] = clamp(V[t], -T·k·θ, T·k·θ)   (charge the neuron cannot emit in T steps is cut)
    fire:    S[t] = sign(V[t]) · min(ceil(|V[t]| / θ - 1/2), k)
    reset:   V[t] = V[t] - θ · S[t]

so ``θ · Σ_t S[t] = θ · clamp(sign(V)·ceil(|V|/θ - 1/2), -T·k, T·k)``, a symmetric quantizer, and a signed
integer count ``x`` takes ``ceil(|x| / k)`` steps, not the ``2|x|`` of an offset code. Ties go toward
zero (fire ±j once ``|V| > (j - 1/2)·θ``): with ties away from zero, ``V = θ/2`` would fire +1, leave
``-θ/2``, fire -1, and so on for ever.

Bitwise ternary (SDLLM's bitwise variant, BICLab/Int2Spike ``SpikeCountBitwiseNode``, bidirectional):
a signed integer count ``c`` is sent most significant bit first over ``T = bit_length(max|c|)`` steps,
``c = Σ_t 2^(T-1-t) · S[t]`` with ``S[t] = sign(c) · bit_{T-1-t}(|c|)`` in ``{-1, 0, +1}`` (the report's
``s_INT = Σ_t 2^(t-1) s_t`` with steps numbered from the least significant). As neuron dynamics (our reading):
the membrane holds ``c`` and the threshold halves every step::

    fire:    S[t] = sign(V) · [|V| ≥ θ_t],   θ_t = 2^(T-1-t)
    reset:   V = V - θ_t · S[t]

A count ``c`` fires ``popcount(|c|)`` spikes instead of the ``|c|`` of the unit ternary drain.

A neuron given per-channel ``steps`` is gated off after its steps: no input, no spike (:func:`unroll`).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch

Tensor = torch.Tensor


def round_half_up(v: Tensor) -> Tensor:
    """``floor(v + 1/2)`` in exact arithmetic: the rounding every neuron and quantizer of this project uses.

    Ties are moved up from ``torch.round`` (ties to even), since the float sum ``v + 1/2`` itself rounds:
    in float32 ``0.49999997 + 0.5 == 1``. ``r - v`` is exact (``|r - v| ≤ 1/2``, Sterbenz)."""
    r = torch.round(v)
    return r + (r - v == -0.5).to(r.dtype)


def round_half_to_zero(v: Tensor) -> Tensor:
    """``sign(v) · ceil(|v| - 1/2)`` (exact): nearest integer, ties toward zero; the symmetric rounding of
    ternary neurons (subtracting the integer it returns never leaves a residual that rounds back)."""
    r = torch.round(v)
    return torch.where((r - v).abs() == 0.5, torch.trunc(v), r)


def zero_reset(spikes: Tensor, mem: Tensor) -> Tensor:
    """Reset to zero instead of by subtraction: ``V = 0`` wherever a spike (of any level or sign) fired."""
    return mem.masked_fill(spikes != 0, 0)


def unroll(step: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]], currents: Tensor, mem: Tensor,
           steps: Tensor | int) -> tuple[Tensor, Tensor]:
    """Loop ``S[t], V = step(I[t], V)`` over ``currents`` ``[T, ...]`` from membrane ``mem``. Channel ``c`` is
    gated off from ``t = steps[c]`` on: it takes no input and fires nothing. Returns ``(S [T, ...], V)``."""
    steps = torch.as_tensor(steps, device=currents.device)
    out = []
    for t, current in enumerate(currents):
        spikes, charged = step(current, mem)
        active = steps > t
        out.append(spikes.masked_fill(~active, 0))
        mem = torch.where(active, charged, mem)
    return torch.stack(out), mem


def _times(steps: Tensor | int, factor, like: Tensor) -> Tensor | float:
    """``steps · factor`` as a Python number when ``steps`` is one (no host-to-device copy, nothing a CUDA
    graph cannot capture), else as a tensor on ``like``'s device and dtype."""
    if isinstance(steps, Tensor):
        return steps.to(device=like.device, dtype=like.dtype) * factor
    return steps * factor


def largest_steps(steps: Tensor | int, max_steps: int | None = None) -> int:
    """``max(steps)``: ``max_steps`` when the caller knows it (a per-channel tensor on a GPU would otherwise
    be read back by the host), else computed."""
    if max_steps is not None:
        return int(max_steps)
    return int(steps) if not isinstance(steps, Tensor) else int(steps.max())


def encode_constant(step: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]], current: Tensor,
                    steps: Tensor | int) -> Tensor:
    """Spike train ``[T_max, ...]`` of neurons fed the constant ``current`` for their ``steps`` steps, from rest."""
    max_steps = int(torch.as_tensor(steps).max())
    return unroll(step, current.expand(max_steps, *current.shape), torch.zeros_like(current), steps)[0]


# ----------------------------------------------------------------------------- GIF (unsigned)
def gif_fire(mem: Tensor, threshold: Tensor | float, levels: int) -> Tensor:
    """``S = clamp(floor(V/θ + 1/2), 0, L-1)``: the integer spike level emitted by membrane ``V``."""
    return torch.clamp(round_half_up(mem / threshold), 0, levels - 1)


def gif_step(current: Tensor, mem: Tensor, threshold: Tensor | float, levels: int) -> tuple[Tensor, Tensor]:
    """One GIF step: charge ``V += I``, fire ``S``, soft reset ``V -= θ·S``. Returns ``(S, V)``."""
    mem = mem + current
    spikes = gif_fire(mem, threshold, levels)
    return spikes, mem - spikes * threshold


def gif_count(charge: Tensor, threshold: Tensor | float, levels: int, steps: Tensor | int) -> Tensor:
    """Total spike count of a GIF neuron charged once with ``charge`` and drained for ``steps`` steps:
    ``clamp(floor(charge/θ + 1/2), 0, steps·(L-1))``."""
    limit = _times(steps, levels - 1, charge)
    count = torch.clamp(round_half_up(charge / threshold), min=0)
    return count.clamp(max=limit) if not isinstance(limit, Tensor) else torch.minimum(count, limit)


def gif_drain(count: Tensor, levels: int, max_steps: int) -> Tensor:
    """Closed form of the drain of a neuron holding ``count`` threshold units: it fires ``L-1`` while it
    can, then the remainder, then nothing. ``S[t] = clamp(count - t·(L-1), 0, L-1)``; shape ``[T, ...]``."""
    t = torch.arange(max_steps, device=count.device, dtype=count.dtype).view(-1, *([1] * count.dim()))
    return torch.clamp(count.unsqueeze(0) - t * (levels - 1), 0, levels - 1)


def gif_encode(charge: Tensor, threshold: Tensor | float, levels: int, steps: Tensor | int,
               max_steps: int | None = None) -> Tensor:
    """Spike train ``[T_max, ...]`` of GIF neurons charged once with ``charge`` (the SpikeLLM
    decomposition). ``steps`` may be a per-channel tensor; channel ``c`` is silent after ``steps[c]``
    (``max_steps``: its maximum, if known)."""
    return gif_drain(gif_count(charge, threshold, levels, steps), levels, largest_steps(steps, max_steps))


def gif_encode_rate(current: Tensor, threshold: Tensor | float, levels: int, steps: Tensor | int) -> Tensor:
    """Spike train ``[T_max, ...]`` of GIF neurons fed the constant ``current`` for their ``steps`` steps
    (rate-style IF), starting from rest: ``Σ S = clamp(round(T·I/θ), 0, T(L-1))``."""
    step = partial(gif_step, threshold=threshold, levels=levels)
    return encode_constant(step, current, steps)


# ----------------------------------------------------------------------------- ternary (signed)
def ternary_fire(mem: Tensor, threshold: Tensor | float, max_level: int) -> Tensor:
    """``S = sign(V) · min(ceil(|V|/θ - 1/2), k)``: a signed spike in ``-k..k``."""
    return torch.clamp(round_half_to_zero(mem / threshold), -max_level, max_level)


def ternary_step(current: Tensor, mem: Tensor, threshold: Tensor | float, max_level: int,
                 clip_steps: Tensor | int | None = None) -> tuple[Tensor, Tensor]:
    """One ternary step: charge, clip to ``±T·k·θ`` with ``T = clip_steps`` if given (SDLLM), fire a
    signed spike, soft reset. Returns ``(S, V)``."""
    mem = mem + current
    if clip_steps is not None:
        mem = clip_membrane(mem, threshold, max_level, clip_steps)
    spikes = ternary_fire(mem, threshold, max_level)
    return spikes, mem - spikes * threshold


def clip_membrane(mem: Tensor, threshold: Tensor | float, max_level: int, steps: Tensor | int) -> Tensor:
    """SDLLM membrane clipping: ``clamp(V, -T·k·θ, T·k·θ)``."""
    bound = _times(steps, max_level, mem) * threshold
    if not isinstance(bound, Tensor):
        return mem.clamp(-bound, bound)
    return torch.maximum(torch.minimum(mem, bound), -bound)


def ternary_count(charge: Tensor, threshold: Tensor | float, max_level: int, steps: Tensor | int) -> Tensor:
    """Signed total count of a clipped ternary neuron: ``clamp(round_half_to_zero(charge/θ), -T·k, T·k)``."""
    limit = _times(steps, max_level, charge)
    count = round_half_to_zero(charge / threshold)
    if not isinstance(limit, Tensor):
        return count.clamp(-limit, limit)
    return torch.maximum(torch.minimum(count, limit), -limit)


def ternary_drain(count: Tensor, max_level: int, max_steps: int, start: int = 0) -> Tensor:
    """``S[t] = sign(c) · clamp(|c| - t·k, 0, k)``: the drain of a signed count, steps ``start ≤ t < max_steps``;
    shape ``[max_steps - start, ...]``."""
    t = torch.arange(start, max_steps, device=count.device, dtype=count.dtype).view(-1, *([1] * count.dim()))
    return torch.sign(count).unsqueeze(0) * torch.clamp(count.abs().unsqueeze(0) - t * max_level, 0, max_level)


def ternary_encode(charge: Tensor, threshold: Tensor | float, max_level: int, steps: Tensor | int,
                   max_steps: int | None = None) -> Tensor:
    """Spike train ``[T_max, ...]`` of clipped ternary neurons charged once with ``charge``."""
    return ternary_drain(ternary_count(charge, threshold, max_level, steps), max_level,
                         largest_steps(steps, max_steps))


def ternary_encode_rate(current: Tensor, threshold: Tensor | float, max_level: int, steps: Tensor | int) -> Tensor:
    """Spike train ``[T_max, ...]`` of ternary neurons fed the constant ``current`` for their ``steps``
    steps, from rest: ``Σ S = clamp(round_half_to_zero(T·I/θ), -T·k, T·k)``."""
    step = partial(ternary_step, threshold=threshold, max_level=max_level)
    return encode_constant(step, current, steps)


# ----------------------------------------------------------------------------- bitwise ternary (signed)
def bit_length(magnitude: Tensor) -> Tensor:
    """Bits of a non-negative integer tensor: ``0`` for 0, ``floor(log2 m) + 1`` otherwise (exact, integer)."""
    m = magnitude.to(torch.int64)
    length = torch.zeros_like(m)
    while bool((m > 0).any()):
        length = length + (m > 0).to(torch.int64)
        m = m >> 1
    return length


def bitwise_step(mem: Tensor, threshold: Tensor | float) -> tuple[Tensor, Tensor]:
    """One step of the bitwise neuron at this step's threshold ``θ_t``: fire ``sign(V)`` if ``|V| ≥ θ_t``,
    soft reset. Returns ``(S, V)``."""
    spikes = torch.sign(mem) * (mem.abs() >= threshold).to(mem.dtype)
    return spikes, mem - spikes * threshold


def bitwise_drain(count: Tensor, max_steps: int) -> Tensor:
    """Closed form: ``S[t] = sign(c) · bit_{T-1-t}(|c|)``, most significant bit first; shape ``[T, ...]``.
    ``|c|`` must be below ``2**max_steps``."""
    magnitude = count.abs().to(torch.int64).unsqueeze(0)
    shift = torch.arange(max_steps - 1, -1, -1, device=count.device).view(-1, *([1] * count.dim()))
    return torch.sign(count).unsqueeze(0) * ((magnitude >> shift) & 1).to(count.dtype)


def bitwise_drain_loop(count: Tensor, max_steps: int) -> Tensor:
    """The same train from the neuron dynamics (:func:`bitwise_step`, halving threshold); for tests."""
    mem, out = count.clone(), []
    for t in range(max_steps):
        spikes, mem = bitwise_step(mem, float(2 ** (max_steps - 1 - t)))
        out.append(spikes)
    return torch.stack(out) if out else count.new_zeros((0, *count.shape))


def bitwise_weights(steps: int, dtype=torch.float32, device=None) -> Tensor:
    """``[2^(T-1), ..., 2, 1]``: the weight of each step's spike (exact powers of two)."""
    return torch.pow(2.0, torch.arange(steps - 1, -1, -1, dtype=torch.float64, device=device)).to(dtype)


def bitwise_decode(spikes: Tensor) -> Tensor:
    """``c = Σ_t 2^(T-1-t) · S[t]`` over the leading axis."""
    weights = bitwise_weights(spikes.shape[0], spikes.dtype, spikes.device)
    return (spikes * weights.view(-1, *([1] * (spikes.dim() - 1)))).sum(0)

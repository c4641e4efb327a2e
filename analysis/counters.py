"""Exact spike statistics of one encoder event, from its spikes or from its counts alone.

An event holds ``B`` samples of ``n`` tokens and ``C`` channels, every channel with the same ``T`` steps:
spikes ``S[t, b, i, c]`` (explicit mode) or counts ``q[b, i, c] = Σ_t S`` (collapsed mode). A neuron
holding ``q`` fires its drain (:mod:`neurons.functional`): with ``k`` the largest spike of one step,
``⌊|q|/k⌋`` spikes of level ``sign(q)·k``, then one of ``sign(q)·(|q| mod k)`` if that is not 0, then zeros.
So from counts alone::

    events at step t = #(|q| > t·k)        events of a neuron = ⌈|q|/k⌉        payload = |q|

and both :func:`tally_spikes` and :func:`tally_count` give the same :class:`Tally`.

Synaptic operations (:func:`synaptic_ops`): each non-zero spike of token ``i`` reaches ``fan_out[i]``
synapses (:func:`fan_out`); ``sops = Σ events·fan_out``, ``sops_payload = Σ |S|·fan_out`` (a level-k
spike counted as k additions).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

Tensor = torch.Tensor
SITE_KINDS = ("linear", "q", "k", "v")


@dataclass
class Tally:
    """Integer statistics of one event; histograms map a value to how often it occurs."""
    step_events: np.ndarray        # [T]  non-zero spikes at each step
    channel_events: np.ndarray     # [C]  non-zero spikes of each channel
    channel_payload: np.ndarray    # [C]  Σ |S| of each channel
    position_events: np.ndarray    # [n]  non-zero spikes of each token position
    position_payload: np.ndarray   # [n]  Σ |S| of each token position
    levels: Counter                # spike level → occurrences over all neuron-steps (zeros included)
    counts: Counter                # neuron count Σ_t S → neurons


def _histogram(values: Tensor) -> Counter:
    values = values.long().flatten()
    if values.numel() == 0:
        return Counter()
    low = int(values.min())
    freq = torch.bincount(values - low)
    seen = torch.nonzero(freq).flatten()
    return Counter(dict(zip((seen + low).tolist(), freq[seen].tolist())))


def _np(x: Tensor) -> np.ndarray:
    return x.long().cpu().numpy()


def tally_spikes(spikes: Tensor, count: Tensor | None = None) -> Tally:
    """From explicit spikes ``[T, B, n, C]`` (integer levels, any float or int dtype); ``count``: what each
    neuron integrates, when it is not ``Σ_t S[t]`` (bitwise trains)."""
    fired = (spikes != 0).to(torch.float64)  # float64 sums: exact for integers, much faster than bool sums
    size = spikes.abs().to(torch.float64)
    step_channel = fired.sum((1, 2))
    return Tally(step_events=_np(step_channel.sum(1)), channel_events=_np(step_channel.sum(0)),
                 channel_payload=_np(size.sum((0, 1, 2))), position_events=_np(fired.sum((0, 1, 3))),
                 position_payload=_np(size.sum((0, 1, 3))), levels=_histogram(spikes),
                 counts=_histogram(spikes.sum(0) if count is None else count))


def tally_count(count: Tensor, per_step: int, steps: int) -> Tally:
    """From counts ``[B, n, C]`` of neurons with ``steps`` steps of at most ``per_step`` each."""
    q = count.long()
    size = q.abs()
    full, rest = size // per_step, size % per_step
    events = full + (rest > 0)
    levels = Counter()
    for sign in (1, -1):
        n_full = int(full[torch.sign(q) == sign].sum())
        if n_full:
            levels[sign * per_step] += n_full
    levels.update(_histogram((torch.sign(q) * rest)[rest > 0]))
    silent = steps * q.numel() - int(events.sum())
    if silent:
        levels[0] += silent
    # step t carries a spike of every neuron that needs more than t steps (|q| > t·per_step ⟺ events > t):
    # a histogram of the events, not a [T, B, n, C] tensor (an SDLLM outlier's train is thousands of steps)
    needed = torch.bincount(events.flatten(), minlength=steps + 1)[: steps + 1].to(torch.float64)
    step_events = needed.sum() - torch.cumsum(needed, 0)[:steps]
    return Tally(step_events=_np(step_events),
                 channel_events=_np(events.sum((0, 1))), channel_payload=_np(size.sum((0, 1))),
                 position_events=_np(events.sum((0, 2))), position_payload=_np(size.sum((0, 2))),
                 levels=levels, counts=_histogram(q))


def fan_out(kind: str, q_len: int, kv_len: int, out_features: int = 0, groups: int = 1,
            window: int | None = None) -> np.ndarray:
    """Synapses a non-zero spike of each token position reaches (``[q_len]``, or ``[kv_len]`` for K and V).

    Query ``i`` sits at position ``p_i = i + kv_len - q_len``; it sees key ``j`` when ``j ≤ p_i`` and, in a
    sliding-window layer, ``p_i - j < window``.

    * ``linear``: every output feature, ``out_features``.
    * ``q`` (query ``i``): every key the mask lets it see, ``min(p_i + 1, window)``; nothing else.
    * ``k``: 1, the accumulate into ``K̂`` (the membrane update of the key matrix).
    * ``v`` (key ``j``): every query that sees it, in each of the ``groups`` query heads sharing the kv
      head: ``groups · #{i : j ≤ p_i < j + window}``.
    """
    offset = kv_len - q_len
    if kind == "linear":
        return np.full(q_len, out_features, dtype=np.int64)
    if kind == "q":
        seen = np.arange(q_len, dtype=np.int64) + 1 + offset
        return seen if window is None else np.minimum(seen, window)
    if kind == "k":
        return np.ones(kv_len, dtype=np.int64)
    if kind == "v":
        j = np.arange(kv_len, dtype=np.int64)
        last = offset + q_len if window is None else np.minimum(offset + q_len, j + window)
        return groups * np.maximum(0, last - np.maximum(offset, j))
    raise ValueError(f"unknown site kind {kind!r}: expected one of {SITE_KINDS}")


def synaptic_ops(position_events: np.ndarray, position_payload: np.ndarray, fan: np.ndarray) -> tuple[int, int]:
    """``(sops, sops_payload)`` = ``(Σ_i events_i·fan_i, Σ_i payload_i·fan_i)``."""
    return int(position_events @ fan), int(position_payload @ fan)

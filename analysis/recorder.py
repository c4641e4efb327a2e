"""The recorder: an observer of spike encoders (``on_encode``) that turns one forward pass into
per-layer :class:`~analysis.records.LayerRecord`\\ s and hands each to a sink as soon as its block is done.

A sink is anything with ``write_layer(LayerRecord)`` and ``write_head(ops)``: an in-memory
:class:`~analysis.records.Recording` or the HDF5 writer of :mod:`analysis.store`. Only one block's
statistics are held at a time, and of its spikes only a raster subsample of ``max_tokens`` token rows ×
``max_neurons`` channels per site (evenly spaced, first and last included).

Explicit events are tallied from their spikes, collapsed ones from their counts (same numbers,
:mod:`analysis.counters`); a collapsed event's raster is the drain of its counts, which is what explicit
mode would have fired.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import torch

from analysis import counters
from analysis.ops import block_ops, head_ops
from analysis.records import LayerRecord, SiteRecord
from analysis.shape import ModelShape
from neuro_llm.spiking.observe import Encoded
from neurons import functional as nf

Tensor = torch.Tensor
ATTENTION_KINDS = {"self_attn.q": "q", "self_attn.k": "k", "self_attn.v": "v"}


def subsample(n: int, k: int) -> np.ndarray:
    """``min(k, n)`` evenly spaced indices of ``0..n-1`` (first and last included)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))


def raster_dtype(per_step: int) -> np.dtype:
    """The smallest signed integer type holding spike levels ``-per_step..per_step``."""
    return np.dtype(next(t for t in (np.int8, np.int16, np.int32, np.int64) if per_step <= np.iinfo(t).max))


def _histogram_arrays(histogram: Counter) -> tuple[np.ndarray, np.ndarray]:
    """``(values, frequencies)``, sorted by value."""
    items = sorted(histogram.items())
    return np.array([v for v, _ in items], np.int64), np.array([f for _, f in items], np.int64)


def _drain(count: Tensor, kind: str, per_step: int, steps: int, bitwise: bool = False) -> Tensor:
    if kind == "gif":
        return nf.gif_drain(count, per_step + 1, steps)
    if bitwise:
        return nf.bitwise_drain(count, steps)
    return nf.ternary_drain(count, per_step, steps)


def _token_steps(count: Tensor, kind: str, per_step: int, steps: int, bitwise: bool) -> int:
    """``Σ_tokens C_g · min(steps, max_c needed(c))``: the neuron updates of a per-token schedule, where a
    token's neurons step only as long as that token's longest train. A neuron holding ``q`` needs
    ``⌈|q|/k⌉`` steps (the drain, :mod:`neurons.functional`) or, sent bit by bit, ``bit_length(|q|)``."""
    size = count.abs().long()
    if bitwise:
        needed = torch.where(size > 0, torch.floor(torch.log2(size.clamp(min=1).double())).long() + 1, 0)
    else:
        needed = (size + per_step - 1) // per_step
    longest = needed.amax(-1).clamp(max=steps)   # [B, n]
    return int(longest.sum()) * count.shape[-1]


class _Site:
    """Statistics of one site of the current block, added to event (channel group) by event."""

    def __init__(self, name: str, kind: str, event: Encoded, channels: int, batch: int, positions: int,
                 max_neurons: int, max_tokens: int):
        self.name, self.kind = name, kind
        self.code_kind, self.per_step = event.code.kind, event.code.per_step
        self.bitwise = bool(getattr(event.code, "bitwise", False))
        self.rows = batch * positions
        self.channel_steps = np.zeros(channels, np.int64)
        self.channel_events = np.zeros(channels, np.int64)
        self.channel_payload = np.zeros(channels, np.int64)
        self.step_events = np.zeros(0, np.int64)
        self.step_neuron_steps = np.zeros(0, np.int64)
        self.position_events = np.zeros(positions, np.int64)
        self.position_payload = np.zeros(positions, np.int64)
        self.token_neuron_steps = 0
        self.levels, self.counts = Counter(), Counter()
        self.raster_rows = subsample(self.rows, max_tokens)
        self.raster_channels = subsample(channels, max_neurons)
        self._pieces = []  # (raster columns, [K, T, m] spikes)

    def add(self, event: Encoded, spikes: Tensor | None, count: Tensor, channels: np.ndarray) -> None:
        """``spikes`` ``[T, B, n, C_g]`` or None, ``count`` ``[B, n, C_g]``; ``channels`` ``[C_g]`` indices."""
        steps = event.steps
        if (self.channel_steps[channels] != 0).any():
            raise ValueError(f"{event.site}: channels encoded twice in one block; a recorder records one "
                             "forward pass")
        if self.bitwise:   # at most a few dozen steps (bit positions): the train itself is small
            tally = counters.tally_spikes(nf.bitwise_drain(count, steps) if spikes is None else spikes, count)
        elif spikes is not None:
            tally = counters.tally_spikes(spikes)
        else:
            tally = counters.tally_count(count, self.per_step, steps)
        self.channel_steps[channels] = steps
        self.channel_events[channels] = tally.channel_events
        self.channel_payload[channels] = tally.channel_payload
        if steps > self.step_events.size:
            grow = steps - self.step_events.size
            self.step_events = np.pad(self.step_events, (0, grow))
            self.step_neuron_steps = np.pad(self.step_neuron_steps, (0, grow))
        self.step_events[:steps] += tally.step_events
        self.step_neuron_steps[:steps] += self.rows * len(channels)
        self.token_neuron_steps += _token_steps(count, self.code_kind, self.per_step, steps, self.bitwise)
        self.position_events += tally.position_events
        self.position_payload += tally.position_payload
        self.levels.update(tally.levels)
        self.counts.update(tally.counts)
        self._add_raster(event, spikes, count, channels)

    def _add_raster(self, event: Encoded, spikes: Tensor | None, count: Tensor, channels: np.ndarray) -> None:
        column = np.full(self.channel_steps.size, -1, np.int64)
        column[channels] = np.arange(len(channels))
        picked = column[self.raster_channels]
        inside = np.flatnonzero(picked >= 0)
        if inside.size == 0:
            return
        rows = torch.from_numpy(self.raster_rows)
        cols = torch.from_numpy(picked[inside])
        if spikes is not None:
            piece = spikes.reshape(spikes.shape[0], -1, spikes.shape[-1])[:, rows][:, :, cols]
        else:
            sub = count.reshape(-1, count.shape[-1])[rows][:, cols]
            piece = _drain(sub, self.code_kind, self.per_step, event.steps, self.bitwise)
        self._pieces.append((inside, piece.permute(1, 0, 2).long().cpu().numpy()))

    def record(self, fan: np.ndarray) -> SiteRecord:
        sops, sops_payload = counters.synaptic_ops(self.position_events, self.position_payload, fan)
        raster = np.zeros((self.raster_rows.size, self.step_events.size, self.raster_channels.size),
                          raster_dtype(self.per_step))
        for inside, piece in self._pieces:
            raster[:, : piece.shape[1], inside] = piece
        level_values, level_freq = _histogram_arrays(self.levels)
        count_values, count_freq = _histogram_arrays(self.counts)
        return SiteRecord(
            name=self.name, kind=self.kind, code_kind=self.code_kind, per_step=self.per_step, rows=self.rows,
            bitwise=self.bitwise, token_neuron_steps=int(self.token_neuron_steps),
            sops=sops, sops_payload=sops_payload, channel_steps=self.channel_steps,
            channel_events=self.channel_events, channel_payload=self.channel_payload,
            step_events=self.step_events, step_neuron_steps=self.step_neuron_steps,
            level_values=level_values, level_freq=level_freq, count_values=count_values, count_freq=count_freq,
            raster=raster, raster_rows=self.raster_rows, raster_channels=self.raster_channels)


class Recorder:
    """``with observing(recorder): model(ids)`` (or a ``LayerByLayerSimulator`` observer), then
    ``recorder.finish(head=...)``: every block's record goes to ``sink`` as the next block starts."""

    def __init__(self, shape: ModelShape, sink, max_neurons: int = 128, max_tokens: int = 64):
        if max_neurons < 1 or max_tokens < 1:
            raise ValueError(f"max_neurons and max_tokens must be at least 1, got {max_neurons}, {max_tokens}")
        self.shape, self.sink = shape, sink
        self.max_neurons, self.max_tokens = max_neurons, max_tokens
        self._layer: int | None = None
        self._done: set[int] = set()
        self._sites: dict[str, _Site] = {}
        self._batch = self._q_len = self._kv_len = None

    def on_encode(self, event: Encoded) -> None:
        if event.layer != self._layer:
            self._flush()
            if event.layer in self._done:
                raise ValueError(f"layer {event.layer} was already recorded: a recorder records one forward pass")
            self._layer = event.layer
        name = re.sub(r"^layers\.\d+\.", "", event.site)
        kind = ATTENTION_KINDS.get(name, "linear")
        spikes, count = event.spikes, event.count
        if kind == "linear":
            channels = event.channels.cpu().numpy()
            total = self.shape.layers[event.layer].linear(name).in_features
        else:  # [B, H, n, D_g] → [B, n, H·D_g]: channel h·D + d (d: the event's head dims, all of them by default)
            heads, head_dim = count.shape[1], self.shape.head_dim
            count = count.transpose(1, 2).flatten(2)
            spikes = None if spikes is None else spikes.transpose(2, 3).flatten(3)
            dims = np.arange(head_dim) if event.channels is None else event.channels.cpu().numpy()
            channels = (np.arange(heads)[:, None] * head_dim + dims[None, :]).reshape(-1)
            total = heads * head_dim
        batch, positions = count.shape[0], count.shape[1]
        self._batch = batch
        if kind in ("k", "v"):
            self._kv_len = positions
        else:
            self._q_len = positions
        if name not in self._sites:
            self._sites[name] = _Site(name, kind, event, total, batch, positions, self.max_neurons, self.max_tokens)
        self._sites[name].add(event, spikes, count, channels)

    def _flush(self) -> None:
        if self._layer is None:
            return
        layer_shape = self.shape.layers[self._layer]
        q_len = self._q_len
        kv_len = self._kv_len or q_len
        sites = {}
        for name, site in self._sites.items():
            out = layer_shape.linear(name).out_features if site.kind == "linear" else 0
            sites[name] = site.record(counters.fan_out(site.kind, q_len, kv_len, out, self.shape.groups,
                                                       layer_shape.window))
        self.sink.write_layer(LayerRecord(
            layer=self._layer, batch=self._batch, q_len=q_len, kv_len=kv_len, sites=sites,
            spiking_ops=block_ops(self.shape, layer_shape, self._batch, q_len, kv_len, spiking=True),
            dense_ops=block_ops(self.shape, layer_shape, self._batch, q_len, kv_len, spiking=False)))
        self._done.add(self._layer)
        self._layer, self._sites, self._kv_len = None, {}, None

    def finish(self, head: bool) -> None:
        """Hand over the last block; ``head``: the run went on through the final norm and ``lm_head``."""
        self._flush()
        if not self._done:
            raise ValueError("nothing was recorded: no spike encoder ran (is the model converted with a "
                             "spiking method, and were the recorded layers simulated?)")
        if head:
            self.sink.write_head(head_ops(self.shape, self._batch, self._q_len))

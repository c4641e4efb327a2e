"""Observers of spike encoders: firing statistics (:class:`SpikeStats`) now, recorders (analysis) later.

The events and the observer context live in :mod:`neuro_llm.spiking.events` (re-exported here), the per-event
tallies in :mod:`neuro_llm.spiking.tallies`.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from neuro_llm.spiking.events import (Encoded, active, counts_suffice, current, notify, observing,  # noqa: F401
                                      operand_suffices, replaced, silenced)
from neuro_llm.spiking.tallies import HISTOGRAM_LIMIT, count_stats_reference, device_tallies  # noqa: F401

Tensor = torch.Tensor


def encoder_name(site: str) -> str:
    """``layers.3.mlp.down_proj`` → ``mlp.down_proj``: one encoder position, all blocks together."""
    parts = site.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 and parts[0] == "layers" and parts[1].isdigit() else site


def _new_tally() -> dict:
    return {"values": 0, "events": 0, "payload": 0.0, "clipped": 0, "tokens": 0, "token_steps": 0,
            "token_steps_max": 0}


@dataclass(eq=False)
class Recording:
    """The events of one forward captured into a CUDA graph (:meth:`SpikeStats.recording`): their host-side
    facts ``(site, values, steps, clipped, tokens, bits per step)``, and ``flat [events, 4 + bins]`` (float64:
    events, payload, Σ token steps, max token steps, then the count histogram), rewritten by every replay.
    :meth:`SpikeStats.credit` adds a replay's ``flat`` into ``sums`` (``maxes`` for the max) on the device."""
    facts: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    flat: Tensor | None = None
    sums: Tensor | None = None
    maxes: Tensor | None = None
    replays: int = 0


FLUSH_EVERY = 64   # SpikeStats reads its device-side tallies back to the host once per this many events


@dataclass(eq=False)
class SpikeStats:
    """Totals over everything encoded: ``firing_rate = events / neuron-steps`` and
    ``avg_spike_bits = Σ steps·bits_per_step / values`` (a value is one activation element).

    Also, overall and per encoder (a site of every block, :func:`encoder_name`): spike events and unit
    spikes per activation, how many values the count's cap clipped, the steps each token needs to carry
    its counts (``SpikeCode.token_steps``: mean and max over tokens), and a histogram of the signed counts.
    All of it derives from the counts, so ``collapsed`` and ``explicit`` runs report the same numbers.

    What needs the data (events, payload, token steps, the histogram) is tallied on the events' device and
    read back once per :data:`FLUSH_EVERY` events, or when a total is read — not once per encoder (each
    read-back waits for the device)."""
    counts_suffice: ClassVar[bool] = True   # every statistic derives from the counts (see observe.counts_suffice)
    operand_suffices: ClassVar[bool] = True  # ... which it sums from an operand itself (Encoded.operand)
    values: int = 0
    neuron_steps: int = 0
    steps_by_bits: dict = field(default_factory=dict)   # bits per step -> Σ values·steps (integers: exact sums)
    _events: int = 0
    _payload: float = 0.0        # Σ |spike level|: a level-k spike counts k
    _per_site: dict = field(default_factory=dict)
    _per_encoder: dict = field(default_factory=dict)
    _histogram: dict = field(default_factory=dict)   # signed count (clamped to ±(LIMIT+1)) -> frequency
    _pending: list = field(default_factory=list, repr=False)
    _recording: "Recording | None" = field(default=None, repr=False)     # set while a CUDA graph captures
    _recordings: list = field(default_factory=list, repr=False)          # recordings credited with replays

    def on_encode(self, e: Encoded) -> None:
        recording = self._recording
        if recording is not None and e.clipped is not None:
            raise ValueError(f"{e.site}: this code's clip count is read on the host per call, which a CUDA graph "
                             "cannot replay; run the model eagerly")
        tallies, binned, tokens = self._device_tallies(e)
        fact = (e.site, math.prod(e.shape), e.steps, e.clipped or 0, tokens, e.code.bits_per_step)
        if recording is not None:    # captured into a CUDA graph: credited once per replay (see credit)
            recording.facts.append(fact)
            recording.parts.append(torch.cat([tallies, binned.to(torch.float64)]))
            return
        self._credit_host(fact)
        self._pending.append((*fact[:5], tallies, binned))
        if len(self._pending) >= FLUSH_EVERY:
            self._flush()

    _device_tallies = staticmethod(device_tallies)

    def _credit_host(self, fact: tuple) -> None:
        """The totals known on the host from an event's shape: values, neuron-steps, steps per bit width."""
        _, values, steps, _, _, bits_per_step = fact
        self.values += values
        self.neuron_steps += values * steps
        self.steps_by_bits[bits_per_step] = self.steps_by_bits.get(bits_per_step, 0) + values * steps

    # -- CUDA-graph replay --------------------------------------------------------------------------
    @contextlib.contextmanager
    def recording(self):
        """Record the events of one forward that is being captured into a CUDA graph (``with
        torch.cuda.graph(g): with stats.recording() as rec: model(...)``): their device tallies are computed
        by the graph, and gathered into one vector per event (``rec.flat``) that every replay rewrites. Call
        :meth:`credit` after each replay; until then the recorded forward counts for nothing."""
        recording = Recording()
        self._recording = recording
        try:
            yield recording
        finally:
            self._recording = None
        recording.flat = torch.stack(recording.parts) if recording.parts else None   # captured: rewritten per replay
        recording.parts = []

    def credit(self, recording: "Recording") -> None:
        """Count one replay of ``recording``'s graph (call it after the replay, before the next): its host
        totals at once, its device tallies added on the device (read back with the next total read)."""
        for fact in recording.facts:
            self._credit_host(fact)
        if recording.flat is None:
            return
        if recording.sums is None:
            recording.sums = torch.zeros_like(recording.flat)
            recording.maxes = torch.zeros_like(recording.flat[:, 3])
        recording.sums += recording.flat
        torch.maximum(recording.maxes, recording.flat[:, 3], out=recording.maxes)
        recording.replays += 1
        if not any(r is recording for r in self._recordings):
            self._recordings.append(recording)

    def _flush(self) -> "SpikeStats":
        """Apply the pending device tallies (one read-back per device) and the replayed recordings' sums."""
        for recording in self._recordings:
            if not recording.replays:
                continue
            sums, maxes, times = recording.sums.tolist(), recording.maxes.tolist(), recording.replays
            recording.sums.zero_()
            recording.maxes.zero_()
            recording.replays = 0
            for (site, values, steps, clipped, tokens, _), row, step_max in zip(recording.facts, sums, maxes):
                events, payload, step_sum = row[:3]
                self._apply(site, values * times, steps, clipped * times, tokens * times, events, payload,
                            step_sum, step_max, row[4:])
        if not self._pending:
            return self
        pending, self._pending = self._pending, []
        by_device: dict = {}
        for i, item in enumerate(pending):
            by_device.setdefault(item[5].device, []).append(i)
        tallies, hists = [None] * len(pending), [None] * len(pending)
        for indices in by_device.values():
            host_tallies = torch.stack([pending[i][5] for i in indices]).cpu().tolist()
            host_hists = torch.stack([pending[i][6] for i in indices]).tolist()
            for k, i in enumerate(indices):
                tallies[i], hists[i] = host_tallies[k], host_hists[k]
        for (site, values, steps, clipped, tokens, _, _), (events, payload, step_sum, step_max), binned in \
                zip(pending, tallies, hists):
            self._apply(site, values, steps, clipped, tokens, events, payload, step_sum, step_max, binned)
        return self

    def _apply(self, site: str, values: int, steps: int, clipped: int, tokens: int, events: float, payload: float,
               step_sum: float, step_max: float, binned: list) -> None:
        """Add the read-back tallies of one event (or of one recorded event over its replays); ``binned``: the
        histogram's frequencies (host numbers, integers)."""
        limit = HISTOGRAM_LIMIT + 1
        events, step_sum, step_max = int(events), int(step_sum), int(step_max)
        self._events += events
        self._payload += payload
        entry = self._per_site.setdefault(site, {"values": 0, "neuron_steps": 0, "events": 0})
        entry["values"] += values
        entry["neuron_steps"] += values * steps
        entry["events"] += events
        tally = self._per_encoder.setdefault(encoder_name(site), _new_tally())
        tally["values"] += values
        tally["events"] += events
        tally["payload"] += payload
        tally["clipped"] += clipped
        tally["tokens"] += tokens
        tally["token_steps"] += step_sum
        tally["token_steps_max"] = max(tally["token_steps_max"], step_max)
        for index, frequency in enumerate(binned):
            if frequency:
                self._histogram[index - limit] = self._histogram.get(index - limit, 0) + int(frequency)

    @property
    def events(self) -> int:
        return self._flush()._events

    @property
    def payload(self) -> float:
        return self._flush()._payload

    @property
    def per_site(self) -> dict:
        return self._flush()._per_site

    @property
    def per_encoder(self) -> dict:
        return self._flush()._per_encoder

    @property
    def histogram(self) -> dict:
        return self._flush()._histogram

    def __eq__(self, other) -> bool:
        if not isinstance(other, SpikeStats):
            return NotImplemented
        mine, theirs = self._flush(), other._flush()
        return all(getattr(mine, name) == getattr(theirs, name) for name in
                   ("values", "neuron_steps", "steps_by_bits", "_events", "_payload", "_per_site", "_per_encoder",
                    "_histogram"))

    def __getstate__(self) -> dict:   # pickled (gathered over ranks) with every tally on the host
        state = dict(self._flush().__dict__)
        state.update(_pending=[], _recording=None, _recordings=[])
        return state

    @property
    def bits(self) -> float:
        """``Σ steps·bits_per_step`` over every value: integer step totals times each code's bits (any order
        of adding the same events, e.g. over data-parallel ranks, gives the same number)."""
        return sum(n * b for b, n in sorted(self.steps_by_bits.items()))

    def merge(self, other: "SpikeStats") -> None:
        """Add ``other``'s totals (integers, and ``payload``, a float of integers: exact)."""
        self._flush()
        other._flush()
        self.values += other.values
        self.neuron_steps += other.neuron_steps
        self._events += other._events
        self._payload += other._payload
        for b, n in other.steps_by_bits.items():
            self.steps_by_bits[b] = self.steps_by_bits.get(b, 0) + n
        for name, site in other._per_site.items():
            mine = self._per_site.setdefault(name, {"values": 0, "neuron_steps": 0, "events": 0})
            for key, value in site.items():
                mine[key] += value
        for name, tally in other._per_encoder.items():   # the per-encoder accounting: sums, and a max
            mine = self._per_encoder.setdefault(name, _new_tally())
            for key, value in tally.items():
                mine[key] = max(mine[key], value) if key == "token_steps_max" else mine[key] + value
        for count, freq in other._histogram.items():
            self._histogram[count] = self._histogram.get(count, 0) + freq

    @property
    def firing_rate(self) -> float:
        return self.events / self.neuron_steps if self.neuron_steps else 0.0

    @property
    def avg_spike_bits(self) -> float:
        return self.bits / self.values if self.values else 0.0

    @staticmethod
    def _ratios(t: dict) -> dict:
        return {"values": t["values"], "events_per_activation": t["events"] / t["values"],
                "unit_spikes_per_activation": t["payload"] / t["values"], "clipped": t["clipped"],
                "clip_rate": t["clipped"] / t["values"], "token_steps_mean": t["token_steps"] / max(t["tokens"], 1),
                "token_steps_max": t["token_steps_max"]}

    def accounting(self) -> dict:
        """Overall and per-encoder accounting, and the count histogram (JSON-ready)."""
        total = _new_tally()
        for t in self.per_encoder.values():
            for key in ("values", "events", "payload", "clipped", "tokens", "token_steps"):
                total[key] += t[key]
            total["token_steps_max"] = max(total["token_steps_max"], t["token_steps_max"])
        out = self._ratios(total) if total["values"] else {}
        out["per_encoder"] = {name: self._ratios(t) for name, t in sorted(self.per_encoder.items())}
        items = sorted(self.histogram.items())
        out["count_histogram"] = {"counts": [k for k, _ in items], "freq": [f for _, f in items],
                                  "end_bins": HISTOGRAM_LIMIT + 1}
        return out

    def summary(self) -> dict:
        return {"firing_rate": self.firing_rate, "avg_spike_bits": self.avg_spike_bits,
                "spike_events": self.events, "neuron_steps": self.neuron_steps, "values": self.values,
                "spike_payload": self.payload, "spike_accounting": self.accounting()}

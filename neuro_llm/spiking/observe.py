"""Observers of spike encoders: firing statistics now, recorders (analysis) later.

Encoders call :func:`notify` with an :class:`Encoded` event; nothing happens unless an observer is
active (``with observing(obs): ...``). An observer is any object with ``on_encode(event)``.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import ClassVar

import torch

Tensor = torch.Tensor
_OBSERVERS: contextvars.ContextVar[tuple] = contextvars.ContextVar("neuro_llm_observers", default=())


@dataclass
class Encoded:
    """One activation tensor turned into spikes at ``site`` (e.g. ``layers.3.mlp.down_proj``)."""
    site: str
    layer: int
    code: object                 # SpikeCode
    count: Tensor                # integer counts [..., C]
    steps: int                   # steps of every channel of this event
    spikes: Tensor | None = None  # [T, ..., C] in explicit mode, None in collapsed mode
    channels: Tensor | None = None  # original channel index of each column (salient groups are permuted)
    clipped: int | None = None    # values whose count the clamp cut (None: the code cannot clip)


def active() -> bool:
    return bool(_OBSERVERS.get())


def counts_suffice() -> bool:
    """Whether every active observer (none: trivially) works from counts alone (``counts_suffice = True``),
    so encoders may integrate their spike trains without materializing them."""
    return all(getattr(observer, "counts_suffice", False) for observer in _OBSERVERS.get())


def notify(event: Encoded) -> None:
    for observer in _OBSERVERS.get():
        observer.on_encode(event)


@contextlib.contextmanager
def observing(*observers):
    token = _OBSERVERS.set(_OBSERVERS.get() + tuple(observers))
    try:
        yield observers
    finally:
        _OBSERVERS.reset(token)


@contextlib.contextmanager
def silenced():
    """No observer sees what runs inside (e.g. blocks before the first simulated one)."""
    token = _OBSERVERS.set(())
    try:
        yield
    finally:
        _OBSERVERS.reset(token)


HISTOGRAM_LIMIT = 64   # count histograms keep -64..64; larger |counts| land in the end bins ±65


def encoder_name(site: str) -> str:
    """``layers.3.mlp.down_proj`` → ``mlp.down_proj``: one encoder position, all blocks together."""
    parts = site.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 and parts[0] == "layers" and parts[1].isdigit() else site


def _new_tally() -> dict:
    return {"values": 0, "events": 0, "payload": 0.0, "clipped": 0, "tokens": 0, "token_steps": 0,
            "token_steps_max": 0}


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
    values: int = 0
    neuron_steps: int = 0
    steps_by_bits: dict = field(default_factory=dict)   # bits per step -> Σ values·steps (integers: exact sums)
    _events: int = 0
    _payload: float = 0.0        # Σ |spike level|: a level-k spike counts k
    _per_site: dict = field(default_factory=dict)
    _per_encoder: dict = field(default_factory=dict)
    _histogram: dict = field(default_factory=dict)   # signed count (clamped to ±(LIMIT+1)) -> frequency
    _pending: list = field(default_factory=list, repr=False)

    def on_encode(self, e: Encoded) -> None:
        values = e.count.numel()
        if e.spikes is not None:
            events = torch.count_nonzero(e.spikes)
            payload = e.spikes.abs().sum(dtype=torch.float64)
        else:
            events = e.code.events(e.count).sum(dtype=torch.float64)
            payload = e.code.payload(e.count).sum(dtype=torch.float64)
        token_steps = e.code.token_steps(e.count)
        largest = token_steps.max() if token_steps.numel() else torch.zeros((), device=e.count.device)
        # float64 holds every integer below 2^53 exactly: events, payloads and step sums of any real run
        tallies = torch.stack([events.to(torch.float64), payload.to(torch.float64),
                               token_steps.sum(dtype=torch.float64), largest.to(torch.float64)])
        limit = HISTOGRAM_LIMIT + 1
        binned = torch.histc(e.count.float().clamp(-limit, limit), bins=2 * limit + 1, min=-limit - 0.5,
                             max=limit + 0.5)  # integer counts: one bin each, exact below 2^24 per call
        bits_per_step = e.code.bits_per_step
        self.values += values
        self.neuron_steps += values * e.steps
        self.steps_by_bits[bits_per_step] = self.steps_by_bits.get(bits_per_step, 0) + values * e.steps
        self._pending.append((e.site, values, e.steps, e.clipped or 0, token_steps.numel(), tallies, binned))
        if len(self._pending) >= FLUSH_EVERY:
            self._flush()

    def _flush(self) -> "SpikeStats":
        """Apply the pending device tallies (one read-back per device)."""
        if not self._pending:
            return self
        pending, self._pending = self._pending, []
        by_device: dict = {}
        for i, item in enumerate(pending):
            by_device.setdefault(item[5].device, []).append(i)
        tallies, hists = [None] * len(pending), [None] * len(pending)
        for indices in by_device.values():
            host_tallies = torch.stack([pending[i][5] for i in indices]).cpu().tolist()
            host_hists = torch.stack([pending[i][6] for i in indices]).cpu()
            for k, i in enumerate(indices):
                tallies[i], hists[i] = host_tallies[k], host_hists[k]
        limit = HISTOGRAM_LIMIT + 1
        for (site, values, steps, clipped, tokens, _, _), (events, payload, step_sum, step_max), binned in \
                zip(pending, tallies, hists):
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
            for index in torch.nonzero(binned).flatten().tolist():
                self._histogram[index - limit] = self._histogram.get(index - limit, 0) + int(binned[index])
        return self

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
        state["_pending"] = []
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

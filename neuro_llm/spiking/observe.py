"""Observers of spike encoders: firing statistics now, recorders (analysis) later.

Encoders call :func:`notify` with an :class:`Encoded` event; nothing happens unless an observer is
active (``with observing(obs): ...``). An observer is any object with ``on_encode(event)``.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

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


@dataclass
class SpikeStats:
    """Totals over everything encoded: ``firing_rate = events / neuron-steps`` and
    ``avg_spike_bits = Σ steps·bits_per_step / values`` (a value is one activation element).

    Also, overall and per encoder (a site of every block, :func:`encoder_name`): spike events and unit
    spikes per activation, how many values the count's cap clipped, the steps each token needs to carry
    its counts (``SpikeCode.token_steps``: mean and max over tokens), and a histogram of the signed counts.
    All of it derives from the counts, so ``collapsed`` and ``explicit`` runs report the same numbers."""
    values: int = 0
    neuron_steps: int = 0
    events: int = 0
    payload: float = 0.0        # Σ |spike level|: a level-k spike counts k
    steps_by_bits: dict = field(default_factory=dict)   # bits per step -> Σ values·steps (integers: exact sums)
    per_site: dict = field(default_factory=dict)
    per_encoder: dict = field(default_factory=dict)
    histogram: dict = field(default_factory=dict)   # signed count (clamped to ±(LIMIT+1)) -> frequency

    def on_encode(self, e: Encoded) -> None:
        values = e.count.numel()
        if e.spikes is not None:
            events = int(torch.count_nonzero(e.spikes))
            payload = float(e.spikes.abs().sum(dtype=torch.float64))
        else:
            events = int(e.code.events(e.count).sum(dtype=torch.float64))
            payload = float(e.code.payload(e.count).sum(dtype=torch.float64))
        bits_per_step = e.code.bits_per_step
        self.values += values
        self.neuron_steps += values * e.steps
        self.events += events
        self.payload += payload
        self.steps_by_bits[bits_per_step] = self.steps_by_bits.get(bits_per_step, 0) + values * e.steps
        site = self.per_site.setdefault(e.site, {"values": 0, "neuron_steps": 0, "events": 0})
        site["values"] += values
        site["neuron_steps"] += values * e.steps
        site["events"] += events
        token_steps = e.code.token_steps(e.count)
        tally = self.per_encoder.setdefault(encoder_name(e.site), _new_tally())
        tally["values"] += values
        tally["events"] += events
        tally["payload"] += payload
        tally["clipped"] += e.clipped or 0
        tally["tokens"] += token_steps.numel()
        tally["token_steps"] += int(token_steps.sum())
        tally["token_steps_max"] = max(tally["token_steps_max"], int(token_steps.max()) if token_steps.numel() else 0)
        limit = HISTOGRAM_LIMIT + 1
        binned = torch.histc(e.count.float().clamp(-limit, limit), bins=2 * limit + 1, min=-limit - 0.5,
                             max=limit + 0.5).cpu()  # integer counts: one bin each, exact below 2^24 per call
        for index in torch.nonzero(binned).flatten().tolist():
            self.histogram[index - limit] = self.histogram.get(index - limit, 0) + int(binned[index])

    @property
    def bits(self) -> float:
        """``Σ steps·bits_per_step`` over every value: integer step totals times each code's bits (any order
        of adding the same events, e.g. over data-parallel ranks, gives the same number)."""
        return sum(n * b for b, n in sorted(self.steps_by_bits.items()))

    def merge(self, other: "SpikeStats") -> None:
        """Add ``other``'s totals (integers, and ``payload``, a float of integers: exact)."""
        self.values += other.values
        self.neuron_steps += other.neuron_steps
        self.events += other.events
        self.payload += other.payload
        for b, n in other.steps_by_bits.items():
            self.steps_by_bits[b] = self.steps_by_bits.get(b, 0) + n
        for name, site in other.per_site.items():
            mine = self.per_site.setdefault(name, {"values": 0, "neuron_steps": 0, "events": 0})
            for key, value in site.items():
                mine[key] += value
        for name, tally in other.per_encoder.items():   # the per-encoder accounting: sums, and a max
            mine = self.per_encoder.setdefault(name, _new_tally())
            for key, value in tally.items():
                mine[key] = max(mine[key], value) if key == "token_steps_max" else mine[key] + value
        for count, freq in other.histogram.items():
            self.histogram[count] = self.histogram.get(count, 0) + freq

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

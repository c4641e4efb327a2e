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


@dataclass
class SpikeStats:
    """Totals over everything encoded: ``firing_rate = events / neuron-steps`` and
    ``avg_spike_bits = Σ steps·bits_per_step / values`` (a value is one activation element)."""
    values: int = 0
    neuron_steps: int = 0
    events: int = 0
    payload: float = 0.0        # Σ |spike level|: a level-k spike counts k
    steps_by_bits: dict = field(default_factory=dict)   # bits per step -> Σ values·steps (integers: exact sums)
    per_site: dict = field(default_factory=dict)

    def on_encode(self, e: Encoded) -> None:
        values = e.count.numel()
        if e.spikes is not None:
            events = int(torch.count_nonzero(e.spikes))
            payload = float(e.spikes.abs().sum(dtype=torch.float64))
        else:
            events = int(e.code.events(e.count).sum(dtype=torch.float64))
            payload = float(e.count.abs().sum(dtype=torch.float64))
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

    @property
    def firing_rate(self) -> float:
        return self.events / self.neuron_steps if self.neuron_steps else 0.0

    @property
    def avg_spike_bits(self) -> float:
        return self.bits / self.values if self.values else 0.0

    def summary(self) -> dict:
        return {"firing_rate": self.firing_rate, "avg_spike_bits": self.avg_spike_bits,
                "spike_events": self.events, "neuron_steps": self.neuron_steps, "values": self.values,
                "spike_payload": self.payload}


"""What a recording holds, as plain dataclasses of numpy arrays (the HDF5 store reads and writes these).

A *site* is one spike encoder of a block: a linear layer's input (``self_attn.q_proj`` ... ``mlp.down_proj``)
or an attention operand (``self_attn.q``, ``.k``, ``.v``; channel ``h·D + d`` is channel ``d`` of head ``h``).
Its neurons are its ``rows`` tokens (samples × positions) times its ``C`` channels; channel ``c`` runs
``channel_steps[c]`` steps. Firing rate = non-zero spikes / neuron-steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.ops import CATEGORIES
from analysis.shape import ModelShape


@dataclass
class SiteRecord:
    name: str                    # "self_attn.q_proj", "self_attn.q", ...
    kind: str                    # "linear" | "q" | "k" | "v"
    code_kind: str               # "gif" | "ternary"
    per_step: int                # largest spike of one step
    rows: int                    # tokens encoded (samples × positions)
    sops: int                    # Σ non-zero spikes × fan-out
    sops_payload: int            # Σ |spike level| × fan-out
    channel_steps: np.ndarray    # [C]
    channel_events: np.ndarray   # [C]
    channel_payload: np.ndarray  # [C]
    step_events: np.ndarray      # [T_max]
    step_neuron_steps: np.ndarray  # [T_max] neurons still running at step t
    level_values: np.ndarray     # spike levels seen ...
    level_freq: np.ndarray       # ... and how often (zeros of running neurons included)
    count_values: np.ndarray     # neuron counts Σ_t S (bitwise: Σ_t 2^(T-1-t) S) seen ...
    count_freq: np.ndarray       # ... and how many neurons
    raster: np.ndarray           # [K, T_max, M] graded spikes of a token × neuron subsample
    raster_rows: np.ndarray      # [K] token rows (sample · positions + position)
    raster_channels: np.ndarray  # [M] channels
    bitwise: bool = False        # ternary counts sent bit by bit: step t's spike weighs 2^(T-1-t) at the synapse
    token_neuron_steps: int = -1  # Σ_tokens C · (that token's longest train): neuron updates if each token's
                                  # neurons step only as long as its own longest train (-1: not recorded)

    @property
    def events(self) -> int:
        return int(self.channel_events.sum())

    @property
    def payload(self) -> int:
        return int(self.channel_payload.sum())

    @property
    def neuron_steps(self) -> int:
        return int(self.step_neuron_steps.sum())

    @property
    def firing_rate(self) -> float:
        return self.events / self.neuron_steps if self.neuron_steps else 0.0

    @property
    def channel_rates(self) -> np.ndarray:
        return self.channel_events / (self.rows * self.channel_steps)

    @property
    def step_rates(self) -> np.ndarray:
        return self.step_events / np.maximum(self.step_neuron_steps, 1)

    @property
    def salient(self) -> np.ndarray:
        """Channels given more steps than the fewest (Optimal Brain Spiking's salient channels)."""
        return self.channel_steps > self.channel_steps.min()


@dataclass
class LayerRecord:
    layer: int
    batch: int
    q_len: int
    kv_len: int
    sites: dict[str, SiteRecord]
    spiking_ops: dict[str, int]  # floating-point ops left in the spiking block (analysis.ops)
    dense_ops: dict[str, int]    # MACs of the dense block

    def total(self, attr: str) -> int:
        return sum(getattr(site, attr) for site in self.sites.values())

    @property
    def firing_rate(self) -> float:
        steps = self.total("neuron_steps")
        return self.total("events") / steps if steps else 0.0


@dataclass
class Recording:
    """A recording in memory; also the sink a :class:`~analysis.recorder.Recorder` writes into."""
    metadata: dict
    shape: ModelShape
    layers: list[LayerRecord] = field(default_factory=list)
    head_ops: dict[str, int] | None = None  # final norm + lm_head, when the run reached the logits
    input_ids: np.ndarray | None = None     # [B, n] tokens of the run
    path: str | None = None

    def write_layer(self, record: LayerRecord) -> None:
        self.layers.append(record)

    def write_head(self, ops: dict[str, int]) -> None:
        self.head_ops = ops

    def total(self, attr: str) -> int:
        return sum(layer.total(attr) for layer in self.layers)

    @property
    def firing_rate(self) -> float:
        steps = self.total("neuron_steps")
        return self.total("events") / steps if steps else 0.0

    def ops(self, which: str) -> dict[str, int]:
        """Summed ``spiking`` or ``dense`` floating-point ops over blocks and head, by category."""
        rows = [getattr(layer, f"{which}_ops") for layer in self.layers]
        rows += [self.head_ops] if self.head_ops else []
        return {key: sum(row[key] for row in rows) for key in CATEGORIES}

"""Widths read from a recording: spike bits, encoded values, and the activation width of the dense-int model.

* a spike of at most ``p`` per step has ``⌈log2(p+1)⌉`` magnitude bits (1 for binary / ternary spikes);
* ``carried`` = ``⌈log2(max|count|+1)⌉`` (+1 sign bit for signed codes): what the spike trains carry;
* ``isobit`` = ``⌈log2(T+1)⌉`` (+1 sign) with ``T`` unit steps (Yan et al., arXiv 2409.08290);
* ``nominal`` = the recorded ``--abits``.
"""
from __future__ import annotations

import math

from analysis.energy_choices import Options
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape


def spike_bits(per_step: int) -> int:
    """Bits of the magnitude of a spike of at most ``per_step``: 1 for binary/ternary spikes, 4 for 0..15."""
    return max(1, math.ceil(math.log2(per_step + 1)))


def site_neurons(site: SiteRecord) -> int:
    """Encoded values of a site: tokens × channels."""
    return site.rows * len(site.channel_steps)


def popcount_events(site: SiteRecord) -> int:
    """Set bits of all spikes' magnitudes: the binary spikes of the bit-plane code."""
    if len(site.level_values) == 0:
        raise ValueError(f"site {site.name} has no spike-level histogram, which --binary-spikes bitplane needs: "
                         "re-record with `neuro-llm simulate --record` or use --binary-spikes unary")
    return int(sum(int(f) * bin(abs(int(v))).count("1") for v, f in zip(site.level_values, site.level_freq)))


def activation_bits(recording: Recording) -> int:
    config = recording.metadata.get("config") or {}
    abits = config.get("abits")
    if not isinstance(abits, int) or abits < 1:
        raise ValueError(f"{recording.path or 'the recording'}: its metadata lacks the activation bits "
                         "(config.abits) that the dense-int baseline needs: re-record it with `neuro-llm simulate "
                         "--record`, or use --convention snn-paper/spikingbrain")
    return abits


def layer_shape(recording: Recording, layer: LayerRecord) -> LayerShape:
    layers = recording.shape.layers
    if not 0 <= layer.layer < len(layers):
        raise ValueError(f"{recording.path}: block {layer.layer} is not in the recorded model shape "
                         f"({len(layers)} blocks)")
    return layers[layer.layer]


def carried_bits(recording: Recording) -> int:
    """Bits of the largest spike count any neuron integrated (+1 sign bit for signed codes): the activation
    width the spike trains really carry, so the width a dense-int model needs to compute the same."""
    top, signed = 0, False
    for layer in recording.layers:
        for site in layer.sites.values():
            if len(site.count_values):
                top = max(top, int(abs(site.count_values).max()))
            signed = signed or site.code_kind == "ternary"
    return max(1, math.ceil(math.log2(top + 1))) + int(signed)


def isobit_bits(recording: Recording) -> int:
    """Yan et al. (arXiv 2409.08290): a T-step SNN against a ⌈log2(T+1)⌉-bit network; T counts unit steps
    (a step carrying spikes up to ``per_step`` counts ``per_step`` times), +1 sign bit for signed codes."""
    unit, signed = 1, False
    for layer in recording.layers:
        for site in layer.sites.values():
            unit = max(unit, len(site.step_events) * max(1, site.per_step))
            signed = signed or site.code_kind == "ternary"
    return max(1, math.ceil(math.log2(unit + 1))) + int(signed)


def dense_widths(recording: Recording, opt: Options) -> dict:
    nominal = activation_bits(recording)
    carried = carried_bits(recording)
    return {"nominal": nominal, "carried": carried, "isobit": isobit_bits(recording),
            "dense_int": {"nominal": nominal, "carried": carried, "isobit": isobit_bits(recording)}[opt.dense_abits],
            "dense_isobit": isobit_bits(recording)}

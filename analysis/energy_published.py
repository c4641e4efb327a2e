"""Published conventions and others' names for our counts.

``snn-paper``: ``E = 0.9 pJ·SOPs + 4.6 pJ·FLOPs`` with ``SOPs = spikes per activation × FLOPs`` of the
product the spikes drive (firing rate × T × FLOPs); ``spikingbrain``: unit spikes × INT8 add 0.03 pJ
against the FP16 MAC 1.5 pJ. Neither has a dense-int model or a memory term. :func:`neurobench_names`
reports our counts under NeuroBench's metric names.
"""
from __future__ import annotations

from analysis.energy_terms import finish_row
from analysis.energy_widths import layer_shape, site_neurons
from analysis.hardware import PJ
from analysis.ops import causal_pairs, spike_driven_macs
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, ModelShape


SNN_PAPER = {"ac_j": 0.9 * PJ, "mac_j": 4.6 * PJ,
             "source": "E_AC 0.9 pJ (fp32 add), E_MAC 4.6 pJ (fp32 mult + add), Horowitz 2014, 45 nm"}


SPIKINGBRAIN = {"ac_j": 0.03 * PJ, "mac_j": 1.5 * PJ,
                "source": "INT8 add 0.03 pJ per unit spike and synapse vs FP16 MAC 1.5 pJ (Horowitz 2014), as in "
                          "the SpikingBrain technical report (2025)"}


def site_flops(site: SiteRecord, shape: ModelShape, layer: LayerShape, record: LayerRecord) -> int:
    """FLOPs (MACs) of the dense product a site's spikes drive: ``B·n·in·out`` (linear), ``B·H·P·D`` (Q: QKᵀ;
    V: P·V), ``B·m·H_kv·D`` (K: one accumulate into K̂ per element)."""
    B, n, m = record.batch, record.q_len, record.kv_len
    if site.kind == "linear":
        linear = layer.linear(site.name)
        return B * n * linear.in_features * linear.out_features
    if site.kind in ("q", "v"):
        return B * shape.heads * causal_pairs(n, m) * shape.head_dim
    if site.kind == "k":
        return B * m * shape.kv_heads * shape.head_dim
    raise ValueError(f"unknown site kind {site.kind!r} of {site.name}")


def published_row(label, sites, spiking_ops, dense_ops, shape, layer, record, constants, unit_spikes) -> dict:
    sops = 0.0
    for site in sites:
        spikes = site.payload if unit_spikes else site.events
        sops += spikes / site_neurons(site) * site_flops(site, shape, layer, record)
    remainder, ann = sum(spiking_ops.values()), sum(dense_ops.values())
    parts = {"spiking": {"synaptic_j": sops * constants["ac_j"], "fp_j": remainder * constants["mac_j"]},
             "dense_int": None, "dense_fp16": {"mac_j": ann * constants["mac_j"]}}
    count = {key: sum(getattr(site, key) for site in sites) for key in ("sops", "sops_payload", "events",
                                                                         "neuron_steps", "payload")}
    row = {"layer": label, "sops": count["sops"], "sops_payload": count["sops_payload"],
           "spike_events": count["events"], "neuron_steps": count["neuron_steps"], "synaptic_ops": sops,
           "unit_spikes": count["payload"], "activations": sum(site_neurons(site) for site in sites),
           "macs": remainder, "ann_macs": ann, "int_macs": None}
    return finish_row(row, parts)


def published_rows(recording: Recording, constants: dict, unit_spikes: bool) -> list[dict]:
    shape = recording.shape
    rows = [published_row(layer.layer, list(layer.sites.values()), layer.spiking_ops, layer.dense_ops, shape,
                           layer_shape(recording, layer), layer, constants, unit_spikes)
            for layer in recording.layers]
    if recording.head_ops is not None:
        rows.append(published_row("head", [], recording.head_ops, recording.head_ops, shape, None, None, constants,
                                   unit_spikes))
    return rows


def neurobench_names(recording: Recording) -> dict:
    """Our counts under NeuroBench's metric names (Yik et al., Nat. Commun. 16:1545, 2025; ``neurobench`` 2.3),
    computed by our counters, not by NeuroBench (``benchmarks/neurobench_check.py`` runs NeuroBench itself).
    As NeuroBench classifies them: ±1 / binary spike inputs are ACs, multi-level (graded) ones MACs; unlike
    NeuroBench we count every synapse a spike reaches, zero weights included, and ``Dense`` once per token,
    not once per time step."""
    sites = [site for layer in recording.layers for site in layer.sites.values()]
    acs = sum(site.sops for site in sites if site.per_step == 1)
    macs = sum(site.sops for site in sites if site.per_step > 1)
    dense = 0
    for layer in recording.layers:
        ls = layer_shape(recording, layer)
        driven = spike_driven_macs(recording.shape, ls, layer.batch, layer.q_len, layer.kv_len)
        dense += sum(driven.values())
    steps = sum(site.neuron_steps for site in sites)
    return {"Effective_ACs": acs, "Effective_MACs": macs, "Dense": dense,
            "ActivationSparsity": 1 - sum(site.events for site in sites) / steps if steps else None,
            "computed_by": "neuro-llm counters under NeuroBench names (zero weights counted; Dense once per token)"}


SPIKINGBRAIN_REPORTED = {"spikes_per_channel": 1.13, "ratio_fp16": 43.48, "ratio_int8": 6.76,
                         "saving_fp16": 0.977, "saving_int8": 0.852, "fp16_mac_j": 1.5 * PJ, "int8_mac_j": 0.23 * PJ,
                         "add_j": 0.03 * PJ,
                         "source": "SpikingBrain-7B technical report (BICLab, 2025), §5.5 and App. C.2: bitwise "
                                   "spikes per channel over the inputs of all linear projections; compute only"}


def spikingbrain_figures(recording: Recording) -> dict:
    """SpikingBrain's convention on this recording: unit spikes per channel over the inputs of the linear
    projections only (their 1.13), and per MAC-equivalent ``s × 0.03 pJ`` against the FP16 MAC (1.5 pJ) and
    the INT8 MAC (0.23 pJ) — arithmetic only."""
    sites = [site for layer in recording.layers for site in layer.sites.values() if site.kind == "linear"]
    spa = sum(site.payload for site in sites) / sum(site_neurons(site) for site in sites)
    ref = SPIKINGBRAIN_REPORTED
    per_mac = spa * ref["add_j"]
    return {"spikingbrain": {"spikes_per_channel_linear": spa, "ratio_fp16": ref["fp16_mac_j"] / per_mac,
                             "ratio_int8": ref["int8_mac_j"] / per_mac,
                             "saving_fp16": 1 - per_mac / ref["fp16_mac_j"],
                             "saving_int8": 1 - per_mac / ref["int8_mac_j"], "reported": ref}}

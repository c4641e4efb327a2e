"""Pricing one spike site on the spiking chip (convention ``ours``)::

    E_site = ops·E_syn + active·E_neuron + (updates − active)·E_inactive + events·E_hop + M_site

``E_syn``: ``sop_j`` (+ ``E_mult(b×W)`` for a graded spike on a chip with ``graded_multiply``) where the
chip quotes it; else ``E_add`` for a K̂ accumulate, ``E_add`` (+ ``E_mult(b×W)`` if graded) on integer
weights, the float add (+ the rest of a float MAC if graded) on float operands. On a binary-spike chip a
level-k spike is k binary spikes (``unary``) or its set bits (``bitplane``); ``payload`` makes it k
accumulates. ``M_site`` (unless ``chip_memory``): the partial sum read and written per op in a register, one
synapse read per op (linears) or the K̂ / P operands (attention), spikes and membranes read and written per
neuron update (spikes per event under ``event-driven``).
"""
from __future__ import annotations

from analysis.energy_choices import BITS, Options
from analysis.energy_widths import popcount_events, spike_bits
from analysis.hardware import Hardware
from analysis.records import SiteRecord
from analysis.shape import LayerShape, ModelShape


def site_counts(site: SiteRecord, hw: Hardware, payload: bool, binary_spikes: str, policy: str = "lockstep") -> dict:
    """Synaptic ops, events and neuron updates a site costs on ``hw`` under the neuron ``policy``, and
    whether a graded level reaches the synapse (then it needs a multiply)."""
    graded = site.per_step > 1
    steps = site.neuron_steps
    if policy == "per-token":
        if site.token_neuron_steps < 0:
            raise ValueError(f"site {site.name} has no per-token neuron-steps (recorded before they existed): "
                             "re-record with `neuron-llm simulate --record` or use --neuron-policy lockstep")
        steps = min(site.token_neuron_steps, site.neuron_steps)
    if graded and hw.spikes == "binary" and not payload and binary_spikes == "bitplane":
        planes = popcount_events(site)
        c = {"ops": site.sops * planes / site.events if site.events else 0.0, "events": planes,
             "updates": steps, "graded": False}
    elif graded and hw.spikes == "binary":  # unary: a level-k spike is k binary spikes over k sub-steps
        c = {"ops": site.sops_payload, "events": site.payload, "updates": steps * site.per_step, "graded": False}
    elif payload:  # an adder-only synapse: a level-k spike is k accumulates
        c = {"ops": site.sops_payload, "events": site.events, "updates": steps, "graded": False}
    else:
        c = {"ops": site.sops, "events": site.events, "updates": steps, "graded": graded}
    if policy == "event-driven":
        c["updates"] = c["events"]
    # neuron updates in which the neuron fires (bit-plane spikes of one step share one update)
    c["active"] = min(c["events"], c["updates"])
    return c


def price_site(site: SiteRecord, layer: LayerShape, shape: ModelShape, hw: Hardware, payload: bool,
                  binary_spikes: str, memory: bool, parts: dict, counts: dict, opt: Options) -> None:
    c = site_counts(site, hw, payload, binary_spikes, opt.neuron_policy)
    bits = spike_bits(site.per_step)
    integer = (site.kind == "linear" and bool(shape.weight_bits)
               and layer.linear(site.name).integer_weights)
    operand_bits = (opt.weight_bits or shape.weight_bits) if integer else hw.word_bits
    if hw.sop_j is not None:
        multiply = hw.mult_j(bits, operand_bits) if (hw.graded_multiply and c["graded"] and site.kind != "k") else 0
        e_syn = hw.sop_j + multiply
    elif site.kind == "k":
        e_syn = hw.add_j
    elif integer:
        e_syn = hw.add_j + (hw.mult_j(bits, operand_bits) if c["graded"] else 0.0)
    else:
        e_syn = hw.float_add_j + ((hw.mac_j - hw.float_add_j) if c["graded"] else 0.0)
    parts["synaptic_j"] += c["ops"] * e_syn
    # a neuron update in which the neuron fires is active, the others inactive (Davies et al. 2018, Table 2)
    parts["neuron_j"] += c["active"] * hw.neuron_j + (c["updates"] - c["active"]) * hw.inactive_j
    parts["hop_j"] += c["events"] * hw.hop_j
    for key in ("ops", "events", "updates"):
        counts[key] += c[key]
    if memory and not hw.chip_memory:
        if site.kind != "k":  # the accumulate reads and writes its partial sum in a register
            acc_bits = hw.psum_bits if integer else hw.word_bits
            parts["mem_accumulator_j"] += 2 * c["ops"] * acc_bits / BITS * hw.rf_j
        if site.kind == "linear":  # one synapse read per synaptic op from the core-local memory
            parts["mem_weights_j"] += c["ops"] * operand_bits / BITS * hw.weight_read_j
        else:  # K̂ / p·Δ_v operands read per op, K̂ read and written per accumulate
            per_op = 2 if site.kind == "k" else 1
            parts["mem_operands_j"] += c["ops"] * per_op * hw.word_bits / BITS * hw.memory_j
        sign = 1 if site.code_kind == "ternary" else 0
        written = c["events"] if opt.neuron_policy == "event-driven" else c["updates"]
        parts["mem_spikes_j"] += 2 * written * (bits + sign) / BITS * hw.memory_j
        parts["mem_membrane_j"] += 2 * c["updates"] * hw.membrane_bits / BITS * hw.memory_j

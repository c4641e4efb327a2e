"""Convention ``ours``: the rows (per block and the head) of the spiking model beside the dense models::

    spiking = Σ_sites E_site + FP ops·E_mac + M_float + DRAM stream

The float remainder (non-spiking linears, ``lm_head``, the float side of the attention) runs on the dense
accelerator in every model; with ``kv="int8"`` (SpikingBrain's W8ASpike) Q, K, V are not spiked and QKᵀ
runs as int8 MACs on both sides.
"""
from __future__ import annotations

from analysis.energy_choices import BITS, MODELS, Options
from analysis.energy_dense import dataflow_memory, dense_gemms, dense_row, float_memory
from analysis.energy_residency import weight_streams
from analysis.energy_site import price_site
from analysis.energy_terms import finish_row, zero_terms
from analysis.energy_widths import dense_widths, layer_shape
from analysis.hardware import Hardware
from analysis.ops import spike_driven_macs
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, ModelShape


def ours_row(label, sites: list[SiteRecord], spiking_ops: dict, dense_ops: dict, driven: dict, stream_bits: dict,
              shape: ModelShape, layer: LayerShape | None, hw: Hardware, widths: dict, payload: bool,
              binary_spikes: str, memory: bool, opt: Options = Options(), record=None) -> dict:
    parts = {model: zero_terms(model) for model in (*MODELS, "dense_isobit")}
    counts = {"ops": 0.0, "events": 0, "updates": 0}
    for site in sites:
        price_site(site, layer, shape, hw, payload, binary_spikes, memory, parts["spiking"], counts, opt)
    remainder = sum(spiking_ops.values())
    spk = parts["spiking"]
    spk["fp_j"] = remainder * hw.mac_j
    if driven.get("kv_int8"):  # attention as int8 MACs (QKᵀ) and float P·V, as the dense-int model runs it
        spk["fp_j"] += driven["kv_int8"] * hw.mac_j
        spk["synaptic_j"] += driven["kv_int8"] * (hw.mult_j(8, 8) + hw.add_j)
    if memory:  # the float remainder (non-spiking linears, lm_head) runs on the dense accelerator
        if opt.dataflow == "no-reuse":
            weights, operands = float_memory(spiking_ops, hw)
            spk["mem_weights_j"] += weights
            spk["mem_operands_j"] += operands + 2 * driven.get("kv_int8", 0) * 8 / BITS * hw.memory_j
            spk["mem_accumulator_j"] += 2 * (
                (spiking_ops["linear"] + spiking_ops["lm_head"] + spiking_ops["attention_scores"]
                 + spiking_ops["attention_values"] + driven.get("kv_int8", 0)) * hw.word_bits
                + driven.get("kv_int8", 0) * hw.psum_bits) / BITS * hw.rf_j
        else:
            batch, q_len, kv_len = (record.batch, record.q_len, record.kv_len) if record is not None else (1, 0, 0)
            wbits = opt.weight_bits or shape.weight_bits or hw.word_bits
            gemms = dense_gemms(shape, layer, batch, q_len, kv_len, "float", 8, wbits, hw.word_bits)
            if layer is not None and driven.get("kv_int8"):
                gemms += dense_gemms(shape, layer, batch, q_len, kv_len, "attention", 8, wbits, hw.word_bits)
            m = dataflow_memory(gemms, hw, opt, hw.psum_bits, stream_bits["dense_int"] > 0)
            spk["mem_weights_j"] += m["weights"] + m["activations"]
            spk["mem_dram_j"] += m["dram"]
        spk["mem_dram_j"] += stream_bits["spiking"] / BITS * hw.dram_j
    for model, abits in (("dense_int", widths["dense_int"]), ("dense_isobit", widths["dense_isobit"]),
                         ("dense_fp16", hw.word_bits)):
        parts[model] = dense_row(sites, spiking_ops, dense_ops, driven, stream_bits[model if model != "dense_isobit"
                                  else "dense_int"], shape, layer, hw, abits, memory, opt, record, model)
    int_macs = driven["linear_int"] + driven["attention_scores"]
    count = {key: sum(getattr(site, key) for site in sites) for key in ("sops", "sops_payload", "events",
                                                                         "neuron_steps")}
    row = {"layer": label, "sops": count["sops"], "sops_payload": count["sops_payload"],
           "spike_events": count["events"], "neuron_steps": count["neuron_steps"],
           "synaptic_ops": counts["ops"], "charged_events": counts["events"], "neuron_updates": counts["updates"],
           "macs": remainder, "ann_macs": sum(dense_ops.values()), "int_macs": int_macs,
           "float_macs": remainder + driven["linear_float"] + driven["attention_values"]}
    return finish_row(row, parts)


def kv_int8_sites(recording: Recording, layer: LayerRecord, driven: dict) -> tuple[list[SiteRecord], dict]:
    """W8ASpike's attention: Q, K, V not spiked; QKᵀ as int8 MACs, P·V as float MACs on both sides."""
    sites = [site for site in layer.sites.values() if site.kind == "linear"]
    driven = {**driven, "attention_scores": driven["attention_scores"], "kv_int8": driven["attention_scores"]}
    return sites, driven


def ours_rows(recording: Recording, hw: Hardware, payload: bool, binary_spikes: str, memory: bool,
          opt: Options = Options()) -> list[dict]:
    shape = recording.shape
    widths = dense_widths(recording, opt)
    streams, head_stream, _ = weight_streams(recording, hw, memory, opt)
    rows = []
    for layer, stream in zip(recording.layers, streams):
        ls = layer_shape(recording, layer)
        driven = spike_driven_macs(shape, ls, layer.batch, layer.q_len, layer.kv_len)
        sites = list(layer.sites.values())
        if opt.kv == "int8" and ls.attention_spiking:
            sites, driven = kv_int8_sites(recording, layer, driven)
        rows.append(ours_row(layer.layer, sites, layer.spiking_ops, layer.dense_ops, driven,
                              stream, shape, ls, hw, widths, payload, binary_spikes, memory, opt, layer))
    if recording.head_ops is not None:
        none = dict.fromkeys(("linear_int", "linear_float", "attention_scores", "attention_values"), 0)
        first = recording.layers[0]
        rows.append(ours_row("head", [], recording.head_ops, recording.head_ops, none, head_stream, shape, None,
                              hw, widths, payload, binary_spikes, memory, opt, first))
    return rows

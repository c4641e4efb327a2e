"""Energy of a recording on a hardware preset: the spiking model beside the same quantized model run densely
with integer MACs and beside the floating-point model, under one accounting (docs/energy.md).

Convention ``ours`` (default; memory traffic on unless ``memory=False``), per block and for the head::

    spiking    = Σ_sites SOPs·E_syn + neuron-steps·E_neuron + events·E_hop + FP ops·E_mac + M_spiking
    dense_int  = int MACs·(E_mult(A×W) + E_add) + float MACs·E_mac + FP ops·E_mac + M_int
    dense_fp16 = dense MACs·E_ann_mac + M_fp

``E_syn`` of a graded level-k spike (``b`` bits) on a digital datapath is ``E_mult(b×W) + E_add`` (the
W-bit code times the level, accumulated at int32), of a binary or ternary spike ``E_add``; a chip that
quotes a synaptic op charges ``sop_j`` (plus the payload multiply on ``loihi2``). On a binary-spike chip
(``loihi``, ``truenorth``) a level-k spike travels as k binary spikes (``unary``) or as its set bits
(``bitplane``). ``M`` = weights at their stored width read per synaptic op / MAC from on-chip memory, plus
one DRAM stream of every weight per forward pass when the model does not fit on chip, plus
activation / spike and membrane traffic through the local buffer (a chip with ``chip_memory`` includes its
own synapse reads, state and routing in its per-op constants).

Conventions ``snn-paper`` (``E = 0.9 pJ·SOPs + 4.6 pJ·FLOPs``, ``SOPs = spikes per activation × FLOPs``
of the product the spikes drive, i.e. firing rate × T × FLOPs) and ``spikingbrain`` (unit spikes × INT8
add 0.03 pJ against the FP16 MAC 1.5 pJ) reproduce published figures; they have no dense-int model and no
memory term.
"""
from __future__ import annotations

from dataclasses import asdict, replace

from analysis import dataflow as df
from analysis.energy_choices import (BINARY_SPIKES, BITS, CONVENTIONS, DENSE_WIDTHS, KV_MODES,  # noqa: F401
                                     LEGACY, MODELS, NEURON_POLICIES, Options)
from analysis.energy_residency import fits_on_chip, head_weight_bits, weight_bits, weight_streams  # noqa: F401
from analysis.energy_terms import blocks_ratio, finish_row, safe_ratio, sum_rows, zero_terms  # noqa: F401
from analysis.energy_widths import (activation_bits, carried_bits, dense_widths, isobit_bits,  # noqa: F401
                                    layer_shape, popcount_events, site_neurons, spike_bits)
from analysis.hardware import PJ, PRESETS, Hardware, constants as hardware_constants, load_hardware  # noqa: F401
from analysis.ops import causal_pairs, spike_driven_macs
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, ModelShape

SNN_PAPER = {"ac_j": 0.9 * PJ, "mac_j": 4.6 * PJ,
             "source": "E_AC 0.9 pJ (fp32 add), E_MAC 4.6 pJ (fp32 mult + add), Horowitz 2014, 45 nm"}
SPIKINGBRAIN = {"ac_j": 0.03 * PJ, "mac_j": 1.5 * PJ,
                "source": "INT8 add 0.03 pJ per unit spike and synapse vs FP16 MAC 1.5 pJ (Horowitz 2014), as in "
                          "the SpikingBrain technical report (2025)"}


def _site_counts(site: SiteRecord, hw: Hardware, payload: bool, binary_spikes: str, policy: str = "lockstep") -> dict:
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


def _spiking_site(site: SiteRecord, layer: LayerShape, shape: ModelShape, hw: Hardware, payload: bool,
                  binary_spikes: str, memory: bool, parts: dict, counts: dict, opt: Options) -> None:
    c = _site_counts(site, hw, payload, binary_spikes, opt.neuron_policy)
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


def _gemms(shape: ModelShape, layer: LayerShape | None, batch: int, q_len: int, kv_len: int, which: str,
           abits: int, wbits: int, word: int) -> list[df.Gemm]:
    """The GEMMs of a block (or of the head, ``layer=None``) that run on the dense accelerator:
    ``which`` = ``float`` (linears whose inputs do not spike; ``lm_head``), ``spiking`` (the spike-driven
    linears, as the dense-int model runs them), ``all`` (every linear, the fp16 model), and the attention
    products ``attention`` (K and V codes at ``abits``) / ``attention_fp`` (at ``word``)."""
    n = batch * q_len
    if layer is None:
        return [df.Gemm(n, shape.hidden, shape.vocab, word, word)] if which in ("float", "all") else []
    out = []
    if which in ("float", "spiking", "all"):
        for linear in layer.linears:
            if which == "float" and linear.spiking or which == "spiking" and not linear.spiking:
                continue
            integer = linear.integer_weights and shape.weight_bits and which != "all"
            out.append(df.Gemm(n, linear.in_features, linear.out_features, wbits if integer else word,
                               abits if which == "spiking" else word))
        return out
    bits = abits if which == "attention" else word
    pairs = causal_pairs(q_len, kv_len, layer.window)
    for _ in range(2):  # QKᵀ (K stationary) and P·V (V stationary), every query head of every sample
        out.append(df.Gemm(q_len, shape.head_dim, kv_len, bits, bits,
                           macs=pairs * shape.head_dim).scaled(batch * shape.heads))
    return out


def _dataflow_memory(gemms: list[df.Gemm], hw: Hardware, opt: Options, psum_bits: int, in_dram: bool) -> dict:
    total = {"weights": 0.0, "operands": 0.0, "activations": 0.0, "dram": 0.0}
    for g in gemms:
        m = df.gemm_memory(g, hw, opt.dataflow, psum_bits, in_dram)
        total["weights"] += (m["weight_j"] + m["rf_j"] + m["sram_j"]) * g.count
        total["activations"] += m["local_j"] * g.count
        total["dram"] += m["dram_j"] * g.count
    return total


def _dense_row(sites, spiking_ops, dense_ops, driven, stream, shape, layer, hw, abits, memory, opt, record,
               model) -> dict:
    """Energy terms of a dense model (``dense_int``/``dense_isobit`` at ``abits``, or ``dense_fp16``)."""
    part = zero_terms(model)
    wbits = opt.weight_bits or shape.weight_bits or hw.word_bits
    word = hw.word_bits
    batch, q_len, kv_len = (record.batch, record.q_len, record.kv_len) if record is not None else (1, 0, 0)
    if model == "dense_fp16":
        part["mac_j"] = sum(dense_ops.values()) * hw.ann_mac_j
    else:
        remainder = sum(spiking_ops.values())
        kv_bits = 8 if driven.get("kv_int8") else abits
        part["int_mac_j"] = (driven["linear_int"] * (hw.mult_j(abits, wbits) + hw.add_j)
                             + driven["attention_scores"] * (hw.mult_j(kv_bits, kv_bits) + hw.add_j))
        part["fp_j"] = (remainder + driven["linear_float"] + driven["attention_values"]) * hw.mac_j
    if not memory:
        return part
    values = sum(site_neurons(site) for site in sites)
    if opt.dataflow == "no-reuse":  # the per-MAC rule
        if model == "dense_fp16":
            part["mem_accumulator_j"] = 2 * sum(dense_ops[k] for k in ("linear", "lm_head", "attention_scores",
                                                                         "attention_values")) * word / BITS * hw.rf_j
        else:
            part["mem_accumulator_j"] = 2 * (
                (driven["linear_int"] + driven["attention_scores"]) * hw.psum_bits
                + (driven["linear_float"] + driven["attention_values"] + spiking_ops["linear"] + spiking_ops["lm_head"]
                   + spiking_ops["attention_scores"] + spiking_ops["attention_values"]) * word) / BITS * hw.rf_j
        if driven.get("kv_int8") and model != "dense_fp16":
            part["mem_operands_j"] += 2 * driven["kv_int8"] * 8 / BITS * hw.memory_j
        if model == "dense_fp16":
            part["mem_weights_j"], part["mem_operands_j"] = _float_memory(dense_ops, hw)
            part["mem_activations_j"] = 2 * values * word / BITS * hw.memory_j
        else:
            weights, operands = _float_memory(spiking_ops, hw)
            part["mem_weights_j"] = weights + (driven["linear_int"] * wbits + driven["linear_float"] * word) \
                / BITS * hw.weight_read_j
            part["mem_operands_j"] = operands + (0 if driven.get("kv_int8") else (
                driven["attention_scores"] + driven["attention_values"]) * abits / BITS * hw.memory_j)
            part["mem_activations_j"] = 2 * values * abits / BITS * hw.memory_j
    else:
        in_dram = stream > 0
        psum = hw.psum_bits if model != "dense_fp16" else max(word, 16)
        if model == "dense_fp16":
            gemms = _gemms(shape, layer, batch, q_len, kv_len, "all", abits, wbits, word)
            attention = dense_ops["attention_scores"] > 0
            if layer is not None and attention:
                gemms += _gemms(shape, layer, batch, q_len, kv_len, "attention_fp", abits, wbits, word)
        else:
            gemms = (_gemms(shape, layer, batch, q_len, kv_len, "float", abits, wbits, word)
                     + _gemms(shape, layer, batch, q_len, kv_len, "spiking", abits, wbits, word))
            if layer is not None:
                which = "attention" if driven["attention_scores"] else "attention_fp"
                if driven["attention_scores"] or spiking_ops["attention_scores"]:
                    gemms += _gemms(shape, layer, batch, q_len, kv_len, which,
                                    8 if driven.get("kv_int8") else abits, wbits, word)
        m = _dataflow_memory(gemms, hw, opt, psum, in_dram)
        part["mem_weights_j"] = m["weights"]
        part["mem_activations_j"] = m["activations"]
        part["mem_dram_j"] = m["dram"]
    part["mem_dram_j"] += stream / BITS * hw.dram_j
    return part


def _float_memory(ops: dict, hw: Hardware) -> tuple[float, float]:
    """(weights, operands) of floating-point MACs under the per-MAC (no-reuse) rule: a float weight per
    linear/lm_head MAC from the core-local weight memory, a float operand per attention MAC from the local
    buffer."""
    weights = (ops["linear"] + ops["lm_head"]) * hw.word_bits / BITS * hw.weight_read_j
    operands = (ops["attention_scores"] + ops["attention_values"]) * hw.word_bits / BITS * hw.memory_j
    return weights, operands


def _ours_row(label, sites: list[SiteRecord], spiking_ops: dict, dense_ops: dict, driven: dict, stream_bits: dict,
              shape: ModelShape, layer: LayerShape | None, hw: Hardware, widths: dict, payload: bool,
              binary_spikes: str, memory: bool, opt: Options = Options(), record=None) -> dict:
    parts = {model: zero_terms(model) for model in (*MODELS, "dense_isobit")}
    counts = {"ops": 0.0, "events": 0, "updates": 0}
    for site in sites:
        _spiking_site(site, layer, shape, hw, payload, binary_spikes, memory, parts["spiking"], counts, opt)
    remainder = sum(spiking_ops.values())
    spk = parts["spiking"]
    spk["fp_j"] = remainder * hw.mac_j
    if driven.get("kv_int8"):  # attention as int8 MACs (QKᵀ) and float P·V, as the dense-int model runs it
        spk["fp_j"] += driven["kv_int8"] * hw.mac_j
        spk["synaptic_j"] += driven["kv_int8"] * (hw.mult_j(8, 8) + hw.add_j)
    if memory:  # the float remainder (non-spiking linears, lm_head) runs on the dense accelerator
        if opt.dataflow == "no-reuse":
            weights, operands = _float_memory(spiking_ops, hw)
            spk["mem_weights_j"] += weights
            spk["mem_operands_j"] += operands + 2 * driven.get("kv_int8", 0) * 8 / BITS * hw.memory_j
            spk["mem_accumulator_j"] += 2 * (
                (spiking_ops["linear"] + spiking_ops["lm_head"] + spiking_ops["attention_scores"]
                 + spiking_ops["attention_values"] + driven.get("kv_int8", 0)) * hw.word_bits
                + driven.get("kv_int8", 0) * hw.psum_bits) / BITS * hw.rf_j
        else:
            batch, q_len, kv_len = (record.batch, record.q_len, record.kv_len) if record is not None else (1, 0, 0)
            wbits = opt.weight_bits or shape.weight_bits or hw.word_bits
            gemms = _gemms(shape, layer, batch, q_len, kv_len, "float", 8, wbits, hw.word_bits)
            if layer is not None and driven.get("kv_int8"):
                gemms += _gemms(shape, layer, batch, q_len, kv_len, "attention", 8, wbits, hw.word_bits)
            m = _dataflow_memory(gemms, hw, opt, hw.psum_bits, stream_bits["dense_int"] > 0)
            spk["mem_weights_j"] += m["weights"] + m["activations"]
            spk["mem_dram_j"] += m["dram"]
        spk["mem_dram_j"] += stream_bits["spiking"] / BITS * hw.dram_j
    for model, abits in (("dense_int", widths["dense_int"]), ("dense_isobit", widths["dense_isobit"]),
                         ("dense_fp16", hw.word_bits)):
        parts[model] = _dense_row(sites, spiking_ops, dense_ops, driven, stream_bits[model if model != "dense_isobit"
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


def _kv_int8(recording: Recording, layer: LayerRecord, driven: dict) -> tuple[list[SiteRecord], dict]:
    """W8ASpike's attention: Q, K, V not spiked; QKᵀ as int8 MACs, P·V as float MACs on both sides."""
    sites = [site for site in layer.sites.values() if site.kind == "linear"]
    driven = {**driven, "attention_scores": driven["attention_scores"], "kv_int8": driven["attention_scores"]}
    return sites, driven


def _ours(recording: Recording, hw: Hardware, payload: bool, binary_spikes: str, memory: bool,
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
            sites, driven = _kv_int8(recording, layer, driven)
        rows.append(_ours_row(layer.layer, sites, layer.spiking_ops, layer.dense_ops, driven,
                              stream, shape, ls, hw, widths, payload, binary_spikes, memory, opt, layer))
    if recording.head_ops is not None:
        none = dict.fromkeys(("linear_int", "linear_float", "attention_scores", "attention_values"), 0)
        first = recording.layers[0]
        rows.append(_ours_row("head", [], recording.head_ops, recording.head_ops, none, head_stream, shape, None,
                              hw, widths, payload, binary_spikes, memory, opt, first))
    return rows


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


def _published_row(label, sites, spiking_ops, dense_ops, shape, layer, record, constants, unit_spikes) -> dict:
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


def _published(recording: Recording, constants: dict, unit_spikes: bool) -> list[dict]:
    shape = recording.shape
    rows = [_published_row(layer.layer, list(layer.sites.values()), layer.spiking_ops, layer.dense_ops, shape,
                           layer_shape(recording, layer), layer, constants, unit_spikes)
            for layer in recording.layers]
    if recording.head_ops is not None:
        rows.append(_published_row("head", [], recording.head_ops, recording.head_ops, shape, None, None, constants,
                                   unit_spikes))
    return rows


def _rows(recording, hw, payload, binary_spikes, memory, convention, opt: Options = Options()):
    if convention == "ours":
        return _ours(recording, hw, payload, binary_spikes, memory, opt)
    if convention == "snn-paper":
        return _published(recording, SNN_PAPER, unit_spikes=payload)
    return _published(recording, SPIKINGBRAIN, unit_spikes=True)


def spike_train(recording: Recording) -> str:
    """The recorded spike train: ``bitwise`` / ``ternary`` (SDLLM) or ``graded`` (SpikeLLM's GIF)."""
    sites = [site for layer in recording.layers for site in layer.sites.values()]
    if any(site.bitwise for site in sites):
        return "bitwise"
    return "ternary" if any(site.code_kind == "ternary" for site in sites) else "graded"


def technology_node(hw: Hardware) -> dict:
    """The node of each side; a ratio across nodes is reported with both (no scaling rule is applied)."""
    same = hw.node == hw.dense_node
    return {"spiking": hw.node, "dense": hw.dense_node, "same_node": same,
            "note": "one node for every side" if same else
            f"mixed nodes: spiking constants at {hw.node}, dense datapath at {hw.dense_node} (Horowitz 2014); "
            "no sourced scaling rule is applied, so the ratio compares across nodes"}


def estimate(recording: Recording, hw: Hardware | None = None, payload: bool = False, memory: bool = True,
             convention: str = "ours", binary_spikes: str = "unary", options: Options | None = None,
             **choices) -> dict:
    """Per-layer and total energy of the models (JSON-ready): see the module docstring.

    ``hw`` defaults to ``45nm-fp16``; the published conventions fix their own constants (``hw`` must be
    None there). ``payload``: a level-k graded spike as k accumulates (``ours``), or counted as k spikes
    (``snn-paper``). ``options`` (or its fields as keywords: ``dataflow=``, ``neuron_policy=``, ...): the
    choices of :class:`Options`."""
    opt = replace(options or Options(), **{k.replace("-", "_"): v for k, v in choices.items()})
    opt.check()
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}: give one of {', '.join(CONVENTIONS)}")
    if binary_spikes not in BINARY_SPIKES:
        raise ValueError(f"unknown --binary-spikes {binary_spikes!r}: give one of {', '.join(BINARY_SPIKES)}")
    if not recording.layers:
        raise ValueError(f"{recording.path or 'the recording'} holds no blocks: record at least one with "
                         "`neuro-llm simulate --record`")
    if not any(layer.sites for layer in recording.layers):
        raise ValueError(f"{recording.path or 'the recording'} holds no spike sites (the model does not spike): "
                         "record a spiking model (--method spikellm or sdllm)")
    if convention != "ours":
        if hw is not None:
            raise ValueError(f"--convention {convention} fixes its own constants: leave out --hardware "
                             "(it applies to --convention ours)")
        if binary_spikes != "unary":
            raise ValueError(f"--binary-spikes applies to --convention ours only, not {convention}")
        if payload and convention == "spikingbrain":
            raise ValueError("--payload-sops does not apply to --convention spikingbrain (it always counts unit "
                             "spikes)")
        memory = False
    hw = hw or PRESETS["45nm-fp16"]
    if convention == "ours":
        activation_bits(recording)
    rows = _rows(recording, hw, payload, binary_spikes, memory, convention, opt)
    total = sum_rows(rows)
    tokens = recording.layers[0].batch * recording.layers[0].q_len
    result = {"recording": recording.path, "convention": convention, "memory": memory, "tokens": tokens,
              "spike_train": spike_train(recording)}
    if convention == "ours":
        widths = dense_widths(recording, opt)
        _, _, fits = weight_streams(recording, hw, True, opt)
        result.update(hardware=hw.name, hardware_source=hw.source, constants=hardware_constants(hw),
                      sop_count="payload" if payload else "events",
                      binary_spikes=binary_spikes if hw.spikes == "binary" else None,
                      abits=activation_bits(recording), wbits=opt.weight_bits or recording.shape.weight_bits,
                      dense_int_abits=widths["dense_int"], dense_isobit_abits=widths["isobit"],
                      carried_abits=widths["carried"],
                      weights_on_chip={m: fits[m] for m in MODELS}, synapse_placement=fits["placement"],
                      technology_node=technology_node(hw), dataflow=opt.dataflow, neuron_policy=opt.neuron_policy,
                      kv=opt.kv, options=asdict(opt),
                      ratio_blocks_vs_dense_int=blocks_ratio(rows),
                      ratio_blocks_vs_dense_fp16=blocks_ratio(rows, "dense_fp16_energy_j"))
    else:
        constants = SNN_PAPER if convention == "snn-paper" else SPIKINGBRAIN
        result.update(hardware="45nm-fp32" if convention == "snn-paper" else "45nm-int8-add/fp16-mac",
                      constants={k: v for k, v in constants.items()},
                      sop_count="payload" if (payload or convention == "spikingbrain") else "events")
        spa = total["unit_spikes"] / total["activations"]
        result["spikes_per_activation"] = (spa if convention == "spikingbrain"
                                           else (total["spike_events"] if not payload else total["unit_spikes"])
                                           / total["activations"])
        if convention == "spikingbrain":
            result["mac_equivalent_j"] = spa * constants["ac_j"]
            result["mac_equivalent_ratio"] = constants["mac_j"] / result["mac_equivalent_j"]
            result.update(spikingbrain_figures(recording))
    result.update(total)
    for model, key in (("spiking", "energy_j"), ("dense_int", "dense_int_energy_j"),
                       ("dense_fp16", "dense_fp16_energy_j")):
        value = total[key]
        result[key.replace("_energy_j", "_energy_per_token_j") if model != "spiking" else "energy_per_token_j"] = \
            None if value is None else value / tokens
    result["ann_energy_per_token_j"] = result["dense_fp16_energy_per_token_j"]
    if memory:  # the names of the former, opt-in memory term
        result["memory_energy_j"] = total["memory_j"]["spiking"]
        result["ann_memory_energy_j"] = total["memory_j"]["dense_fp16"]
    if convention == "ours":
        result["neurobench"] = neurobench_names(recording)
    if convention == "ours" and hw.ranges:
        ends = []
        for corner in hw.corners():
            corner_rows = _rows(recording, corner, payload, binary_spikes, memory, convention, opt)
            end = sum_rows(corner_rows)
            end["ratio_blocks_vs_dense_int"] = blocks_ratio(corner_rows)
            ends.append(end)
        result["range"] = {key: [min(end[key] for end in ends), max(end[key] for end in ends)]
                           for key in ("energy_j", "dense_int_energy_j", "dense_fp16_energy_j", "ratio_vs_dense_int",
                                       "ratio_vs_dense_fp16", "ratio_blocks_vs_dense_int")}
        result["ratio_band"] = result["range"]["ratio_vs_dense_int"]
        result["ratio_blocks_band"] = result["range"]["ratio_blocks_vs_dense_int"]
    elif convention == "ours":
        result["ratio_band"] = [result["ratio_vs_dense_int"]] * 2
        result["ratio_blocks_band"] = [result["ratio_blocks_vs_dense_int"]] * 2
    result["layers"] = rows
    return result


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


def _fmt(value, width, spec=".3e"):
    return f"{'–':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(result: dict) -> str:
    """The per-layer table and the total, as printed by ``neuro-llm energy``."""
    head = (f"{'layer':>6} {'syn ops':>10} {'spiking J':>10} {'dense-int J':>11} {'dense-fp J':>10} "
            f"{'vs int':>7} {'vs fp':>7} {'mem spk J':>10}")

    def line(row, label):
        return (f"{label:>6} {_fmt(row['synaptic_ops'], 10)} {_fmt(row['energy_j'], 10)} "
                f"{_fmt(row['dense_int_energy_j'], 11)} {_fmt(row['dense_fp16_energy_j'], 10)} "
                f"{_fmt(row['ratio_vs_dense_int'], 7, '.3f')} {_fmt(row['ratio_vs_dense_fp16'], 7, '.3f')} "
                f"{_fmt(row['memory_j']['spiking'] if result['memory'] else None, 10)}")

    source = result.get("hardware_source") or result["constants"].get("source", "")
    spikes = f"; binary spikes as {result['binary_spikes']}" if result.get("binary_spikes") else ""
    lines = [f"convention {result['convention']}; hardware {result['hardware']} ({source}); synaptic ops counted "
             f"as {result['sop_count']}{spikes}; memory {'on' if result['memory'] else 'off'}; "
             f"{result['tokens']} tokens"]
    if result["convention"] == "ours":
        node = result["technology_node"]
        place = result["synapse_placement"]
        lines.append(f"node: {node['spiking']} spiking / {node['dense']} dense"
                     f"{'' if node['same_node'] else ' (MIXED: ratios compare across nodes)'}; dataflow "
                     f"{result['dataflow']}; neuron policy {result['neuron_policy']}; spike train "
                     f"{result['spike_train']}; K/V {result['kv']}; weights W{result['wbits']}; dense-int at "
                     f"A{result['dense_int_abits']} (carried {result['carried_abits']}, nominal {result['abits']}, "
                     f"iso-bit {result['dense_isobit_abits']}); synapses need {place['chips_needed']} chip(s) of "
                     f"{place['chip_bytes'] / 2**20:.0f} MiB, {'streamed per pass' if place['streamed'] else 'resident'}")
    lines.append(head)
    lines += [line(row, row["layer"]) for row in result["layers"]]
    lines += ["-" * len(head), line(result, "total")]
    per_token = ", ".join(f"{name} {_fmt(result[key], 0)} J" for name, key in (
        ("spiking", "energy_per_token_j"), ("dense-int", "dense_int_energy_per_token_j"),
        ("dense-fp", "dense_fp16_energy_per_token_j")))
    lines.append(f"per token: {per_token}")
    if result["convention"] == "ours":
        band, blocks = result["ratio_band"], result["ratio_blocks_band"]
        lines.append(f"spiking / dense-int: whole model {result['ratio_vs_dense_int']:.3f} (band {band[0]:.3f}.."
                     f"{band[1]:.3f}), blocks only {result['ratio_blocks_vs_dense_int']:.3f} (band {blocks[0]:.3f}.."
                     f"{blocks[1]:.3f}); vs iso-bit dense {result['ratio_vs_dense_isobit']:.3f}")
    if "range" in result:
        r = result["range"]
        ranged = [k for k, v in result["constants"].items() if isinstance(v, dict) and "range" in v]
        lines.append(f"ranged constants {', '.join(ranged)}: "
                     f"spiking {r['energy_j'][0]:.3e}..{r['energy_j'][1]:.3e} J, vs int "
                     f"{r['ratio_vs_dense_int'][0]:.3f}..{r['ratio_vs_dense_int'][1]:.3f}, vs fp "
                     f"{r['ratio_vs_dense_fp16'][0]:.3f}..{r['ratio_vs_dense_fp16'][1]:.3f}")
    if "spikingbrain" in result:
        sb = result["spikingbrain"]
        ref = sb["reported"]
        lines.append(f"SpikingBrain's convention (linear inputs only): {sb['spikes_per_channel_linear']:.3f} spikes per "
                     f"channel -> {sb['ratio_fp16']:.2f}x / {sb['ratio_int8']:.2f}x below the FP16 / INT8 MAC "
                     f"(theirs, 7B: {ref['spikes_per_channel']} -> {ref['ratio_fp16']}x / {ref['ratio_int8']}x)")
    if "mac_equivalent_j" in result:
        lines.append(f"{result['spikes_per_activation']:.3f} unit spikes per activation: "
                     f"{result['mac_equivalent_j'] / PJ:.4f} pJ per MAC-equivalent, "
                     f"{result['mac_equivalent_ratio']:.1f}x below the FP16 MAC")
    return "\n".join(lines)

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

import math
from dataclasses import asdict

from analysis.hardware import PJ, PRESETS, Hardware, load_hardware  # noqa: F401  (re-exported)
from analysis.ops import causal_pairs, spike_driven_macs
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, ModelShape

CONVENTIONS = ("ours", "snn-paper", "spikingbrain")
BINARY_SPIKES = ("unary", "bitplane")
MODELS = ("spiking", "dense_int", "dense_fp16")
SNN_PAPER = {"ac_j": 0.9 * PJ, "mac_j": 4.6 * PJ,
             "source": "E_AC 0.9 pJ (fp32 add), E_MAC 4.6 pJ (fp32 mult + add), Horowitz 2014, 45 nm"}
SPIKINGBRAIN = {"ac_j": 0.03 * PJ, "mac_j": 1.5 * PJ,
                "source": "INT8 add 0.03 pJ per unit spike and synapse vs FP16 MAC 1.5 pJ (Horowitz 2014), as in "
                          "the SpikingBrain technical report (2025)"}
BITS = 64  # memory energies are per 64-bit access


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


def _activation_bits(recording: Recording) -> int:
    config = recording.metadata.get("config") or {}
    abits = config.get("abits")
    if not isinstance(abits, int) or abits < 1:
        raise ValueError(f"{recording.path or 'the recording'}: its metadata lacks the activation bits "
                         "(config.abits) that the dense-int baseline needs: re-record it with `neuro-llm simulate "
                         "--record`, or use --convention snn-paper/spikingbrain")
    return abits


def _layer_shape(recording: Recording, layer: LayerRecord) -> LayerShape:
    layers = recording.shape.layers
    if not 0 <= layer.layer < len(layers):
        raise ValueError(f"{recording.path}: block {layer.layer} is not in the recorded model shape "
                         f"({len(layers)} blocks)")
    return layers[layer.layer]


def weight_bits(shape: ModelShape, layer: LayerShape, hw: Hardware, floating: bool) -> int:
    """Stored bits of one block's weights: integer codes at ``weight_bits``, float weights and biases at
    ``word_bits``; all at ``word_bits`` in the floating-point model (``floating``)."""
    total = 0
    for linear in layer.linears:
        integer = linear.integer_weights and shape.weight_bits and not floating
        total += linear.in_features * linear.out_features * (shape.weight_bits if integer else hw.word_bits)
        total += linear.out_features * hw.word_bits if linear.bias else 0
    return total


def head_weight_bits(shape: ModelShape, hw: Hardware) -> int:
    return shape.vocab * shape.hidden * hw.word_bits


def fits_on_chip(shape: ModelShape, hw: Hardware, floating: bool) -> bool:
    bits = sum(weight_bits(shape, layer, hw, floating) for layer in shape.layers) + head_weight_bits(shape, hw)
    return bits / 8 <= hw.onchip_bytes


def _zero(model: str) -> dict:
    keys = {"spiking": ("synaptic_j", "neuron_j", "hop_j", "fp_j", "mem_weights_j", "mem_operands_j",
                        "mem_spikes_j", "mem_membrane_j", "mem_dram_j"),
            "dense_int": ("int_mac_j", "fp_j", "mem_weights_j", "mem_operands_j", "mem_activations_j", "mem_dram_j"),
            "dense_fp16": ("mac_j", "mem_weights_j", "mem_operands_j", "mem_activations_j", "mem_dram_j")}[model]
    return dict.fromkeys(keys, 0.0)


def _site_counts(site: SiteRecord, hw: Hardware, payload: bool, binary_spikes: str) -> dict:
    """Synaptic ops, events and neuron updates a site costs on ``hw``, and whether a graded level reaches
    the synapse (then it needs a multiply)."""
    graded = site.per_step > 1
    if graded and hw.spikes == "binary" and not payload and binary_spikes == "bitplane":
        planes = popcount_events(site)
        return {"ops": site.sops * planes / site.events if site.events else 0.0, "events": planes,
                "updates": site.neuron_steps, "graded": False}
    if graded and hw.spikes == "binary":  # unary: a level-k spike is k binary spikes over k sub-steps
        return {"ops": site.sops_payload, "events": site.payload, "updates": site.neuron_steps * site.per_step,
                "graded": False}
    if payload:  # an adder-only synapse: a level-k spike is k accumulates
        return {"ops": site.sops_payload, "events": site.events, "updates": site.neuron_steps, "graded": False}
    return {"ops": site.sops, "events": site.events, "updates": site.neuron_steps, "graded": graded}


def _spiking_site(site: SiteRecord, layer: LayerShape, shape: ModelShape, hw: Hardware, payload: bool,
                  binary_spikes: str, memory: bool, parts: dict, counts: dict) -> None:
    c = _site_counts(site, hw, payload, binary_spikes)
    bits = spike_bits(site.per_step)
    integer = (site.kind == "linear" and bool(shape.weight_bits)
               and layer.linear(site.name).integer_weights)
    operand_bits = shape.weight_bits if integer else hw.word_bits
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
    parts["neuron_j"] += c["updates"] * hw.neuron_j
    parts["hop_j"] += c["events"] * hw.hop_j
    for key in ("ops", "events", "updates"):
        counts[key] += c[key]
    if memory and not hw.chip_memory:
        if site.kind == "linear":
            parts["mem_weights_j"] += c["ops"] * operand_bits / BITS * hw.weight_read_j
        else:  # K̂ / p·Δ_v operands read per op, K̂ read and written per accumulate
            per_op = 2 if site.kind == "k" else 1
            parts["mem_operands_j"] += c["ops"] * per_op * hw.word_bits / BITS * hw.memory_j
        sign = 1 if site.code_kind == "ternary" else 0
        parts["mem_spikes_j"] += 2 * c["updates"] * (bits + sign) / BITS * hw.memory_j
        parts["mem_membrane_j"] += 2 * c["updates"] * hw.membrane_bits / BITS * hw.memory_j


def _float_memory(ops: dict, hw: Hardware) -> tuple[float, float]:
    """(weights, operands) of floating-point MACs: a float weight per linear/lm_head MAC from on-chip
    memory, a float operand per attention MAC from the local buffer."""
    weights = (ops["linear"] + ops["lm_head"]) * hw.word_bits / BITS * hw.weight_read_j
    operands = (ops["attention_scores"] + ops["attention_values"]) * hw.word_bits / BITS * hw.memory_j
    return weights, operands


def _ours_row(label, sites: list[SiteRecord], spiking_ops: dict, dense_ops: dict, driven: dict, stream_bits: dict,
              shape: ModelShape, layer: LayerShape | None, hw: Hardware, abits: int, payload: bool,
              binary_spikes: str, memory: bool) -> dict:
    parts = {model: _zero(model) for model in MODELS}
    counts = {"ops": 0.0, "events": 0, "updates": 0}
    for site in sites:
        _spiking_site(site, layer, shape, hw, payload, binary_spikes, memory, parts["spiking"], counts)
    remainder = sum(spiking_ops.values())
    parts["spiking"]["fp_j"] = remainder * hw.mac_j
    wbits = shape.weight_bits or hw.word_bits
    int_macs = driven["linear_int"] + driven["attention_scores"]
    int_part = parts["dense_int"]
    int_part["int_mac_j"] = (driven["linear_int"] * (hw.mult_j(abits, wbits) + hw.add_j)
                             + driven["attention_scores"] * (hw.mult_j(abits, abits) + hw.add_j))
    int_part["fp_j"] = (remainder + driven["linear_float"] + driven["attention_values"]) * hw.mac_j
    parts["dense_fp16"]["mac_j"] = sum(dense_ops.values()) * hw.ann_mac_j
    if memory:
        weights, operands = _float_memory(spiking_ops, hw)
        values = sum(site_neurons(site) for site in sites)
        for model in ("spiking", "dense_int"):
            parts[model]["mem_weights_j"] += weights
            parts[model]["mem_operands_j"] += operands
        int_part["mem_weights_j"] += (driven["linear_int"] * wbits + driven["linear_float"] * hw.word_bits) \
            / BITS * hw.weight_read_j
        int_part["mem_operands_j"] += (driven["attention_scores"] + driven["attention_values"]) * abits / BITS \
            * hw.memory_j
        int_part["mem_activations_j"] = 2 * values * abits / BITS * hw.memory_j
        fp_weights, fp_operands = _float_memory(dense_ops, hw)
        fp_part = parts["dense_fp16"]
        fp_part["mem_weights_j"], fp_part["mem_operands_j"] = fp_weights, fp_operands
        fp_part["mem_activations_j"] = 2 * values * hw.word_bits / BITS * hw.memory_j
        for model in MODELS:
            parts[model]["mem_dram_j"] = stream_bits[model] / BITS * hw.dram_j
    count = {key: sum(getattr(site, key) for site in sites) for key in ("sops", "sops_payload", "events",
                                                                         "neuron_steps")}
    row = {"layer": label, "sops": count["sops"], "sops_payload": count["sops_payload"],
           "spike_events": count["events"], "neuron_steps": count["neuron_steps"],
           "synaptic_ops": counts["ops"], "charged_events": counts["events"], "neuron_updates": counts["updates"],
           "macs": remainder, "ann_macs": sum(dense_ops.values()), "int_macs": int_macs,
           "float_macs": remainder + driven["linear_float"] + driven["attention_values"]}
    return _finish(row, parts)


def _finish(row: dict, parts: dict) -> dict:
    """Energies, memory, ratios and breakdowns of a row from its per-model energy terms."""
    energy = {model: (sum(parts[model].values()) if parts[model] is not None else None) for model in MODELS}
    mem = {model: (sum(v for k, v in parts[model].items() if k.startswith("mem_")) if parts[model] is not None
                   else None) for model in MODELS}
    spiking = parts["spiking"]
    row.update({
        "energy_j": energy["spiking"], "dense_int_energy_j": energy["dense_int"],
        "dense_fp16_energy_j": energy["dense_fp16"], "memory_j": mem,
        "ratio_vs_dense_int": _ratio(energy["spiking"], energy["dense_int"]),
        "ratio_vs_dense_fp16": _ratio(energy["spiking"], energy["dense_fp16"]),
        "ann_energy_j": energy["dense_fp16"], "ratio": _ratio(energy["spiking"], energy["dense_fp16"]),
        "breakdown": {"synaptic_j": spiking["synaptic_j"], "neuron_j": spiking.get("neuron_j", 0.0),
                      "hop_j": spiking.get("hop_j", 0.0), "fp_j": spiking["fp_j"], "memory_j": mem["spiking"]},
        "terms": parts,
    })
    return row


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _stream_bits(recording: Recording, hw: Hardware, memory: bool) -> tuple[list[dict], dict]:
    """Bits streamed from DRAM per block and for the head, per model (0 where the model fits on chip)."""
    shape = recording.shape
    fits = {"spiking": fits_on_chip(shape, hw, False), "dense_fp16": fits_on_chip(shape, hw, True)}
    fits["dense_int"] = fits["spiking"]
    floating = {"spiking": False, "dense_int": False, "dense_fp16": True}
    layers = []
    for layer in recording.layers:
        ls = _layer_shape(recording, layer)
        layers.append({m: 0 if (fits[m] or not memory) else weight_bits(shape, ls, hw, floating[m]) for m in MODELS})
    head = {m: 0 if (fits[m] or not memory) else head_weight_bits(shape, hw) for m in MODELS}
    return layers, head, fits


def _ours(recording: Recording, hw: Hardware, payload: bool, binary_spikes: str, memory: bool) -> list[dict]:
    abits = _activation_bits(recording)
    shape = recording.shape
    streams, head_stream, _ = _stream_bits(recording, hw, memory)
    rows = []
    for layer, stream in zip(recording.layers, streams):
        ls = _layer_shape(recording, layer)
        driven = spike_driven_macs(shape, ls, layer.batch, layer.q_len, layer.kv_len)
        rows.append(_ours_row(layer.layer, list(layer.sites.values()), layer.spiking_ops, layer.dense_ops, driven,
                              stream, shape, ls, hw, abits, payload, binary_spikes, memory))
    if recording.head_ops is not None:
        none = dict.fromkeys(("linear_int", "linear_float", "attention_scores", "attention_values"), 0)
        rows.append(_ours_row("head", [], recording.head_ops, recording.head_ops, none, head_stream, shape, None,
                              hw, abits, payload, binary_spikes, memory))
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
    return _finish(row, parts)


def _published(recording: Recording, constants: dict, unit_spikes: bool) -> list[dict]:
    shape = recording.shape
    rows = [_published_row(layer.layer, list(layer.sites.values()), layer.spiking_ops, layer.dense_ops, shape,
                           _layer_shape(recording, layer), layer, constants, unit_spikes)
            for layer in recording.layers]
    if recording.head_ops is not None:
        rows.append(_published_row("head", [], recording.head_ops, recording.head_ops, shape, None, None, constants,
                                   unit_spikes))
    return rows


def _total(rows: list[dict]) -> dict:
    def add(values):
        values = list(values)
        if any(v is None for v in values):
            return None
        if isinstance(values[0], dict):
            return {k: add(v[k] for v in values) for k in values[0]}
        return sum(values)

    skip = ("layer", "ratio", "ratio_vs_dense_int", "ratio_vs_dense_fp16")
    total = {key: add(row[key] for row in rows) for key in rows[0] if key not in skip}
    total["terms"] = {m: add(row["terms"][m] for row in rows) if rows[0]["terms"][m] is not None else None
                      for m in MODELS}
    total["ratio_vs_dense_int"] = _ratio(total["energy_j"], total["dense_int_energy_j"])
    total["ratio_vs_dense_fp16"] = total["ratio"] = _ratio(total["energy_j"], total["dense_fp16_energy_j"])
    return total


def _rows(recording, hw, payload, binary_spikes, memory, convention):
    if convention == "ours":
        return _ours(recording, hw, payload, binary_spikes, memory)
    if convention == "snn-paper":
        return _published(recording, SNN_PAPER, unit_spikes=payload)
    return _published(recording, SPIKINGBRAIN, unit_spikes=True)


def estimate(recording: Recording, hw: Hardware | None = None, payload: bool = False, memory: bool = True,
             convention: str = "ours", binary_spikes: str = "unary") -> dict:
    """Per-layer and total energy of the three models (JSON-ready): see the module docstring.

    ``hw`` defaults to ``45nm-fp16``; the published conventions fix their own constants (``hw`` must be
    None there). ``payload``: a level-k graded spike as k accumulates (``ours``), or counted as k spikes
    (``snn-paper``)."""
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
    rows = _rows(recording, hw, payload, binary_spikes, memory, convention)
    total = _total(rows)
    tokens = recording.layers[0].batch * recording.layers[0].q_len
    result = {"recording": recording.path, "convention": convention, "memory": memory, "tokens": tokens}
    if convention == "ours":
        constants = {**asdict(hw), "ranges": {k: list(v) for k, v in hw.ranges.items()},
                     "provisional": list(hw.provisional)}
        result.update(hardware=hw.name, constants=constants, sop_count="payload" if payload else "events",
                      binary_spikes=binary_spikes if hw.spikes == "binary" else None,
                      abits=_activation_bits(recording), wbits=recording.shape.weight_bits,
                      weights_on_chip={m: f for m, f in _stream_bits(recording, hw, True)[2].items()})
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
    if convention == "ours" and hw.ranges:
        ends = [_total(_rows(recording, corner, payload, binary_spikes, memory, convention))
                for corner in hw.corners()]
        result["range"] = {key: [min(end[key] for end in ends), max(end[key] for end in ends)]
                           for key in ("energy_j", "dense_int_energy_j", "dense_fp16_energy_j", "ratio_vs_dense_int",
                                       "ratio_vs_dense_fp16")}
    result["layers"] = rows
    return result


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

    source = result["constants"].get("source", "")
    spikes = f"; binary spikes as {result['binary_spikes']}" if result.get("binary_spikes") else ""
    lines = [f"convention {result['convention']}; hardware {result['hardware']} ({source}); synaptic ops counted "
             f"as {result['sop_count']}{spikes}; memory {'on' if result['memory'] else 'off'}; "
             f"{result['tokens']} tokens", head]
    lines += [line(row, row["layer"]) for row in result["layers"]]
    lines += ["-" * len(head), line(result, "total")]
    per_token = ", ".join(f"{name} {_fmt(result[key], 0)} J" for name, key in (
        ("spiking", "energy_per_token_j"), ("dense-int", "dense_int_energy_per_token_j"),
        ("dense-fp", "dense_fp16_energy_per_token_j")))
    lines.append(f"per token: {per_token}")
    if "range" in result:
        r = result["range"]
        lines.append(f"provisional constants {', '.join(result['constants']['provisional']) or '(DRAM)'}: "
                     f"spiking {r['energy_j'][0]:.3e}..{r['energy_j'][1]:.3e} J, vs int "
                     f"{r['ratio_vs_dense_int'][0]:.3f}..{r['ratio_vs_dense_int'][1]:.3f}, vs fp "
                     f"{r['ratio_vs_dense_fp16'][0]:.3f}..{r['ratio_vs_dense_fp16'][1]:.3f}")
    if "mac_equivalent_j" in result:
        lines.append(f"{result['spikes_per_activation']:.3f} unit spikes per activation: "
                     f"{result['mac_equivalent_j'] / PJ:.4f} pJ per MAC-equivalent, "
                     f"{result['mac_equivalent_ratio']:.1f}x below the FP16 MAC")
    return "\n".join(lines)

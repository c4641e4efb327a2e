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

This module assembles the result (:func:`estimate`); the parts live one job a module: the choices
(:mod:`~analysis.energy_choices`), widths (:mod:`~analysis.energy_widths`), weight residency
(:mod:`~analysis.energy_residency`), one spike site's price (:mod:`~analysis.energy_site`), the dense models
(:mod:`~analysis.energy_dense`), the rows of ``ours`` (:mod:`~analysis.energy_ours`), the published
conventions (:mod:`~analysis.energy_published`), totals and ratios (:mod:`~analysis.energy_terms`) and the
printed table (:mod:`~analysis.energy_table`). Every name they define that was public here is importable
from here.
"""
from __future__ import annotations

from dataclasses import asdict, replace

from analysis import dataflow as df  # noqa: F401
from analysis.energy_choices import (BINARY_SPIKES, BITS, CONVENTIONS, DENSE_WIDTHS, KV_MODES,  # noqa: F401
                                     LEGACY, MODELS, NEURON_POLICIES, Options)
from analysis.energy_ours import ours_rows
from analysis.energy_published import (SNN_PAPER, SPIKINGBRAIN, SPIKINGBRAIN_REPORTED,  # noqa: F401
                                       neurobench_names, published_rows, site_flops, spikingbrain_figures)
from analysis.energy_residency import fits_on_chip, head_weight_bits, weight_bits, weight_streams  # noqa: F401
from analysis.energy_table import format_table  # noqa: F401
from analysis.energy_terms import blocks_ratio, sum_rows
from analysis.energy_widths import (activation_bits, carried_bits, dense_widths, isobit_bits,  # noqa: F401
                                    popcount_events, site_neurons, spike_bits)
from analysis.hardware import PJ, PRESETS, Hardware, constants as hardware_constants, load_hardware  # noqa: F401
from analysis.ops import causal_pairs, spike_driven_macs  # noqa: F401
from analysis.records import LayerRecord, Recording, SiteRecord  # noqa: F401
from analysis.shape import LayerShape, ModelShape  # noqa: F401


def _rows(recording, hw, payload, binary_spikes, memory, convention, opt: Options = Options()):
    if convention == "ours":
        return ours_rows(recording, hw, payload, binary_spikes, memory, opt)
    if convention == "snn-paper":
        return published_rows(recording, SNN_PAPER, unit_spikes=payload)
    return published_rows(recording, SPIKINGBRAIN, unit_spikes=True)


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

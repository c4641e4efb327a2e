"""Energy presets, custom presets, the three models and the conventions by hand, and the ``energy`` command.

Every expected value below is written out from the recording's counts and the cited constants (Horowitz
2014, Davies 2018, Merolla 2014), not taken from the code under test.
"""
import argparse
import json
from dataclasses import replace

import numpy as np
import pytest

from analysis import cli
from analysis.energy import LEGACY, estimate as _estimate, format_table, site_flops
from analysis.hardware import PRESETS, load_hardware
from analysis.ops import CATEGORIES
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, LinearShape, ModelShape
from analysis.store import RecordingWriter
from neuro_llm.cli.main import main

PJ, NJ = 1e-12, 1e-9
# Horowitz 2014, 45 nm: int32 add, int8 mult, fp16 add / MAC, 16-bit add, SRAM 64-bit reads, DRAM
ADD32, MULT8, FP16_ADD, FP16_MAC, ADD16 = 0.1 * PJ, 0.2 * PJ, 0.4 * PJ, 1.5 * PJ, 0.05 * PJ
SRAM_8K, SRAM_1M, DRAM = 10 * PJ, 100 * PJ, (1.3 + 2.6) / 2 * NJ
LAYER = LayerShape(linears=(LinearShape("mlp.up_proj", 4, 6, False, True, 1, True),
                            LinearShape("self_attn.o_proj", 4, 4, False, False, 1, False)), attention_spiking=True)
SHAPE = ModelShape(hidden=4, intermediate=6, heads=2, kv_heads=1, head_dim=2, vocab=5, code_kind="gif",
                   weight_bits=4, layers=(LAYER,))


def legacy_hw(hw):
    """A preset as the per-op accounting before the dataflow model priced it: weights read per op from the
    1 MB SRAM, one chip of ``onchip_bytes``, DRAM the only ranged memory constant, the neuron update at 0.1 pJ."""
    ranges = {k: v for k, v in hw.ranges.items() if k not in ("rf_j", "neuron_inactive_j") and not (k == "neuron_j" and hw.sop_j is None)}
    return replace(hw, weight_read_j=SRAM_1M, rf_j=0.0, core_bytes=hw.onchip_bytes, cores=1, ranges=ranges,
                   neuron_inactive_j=None, provisional=tuple(k for k in hw.provisional if k in ranges))


def estimate(rec, hw=None, **kwargs):
    """The accounting these hand-computed tests were written for: no reuse, nominal --abits, lockstep."""
    if "options" not in kwargs:
        kwargs["options"] = LEGACY
    return _estimate(rec, None if hw is None else legacy_hw(hw), **kwargs)


def site(name, kind, channels, sops, payload_sops, levels, code_kind="gif", per_step=15):
    """A site of 4 tokens × ``channels`` one-step neurons whose spike levels occur as ``levels`` says."""
    neuron_steps = sum(levels.values())
    assert neuron_steps == 4 * channels
    events = sum(f for v, f in levels.items() if v)
    payload = sum(abs(v) * f for v, f in levels.items())
    channel_events = np.zeros(channels, np.int64)
    channel_payload = np.zeros(channels, np.int64)
    channel_events[0], channel_payload[0] = events, payload
    return SiteRecord(
        name=name, kind=kind, code_kind=code_kind, per_step=per_step, rows=4, sops=sops, sops_payload=payload_sops,
        channel_steps=np.ones(channels, np.int64), channel_events=channel_events, channel_payload=channel_payload,
        step_events=np.array([events]), step_neuron_steps=np.array([neuron_steps]),
        level_values=np.array(sorted(levels)), level_freq=np.array([levels[v] for v in sorted(levels)]),
        count_values=np.array([0]), count_freq=np.array([1]),
        raster=np.zeros((1, 1, 1), np.int8), raster_rows=np.array([0]), raster_channels=np.array([0]))


def ops(**values):
    return {**dict.fromkeys(CATEGORIES, 0), **values}


# up_proj: 10 events (70 unit spikes) × fan-out 6; q: 5 events (20) reaching 12 keys; k: 3 (9); v: 4 (8) → 14
SITES = {
    "mlp.up_proj": lambda: site("mlp.up_proj", "linear", 4, 60, 420, {0: 6, 1: 2, 3: 1, 5: 4, 15: 3}),
    "self_attn.q": lambda: site("self_attn.q", "q", 4, 12, 50, {0: 11, 4: 5}),
    "self_attn.k": lambda: site("self_attn.k", "k", 2, 3, 9, {0: 5, 3: 3}),
    "self_attn.v": lambda: site("self_attn.v", "v", 2, 14, 28, {0: 4, 2: 4}),
}
SPIKING_OPS = ops(linear=64, softmax=30, decode=4)                                  # o_proj 4·4·4 in float
DENSE_OPS = ops(linear=64 + 96, softmax=30, attention_scores=40, attention_values=40)  # H·P·D = 2·10·2
HEAD_OPS = ops(norm=10, lm_head=80)


def recording(config=None, sites=None):
    layer = LayerRecord(layer=0, batch=1, q_len=4, kv_len=4,
                        sites={name: make() for name, make in SITES.items()} if sites is None else sites,
                        spiking_ops=SPIKING_OPS, dense_ops=DENSE_OPS)
    meta = {"model": "tiny", "config": {"abits": 4, "wbits": 4} if config is None else config}
    return Recording(meta, SHAPE, [layer], head_ops=HEAD_OPS, path="r.h5")


def block(result):
    return result["layers"][0]


def test_preset_names_and_constants():
    assert list(PRESETS) == ["45nm-fp32", "45nm-fp16", "45nm-int8", "loihi", "loihi2", "truenorth", "spinnaker2"]
    for name in ("45nm-fp32", "45nm-fp16", "45nm-int8"):
        hw = PRESETS[name]
        assert (hw.sop_j, hw.add_j, hw.mult8_j, hw.memory_j, hw.weight_read_j, hw.sram_j) == (
            None, ADD32, MULT8, SRAM_8K, 20 * PJ, SRAM_1M)
        assert hw.dram_j == pytest.approx(DRAM) and hw.ranges["dram_j"] == (1.3 * NJ, 2.6 * NJ)
        assert hw.neuron_j == pytest.approx(2 * ADD16)
    assert (PRESETS["45nm-fp32"].mac_j, PRESETS["45nm-fp32"].fp_add_j) == (4.6 * PJ, 0.9 * PJ)
    assert (PRESETS["45nm-fp16"].mac_j, PRESETS["45nm-fp16"].fp_add_j) == (FP16_MAC, FP16_ADD)
    assert (PRESETS["45nm-int8"].mac_j, PRESETS["45nm-int8"].ann_mac_j) == (0.23 * PJ, FP16_MAC)
    loihi = PRESETS["loihi"]
    assert (loihi.sop_j, loihi.hop_j, loihi.neuron_j, loihi.spikes) == (23.6 * PJ, 3.5 * PJ, 81 * PJ, "binary")
    assert PRESETS["truenorth"].sop_j == 26 * PJ and PRESETS["truenorth"].spikes == "binary"
    assert PRESETS["loihi2"].spikes == "graded" and "sop_j" in PRESETS["loihi2"].provisional
    assert PRESETS["spinnaker2"].sop_j == 450 * PJ and PRESETS["spinnaker2"].ranges["sop_j"] == (23.6 * PJ, 450 * PJ)
    for hw in PRESETS.values():
        assert hw.source and all(key in hw.ranges for key in hw.provisional)
    # the a×b-bit multiply scales the 8×8 one by a·b/64; at 32×32 it lands within 3 % of Horowitz's 3.1 pJ
    assert PRESETS["45nm-fp16"].mult_j(32, 32) == pytest.approx(3.1 * PJ, rel=0.04)


def test_ours_on_a_digital_datapath_by_hand():
    """45nm-fp16, memory on: every term of the three models."""
    result = estimate(recording(), PRESETS["45nm-fp16"])
    assert result["convention"] == "ours" and result["hardware"] == "45nm-fp16" and result["memory"]
    t = block(result)["terms"]
    mult44, mult416 = MULT8 * 16 / 64, MULT8 * 64 / 64
    # spiking: a 4-bit level times a 4-bit code accumulated at int32; Q and V spikes times fp16 K̂ / p·Δ_v
    assert t["spiking"]["synaptic_j"] == pytest.approx(60 * (mult44 + ADD32) + 12 * FP16_MAC + 3 * ADD32
                                                       + 14 * FP16_MAC)
    assert t["spiking"]["neuron_j"] == pytest.approx(48 * 2 * ADD16)
    assert t["spiking"]["hop_j"] == 0
    assert t["spiking"]["fp_j"] == pytest.approx(98 * FP16_MAC)
    assert t["spiking"]["mem_weights_j"] == pytest.approx((60 * 4 + 64 * 16) / 64 * SRAM_1M)
    assert t["spiking"]["mem_operands_j"] == pytest.approx((12 * 16 + 14 * 16 + 3 * 2 * 16) / 64 * SRAM_8K)
    assert t["spiking"]["mem_spikes_j"] == pytest.approx(2 * 48 * 4 / 64 * SRAM_8K)
    assert t["spiking"]["mem_membrane_j"] == pytest.approx(2 * 48 * 16 / 64 * SRAM_8K)
    assert t["spiking"]["mem_dram_j"] == 0  # 84 bytes of weights fit in 1 MiB
    # dense int: 96 W4×A4 MACs of up_proj, 40 A4×A4 MACs of QKᵀ, P·V and the remainder in fp16
    assert t["dense_int"]["int_mac_j"] == pytest.approx(96 * (mult44 + ADD32) + 40 * (mult44 + ADD32))
    assert t["dense_int"]["fp_j"] == pytest.approx((98 + 40) * FP16_MAC)
    assert t["dense_int"]["mem_weights_j"] == pytest.approx((96 * 4 + 64 * 16) / 64 * SRAM_1M)
    assert t["dense_int"]["mem_operands_j"] == pytest.approx(80 * 4 / 64 * SRAM_8K)
    assert t["dense_int"]["mem_activations_j"] == pytest.approx(2 * 48 * 4 / 64 * SRAM_8K)
    # dense fp16
    assert t["dense_fp16"]["mac_j"] == pytest.approx(270 * FP16_MAC)
    assert t["dense_fp16"]["mem_weights_j"] == pytest.approx(160 * 16 / 64 * SRAM_1M)
    assert t["dense_fp16"]["mem_operands_j"] == pytest.approx(80 * 16 / 64 * SRAM_8K)
    assert t["dense_fp16"]["mem_activations_j"] == pytest.approx(2 * 48 * 16 / 64 * SRAM_8K)
    assert mult416 == MULT8  # (unused by this preset: no float operand is multiplied as an integer)
    head = result["layers"][1]["terms"]
    for model, key in (("spiking", "fp_j"), ("dense_int", "fp_j"), ("dense_fp16", "mac_j")):
        assert head[model][key] == pytest.approx(90 * FP16_MAC)
        assert head[model]["mem_weights_j"] == pytest.approx(80 * 16 / 64 * SRAM_1M)
    # totals, ratios, the compatibility keys and per token
    for model, key in (("spiking", "energy_j"), ("dense_int", "dense_int_energy_j"),
                       ("dense_fp16", "dense_fp16_energy_j")):
        expected = sum(t[model].values()) + sum(head[model].values())
        assert result[key] == pytest.approx(expected)
        assert result["memory_j"][model] == pytest.approx(sum(v for k, v in t[model].items() if k.startswith("mem_"))
                                                          + head[model]["mem_weights_j"])
    assert result["ratio_vs_dense_int"] == pytest.approx(result["energy_j"] / result["dense_int_energy_j"])
    assert result["ratio_vs_dense_fp16"] == result["ratio"] == pytest.approx(
        result["energy_j"] / result["dense_fp16_energy_j"])
    assert result["ann_energy_j"] == result["dense_fp16_energy_j"]
    assert result["energy_per_token_j"] == pytest.approx(result["energy_j"] / 4)
    assert (result["sops"], result["sops_payload"], result["spike_events"], result["neuron_steps"]) == (89, 507, 22, 48)
    assert (result["macs"], result["ann_macs"], result["int_macs"]) == (98 + 90, 270 + 90, 136)
    assert result["memory_energy_j"] == result["memory_j"]["spiking"]
    low, high = result["range"]["energy_j"]
    assert low == high == pytest.approx(result["energy_j"])  # the model fits on chip: DRAM's range is moot


def test_no_memory_is_compute_only():
    result = estimate(recording(), PRESETS["45nm-fp16"], memory=False)
    assert not result["memory"] and "memory_energy_j" not in result
    assert result["dense_fp16_energy_j"] == pytest.approx((270 + 90) * FP16_MAC)
    assert result["energy_j"] == pytest.approx(60 * (MULT8 / 4 + ADD32) + 26 * FP16_MAC + 3 * ADD32
                                               + 48 * 2 * ADD16 + 188 * FP16_MAC)
    assert result["memory_j"] == {"spiking": 0, "dense_int": 0, "dense_fp16": 0}


def test_weights_that_do_not_fit_stream_from_dram_once_per_pass():
    small = replace(PRESETS["45nm-fp16"], onchip_bytes=40)  # the 4-bit model needs 84 bytes (blocks 44), fp16 200
    t = estimate(recording(), small)["layers"]
    for model, layer_bits in (("spiking", 24 * 4 + 16 * 16), ("dense_int", 24 * 4 + 16 * 16),
                              ("dense_fp16", 40 * 16)):
        assert t[0]["terms"][model]["mem_dram_j"] == pytest.approx(layer_bits / 64 * DRAM)
        assert t[1]["terms"][model]["mem_dram_j"] == pytest.approx(20 * 16 / 64 * DRAM)
    result = estimate(recording(), replace(PRESETS["45nm-fp16"], onchip_bytes=100))
    assert result["weights_on_chip"] == {"spiking": True, "dense_int": True, "dense_fp16": False}
    low, high = result["range"]["dense_fp16_energy_j"]
    assert high - low == pytest.approx((640 + 320) / 64 * (2.6 - 1.3) * NJ)


def test_binary_spike_chip_unary_and_bitplane():
    base = dict(fp=98 * FP16_MAC, remainder_memory=64 * 16 / 64 * SRAM_1M)
    unary = block(estimate(recording(), PRESETS["loihi"]))
    # a level-k spike as k binary spikes over 15 sub-steps: ops = payload SOPs, events = unit spikes
    assert unary["terms"]["spiking"]["synaptic_j"] == pytest.approx((420 + 50 + 9 + 28) * 23.6 * PJ)
    assert unary["terms"]["spiking"]["hop_j"] == pytest.approx((70 + 20 + 9 + 8) * 3.5 * PJ)
    assert unary["terms"]["spiking"]["neuron_j"] == pytest.approx(48 * 15 * 81 * PJ)
    assert unary["terms"]["spiking"]["fp_j"] == pytest.approx(base["fp"])
    # the chip's constants include its synapse reads, neuron state and routing: only the remainder's weights
    assert unary["memory_j"]["spiking"] == pytest.approx(base["remainder_memory"])
    planes = block(estimate(recording(), PRESETS["loihi"], binary_spikes="bitplane"))
    # set bits: up 24 (15→4 ×3, 5→2 ×4, 3→2, 1→1 ×2), q 5, k 6, v 4; fan-outs 6, 12/5, 1, 14/4
    assert planes["terms"]["spiking"]["synaptic_j"] == pytest.approx((24 * 6 + 12 + 6 + 14) * 23.6 * PJ)
    assert planes["terms"]["spiking"]["hop_j"] == pytest.approx((24 + 5 + 6 + 4) * 3.5 * PJ)
    assert planes["terms"]["spiking"]["neuron_j"] == pytest.approx(48 * 81 * PJ)
    # the dense models on the same preset pay the 45 nm datapath and a 1 MB-class weight read per MAC
    assert unary["terms"]["dense_fp16"]["mem_weights_j"] == pytest.approx(160 * 16 / 64 * SRAM_1M)
    truenorth = block(estimate(recording(), PRESETS["truenorth"]))
    assert truenorth["terms"]["spiking"]["synaptic_j"] == pytest.approx(507 * 26 * PJ)
    assert truenorth["terms"]["spiking"]["neuron_j"] == truenorth["terms"]["spiking"]["hop_j"] == 0


def test_ternary_spikes_are_signed_events_on_binary_chips():
    sites = {"mlp.up_proj": site("mlp.up_proj", "linear", 4, 42, 42, {-1: 3, 0: 9, 1: 4}, "ternary", 1)}
    result = block(estimate(recording(sites=sites), PRESETS["loihi"]))
    assert result["terms"]["spiking"]["synaptic_j"] == pytest.approx(42 * 23.6 * PJ)
    assert result["terms"]["spiking"]["hop_j"] == pytest.approx(7 * 3.5 * PJ)
    digital = block(estimate(recording(sites=sites), PRESETS["45nm-fp16"]))["terms"]["spiking"]
    assert digital["synaptic_j"] == pytest.approx(42 * ADD32)  # ±1 × code: an add or a subtract, no multiply
    assert digital["mem_spikes_j"] == pytest.approx(2 * 16 * 2 / 64 * SRAM_8K)  # 1 magnitude + 1 sign bit


def test_graded_chip_pays_event_plus_payload_and_ranges():
    hw = PRESETS["loihi2"]
    result = estimate(recording(), hw)
    t = block(result)["terms"]["spiking"]
    assert t["synaptic_j"] == pytest.approx(60 * (23.6 * PJ + MULT8 * 16 / 64) + 12 * (23.6 * PJ + MULT8)
                                            + 3 * 23.6 * PJ + 14 * (23.6 * PJ + MULT8))
    assert t["hop_j"] == pytest.approx(22 * 3.5 * PJ) and t["neuron_j"] == pytest.approx(48 * 81 * PJ)
    low, high = result["range"]["energy_j"]
    assert low == pytest.approx(estimate(recording(), hw.at(0))["energy_j"])
    assert high == pytest.approx(estimate(recording(), hw.at(1))["energy_j"]) and low < result["energy_j"] <= high
    assert hw.at(0).sop_j == 11.8 * PJ
    for key in ("ratio_vs_dense_int", "ratio_vs_dense_fp16"):  # extremes over the corners bracket the value
        corners = [_estimate(recording(), corner, options=LEGACY)[key] for corner in legacy_hw(hw).corners()]
        assert len(corners) == 2 ** len(legacy_hw(hw).ranges) and result["range"][key] == [min(corners), max(corners)]
        assert result["range"][key][0] <= result[key] <= result["range"][key][1]
    assert "ranged constants sop_j" in format_table(result)


def test_payload_sops_is_an_adder_only_synapse():
    t = block(estimate(recording(), PRESETS["45nm-fp16"], payload=True))["terms"]["spiking"]
    assert t["synaptic_j"] == pytest.approx(420 * ADD32 + 50 * FP16_ADD + 9 * ADD32 + 28 * FP16_ADD)


def test_snn_paper_convention_by_hand():
    """E = 0.9 pJ·SOPs + 4.6 pJ·FLOPs, SOPs = firing rate × T × FLOPs of each spike-driven product."""
    result = estimate(recording(), convention="snn-paper")
    # firing rate × T = events per activation: up 10/16 of 4·4·6 FLOPs, q 5/16 and v 4/8 of H·P·D = 40,
    # k 3/8 of its 8 accumulates
    sops = 10 / 16 * 96 + 5 / 16 * 40 + 3 / 8 * 8 + 4 / 8 * 40
    assert block(result)["synaptic_ops"] == pytest.approx(sops)
    assert result["energy_j"] == pytest.approx(0.9 * PJ * sops + 4.6 * PJ * (98 + 90))
    assert result["dense_fp16_energy_j"] == result["ann_energy_j"] == pytest.approx(4.6 * PJ * (270 + 90))
    assert result["dense_int_energy_j"] is None and result["ratio_vs_dense_int"] is None
    assert not result["memory"] and result["convention"] == "snn-paper"
    rec = recording()
    up = rec.layers[0].sites["mlp.up_proj"]
    firing_rate, steps = up.events / up.neuron_steps, up.neuron_steps / (4 * 4)
    assert firing_rate * steps * site_flops(up, SHAPE, LAYER, rec.layers[0]) == up.sops  # == events × fan-out
    payload = estimate(recording(), convention="snn-paper", payload=True)
    assert payload["energy_j"] == pytest.approx(
        0.9 * PJ * (70 / 16 * 96 + 20 / 16 * 40 + 9 / 8 * 8 + 8 / 8 * 40) + 4.6 * PJ * 188)


def test_spikingbrain_convention_reproduces_its_published_figure():
    """1.13 unit spikes per activation × 0.03 pJ = 0.034 pJ per MAC-equivalent, ~43× below a 1.5 pJ FP16 MAC."""
    sites = {"mlp.up_proj": site("mlp.up_proj", "linear", 25, 113 * 6, 113 * 6, {0: 0, 1: 87, 2: 13},
                                 "ternary", 2)}
    sites["mlp.up_proj"].level_freq[0] = 0
    rec = recording(sites=sites)
    result = estimate(rec, convention="spikingbrain")
    assert result["spikes_per_activation"] == pytest.approx(1.13)
    assert result["mac_equivalent_j"] == pytest.approx(1.13 * 0.03 * PJ)
    assert round(result["mac_equivalent_j"] / PJ, 3) == 0.034
    assert result["mac_equivalent_ratio"] == pytest.approx(1.5 / (1.13 * 0.03))
    assert 43 <= result["mac_equivalent_ratio"] < 45
    # 1.13 unit spikes per activation of up_proj's 4·4·6 = 96 FLOPs, the remainder at the FP16 MAC
    assert result["energy_j"] == pytest.approx(0.03 * PJ * 1.13 * 96 + 1.5 * PJ * 188)
    assert result["dense_fp16_energy_j"] == pytest.approx(1.5 * PJ * 360)
    assert "0.0339 pJ per MAC-equivalent" in format_table(result)


@pytest.mark.parametrize("kwargs, message", [
    (dict(convention="neuromorphic"), "unknown convention 'neuromorphic': give one of ours, snn-paper"),
    (dict(binary_spikes="gray"), "unknown --binary-spikes 'gray'"),
    (dict(convention="snn-paper", hw=PRESETS["loihi"]), "--convention snn-paper fixes its own constants"),
    (dict(convention="spikingbrain", payload=True), "--payload-sops does not apply to --convention spikingbrain"),
    (dict(convention="snn-paper", binary_spikes="bitplane"), "--binary-spikes applies to --convention ours"),
])
def test_bad_estimate_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate(recording(), **kwargs)


def test_recordings_lacking_counts_are_refused():
    with pytest.raises(ValueError, match=r"lacks the activation bits \(config.abits\) that the dense-int baseline"):
        estimate(recording(config={}), PRESETS["45nm-fp16"])
    assert estimate(recording(config={}), convention="snn-paper")["energy_j"] > 0  # it needs no bit widths
    with pytest.raises(ValueError, match="holds no spike sites"):
        estimate(recording(sites={}), PRESETS["45nm-fp16"])
    bare = recording()
    bare.layers[0].sites["mlp.up_proj"].level_values = np.array([], np.int64)
    with pytest.raises(ValueError, match="no spike-level histogram, which --binary-spikes bitplane needs"):
        estimate(bare, PRESETS["loihi"], binary_spikes="bitplane")
    empty = recording()
    empty.layers = []
    with pytest.raises(ValueError, match="holds no blocks"):
        estimate(empty, PRESETS["45nm-fp16"])


def test_custom_presets(tmp_path):
    constants = {"sop_j": 1e-12, "mac_j": 2e-12, "ann_mac_j": 3e-12, "word_bits": 8}
    (tmp_path / "chip.json").write_text(json.dumps(constants))
    chip = load_hardware(str(tmp_path / "chip.json"))
    assert (chip.name, chip.sop_j, chip.word_bits, chip.neuron_j, chip.spikes) == ("chip", 1e-12, 8, 0.0, "graded")
    (tmp_path / "other.yaml").write_text("name: other\nsop_j: null\nmac_j: 1.0e-12\nann_mac_j: 1.0e-12\n"
                                         "hop_j: 2.0e-12\nspikes: binary\nchip_memory: true\nprovisional: [hop_j]\n"
                                         "ranges: {hop_j: [1.0e-12, 3.0e-12]}\n")
    other = load_hardware(str(tmp_path / "other.yaml"))
    assert (other.name, other.sop_j, other.hop_j, other.spikes, other.ranges) == (
        "other", None, 2e-12, "binary", {"hop_j": (1e-12, 3e-12)})
    assert block(estimate(recording(), other))["breakdown"]["hop_j"] == pytest.approx(107 * 2e-12)


@pytest.mark.parametrize("text, message", [
    ('{"sop_j": 1e-12, "mac_j": 1e-12}', r"missing hardware fields \['ann_mac_j'\]"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "mac_pj": 3}', r"unknown hardware fields \['mac_pj'\]"),
    ('{"sop_j": -1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12}', "sop_j must be a finite number >= 0"),
    ('{"sop_j": "cheap", "mac_j": 1e-12, "ann_mac_j": 1e-12}', "sop_j must be a finite number"),
    ('{"sop_j": 1e-12, "mac_j": null, "ann_mac_j": 1e-12}', "mac_j must be a finite number"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 0}', "ann_mac_j must be > 0"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "dram_j": -1}', "dram_j must be a finite number >= 0"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "spikes": "analog"}', "spikes must be one of graded"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "onchip_bytes": 0.5}', "onchip_bytes must be a positive"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "chip_memory": 1}', "chip_memory must be true or false"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "fp_add_j": 2e-12}', "fp_add_j .* must not exceed mac_j"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "ranges": {"sop_j": [2e-12, 1e-12]}}', "low .* exceeds high"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "ranges": {"spikes": [1, 2]}}', "is not an energy constant"),
    ('[1, 2]', "must be a mapping"),
    ('{"sop_j": ', "cannot parse"),
])
def test_bad_custom_presets(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_hardware(str(path))


def test_unknown_hardware():
    with pytest.raises(ValueError, match="unknown hardware 'loihi3': give one of 45nm-fp32"):
        load_hardware("loihi3")
    with pytest.raises(FileNotFoundError, match="nope.yaml not found"):
        load_hardware("nope.yaml")


def write(path, rec):
    with RecordingWriter(path, rec.metadata, SHAPE) as writer:
        writer.write_layer(rec.layers[0])
        writer.write_head(rec.head_ops)


def test_energy_command(tmp_path, capsys):
    path = tmp_path / "r.h5"
    rec = recording()
    write(path, rec)
    parser = argparse.ArgumentParser()
    cli.add_energy_arguments(parser)
    result = cli.energy_command(parser.parse_args([str(path), "--hardware", "loihi"]))
    assert result == _estimate(rec, PRESETS["loihi"]) | {"recording": str(path)}
    table = capsys.readouterr().out
    assert "total" in table and "loihi" in table and "convention ours" in table and "memory on" in table
    assert cli.energy_command(parser.parse_args([str(path), "--no-memory"]))["memory"] is False
    assert cli.energy_command(parser.parse_args([str(path), "--memory"]))["memory"] is True
    assert cli.energy_command(parser.parse_args([str(path), "--convention", "snn-paper"]))["hardware"] == "45nm-fp32"


def test_energy_through_the_neuro_llm_command_line(tmp_path, capsys):
    path, out = tmp_path / "r.h5", tmp_path / "e.json"
    write(path, recording())
    assert main(["energy", str(path), "--hardware", "truenorth", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    for key in ("hardware", "convention", "sops", "macs", "energy_j", "dense_int_energy_j", "dense_fp16_energy_j",
                "memory_j", "ratio_vs_dense_int", "ratio_vs_dense_fp16", "ann_energy_j", "ratio", "layers"):
        assert key in written, key
    assert written["hardware"] == "truenorth" and written["convention"] == "ours"
    assert [row["layer"] for row in written["layers"]] == [0, "head"]
    assert set(written["memory_j"]) == {"spiking", "dense_int", "dense_fp16"}
    assert main(["energy", str(path), "--hardware", "loihi3"]) == 2
    assert "unknown hardware 'loihi3'" in capsys.readouterr().err
    assert main(["energy", str(path), "--convention", "spikingbrain", "--hardware", "loihi"]) == 2
    assert "fixes its own constants" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["energy", str(path), "--convention", "other"])
    assert exit_.value.code == 2
    assert "invalid choice: 'other'" in capsys.readouterr().err

"""The dataflow / memory-hierarchy model, neuron policies, sourced constants, the sweep and the SDLLM default.

Expected values are written out from the formulas of docs/energy.md and the cited constants, not taken from
the code under test."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from analysis import dataflow as df
from analysis.energy import Options, blocks_ratio, carried_bits, estimate, isobit_bits, technology_node
from analysis.hardware import PRESETS, constants
from analysis.recorder import _token_steps
from analysis.sweep import plot_tornado, retrain, sweep
from neuro_llm.cli.main import main
from neuro_llm.config import SpikeConfig
from test_analysis_energy import recording, site, write

PJ = 1e-12
HW = PRESETS["45nm-int8"]


def gemm_total(g, hw, flow):
    m = df.gemm_memory(g, hw, flow, 32, weights_in_dram=True)
    return sum(v for k, v in m.items() if k.endswith("_j")), m


@pytest.mark.parametrize("n", [64, 256, 2048])
def test_weight_stationary_reuses_weights_across_tokens(n):
    g = df.Gemm(n, 576, 1536, 4, 5)
    none, m0 = gemm_total(g, HW, "no-reuse")
    ws, m1 = gemm_total(g, HW, "weight-stationary")
    os_, m2 = gemm_total(g, HW, "output-stationary")
    assert ws < none and os_ < none
    assert m0["weight_fetches"] == n                       # one weight read per MAC
    assert m1["weight_fetches"] < n and m2["weight_fetches"] == math.ceil(n / HW.pe_rows)
    # no reuse: one 4-bit weight from the 32 KB SRAM (20 pJ / 64 bits) per MAC
    assert m0["weight_j"] == pytest.approx(n * 576 * 1536 * 4 / 64 * 20 * PJ)


def test_weight_stationary_by_hand_small_gemm():
    """64 tokens x 64 x 32, W4 A8, a 32x32 array: psum tile 64 tokens (8 KB / (32 x 32 bits)), one fetch."""
    g = df.Gemm(64, 64, 32, 4, 8)
    _, m = gemm_total(g, HW, "weight-stationary")
    macs = 64 * 64 * 32
    assert m["weight_fetches"] == 1 and m["token_tile"] == 64
    assert m["local_j"] == pytest.approx(2 * 64 * 32 * 2 * 32 / 64 * 10 * PJ)   # psums: 2 row tiles, r+w
    assert m["rf_j"] == pytest.approx(((macs + 64 * 32) * 4 + 2 * macs * 32) / 64 * HW.rf_j)
    weights = 64 * 32 * 4
    inputs, outputs = 64 * 64 * 1, 64 * 32
    assert m["sram_j"] == pytest.approx((weights + (inputs + outputs) * 8) / 64 * 100 * PJ)
    assert m["dram_j"] == 0


def test_dataflow_errors_and_placement():
    with pytest.raises(ValueError, match="unknown dataflow"):
        df.gemm_memory(df.Gemm(1, 1, 1, 4, 4), HW, "row-stationary")
    place = df.placement(10 * 2 ** 20, HW)
    assert place["chips_needed"] == math.ceil(10 * 2 ** 20 / (128 * 32 * 1024)) and place["streamed"]
    assert not df.placement(10 * 2 ** 20, HW, "chips")["streamed"]


def policy_recording(token_steps=12):
    sites = {"mlp.up_proj": replace(site("mlp.up_proj", "linear", 4, 60, 420, {0: 6, 1: 2, 3: 1, 5: 4, 15: 3}),
                                    token_neuron_steps=token_steps)}
    return recording(sites=sites)


@pytest.mark.parametrize("preset", ["45nm-fp16", "loihi", "loihi2"])
def test_neuron_policies_are_ordered(preset):
    hw = PRESETS[preset]
    energies, updates = [], []
    for policy in ("event-driven", "per-token", "lockstep"):
        row = estimate(policy_recording(), hw, neuron_policy=policy)["layers"][0]
        energies.append(row["terms"]["spiking"]["neuron_j"])
        updates.append(row["neuron_updates"])
    assert energies[0] <= energies[1] <= energies[2] and updates[0] <= updates[1] <= updates[2]
    assert updates[1] < updates[2]


def test_loihi_charges_active_and_inactive_updates():
    """Davies et al. 2018, Table 2: 81 pJ a neuron update that fires, 52 pJ one that does not."""
    row = estimate(policy_recording(), PRESETS["loihi"], neuron_policy="lockstep")["layers"][0]
    # unary on a binary chip: 16 neurons x 15 sub-steps, 70 unit spikes fire
    assert row["terms"]["spiking"]["neuron_j"] == pytest.approx(70 * 81 * PJ + (16 * 15 - 70) * 52 * PJ)
    event = estimate(policy_recording(), PRESETS["loihi"], neuron_policy="event-driven")["layers"][0]
    assert event["terms"]["spiking"]["neuron_j"] == pytest.approx(70 * 81 * PJ)


def test_per_token_needs_recorded_steps():
    with pytest.raises(ValueError, match="no per-token neuron-steps"):
        estimate(policy_recording(-1), PRESETS["45nm-fp16"], neuron_policy="per-token")


def test_token_steps_by_hand():
    count = torch.tensor([[[5, 0, -1], [0, 0, 2], [1, 1, 1]]])      # [B=1, n=3, C=3]
    # bitwise: bit lengths 3, 2, 1 -> per-token longest 3, 2, 1 -> (3 + 2 + 1) x 3 channels
    assert _token_steps(count, "ternary", 1, 3, bitwise=True) == 18
    # unit ternary trains: |c| steps -> 5, 2, 1 (capped at the tensor's 5 steps)
    assert _token_steps(count, "ternary", 1, 5, bitwise=False) == (5 + 2 + 1) * 3
    # graded spikes of at most 2 a step: ceil(|c|/2) -> 3, 1, 1
    assert _token_steps(count.abs(), "gif", 2, 3, bitwise=False) == (3 + 1 + 1) * 3


def test_every_constant_has_a_source_or_a_range():
    for name, hw in PRESETS.items():
        for key, entry in constants(hw).items():
            assert entry["source"], (name, key)
            if entry.get("provisional"):
                assert "range" in entry and entry["range"][0] <= entry["range"][1], (name, key)
                assert "PROVISIONAL" in entry["source"], (name, key)
        for key in hw.provisional:
            assert key in hw.ranges, (name, key)
    loihi = constants(PRESETS["loihi"])
    assert loihi["neuron_inactive_j"]["value_j"] == 52 * PJ and "Table 2" in loihi["neuron_inactive_j"]["source"]
    assert constants(PRESETS["spinnaker2"])["sop_j"]["provisional"]
    assert all(constants(PRESETS["loihi2"])[k]["provisional"] for k in ("sop_j", "neuron_j", "hop_j"))


def test_nodes_are_reported_and_mixed_ones_flagged():
    assert technology_node(PRESETS["45nm-fp16"])["same_node"]
    mixed = technology_node(PRESETS["loihi"])
    assert not mixed["same_node"] and "14 nm" in mixed["spiking"] and "45 nm" in mixed["dense"]
    result = estimate(recording(), PRESETS["loihi"])
    assert result["technology_node"] == mixed


def test_summary_fields_blocks_ratio_and_band():
    result = estimate(recording(), PRESETS["loihi2"])
    for key in ("technology_node", "dataflow", "neuron_policy", "spike_train", "ratio_blocks_vs_dense_int",
                "ratio_band", "constants", "dense_isobit_energy_j", "dense_int_abits"):
        assert key in result, key
    assert result["dataflow"] == "weight-stationary" and result["neuron_policy"] == "lockstep"
    assert result["spike_train"] == "graded"
    block = result["layers"][0]
    assert result["ratio_blocks_vs_dense_int"] == pytest.approx(block["energy_j"] / block["dense_int_energy_j"])
    assert result["ratio_blocks_vs_dense_int"] == blocks_ratio(result["layers"])
    low, high = result["ratio_band"]
    assert low < result["ratio_vs_dense_int"] < high   # loihi2's per-op constants are provisional
    nb = result["neurobench"]   # NeuroBench's names: graded (multi-level) spike inputs are MACs, ±1 ones ACs
    assert (nb["Effective_MACs"], nb["Effective_ACs"]) == (60 + 12 + 3 + 14, 0)
    assert nb["Dense"] == 96 + 40 + 40 and nb["ActivationSparsity"] == pytest.approx(1 - 22 / 48)


def test_dense_widths_carried_and_isobit():
    sites = {"mlp.up_proj": replace(site("mlp.up_proj", "linear", 4, 42, 42, {-1: 3, 0: 9, 1: 4}, "ternary", 1),
                                    count_values=np.array([-300, 0, 5]), count_freq=np.array([1, 10, 5]),
                                    step_events=np.zeros(9, np.int64))}
    rec = recording(sites=sites)
    assert carried_bits(rec) == 9 + 1          # |-300| needs 9 bits, plus the sign
    assert isobit_bits(rec) == 4 + 1           # 9 steps of unit spikes: ceil(log2(10)) = 4, plus the sign
    nominal = estimate(rec, HW, dense_abits="nominal")
    carried = estimate(rec, HW, dense_abits="carried")
    assert nominal["dense_int_abits"] == 4 and carried["dense_int_abits"] == 10
    assert carried["dense_int_energy_j"] > nominal["dense_int_energy_j"]


def test_kv_int8_and_weight_width_options():
    base = estimate(recording(), HW)
    kv = estimate(recording(), HW, kv="int8")
    assert kv["layers"][0]["synaptic_ops"] < base["layers"][0]["synaptic_ops"]   # Q, K, V no longer spike
    w8 = estimate(recording(), HW, weight_bits=8)
    assert w8["wbits"] == 8 and w8["dense_int_energy_j"] > base["dense_int_energy_j"]
    with pytest.raises(ValueError, match="unknown neuron policy"):
        estimate(recording(), HW, neuron_policy="sometimes")


def test_retrain_from_counts():
    sites = {"mlp.up_proj": replace(site("mlp.up_proj", "linear", 4, 42, 42, {-1: 3, 0: 9, 1: 4}, "ternary", 1),
                                    count_values=np.array([-3, 0, 1, 5]), count_freq=np.array([2, 10, 3, 1]),
                                    sops=7 * 6)}
    rec = recording(sites=sites)
    bitwise = retrain(rec, "bitwise").layers[0].sites["mlp.up_proj"]
    ternary = retrain(rec, "ternary").layers[0].sites["mlp.up_proj"]
    assert bitwise.events == 2 * 2 + 3 * 1 + 1 * 2 and bitwise.bitwise        # popcounts 2, 1, 2
    assert ternary.events == 2 * 3 + 3 * 1 + 5 and not ternary.bitwise        # |c|
    assert bitwise.neuron_steps == 16 * 3 and ternary.neuron_steps == 16 * 5  # bit_length(5), max|c|
    assert bitwise.sops == 9 * 6 and ternary.sops == 14 * 6                   # linear fan-out 6


def test_sweep_rows_and_tornado(tmp_path):
    rows = sweep(policy_recording(), PRESETS["45nm-fp16"], Options())
    choices = {row["choice"] for row in rows}
    assert len(rows) >= 8 and {"dataflow", "neuron policy", "lm_head", "K/V", "weight width", "memory",
                                "dense-int width", "node / preset"} <= choices
    assert sum(row["baseline"] for row in rows if row["choice"] == "dataflow") == 1
    no_reuse = next(r for r in rows if r["setting"] == "no-reuse")
    base = next(r for r in rows if r["setting"] == "weight-stationary")
    assert no_reuse["ratio_vs_dense_int"] != base["ratio_vs_dense_int"]
    path = plot_tornado(rows, tmp_path / "tornado.png")
    assert path.exists() and path.stat().st_size > 1000


def test_energy_sweep_through_the_command_line(tmp_path, capsys):
    path, out, png = tmp_path / "r.h5", tmp_path / "e.json", tmp_path / "t.png"
    write(path, policy_recording())
    assert main(["energy", str(path), "--sweep", "--plot", str(png), "--json", str(out),
                 "--neuron-policy", "per-token"]) == 0
    text = capsys.readouterr().out
    assert "node: 45 nm" in text and "blocks only" in text and "band" in text and "dataflow" in text
    written = json.loads(out.read_text())
    assert len(written["sweep"]) >= 8 and png.exists()
    assert {"choice", "setting", "ratio_vs_dense_int"} <= set(written["sweep"][0])
    assert written["neuron_policy"] == "per-token"
    assert main(["energy", str(path), "--plot", str(png)]) == 2
    assert "--sweep" in capsys.readouterr().err


def test_sdllm_default_train_is_bitwise():
    assert SpikeConfig(method="sdllm").spike_train == "bitwise" and SpikeConfig(method="sdllm").code.bitwise
    with pytest.raises(ValueError, match="--spike-train ternary"):
        SpikeConfig(method="sdllm", spike_levels=3)

"""benchmarks/energy.py: the LLaMA-2-7B-shaped projection, the Pareto points, and docs/energy.md's worked
example against the committed results."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import energy as bench  # noqa: E402
import write_results  # noqa: E402

from analysis.energy import estimate  # noqa: E402
from analysis.hardware import PRESETS  # noqa: E402
from analysis.ops import block_ops  # noqa: E402
from test_analysis_energy import SHAPE, recording  # noqa: E402

SAME = dict(hidden=4, intermediate=6, heads=2, kv_heads=1, head_dim=2, vocab=5, layers=1)


def test_projection_onto_the_same_shape_keeps_every_count():
    rec = recording()
    projected = bench.project(rec, SAME)
    assert projected.metadata["projection"] == "llama2-7b" and projected.shape.layers == SHAPE.layers
    for name, site in rec.layers[0].sites.items():
        p = projected.layers[0].sites[name]
        assert (p.sops, p.sops_payload, p.events, p.payload, p.neuron_steps) == (
            site.sops, site.sops_payload, site.events, site.payload, site.neuron_steps), name
        assert dict(zip(p.level_values.tolist(), p.level_freq.tolist())) == dict(
            zip(site.level_values.tolist(), site.level_freq.tolist()))
    assert projected.layers[0].spiking_ops == block_ops(SHAPE, SHAPE.layers[0], 1, 4, 4, spiking=True)


def test_projection_scales_with_the_target_shape():
    rec = recording()
    wide = bench.project(rec, {**SAME, "intermediate": 12, "layers": 3})
    up = wide.layers[0].sites["mlp.up_proj"]
    assert len(wide.layers) == 3 and up.sops == 10 * 12  # fan-out = the new out_features
    gqa = bench.project(rec, {**SAME, "heads": 4, "kv_heads": 1, "head_dim": 1})
    v = gqa.layers[0].sites["self_attn.v"]
    # V's synaptic ops per event scale with the query heads per kv head: 4 here against 2 measured
    assert v.sops == round(v.events * 14 / 4 * 2)
    assert estimate(wide, PRESETS["45nm-fp16"])["energy_j"] > estimate(rec, PRESETS["45nm-fp16"])["energy_j"]


def test_pareto_points_pair_energies_with_perplexities():
    summary = {"energy_per_token_j": 1.0, "dense_int_energy_per_token_j": 2.0, "dense_fp16_energy_per_token_j": 3.0}
    data = {"recordings": {"a": {"ppl": {"ppl": 50.0}, "presets": {"45nm-fp16": {"memory": summary}}},
                           "b": {"ppl": None, "presets": {"45nm-fp16": {"memory": summary}}}},
            "baselines": {"fp16": {"ppl": 18.0}, "w4a4-int": {"ppl": 1000.0}}, "dense_reference": "a"}
    points = {p["label"]: (p["energy_per_token_j"], p["ppl"]) for p in bench.pareto_points(data, "45nm-fp16")}
    assert points == {"a": (1.0, 50.0), "fp16 (dense)": (3.0, 18.0), "w4a4-int (dense)": (2.0, 1000.0)}


def test_command_is_shown_as_typed():
    assert bench._command("/x/neuro_llm/cli.py simulate --tokens 256") == "neuro-llm simulate --tokens 256"
    assert bench._command("neuro-llm simulate") == "neuro-llm simulate"


def test_energy_doc_worked_example_matches_the_committed_results():
    """docs/energy.md's worked example is generated from benchmarks/results/energy_smollm2.json."""
    data = write_results.load("energy_smollm2.json")
    if data is None:
        pytest.skip("no committed energy results")
    text = (ROOT / "docs" / "energy.md").read_text()
    block = write_results.energy_example(data)
    assert block and block in text, "docs/energy.md is stale: run python benchmarks/write_results.py"


def test_committed_results_add_up_by_hand():
    """Terms of the committed results recomputed from their counts and the Horowitz constants."""
    data = write_results.load("energy_smollm2.json")
    if data is None:
        pytest.skip("no committed energy results")
    for label, entry in data["recordings"].items():
        s = entry["presets"]["45nm-fp16"]["no_memory"]
        t = s["terms"]
        assert t["dense_fp16"]["mac_j"] == pytest.approx(s["ann_macs"] * 1.5e-12), label
        assert t["spiking"]["fp_j"] == pytest.approx(s["macs"] * 1.5e-12), label
        assert t["spiking"]["neuron_j"] == pytest.approx(s.get("neuron_updates", s["neuron_steps"]) * 0.1e-12), label
        a, w = s.get("dense_int_abits", 4), s.get("wbits") or 4   # older results: nominal A4, W4
        # linear MACs at A×W bits, QKᵀ at A×A bits: between the two products' prices
        low, high = (s["int_macs"] * (0.2e-12 * a * b / 64 + 0.1e-12) for b in sorted((w, a)))
        assert low * (1 - 1e-9) <= t["dense_int"]["int_mac_j"] <= high * (1 + 1e-9), label
        assert s["energy_j"] == pytest.approx(sum(t["spiking"].values()))
        assert s["ratio_vs_dense_int"] == pytest.approx(s["energy_j"] / s["dense_int_energy_j"])
        sb = entry["conventions"]["spikingbrain"]
        assert sb["mac_equivalent_j"] == pytest.approx(entry["unit_spikes_per_activation"] * 0.03e-12)
        loihi = entry["presets"]["loihi"]["no_memory"]["terms"]["spiking"]
        assert loihi["synaptic_j"] == pytest.approx(entry["sops_payload"] * 23.6e-12)  # unary: k spikes each

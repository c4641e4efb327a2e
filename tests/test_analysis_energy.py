"""Energy presets, custom presets, the estimate by hand, and the ``energy`` command."""
import argparse
import json

import numpy as np
import pytest

from analysis import cli
from analysis.energy import PRESETS, estimate, format_table, load_hardware
from analysis.ops import CATEGORIES
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import ModelShape
from analysis.store import RecordingWriter
from neuro_llm.cli.main import main

PJ = 1e-12
SHAPE = ModelShape(hidden=4, intermediate=6, heads=2, kv_heads=1, head_dim=2, vocab=5, code_kind="gif",
                   weight_bits=4, layers=())


def site(name, kind, sops, payload, events, neuron_steps):
    return SiteRecord(
        name=name, kind=kind, code_kind="gif", per_step=15, rows=4, sops=sops, sops_payload=payload,
        channel_steps=np.array([1, 1]), channel_events=np.array([events - 1, 1]), channel_payload=np.array([3, 4]),
        step_events=np.array([events]), step_neuron_steps=np.array([neuron_steps]), level_values=np.array([0]),
        level_freq=np.array([1]), count_values=np.array([0]), count_freq=np.array([1]),
        raster=np.zeros((1, 1, 1), np.int8), raster_rows=np.array([0]), raster_channels=np.array([0]))


def ops(**values):
    return {**dict.fromkeys(CATEGORIES, 0), **values}


def recording():
    layer = LayerRecord(layer=0, batch=1, q_len=4, kv_len=4,
                        sites={"mlp.up_proj": site("mlp.up_proj", "linear", 100, 700, 10, 20),
                               "self_attn.q": site("self_attn.q", "q", 50, 300, 5, 8)},
                        spiking_ops=ops(linear=6, softmax=30, decode=4),
                        dense_ops=ops(linear=900, softmax=30, attention_scores=70))
    return Recording({"model": "tiny"}, SHAPE, [layer], head_ops=ops(norm=10, lm_head=200), path="r.h5")


def test_preset_names_and_constants():
    assert list(PRESETS) == ["45nm-fp32", "45nm-fp16", "45nm-int8", "loihi", "truenorth", "spinnaker2"]
    assert (PRESETS["45nm-fp32"].mac_j, PRESETS["45nm-fp32"].sop_j) == (4.6 * PJ, 0.9 * PJ)
    assert (PRESETS["45nm-fp16"].mac_j, PRESETS["45nm-fp16"].sop_j) == (1.5 * PJ, 0.4 * PJ)
    assert (PRESETS["45nm-int8"].mac_j, PRESETS["45nm-int8"].sop_j) == (0.23 * PJ, 0.03 * PJ)
    loihi = PRESETS["loihi"]
    assert (loihi.sop_j, loihi.hop_j, loihi.neuron_j, loihi.mac_j) == (23.6 * PJ, 3.5 * PJ, 81 * PJ, 1.5 * PJ)
    assert PRESETS["truenorth"].sop_j == 26 * PJ and PRESETS["spinnaker2"].sop_j == 450 * PJ
    assert all(hw.source for hw in PRESETS.values())


def test_estimate_by_hand():
    result = estimate(recording(), PRESETS["loihi"])
    block, head = result["layers"]
    spiking = 150 * 23.6 * PJ + 28 * 81 * PJ + 15 * 3.5 * PJ + 40 * 1.5 * PJ
    assert block["energy_j"] == pytest.approx(spiking, rel=1e-12)
    assert block["ann_energy_j"] == pytest.approx(1000 * 1.5 * PJ, rel=1e-12)
    assert head["energy_j"] == head["ann_energy_j"] == pytest.approx(210 * 1.5 * PJ, rel=1e-12)
    counts = (result["sops"], result["sops_payload"], result["spike_events"], result["neuron_steps"])
    assert counts == (150, 1000, 15, 28)
    assert (result["macs"], result["ann_macs"]) == (40 + 210, 1000 + 210)
    assert result["energy_j"] == pytest.approx(spiking + 210 * 1.5 * PJ, rel=1e-12)
    assert result["ratio"] == pytest.approx(result["energy_j"] / result["ann_energy_j"])
    assert result["breakdown"]["synaptic_j"] == pytest.approx(150 * 23.6 * PJ)
    assert result["energy_per_token_j"] == pytest.approx(result["energy_j"] / 4)
    payload = estimate(recording(), PRESETS["45nm-fp32"], payload=True)
    assert payload["sop_count"] == "payload"
    assert payload["energy_j"] == pytest.approx((1000 * 0.9 + 250 * 4.6) * PJ, rel=1e-12)
    assert "memory_energy_j" not in payload


def test_memory_term_is_reported_apart():
    hw = PRESETS["45nm-fp16"]
    with_memory = estimate(recording(), hw, memory=True)
    assert with_memory["energy_j"] == estimate(recording(), hw)["energy_j"]
    # spiking: 100 SOPs × 4-bit weights + 50 × 16-bit K̂ + 28 neuron-steps × 2 × 16 + (6 + 200) operands × 16
    bits = 100 * 4 + 50 * 16 + 28 * 2 * 16 + 206 * 16
    assert with_memory["memory_energy_j"] == pytest.approx(bits / 64 * 10 * PJ)
    assert with_memory["ann_memory_energy_j"] == pytest.approx((970 + 200) * 16 / 64 * 10 * PJ)
    assert "mem spk J" in format_table(with_memory)


def test_custom_presets(tmp_path):
    constants = {"sop_j": 1e-12, "mac_j": 2e-12, "ann_mac_j": 3e-12, "word_bits": 8}
    (tmp_path / "chip.json").write_text(json.dumps(constants))
    chip = load_hardware(str(tmp_path / "chip.json"))
    assert (chip.name, chip.sop_j, chip.word_bits, chip.neuron_j) == ("chip", 1e-12, 8, 0.0)
    (tmp_path / "other.yaml").write_text("name: other\nsop_j: 5.0e-12\nmac_j: 1.0e-12\nann_mac_j: 1.0e-12\n"
                                         "hop_j: 2.0e-12\n")
    other = load_hardware(str(tmp_path / "other.yaml"))
    assert (other.name, other.sop_j, other.hop_j) == ("other", 5e-12, 2e-12)
    assert estimate(recording(), other)["layers"][0]["breakdown"]["hop_j"] == pytest.approx(15 * 2e-12)


@pytest.mark.parametrize("text, message", [
    ('{"sop_j": 1e-12, "mac_j": 1e-12}', r"missing hardware fields \['ann_mac_j'\]"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12, "mac_pj": 3}', r"unknown hardware fields \['mac_pj'\]"),
    ('{"sop_j": -1e-12, "mac_j": 1e-12, "ann_mac_j": 1e-12}', "sop_j must be a finite number >= 0"),
    ('{"sop_j": "cheap", "mac_j": 1e-12, "ann_mac_j": 1e-12}', "sop_j must be a finite number"),
    ('{"sop_j": 1e-12, "mac_j": 1e-12, "ann_mac_j": 0}', "ann_mac_j must be > 0"),
    ('[1, 2]', "must be a mapping"),
    ('{"sop_j": ', "cannot parse"),
])
def test_bad_custom_presets(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_hardware(str(path))


def test_unknown_hardware():
    with pytest.raises(ValueError, match="unknown hardware 'loihi2': give one of 45nm-fp32"):
        load_hardware("loihi2")
    with pytest.raises(FileNotFoundError, match="nope.yaml not found"):
        load_hardware("nope.yaml")


def test_energy_command(tmp_path, capsys):
    path = tmp_path / "r.h5"
    rec = recording()
    with RecordingWriter(path, {"model": "tiny"}, SHAPE) as writer:
        writer.write_layer(rec.layers[0])
        writer.write_head(rec.head_ops)
    parser = argparse.ArgumentParser()
    cli.add_energy_arguments(parser)
    result = cli.energy_command(parser.parse_args([str(path), "--hardware", "loihi"]))
    assert result == estimate(rec, PRESETS["loihi"]) | {"recording": str(path)}
    table = capsys.readouterr().out
    assert "total" in table and "loihi" in table


def test_energy_through_the_neuro_llm_command_line(tmp_path, capsys):
    path, out = tmp_path / "r.h5", tmp_path / "e.json"
    with RecordingWriter(path, {"model": "tiny"}, SHAPE) as writer:
        writer.write_layer(recording().layers[0])
    assert main(["energy", str(path), "--hardware", "truenorth", "--memory", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    for key in ("hardware", "sops", "macs", "energy_j", "ann_energy_j", "ratio", "layers", "memory_energy_j"):
        assert key in written
    assert written["hardware"] == "truenorth" and [row["layer"] for row in written["layers"]] == [0]
    assert main(["energy", str(path), "--hardware", "loihi2"]) == 2
    assert "unknown hardware 'loihi2'" in capsys.readouterr().err

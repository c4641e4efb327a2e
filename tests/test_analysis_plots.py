"""Every figure renders from a small recording as a PNG of the expected pixel size."""
import argparse
import struct

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from analysis import cli, plots
from analysis.energy import PRESETS
from analysis.recording import simulate_to_hdf5
from analysis.store import read_recording
from neuro_llm.config import SpikeConfig
from neuro_llm.convert import convert


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def expected_size(name):
    key = "raster" if name.startswith("raster_layer") else name.removesuffix(".png")
    width, height = plots.SIZES[key]
    return round(width * plots.DPI), round(height * plots.DPI)


@pytest.fixture(scope="module", params=["spikellm", "sdllm"])
def recording_path(request, tmp_path_factory):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    model = convert(LlamaForCausalLM(cfg).eval(), SpikeConfig(method=request.param, wbits=4, abits=4, mode="explicit"),
                    calibration=torch.randint(0, 128, (2, 32)), progress=False)
    path = tmp_path_factory.mktemp(request.param) / "r.h5"
    simulate_to_hdf5(model, torch.randint(0, 128, (1, 16)), path, max_neurons=24, max_tokens=8, progress=False)
    return path


def test_every_figure_is_a_png_of_its_size(recording_path, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_plot_arguments(parser)
    result = cli.plot_command(parser.parse_args([str(recording_path), "--out-dir", str(tmp_path / "figs"),
                                                 "--hardware", "loihi"]))
    names = sorted(p.rsplit("/", 1)[-1] for p in result["files"])
    assert names == sorted(["raster_layer000.png", "raster_layer001.png", "firing_rate_layers.png",
                            "firing_rate_sites.png", "channel_rates.png", "spike_levels.png", "energy.png"])
    for name in names:
        path = tmp_path / "figs" / name
        assert path.stat().st_size > 1000
        assert png_size(path) == expected_size(name), name


def test_bad_output_and_empty_recordings_are_refused(recording_path, tmp_path):
    recording = read_recording(recording_path, rasters=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is not a directory"):
        plots.plot_all(recording, tmp_path / "file", PRESETS["45nm-fp16"])
    recording.layers = []
    with pytest.raises(ValueError, match="holds no blocks"):
        plots.plot_all(recording, tmp_path / "figs", PRESETS["45nm-fp16"])
    assert not (tmp_path / "figs").exists()


def test_energy_figure_without_memory_and_on_a_binary_chip(recording_path, tmp_path):
    recording = read_recording(recording_path, rasters=False)
    for kwargs in (dict(memory=False), dict(binary_spikes="bitplane")):
        path = plots.plot_energy(recording, PRESETS["loihi"], tmp_path / "e.png", **kwargs)
        assert png_size(path) == expected_size("energy.png")


def test_pareto_front_and_figure(tmp_path):
    points = [{"label": "fp16", "energy_per_token_j": 4e-3, "ppl": 18.0, "kind": "dense"},
              {"label": "w4a4", "energy_per_token_j": 1.5e-3, "ppl": 1000.0, "kind": "dense"},
              {"label": "t2", "energy_per_token_j": 1.6e-3, "ppl": 60.0},
              {"label": "t4", "energy_per_token_j": 1.7e-3, "ppl": 70.0},   # dominated by t2
              {"label": "same", "energy_per_token_j": 1.6e-3, "ppl": 60.0}]  # ties dominate nothing
    assert [p["label"] for p in plots.pareto_front(points)] == ["w4a4", "t2", "same", "fp16"]
    path = plots.plot_pareto(points, tmp_path / "pareto.png", title="test")
    assert png_size(path) == expected_size("pareto.png")
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_pareto([], tmp_path / "none.png")

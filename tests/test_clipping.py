"""SDLLM clipping factor: chosen by minimum reconstruction error, and used by the converted model."""
import torch

from conftest import tiny_model
from neuro_llm import SpikeConfig, convert, set_mode
from neuro_llm.calibrate.clipping import GRID, best_clip, reconstruction_error
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import SpikingLinear


def test_heavy_tails_are_clipped_and_the_error_is_the_grid_minimum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 256, generator=g)
    rows, cols = torch.arange(512), torch.randint(0, 256, (512,), generator=g)
    x[rows, cols] *= 6  # one rare large value per token sets its range
    code = SpikeCode("ternary", 1)
    gamma = best_clip(x, code, 7)
    assert gamma < 1.0
    errors = [reconstruction_error(x, SpikeCode("ternary", 1, g_), 7) for g_ in GRID]
    assert reconstruction_error(x, SpikeCode("ternary", 1, gamma), 7) == min(errors)


def test_uniform_activations_keep_the_full_range():
    x = torch.rand(256, 32) * 2 - 1
    x[:, 0] = 1.0  # every token reaches the same maximum: clipping only loses
    assert best_clip(x, SpikeCode("ternary", 1), 7) >= 0.85


def test_sdllm_layers_get_their_own_clip_and_stay_bit_exact():
    model = tiny_model("llama")
    snn = convert(model, SpikeConfig(method="sdllm", wbits=4, abits=4), calibration=torch.randint(0, 96, (2, 48)),
                  progress=False)
    clips = {m.code.clip for m in snn.modules() if isinstance(m, SpikingLinear)}
    assert clips <= set(GRID) and len(clips) >= 1
    ids = torch.randint(0, 96, (1, 20))
    with torch.no_grad():
        a = snn(ids).logits
        set_mode(snn, "explicit")
        assert torch.equal(snn(ids).logits, a)

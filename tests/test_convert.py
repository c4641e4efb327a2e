"""convert(): spiking Llama / Mistral / Qwen2 (grouped-query attention) in both execution modes."""
import zlib

import pytest
import torch
from torch import nn

from conftest import ARCHITECTURES, tiny_model
from neuro_llm import SpikeConfig, SpikeStats, convert, observing
from neuro_llm.spiking.linear import SpikingLinear

ENCODINGS = {  # name: SpikeConfig overrides
    "t1": dict(method="spikellm", abits=4, salient=0.0, extra_steps=0),
    "t2": dict(method="spikellm", abits=4, salient=0.2, extra_steps=1),
    "t4": dict(method="spikellm", abits=4, salient=0.2, extra_steps=2),
    "binary-IF": dict(method="spikellm", abits=4, spike_levels=2, salient=0.1, extra_steps=1),
    "ternary": dict(method="sdllm", abits=4),
    "ternary-k7": dict(method="sdllm", abits=4, spike_levels=7, spike_train="ternary"),
    "sdllm-cap2": dict(method="sdllm", threshold_k=4.0, count_cap=2),
    "sdllm-bitwise": dict(method="sdllm", spike_train="bitwise"),
    "sdllm-bitwise-cap5": dict(method="sdllm", threshold_k=1.5, spike_train="bitwise", count_cap=5),
    "sdllm-t2": dict(method="sdllm", salient=0.2, extra_steps=1),
    "sdllm-max-scaled": dict(method="sdllm", threshold="max", abits=4),
}


def relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_explicit_equals_collapsed(arch, encoding):
    model = tiny_model(arch, seed=zlib.crc32(f"{arch}/{encoding}".encode()) % 1000)   # not hash(): PYTHONHASHSEED
    calib = torch.randint(0, 96, (2, 48), generator=torch.Generator().manual_seed(1))
    snn = convert(model, SpikeConfig(wbits=4, **ENCODINGS[encoding]), calibration=calib, progress=False)
    ids = torch.randint(0, 96, (2, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        snn.set_mode("collapsed")
        stats_c = SpikeStats()
        with observing(stats_c):
            collapsed = snn(ids).logits
        snn.set_mode("explicit")
        stats_e = SpikeStats()
        with observing(stats_e):
            explicit = snn(ids).logits
    assert torch.equal(explicit, collapsed)  # bit-identical (the issue asks for <= 1e-5 relative)
    # the spike statistics of the collapsed mode (derived from counts) equal the counted spikes
    assert stats_c.summary() == stats_e.summary()
    assert 0 < stats_e.firing_rate < 1


def test_salient_channels_get_more_steps_and_bits():
    model = tiny_model("llama")
    calib = torch.randint(0, 96, (2, 48))
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.25, extra_steps=1),
                  calibration=calib, progress=False)
    layers = [m for m in snn.modules() if isinstance(m, SpikingLinear)]
    assert len(layers) == 7 * 2
    for layer in layers:
        assert sorted(layer.channel_steps.unique().tolist()) == [1, 2]
        assert int((layer.channel_steps == 2).sum()) == round(0.25 * layer.in_features)
    stats = SpikeStats()
    with torch.no_grad(), observing(stats):
        snn(torch.randint(0, 96, (1, 16)))
    # linear inputs: 75% of channels carry 4 bits, 25% carry 8; Q carries 4 bits; K and V (2 kv heads × 16
    # channels) have their own salient 25% of head channels (attention OBS) at 8 bits
    linear_bits = sum(l.in_features * (4 * 0.75 + 8 * 0.25) for l in layers[:7])
    attention_bits = 4 * 64 + 2 * 32 * (4 * 0.75 + 8 * 0.25)
    attention = snn.hf_model.model.layers[0].self_attn.spiking
    assert attention.k_steps.tolist().count(2) == 4 and attention.v_steps.tolist().count(2) == 4
    expected = (linear_bits + attention_bits) / (sum(l.in_features for l in layers[:7]) + 128)
    assert stats.avg_spike_bits == pytest.approx(expected, rel=1e-12)


def test_quantized_model_tracks_fp_at_high_precision():
    model = tiny_model("llama")
    ids = torch.randint(0, 96, (1, 32))
    with torch.no_grad():
        reference = model(ids).logits
        w8a8 = convert(model, SpikeConfig(method="rtn", wbits=8, abits=8), progress=False)(ids).logits
        w4a4 = convert(model, SpikeConfig(method="rtn", wbits=4, abits=4), progress=False)(ids).logits
    assert relative_error(w8a8, reference) < 0.02
    assert relative_error(w8a8, reference) < relative_error(w4a4, reference)


def test_convert_copies_unless_inplace():
    model = tiny_model("llama")
    snn = convert(model, SpikeConfig(method="rtn"), progress=False)
    assert isinstance(model.model.layers[0].self_attn.q_proj, nn.Linear)
    assert isinstance(snn.hf_model.model.layers[0].self_attn.q_proj, SpikingLinear)
    same = convert(model, SpikeConfig(method="rtn"), inplace=True, progress=False)
    assert same.hf_model is model and isinstance(model.model.layers[0].mlp.down_proj, SpikingLinear)


def test_generate_with_kv_cache():
    model = tiny_model("mistral")
    snn = convert(model, SpikeConfig(method="spikellm", abits=8, salient=0.1, extra_steps=1, mode="explicit"),
                  calibration=torch.randint(0, 96, (2, 32)), progress=False)
    prompt = torch.randint(0, 96, (1, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = snn.generate(prompt, max_new_tokens=6, do_sample=False)
        uncached = prompt
        for _ in range(6):   # token by token, every step a full forward without a cache
            uncached = torch.cat([uncached, snn(uncached).logits[:, -1:].argmax(-1)], dim=1)
    assert out.shape == (1, 18)
    assert torch.equal(out, uncached)


def test_salient_steps_need_calibration_text():
    with pytest.raises(ValueError, match="calibration"):
        convert(tiny_model("llama"), SpikeConfig(method="spikellm"), progress=False)


def test_models_of_unsupported_families_are_refused_naming_the_supported_ones():
    with pytest.raises(ValueError, match="not supported; supported families: Llama, Mistral, Qwen2, Qwen3, Gemma 3"):
        convert(nn.Sequential(nn.Linear(2, 2)), SpikeConfig(method="rtn"))


@pytest.mark.parametrize("bad, message", [
    (dict(method="nope"), "unknown method"),
    (dict(method="rtn", salient=0.1), "spiking methods"),
    (dict(method="spikellm", abits=3, spike_levels=4), "does not tile"),
    (dict(method="spikellm", wbits=0), "wbits"),
    (dict(method="spikellm", salient=1.5), "salient"),
    (dict(method="spikellm", mode="fast"), "unknown mode"),
])
def test_bad_configs_name_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        SpikeConfig(**bad)


def test_optimal_brain_spiking_picks_the_brute_force_channels():
    """The channels given more steps are the top |mean_t x_t ⊙ (x_t Wᵀ W)| computed token by token."""
    from neuro_llm.calibrate.saliency import allocate_steps

    model = tiny_model("llama", layers=1)
    calib = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(5))
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.25, extra_steps=1,
                                     calib_windows=2, calib_seqlen=24), calibration=calib, progress=False)
    block = model.model.layers[0]
    seen = []
    handle = block.self_attn.q_proj.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    with torch.no_grad():
        for row in calib:
            model(row.view(1, -1))
    handle.remove()
    x = torch.cat(seen).reshape(-1, 64).double()
    w = block.self_attn.q_proj.weight.detach().double()
    brute = torch.zeros(64, dtype=torch.float64)
    for token in x:                                   # one token at a time
        for c in range(64):
            brute[c] += token[c] * (token @ w.t() @ w[:, c])
    brute /= x.shape[0]
    expected = set(torch.topk(brute.abs(), 16).indices.tolist())
    steps = snn.hf_model.model.layers[0].self_attn.q_proj.channel_steps
    assert set(torch.nonzero(steps > steps.min()).flatten().tolist()) == expected
    assert torch.equal(allocate_steps(brute, 0.25, 1, 2), steps.cpu())

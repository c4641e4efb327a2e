"""SDLLM rebuilt from the authors' released code: adaptive threshold ``mean|x|/k``, signed counts with an
optional cap, ternary or bitwise trains; exact against the quantizer, explicit equal to collapsed, and
accounted per encoder."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from neuro_llm import SpikeConfig
from neuro_llm.calibrate.omniquant import fake_activation
from neuro_llm.spiking import observe
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import EXACT_FP32, SpikingLinear
from neurons import functional as nf

ADAPTIVE = [SpikeCode("ternary", 1, k=3.0), SpikeCode("ternary", 1, k=0.5, cap=1), SpikeCode("ternary", 1, k=7.0, cap=7),
            SpikeCode("ternary", 3, k=3.0), SpikeCode("ternary", 2, k=2.0, cap=5),
            SpikeCode("ternary", 1, k=3.0, bitwise=True), SpikeCode("ternary", 1, k=6.0, cap=20, bitwise=True)]


def reference_count(x, k, steps, cap, dim):
    """Independent oracle in float64: ``clamp(round_half_to_zero(x / (mean|x|/(k·m))), ±cap·m)``."""
    x64 = x.double()
    scale = (x64.abs().mean(dim, keepdim=True) / (k * steps)).clamp_min(1e-5)
    v = x64 / scale.float().double()  # the encoder divides by the float32 threshold
    q = torch.sign(v) * torch.ceil(v.abs() - 0.5)
    return q if cap is None else q.clamp(-cap * steps, cap * steps)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), code=st.sampled_from(ADAPTIVE), steps=st.sampled_from([1, 2]),
       dim=st.sampled_from([-1, -2]), spread=st.floats(1e-3, 1e3), outlier=st.floats(1.0, 500.0))
def test_adaptive_spikes_equal_the_quantizer(seed, code, steps, dim, spread, outlier):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 6, 24, generator=g) * spread
    x[0, 1, 5] *= outlier  # an outlier takes more steps, not a coarser threshold
    scale, zero = code.scale_zero(x, steps, dim)
    assert zero is None
    count = code.count(x, scale, zero, steps)
    assert torch.equal(count, reference_count(x, code.k, steps, code.cap, dim).float())
    spikes = code.spikes(x, scale, zero, steps)
    length = code.train_steps(count, steps)
    assert spikes.shape == (length, *x.shape)
    assert torch.equal(code.integrate(spikes), count)
    assert torch.equal(torch.count_nonzero(spikes, dim=0), code.events(count))
    assert torch.equal(spikes.abs().sum(0), code.payload(count).to(spikes.dtype))
    top = 1 if code.bitwise else code.per_step
    assert spikes.abs().max() <= top and torch.equal(spikes, spikes.round())
    # the train is exactly as long as the largest count needs
    needed = nf.bit_length(count.abs().amax()) if code.bitwise else math.ceil(float(count.abs().amax()) / code.per_step)
    assert length == max(1, int(needed))
    mask = code.clip_mask(x, scale, steps)
    if code.cap is None:
        assert mask is None
    else:
        unclipped = reference_count(x, code.k, steps, None, dim)
        assert int(mask.sum()) == int((unclipped.abs() > code.cap * steps).sum())


def test_hand_example_ternary_and_bitwise():
    x = torch.tensor([[1.0, -2.0, 3.0, 10.0]])  # mean|x| = 4; k = 2 -> threshold 2; x/Δ = 0.5, -1, 1.5, 5
    code = SpikeCode("ternary", 1, k=2.0)
    scale, _ = code.scale_zero(x, 1, -1)
    count = code.count(x, scale, None, 1)
    assert scale.item() == 2.0 and count.tolist() == [[0.0, -1.0, 1.0, 5.0]]  # ties toward zero
    spikes = code.spikes(x, scale, None, 1)
    assert spikes.shape[0] == 5 and spikes[:, 0, 3].tolist() == [1, 1, 1, 1, 1]
    assert int(code.events(count).sum()) == 7
    bitwise = SpikeCode("ternary", 1, k=2.0, bitwise=True)
    bits = bitwise.spikes(x, scale, None, 1)
    assert bits.shape[0] == 3 and bits[:, 0, 3].tolist() == [1, 0, 1]  # 5 = 101, most significant first
    assert bits[:, 0, 1].tolist() == [0, 0, -1]
    assert int(bitwise.events(count).sum()) == 4  # 0 + 1 + 1 + popcount(5)
    capped = SpikeCode("ternary", 1, k=2.0, cap=3)
    assert capped.count(x, scale, None, 1).tolist() == [[0.0, -1.0, 1.0, 3.0]]
    assert int(capped.clip_mask(x, scale, 1).sum()) == 1


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.integers(-5000, 5000), min_size=1, max_size=40))
def test_bitwise_closed_form_equals_halving_threshold_neuron(values):
    count = torch.tensor(values, dtype=torch.float32)
    steps = max(1, max(abs(v) for v in values).bit_length())
    train = nf.bitwise_drain(count, steps)
    assert torch.equal(train, nf.bitwise_drain_loop(count, steps))
    assert torch.equal(nf.bitwise_decode(train), count)
    assert nf.bit_length(count.abs()).tolist() == [abs(v).bit_length() for v in values]
    code = SpikeCode("ternary", 1, k=1.0, bitwise=True)
    assert code.events(count).tolist() == [bin(abs(v)).count("1") for v in values]


def _accumulator(layer, length):
    from neuro_llm.spiking.backend import adaptive_accumulator
    plan = layer.plans[0]
    return adaptive_accumulator(layer.codes[:, plan.start:plan.end], layer.integer_weights,
                                float(layer.code.capacity(length)))


def test_unbounded_counts_switch_the_accumulator_to_float64_and_modes_agree():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(-7, 8, (16, 2048), generator=g).float()
    layer = SpikingLinear(codes, torch.rand(16, generator=g) * 0.01 + 0.01, None, code=SpikeCode("ternary", 1, k=3.0),
                          channel_steps=None)
    x = torch.randn(4, 2048, generator=g)
    x[1, 7] = 5e5  # a massive activation: alone in its token, its count is about k·C (6144)
    count = layer.code.count(x, layer.code.scale_zero(x, 1, -1)[0], None, 1)
    length = layer.code.train_steps(count, 1)
    assert length * int(layer.codes.abs().sum(1, dtype=torch.int64).max()) >= EXACT_FP32
    assert _accumulator(layer, length) == torch.float64
    layer.mode = "collapsed"
    collapsed = layer(x[:2])
    layer.mode = "explicit"
    assert torch.equal(layer(x[:2]), collapsed)
    small = torch.randn(3, 2048, generator=g)  # an ordinary input stays in float32
    assert _accumulator(layer, layer.code.train_steps(layer.code.count(
        small, layer.code.scale_zero(small, 1, -1)[0], None, 1), 1)) == torch.float32


def test_nan_activations_are_one_clear_error():
    layer = SpikingLinear(torch.ones(4, 8), torch.ones(4), None, code=SpikeCode("ternary", 1, k=3.0), channel_steps=None)
    x = torch.randn(2, 8)
    x[0, 3] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN/Inf activations reached an sdllm spike encoder"):
        layer(x)


def test_accounting_of_events_unit_spikes_steps_clipping_and_histogram():
    code = SpikeCode("ternary", 1, k=2.0, cap=3)
    stats = observe.SpikeStats()
    count = torch.tensor([[0.0, -1.0, 1.0, 3.0], [2.0, 0.0, 0.0, -2.0]])
    with observe.observing(stats):
        observe.notify(observe.Encoded("layers.0.mlp.down_proj", 0, code, count, 3, clipped=1))
        observe.notify(observe.Encoded("layers.1.mlp.down_proj", 1, code, -count, 3, clipped=0))
    acc = stats.summary()["spike_accounting"]
    assert acc["events_per_activation"] == pytest.approx(9 / 8)  # a count c fires |c| unit spikes
    assert acc["unit_spikes_per_activation"] == pytest.approx(9 / 8)
    assert acc["clipped"] == 1 and acc["clip_rate"] == pytest.approx(1 / 16)
    assert acc["token_steps_mean"] == pytest.approx(2.5) and acc["token_steps_max"] == 3
    assert list(acc["per_encoder"]) == ["mlp.down_proj"]
    hist = dict(zip(acc["count_histogram"]["counts"], acc["count_histogram"]["freq"]))
    assert hist == {-3: 1, -2: 2, -1: 2, 0: 6, 1: 2, 2: 2, 3: 1}


def test_omniquant_fake_quantization_is_the_adaptive_quantizer():
    x = torch.randn(2, 5, 32) * 3
    x[0, 0, 0] = 200.0
    code = SpikeCode("ternary", 1, k=3.0, cap=15)
    scale, _ = code.scale_zero(x, 1, -1)
    assert torch.allclose(fake_activation(x, 15, -1, True, 3.0), scale * code.count(x, scale, None, 1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(threshold_k=0), "threshold_k must be a positive number"),
    (dict(threshold_k=float("inf")), "threshold_k must be a positive number"),
    (dict(count_cap=0), "count_cap must be an integer >= 1"),
    (dict(count_cap=True), "count_cap must be an integer >= 1"),
    (dict(count_cap=2.5), "count_cap must be an integer >= 1"),
    (dict(abits=8), "--count-cap 127"),
    (dict(threshold="median"), "unknown threshold"),
    (dict(spike_train="morse"), "unknown spike train"),
    (dict(threshold="max", count_cap=7), "not of the max-scaled comparison code"),
    (dict(spike_train="bitwise", spike_levels=2), "drop --spike-levels"),
    (dict(spike_levels=2), "--spike-train ternary"),   # bitwise is the default
])
def test_bad_sdllm_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpikeConfig(method="sdllm", **kwargs)


def test_sdllm_knobs_belong_to_sdllm_and_abits_only_switches_spikes():
    with pytest.raises(ValueError, match="sdllm options"):
        SpikeConfig(method="spikellm", threshold_k=2.0)
    config = SpikeConfig(method="sdllm", count_cap="none", threshold_k=2)
    # the default train is bitwise, as SpikingBrain's W8ASpike (SpikeCountBitwiseNode)
    assert config.count_cap is None and config.code == SpikeCode("ternary", 1, k=2.0, bitwise=True)
    assert SpikeConfig(method="sdllm", spike_train="ternary").code == SpikeCode("ternary", 1, k=3.0)
    assert SpikeConfig(method="sdllm", spike_train="ternary", spike_levels=2).code == SpikeCode("ternary", 2, k=3.0)
    assert SpikeConfig(method="sdllm", count_cap=15, spike_train="bitwise").code == \
        SpikeCode("ternary", 1, k=3.0, cap=15, bitwise=True)
    assert not SpikeConfig(method="sdllm", abits=16).quantizes_activations  # W4A16: no spikes
    old = SpikeConfig(method="sdllm", threshold="max", abits=8)
    assert old.code == SpikeCode("ternary", 1) and old.base_steps == 127


def test_long_adaptive_trains_are_generated_and_integrated_in_chunks(monkeypatch):
    """An outlier's train (about a hundred steps here, thousands in SmolLM2's down_proj) is drained a chunk of steps
    at a time in explicit mode: the same integrated count, the same layer output, observers get counts."""
    code = SpikeCode("ternary", 1, k=3.0)
    x = torch.randn(2, 5, 40, generator=torch.Generator().manual_seed(0))
    x[0, 1, 3] = 400.0
    scale, zero = code.scale_zero(x, 1, -1)
    count, spikes = code.explicit_count(x, scale, zero, 1)
    assert spikes is not None and spikes.shape[0] > 50 and torch.equal(count, code.integrate(spikes))
    g = torch.Generator().manual_seed(1)
    layer = SpikingLinear(torch.randint(-7, 8, (16, 40), generator=g).float(), torch.rand(16, generator=g) + 0.1, None,
                          code, None, mode="explicit")
    reference = layer(x)
    monkeypatch.setattr(type(code), "spike_budget", 64)
    chunked, none = code.explicit_count(x, scale, zero, 1)
    assert none is None and torch.equal(chunked, count)
    events = []
    with observe.observing(type("Catch", (), {"on_encode": lambda self, e: events.append(e)})()):
        assert torch.equal(layer(x), reference)
    assert events and events[0].spikes is None and events[0].steps == spikes.shape[0]
    layer.mode = "collapsed"
    assert torch.equal(layer(x), reference)

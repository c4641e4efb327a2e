"""The recorder on a tiny spiking model: totals, SOPs by brute force, rasters, explicit vs collapsed."""
import dataclasses

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from analysis.recorder import Recorder
from analysis.records import Recording
from analysis.recording import simulate_to_hdf5
from analysis.shape import ModelShape
from analysis.store import read_recording
from neuro_llm.spiking import observe
from neuro_llm.config import SpikeConfig
from neuro_llm.convert import convert
from neuro_llm.simulator import LayerByLayerSimulator

HEADS, KV_HEADS = 4, 2


def tiny_spiking(method="spikellm", mode="explicit", seed=0):
    """``method``: spikellm, sdllm, or sdllm-bitwise (SDLLM counts sent bit by bit)."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=128)
    model = LlamaForCausalLM(cfg).eval()
    extra = {"spike_train": "bitwise"} if method == "sdllm-bitwise" else {}
    return convert(model, SpikeConfig(method=method.removesuffix("-bitwise"), wbits=4, abits=4, mode=mode, **extra),
                   calibration=torch.randint(0, 128, (2, 32)), progress=False)


class Events:
    def __init__(self):
        self.events = []

    def on_encode(self, event):
        self.events.append(event)


def record(model, ids, *observers, max_neurons=16, max_tokens=5, layers=None):
    shape = ModelShape.from_model(model)
    recording = Recording({}, shape)
    recorder = Recorder(shape, recording, max_neurons=max_neurons, max_tokens=max_tokens)
    LayerByLayerSimulator(model, layers=layers, observers=[recorder, *observers], progress=False).run(ids)
    recorder.finish(head=True)
    return recording


def assert_records_equal(a: Recording, b: Recording):
    assert [layer.layer for layer in a.layers] == [layer.layer for layer in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert (la.batch, la.q_len, la.kv_len, la.spiking_ops, la.dense_ops) == \
               (lb.batch, lb.q_len, lb.kv_len, lb.spiking_ops, lb.dense_ops)
        assert list(la.sites) == list(lb.sites)
        for name in la.sites:
            for f in dataclasses.fields(la.sites[name]):
                x, y = getattr(la.sites[name], f.name), getattr(lb.sites[name], f.name)
                if isinstance(x, np.ndarray):
                    assert x.dtype == y.dtype and np.array_equal(x, y), (name, f.name)
                else:
                    assert x == y, (name, f.name)
    assert a.head_ops == b.head_ops


@pytest.mark.parametrize("method", ["spikellm", "sdllm", "sdllm-bitwise"])
def test_totals_match_spike_stats(method):
    model = tiny_spiking(method)
    stats = observe.SpikeStats()
    recording = record(model, torch.randint(0, 128, (2, 9)), stats)
    assert recording.total("events") == stats.events
    assert recording.total("neuron_steps") == stats.neuron_steps
    assert recording.total("payload") == stats.payload
    for layer in recording.layers:
        for name, site in layer.sites.items():
            expected = stats.per_site[f"layers.{layer.layer}.{name}"]
            assert (site.events, site.neuron_steps) == (expected["events"], expected["neuron_steps"])
            assert site.level_freq.sum() == site.neuron_steps     # every neuron-step has a level
            assert site.count_freq.sum() == site.rows * site.channel_steps.size  # every neuron has a count
    assert 0 < recording.firing_rate <= 1


def brute_force(model, event, q_len, kv_len):
    """SOPs of one raw event, looping over its non-zero spikes and the synapses each one reaches."""
    spikes = event.spikes.numpy()
    offset = kv_len - q_len
    sops = payload = 0
    for index in np.argwhere(spikes != 0):
        if event.site.endswith(".q"):  # [T, B, H, i, d]: keys j <= i + offset
            reached = sum(1 for j in range(kv_len) if j <= index[3] + offset)
        elif event.site.endswith(".k"):
            reached = 1
        elif event.site.endswith(".v"):  # [T, B, kv head g, j, d]: queries i >= j - offset of heads h, h // G = g
            reached = sum(1 for h in range(HEADS) for i in range(q_len)
                          if h // (HEADS // KV_HEADS) == index[2] and index[3] <= i + offset)
        else:
            reached = model.hf_model.model.get_submodule(event.site).out_features
        sops += reached
        payload += abs(int(spikes[tuple(index)])) * reached
    return sops, payload


def test_synaptic_ops_match_brute_force():
    model = tiny_spiking()
    events = Events()
    recording = record(model, torch.randint(0, 128, (1, 6)), events)
    expected = {}
    for event in events.events:
        key = (event.layer, event.site.split(".", 2)[2])
        sops, payload = brute_force(model, event, 6, 6)
        old = expected.get(key, (0, 0))
        expected[key] = (old[0] + sops, old[1] + payload)
    got = {(layer.layer, name): (site.sops, site.sops_payload)
           for layer in recording.layers for name, site in layer.sites.items()}
    assert got == expected


def test_raster_is_the_subsampled_spike_train():
    model = tiny_spiking()
    events = Events()
    recording = record(model, torch.randint(0, 128, (2, 7)), events, max_neurons=10, max_tokens=6)
    for layer in recording.layers:
        for name, site in layer.sites.items():
            full = np.zeros((site.step_events.size, site.rows, site.channel_steps.size))
            for event in events.events:
                if event.layer != layer.layer or not event.site.endswith(name):
                    continue
                spikes = event.spikes.numpy()
                if spikes.ndim == 5:  # attention [T, B, H, n, D_g] → [T, B·n, H·D]: channel h·D + d
                    T, B, H, n, D_g = spikes.shape
                    dims = np.arange(D_g) if event.channels is None else event.channels.numpy()
                    cols = (np.arange(H)[:, None] * (site.channel_steps.size // H) + dims).reshape(-1)
                    full[:T, :, cols] = spikes.transpose(0, 1, 3, 2, 4).reshape(T, B * n, H * D_g)
                else:
                    T = spikes.shape[0]
                    full[:T, :, event.channels.numpy()] = spikes.reshape(T, -1, spikes.shape[-1])
            want = full[:, site.raster_rows][:, :, site.raster_channels].transpose(1, 0, 2)
            assert np.array_equal(site.raster, want), name
            assert site.raster.shape == (6, site.step_events.size, 10)
            assert site.raster_rows[0] == 0 and site.raster_rows[-1] == site.rows - 1


@pytest.mark.parametrize("method", ["spikellm", "sdllm", "sdllm-bitwise"])
def test_collapsed_events_record_like_explicit_ones(method):
    """The same encoder events with and without their spikes (counts only) give identical records."""
    model = tiny_spiking(method)
    events = Events()
    explicit = record(model, torch.randint(0, 128, (2, 8)), events)
    shape = ModelShape.from_model(model)
    collapsed = Recording({}, shape)
    recorder = Recorder(shape, collapsed, max_neurons=16, max_tokens=5)
    for event in events.events:
        recorder.on_encode(dataclasses.replace(event, spikes=None))
    recorder.finish(head=True)
    assert_records_equal(explicit, collapsed)


def test_collapsed_model_records_like_explicit_model():
    model = tiny_spiking()
    ids = torch.randint(0, 128, (1, 10))
    explicit = record(model, ids)
    collapsed = record(model.set_mode("collapsed"), ids)
    assert_records_equal(explicit, collapsed)


def test_a_second_forward_pass_is_refused():
    model = tiny_spiking()
    shape = ModelShape.from_model(model)
    recorder = Recorder(shape, Recording({}, shape))
    ids = torch.randint(0, 128, (1, 4))
    with observe.observing(recorder), torch.no_grad():
        model(ids)
        with pytest.raises(ValueError, match="layer 0 was already recorded"):
            model(ids)


def test_simulate_to_hdf5_records_the_chosen_layers(tmp_path):
    model = tiny_spiking()
    ids = torch.randint(0, 128, (12,))
    only_last = simulate_to_hdf5(model, ids, tmp_path / "last.h5", layers="1", metadata={"model": "tiny"},
                                 progress=False)
    first = simulate_to_hdf5(model, ids, tmp_path / "first.h5", layers=[0], progress=False)
    last, head_less = read_recording(tmp_path / "last.h5"), read_recording(tmp_path / "first.h5")
    assert [layer.layer for layer in last.layers] == [1] and last.head_ops is not None
    assert [layer.layer for layer in head_less.layers] == [0] and head_less.head_ops is None
    assert last.metadata["model"] == "tiny" and last.metadata["method"] == "spikellm"
    assert last.metadata["config"]["wbits"] == 4 and last.metadata["layers"] == [1]
    assert np.array_equal(last.input_ids, ids.view(1, -1).numpy())
    assert only_last["sops"] == last.total("sops") > 0 and only_last["tokens"] == 12
    assert only_last["ann_macs"] == sum(last.ops("dense").values())
    assert first["bytes"] == (tmp_path / "first.h5").stat().st_size


def test_simulate_to_hdf5_refuses_bad_token_ids(tmp_path):
    with pytest.raises(ValueError, match=r"input_ids must be token ids of shape \[n\] or \[B, n\]"):
        simulate_to_hdf5(tiny_spiking(), torch.zeros(1, 2, 3, dtype=torch.long), tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())


def test_simulate_to_hdf5_needs_a_spiking_model(tmp_path):
    cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1)
    with pytest.raises(ValueError, match="does not spike"):
        simulate_to_hdf5(LlamaForCausalLM(cfg), torch.zeros(4, dtype=torch.long), tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())


def test_bitwise_trains_are_recorded_as_bits(tmp_path):
    """A bitwise site: ±1 spikes only, as many events as the counts' set bits, counts that decode the bits
    (Σ_t 2^(T-1-t) S[t]), and the flag survives the HDF5 file."""
    from analysis.store import read_recording

    model = tiny_spiking("sdllm-bitwise")
    events = Events()
    recording = record(model, torch.randint(0, 128, (2, 8)), events)
    code = next(e.code for e in events.events)
    assert code.bitwise
    for layer in recording.layers:
        for name, site in layer.sites.items():
            assert site.bitwise and set(site.level_values.tolist()) <= {-1, 0, 1}
    for event in events.events:
        layer = recording.layers[event.layer]
        site = layer.sites[event.site.split(f"layers.{event.layer}.", 1)[1]]
        assert torch.equal(event.code.integrate(event.spikes), event.count)
    total_bits = sum(int(e.code.events(e.count).sum()) for e in events.events)
    assert recording.total("events") == total_bits
    path = tmp_path / "bits.h5"
    from analysis.recording import simulate_to_hdf5
    simulate_to_hdf5(model, torch.randint(0, 128, (1, 8)), path)
    again = read_recording(path)
    assert all(site.bitwise for layer in again.layers for site in layer.sites.values())

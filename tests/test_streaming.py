"""Streaming blocks through a device: the device copy is used inside, the host tensors are restored by
reference afterwards (nothing copied back), the next block is prefetched, and results do not change."""
import pytest
import torch

from conftest import tiny_model
from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert
from neuro_llm.arch import adapter_for
from neuro_llm.streaming import BlockStreamer


def pointers(module):
    return [t.data_ptr() for t in list(module.parameters()) + list(module.buffers())]


def test_streamed_block_runs_on_copies_and_gets_its_host_tensors_back():
    snn = convert(tiny_model("qwen2", layers=3), SpikeConfig(method="spikellm", salient=0, extra_steps=0), progress=False)
    blocks = snn.hf_model.model.layers
    host = [pointers(b) for b in blocks]
    streamer = BlockStreamer(blocks, "cpu")
    streamer.copy_resident = True
    x = torch.randn(1, 8, 64)
    kwargs = adapter_for(snn.hf_model).block_inputs(snn.hf_model, x).kwargs(0)
    with torch.no_grad():
        reference = blocks[0](x, **kwargs)
        with streamer.on_device(0) as block:
            inside = pointers(block)
            streamed = block(x, **kwargs)
            assert 1 in streamer._pending           # block 1 prefetched while block 0 runs
    assert not set(inside) & set(host[0])           # it ran on copies
    assert pointers(blocks[0]) == host[0]           # and the host tensors are back, by reference
    assert torch.equal(streamed, reference)


def test_simulator_streaming_equals_resident(monkeypatch):
    snn = convert(tiny_model("gemma3", layers=3), SpikeConfig(method="spikellm", salient=0, extra_steps=0), progress=False)
    ids = torch.randint(0, 96, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        resident = LayerByLayerSimulator(snn, progress=False).run(ids)
        original = BlockStreamer.__init__

        def forced(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.copy_resident = True

        monkeypatch.setattr(BlockStreamer, "__init__", forced)
        before = pointers(snn)
        streamed = LayerByLayerSimulator(snn, progress=False).run(ids)
    assert torch.equal(streamed, resident) and pointers(snn) == before


def test_nibble_unpack_kernel_equals_torch_unpack():
    """The one-pass Triton unpack (interpreter on the CPU) equals the torch ops it replaces."""
    import os
    pytest.importorskip("triton")
    os.environ.setdefault("TRITON_INTERPRET", "1")
    from neuro_llm.spiking import kernels
    from neuro_llm.spiking.linear import SpikingLinear
    from neuro_llm.spiking.codes import SpikeCode
    from neuro_llm.spiking import quant

    if os.environ.get("TRITON_INTERPRET") != "1" or not kernels.available():
        pytest.skip("needs Triton's interpreter")
    g = torch.Generator().manual_seed(0)
    codes, scale = quant.rtn_weight(torch.randn(12, 34, generator=g), 4)
    layer = SpikingLinear(codes, scale, None, code=SpikeCode("gif", 15), channel_steps=torch.ones(34, dtype=torch.long))
    assert layer.pack_codes()
    packed = layer.codes.clone()
    reference = layer.unpack_transfer("codes", packed)
    with kernels.forced():
        assert torch.equal(layer.unpack_transfer("codes", packed), reference)
    assert torch.equal(reference, codes.to(reference.dtype))


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_streamed_perplexity_equals_resident(monkeypatch, family):
    """Perplexity with the blocks streamed (copies forced even on the CPU), several windows a pass, equals
    the resident model's window by window: exactly at one window a pass, and with the same spike totals and
    NLL to float rounding when windows are batched (a batch may change dense GEMMs' blocking)."""
    from neuro_llm.eval.perplexity import windows_ppl

    snn = convert(tiny_model(family, layers=3), SpikeConfig(method="spikellm", salient=0.25, extra_steps=1),
                  calibration=torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1)),
                  progress=False)
    chunks = torch.randint(0, 96, (5, 24), generator=torch.Generator().manual_seed(2))
    resident = windows_ppl(snn, chunks, progress=False)
    original = BlockStreamer.__init__

    def forced(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.copy_resident = True

    monkeypatch.setattr(BlockStreamer, "__init__", forced)
    one = windows_ppl(snn, chunks, progress=False, stream_to="cpu", windows_per_pass=1)
    assert one == resident
    batched = windows_ppl(snn, chunks, progress=False, stream_to="cpu", windows_per_pass=3)
    assert batched["nll"] == pytest.approx(resident["nll"], rel=1e-6)
    assert {k: v for k, v in batched.items() if k not in ("nll", "ppl")} == \
        {k: v for k, v in resident.items() if k not in ("nll", "ppl")}
    with pytest.raises(ValueError, match="windows_per_pass must be at least 1"):
        windows_ppl(snn, chunks, stream_to="cpu", windows_per_pass=0)


def test_place_outside_blocks_keeps_ties_and_leaves_blocks():
    from neuro_llm.simulator import place_outside_blocks

    model = tiny_model("llama")
    model.lm_head.weight = model.model.embed_tokens.weight        # tied, as many small models are
    block_tensors = pointers(model.model.layers)
    place_outside_blocks(model, "meta")
    assert model.lm_head.weight is model.model.embed_tokens.weight and model.lm_head.weight.device.type == "meta"
    assert model.model.norm.weight.device.type == "meta"
    assert pointers(model.model.layers) == block_tensors and next(model.model.layers.parameters()).device.type == "cpu"

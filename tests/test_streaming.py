"""Streaming blocks through a device: the device copy is used inside, the host tensors are restored by
reference afterwards (nothing copied back), the next block is prefetched, and results do not change."""
import torch

from conftest import tiny_model
from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert
from neuro_llm.arch import adapter_for
from neuro_llm.streaming import BlockStreamer


def pointers(module):
    return [t.data_ptr() for t in list(module.parameters()) + list(module.buffers())]


def test_streamed_block_runs_on_copies_and_gets_its_host_tensors_back():
    snn = convert(tiny_model("qwen2", layers=3), SpikeConfig(method="spikellm", salient=0, extra_steps=0), progress=False)
    blocks = snn.model.layers
    host = [pointers(b) for b in blocks]
    streamer = BlockStreamer(blocks, "cpu")
    streamer.copy_resident = True
    x = torch.randn(1, 8, 64)
    kwargs = adapter_for(snn).block_inputs(snn, x).kwargs(0)
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

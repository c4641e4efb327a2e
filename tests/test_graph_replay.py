"""Replaying a forward as a CUDA graph: SpikeStats records one forward's device tallies and is credited per
replay, so N replays count exactly what N eager forwards count; what cannot be replayed is refused in one
line. The accounting is checked on the CPU (a recorded forward whose tensors are not rewritten stands for
replays of the same input); the capture itself, where a GPU is present."""
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from neuro_llm import SpikeConfig, convert
from neuro_llm.eval.perplexity import graph_obstacle, windows_ppl
from neuro_llm.graphs import replayable
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.observe import Encoded, SpikeStats, notify, observing
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def snn():
    return convert(tiny_model("llama", layers=2), SpikeConfig(method="spikellm", salient=0.25, extra_steps=1),
                   calibration=torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1)),
                   progress=False)


@settings(max_examples=6, deadline=None)
@given(replays=st.integers(1, 4), mode=st.sampled_from(["collapsed", "explicit"]), seed=st.integers(0, 2 ** 16))
def test_credited_recording_counts_what_eager_forwards_count(snn, replays, mode, seed):
    snn.set_mode(mode)
    ids = torch.randint(0, 96, (1, 20), generator=torch.Generator().manual_seed(seed))
    eager, replayed = SpikeStats(), SpikeStats()
    with torch.no_grad():
        with observing(eager):
            for _ in range(replays):
                snn(input_ids=ids, use_cache=False)
        with observing(replayed):
            with replayed.recording() as recording:
                snn(input_ids=ids, use_cache=False)
    assert replayed.values == 0 and recording.flat is not None    # recorded, not yet counted
    for _ in range(replays):
        replayed.credit(recording)
    assert replayed == eager
    assert replayed.summary() == eager.summary()
    replayed.credit(recording)          # read back and reset in between: still adds up
    with torch.no_grad(), observing(eager):
        snn(input_ids=ids, use_cache=False)
    assert replayed == eager


def test_recording_sums_rewritten_tallies_and_keeps_the_max():
    """A replay rewrites the recorded tensors: credit adds the new values (and keeps the largest token steps)."""
    code = SpikeCode("gif", 15)
    stats, reference = SpikeStats(), SpikeStats()
    count = torch.tensor([[3.0, 0.0, 20.0], [1.0, 2.0, 0.0]])
    with observing(stats), stats.recording() as recording:
        notify(Encoded("layers.0.mlp.up_proj", 0, code, count, 2))
    inputs = [count.clone(), torch.tensor([[30.0, 30.0, 30.0], [0.0, 0.0, 0.0]]), torch.zeros(2, 3)]
    for x in inputs:   # what each replay would write: recompute the recorded vector from a new count
        tallies, binned, _ = SpikeStats._device_tallies(Encoded("s", 0, code, x, 2))
        recording.flat.copy_(torch.cat([tallies, binned.double()])[None])
        stats.credit(recording)
        with observing(reference):
            notify(Encoded("layers.0.mlp.up_proj", 0, code, x, 2))
    assert stats == reference
    assert stats.per_encoder["mlp.up_proj"]["token_steps_max"] == 2


def test_what_cannot_be_replayed_is_named(snn):
    class Recorder:
        def on_encode(self, event):
            pass

    assert replayable(SpikeStats()) and not replayable(Recorder())
    assert "not a CUDA device" in graph_obstacle(snn)
    split = tiny_model("llama", layers=1)
    split.lm_head.to("meta")
    assert "spans several devices" in graph_obstacle(split)
    chunks = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not a CUDA device.*--no-cuda-graphs"):
        windows_ppl(snn, chunks, progress=False, cuda_graphs=True)
    assert windows_ppl(snn, chunks, progress=False)["cuda_graphs"] is False    # auto: eager on the CPU
    stats = SpikeStats()
    with observing(stats), pytest.raises(ValueError, match="clip count is read on the host"), stats.recording():
        notify(Encoded("layers.0.mlp.up_proj", 0, SpikeCode("gif", 15), torch.ones(2, 3), 2, clipped=1))
    assert stats._recording is None


def test_adaptive_codes_are_not_captured():
    sdllm = convert(tiny_model("llama", layers=1), SpikeConfig(method="sdllm", wbits=4), progress=False,
                    calibration=torch.randint(0, 96, (1, 16), generator=torch.Generator().manual_seed(0)))
    assert "adaptive spike code (SDLLM)" in graph_obstacle(sdllm)
    chunks = torch.randint(0, 96, (1, 16), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="adaptive spike code"):
        windows_ppl(sdllm, chunks, progress=False, cuda_graphs=True)


@pytest.mark.gpu   # the GPU tier: python -m pytest -m gpu (conftest leaves Triton compiled there)
@pytest.mark.skipif(not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
                    reason="GPU tier: needs a CUDA device and Triton's compiler (run `python -m pytest -m gpu`)")
@pytest.mark.parametrize("mode", ["collapsed", "explicit"])
def test_graphed_perplexity_equals_eager_on_cuda(snn, mode):
    model = convert(tiny_model("llama", layers=2), SpikeConfig(method="spikellm", salient=0.25, extra_steps=1),
                    calibration=torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1)),
                    progress=False).to("cuda")
    model.set_mode(mode)
    chunks = torch.randint(0, 96, (4, 64), generator=torch.Generator().manual_seed(3))
    eager = windows_ppl(model, chunks, progress=False, cuda_graphs=False)
    graphed = windows_ppl(model, chunks, progress=False, cuda_graphs=True)
    assert graphed.pop("cuda_graphs") and not eager.pop("cuda_graphs")
    assert graphed == eager

"""Sliding-window attention (Mistral, Qwen2 with ``use_sliding_window``) reaches the spiking attention."""
from __future__ import annotations

import pytest
import torch

from neuro_llm import SpikeConfig, convert
from neuro_llm.spiking import attention as spiking_attention

from conftest import tiny_model


@pytest.fixture
def seen_masks(monkeypatch):
    masks = []
    forward = spiking_attention.SpikingAttention.forward

    def spy(self, query, key, value, attention_mask, *args):
        masks.append(attention_mask)
        return forward(self, query, key, value, attention_mask, *args)

    monkeypatch.setattr(spiking_attention.SpikingAttention, "forward", spy)
    return masks


@pytest.mark.parametrize("window", [3, 5])
def test_spiking_attention_sees_the_sliding_window_band(seen_masks, window):
    model = tiny_model("mistral", layers=1)
    model.config.sliding_window = window
    snn = convert(model, SpikeConfig(method="rtn", wbits=8, abits=8), progress=False)
    length = 12
    snn(torch.randint(0, 96, (1, length)))
    allowed = seen_masks[0][0, 0] == 0
    i, j = torch.meshgrid(torch.arange(length), torch.arange(length), indexing="ij")
    assert torch.equal(allowed, (j <= i) & (j > i - window))


def test_window_changes_the_spiking_output_only_beyond_its_length():
    ids = torch.randint(0, 96, (1, 12), generator=torch.Generator().manual_seed(0))
    logits = {}
    for window in (4, None):
        model = tiny_model("mistral", layers=1)
        model.config.sliding_window = window
        snn = convert(model, SpikeConfig(method="rtn", wbits=8, abits=8), progress=False)
        logits[window] = snn(ids).logits
    assert torch.equal(logits[4][:, :4], logits[None][:, :4])       # the first 4 positions see the same keys
    assert not torch.allclose(logits[4][:, 4:], logits[None][:, 4:])

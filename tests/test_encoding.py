"""Spike trains of the activation encoders equal the collapsed quantizer, exactly."""
import torch
from hypothesis import given, settings, strategies as st

from neuro_llm.spiking import quant
from neuro_llm.spiking.codes import SpikeCode

CODES = [SpikeCode("gif", 15), SpikeCode("gif", 3), SpikeCode("gif", 1), SpikeCode("ternary", 1),
         SpikeCode("ternary", 7), SpikeCode("gif", 255)]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), code=st.sampled_from(CODES), steps=st.sampled_from([1, 2, 4]),
       dim=st.sampled_from([-1, -2]), spread=st.floats(1e-3, 1e3))
def test_spike_counts_equal_quantizer(seed, code, steps, dim, spread):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 7, 24, generator=g) * spread + torch.randn(1, generator=g) * spread
    scale, zero = code.scale_zero(x, steps, dim)
    spikes = code.spikes(x, scale, zero, steps)
    count = code.count(x, scale, zero, steps)
    assert spikes.shape == (steps, *x.shape)
    assert torch.equal(spikes.sum(0), count)
    assert torch.equal(torch.count_nonzero(spikes, dim=0), code.events(count))
    low = 0 if code.kind == "gif" else -code.per_step
    assert spikes.min() >= low and spikes.max() <= code.per_step
    assert torch.equal(spikes, spikes.round())
    # the decoded spike train is the dequantized activation, within one step of the input
    decoded = scale * (count - (zero if zero is not None else 0))
    assert torch.all((decoded - x).abs() <= scale * (0.5 + 1e-4) + 1e-6)


def test_asymmetric_quantizer_hand_example():
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0]])
    scale, zero = quant.asymmetric_scale_zero(x, 15, dim=-1)
    assert torch.allclose(scale, torch.tensor([[0.2]]))
    assert zero.item() == 5
    count = quant.asymmetric_count(x, scale, zero, 15)
    assert count.tolist() == [[0.0, 5.0, 8.0, 15.0]]


def test_rtn_weight_codes_are_integers_in_range():
    w = torch.randn(16, 32)
    codes, scale = quant.rtn_weight(w, 4)
    assert torch.equal(codes, codes.round())
    assert codes.abs().max() <= 15
    assert ((scale * codes - w).abs() <= scale * 0.5 + 1e-6).all()

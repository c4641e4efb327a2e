"""SpikingLinear: explicit (time-stepped) equals collapsed bit for bit, and both equal the quantized layer."""
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from neuro_llm.spiking import quant
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import SpikingLinear


def make_layer(seed, code, wbits, salient_steps, base_steps, bias=True, out=24, inp=40):
    g = torch.Generator().manual_seed(seed)
    linear = nn.Linear(inp, out, bias=bias)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(out, inp, generator=g))
        if bias:
            linear.bias.copy_(torch.randn(out, generator=g))
    steps = torch.full((inp,), base_steps)
    steps[torch.randperm(inp, generator=g)[: inp // 5]] = salient_steps
    codes, scale = quant.rtn_weight(linear.weight.detach(), wbits) if wbits < 16 else (linear.weight.detach(), None)
    return SpikingLinear.from_linear(linear, codes, scale, code=code, channel_steps=steps), g


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), code=st.sampled_from([SpikeCode("gif", 15), SpikeCode("gif", 255),
                                                            SpikeCode("ternary", 1), SpikeCode("gif", 1)]),
       wbits=st.sampled_from([2, 4, 8]), extra=st.sampled_from([0, 1, 2]))
def test_explicit_equals_collapsed_bitwise(seed, code, wbits, extra):
    base = 1 if code.per_step >= 15 else 3
    layer, g = make_layer(seed, code, wbits, base * 2 ** extra, base)
    x = torch.randn(3, 9, 40, generator=g) * 3
    layer.mode = "collapsed"
    collapsed = layer(x)
    layer.mode = "explicit"
    explicit = layer(x)
    assert torch.equal(explicit, collapsed)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), extra=st.sampled_from([0, 1, 2]))
def test_collapsed_equals_dequantized_reference(seed, extra):
    """Against an independent computation: dequantize per channel group, then one float64 matmul."""
    code = SpikeCode("gif", 15)
    layer, g = make_layer(seed, code, 4, 2 ** extra, 1)
    x = torch.randn(2, 11, 40, generator=g)
    x_hat = torch.empty_like(x, dtype=torch.float64)
    for steps in layer.channel_steps.unique().tolist():
        idx = (layer.channel_steps == steps).nonzero().flatten()
        xg = x[..., idx]
        n = 15 * steps
        scale, zero = quant.asymmetric_scale_zero(xg, n, -1)
        x_hat[..., idx] = (scale * (quant.asymmetric_count(xg, scale, zero, n) - zero)).double()
    reference = x_hat @ layer.weight.double().t() + layer.bias.double()
    assert torch.allclose(layer(x).double(), reference, rtol=1e-5, atol=1e-5)


def test_float_weights_and_unquantized_activations():
    code = SpikeCode("gif", 15)
    layer, g = make_layer(0, code, 16, 2, 1)
    x = torch.randn(4, 40, generator=g)
    layer.mode = "collapsed"
    a = layer(x)
    layer.mode = "explicit"
    assert torch.allclose(layer(x), a, rtol=1e-6, atol=1e-6)
    g = torch.Generator().manual_seed(0)       # the original nn.Linear, not the layer's own weight
    original = nn.Linear(40, 24)
    with torch.no_grad():
        original.weight.copy_(torch.randn(24, 40, generator=g))
        original.bias.copy_(torch.randn(24, generator=g))
    plain = SpikingLinear.from_linear(original, original.weight.detach(), None, code=None, channel_steps=None)
    assert torch.allclose(plain(x), original(x), atol=1e-6)


def test_channel_steps_shape_is_checked():
    codes = torch.zeros(4, 8)
    try:
        SpikingLinear(codes, torch.ones(4), None, SpikeCode("gif", 15), torch.ones(5, dtype=torch.long))
    except ValueError as err:
        assert "channel_steps" in str(err)
    else:
        raise AssertionError("a wrong channel_steps shape was accepted")

"""The fused Triton GIF encoder equals its torch definition bit for bit (on the CPU, through Triton's
interpreter), and SpikingLinear gives the same output through either path, in both modes."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before the kernel is first built

import pytest
import torch
from hypothesis import given, settings, strategies as st

pytest.importorskip("triton")

from neuro_llm.spiking import kernels, quant  # noqa: E402
from neuro_llm.spiking.codes import SpikeCode  # noqa: E402
from neuro_llm.spiking.linear import SpikingLinear  # noqa: E402

if not kernels.available():
    pytest.skip("NEURO_LLM_TRITON=0", allow_module_level=True)
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def activations(seed, rows, cols, dtype, spread, offset):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g) * spread + offset
    x[0] = offset                                   # a constant row: the smallest step (SCALE_EPS)
    if rows > 2:
        x[1] = x[1].abs() + 1                       # all positive: a negative zero point
        x[2, : cols // 2] = 0.5 * spread            # ties of the rounding
    return x.to(dtype)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), per_step=st.sampled_from([1, 3, 15, 255]), steps=st.sampled_from([1, 2, 4]),
       spikes=st.booleans(), gather=st.booleans(), dtype=st.sampled_from(DTYPES),
       spread=st.floats(1e-4, 1e3), offset=st.floats(-10, 10), cols=st.integers(1, 40),
       out_dtype=st.sampled_from([torch.int8, torch.bfloat16, torch.float32]))
def test_kernel_equals_torch_reference(seed, per_step, steps, spikes, gather, dtype, spread, offset, cols, out_dtype):
    if out_dtype == torch.int8 and per_step * steps > 127 or out_dtype == torch.bfloat16 and per_step * steps > 256:
        out_dtype = torch.float32
    x = activations(seed, 5, 48, dtype, spread, offset)
    index = torch.randperm(48, generator=torch.Generator().manual_seed(seed))[:cols].to(torch.int32) if gather else None
    if not gather:
        x = x[:, :cols].contiguous()
    got = kernels.gif_encode(x, per_step, steps, spikes, cols=index, out_dtype=out_dtype)
    want = kernels.gif_encode_reference(x, per_step, steps, spikes, cols=index, out_dtype=out_dtype)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_kernel_reads_strided_rows_and_matches_the_code():
    x = torch.randn(6, 64)[:, 8:40]                 # rows not adjacent in memory
    out, scale, zero = kernels.gif_encode(x, 15, 2, True)
    code = SpikeCode("gif", 15)
    s, z = code.scale_zero(x, 2, -1)
    assert torch.equal(scale, s) and torch.equal(zero, z)
    assert torch.equal(out.float().reshape(6, 2, 32).sum(1), quant.asymmetric_count(x, s, z, 30))


def make_layer(seed, code, wbits, salient_steps):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(24, 40, generator=g)
    codes, scale = quant.rtn_weight(w, wbits)
    steps = torch.ones(40, dtype=torch.long)
    steps[torch.randperm(40, generator=g)[:8]] = salient_steps
    return SpikingLinear(codes, scale, torch.randn(24, generator=g), code=code, channel_steps=steps), g


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), per_step=st.sampled_from([1, 15, 255]), wbits=st.sampled_from([2, 4, 8]),
       salient=st.sampled_from([1, 2, 4]), dtype=st.sampled_from(DTYPES))
def test_linear_through_the_kernel_equals_the_torch_path(seed, per_step, wbits, salient, dtype):
    steps = 15 // per_step if per_step < 15 else 1
    layer, g = make_layer(seed, SpikeCode("gif", per_step), wbits, salient * steps)
    layer.groups and None
    x = (torch.randn(3, 7, 40, generator=g) * 3).to(dtype)
    outputs = []
    for mode in ("collapsed", "explicit"):
        layer.mode = mode
        outputs.append(layer(x))
        with kernels.forced():
            outputs.append(layer(x))
    assert all(o.dtype == dtype for o in outputs)
    for o in outputs[1:]:
        assert torch.equal(o, outputs[0])

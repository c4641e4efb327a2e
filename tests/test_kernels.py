"""The fused Triton GIF encoder equals its torch definition bit for bit (on the CPU, through Triton's
interpreter), and SpikingLinear gives the same output through either path, in both modes."""
import contextlib
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

pytest.importorskip("triton")

from neuro_llm.spiking import kernels, observe, quant  # noqa: E402
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
       out_dtype=st.sampled_from([torch.int8, torch.bfloat16, torch.float32]), tiled=st.booleans())
def test_kernel_equals_torch_reference(seed, per_step, steps, spikes, gather, dtype, spread, offset, cols, out_dtype,
                                       tiled):
    """One tile a row, and (``tiled``) rows read in several 16-column tiles (two passes each)."""
    if out_dtype == torch.int8 and per_step * steps > 127 or out_dtype == torch.bfloat16 and per_step * steps > 256:
        out_dtype = torch.float32
    with small_tiles() if tiled else contextlib.nullcontext():
        check_kernel_against_reference(seed, per_step, steps, spikes, gather, dtype, spread, offset, cols, out_dtype)


def test_disabled_turns_the_kernels_off_without_touching_the_environment():
    """``disabled()`` is a context variable (nested with ``forced()``), not a write to ``os.environ``."""
    x = torch.zeros(2, 3)
    before = dict(os.environ)
    with kernels.forced():
        assert kernels.enabled(x)
        with kernels.disabled():
            assert not kernels.available() and not kernels.enabled(x)
            assert dict(os.environ) == before
        assert kernels.available() and kernels.enabled(x)


@contextlib.contextmanager
def small_tiles():
    """The encoder's loops over several tiles of a row (16 columns each) for the short rows tests use."""
    saved = kernels.BLOCK
    kernels.BLOCK = 16
    try:
        yield
    finally:
        kernels.BLOCK = saved


def check_kernel_against_reference(seed, per_step, steps, spikes, gather, dtype, spread, offset, cols, out_dtype):
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


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dim=st.sampled_from([-1, -2]), explicit=st.booleans(),
       per_channel=st.booleans(), per_step=st.sampled_from([1, 3, 15]), steps=st.sampled_from([1, 2, 3]),
       dtype=st.sampled_from(DTYPES), spread=st.floats(1e-4, 1e3), offset=st.floats(-10, 10),
       tokens=st.integers(1, 70), head_dim=st.sampled_from([4, 16, 20]))
def test_attention_kernel_equals_torch_reference(seed, dim, explicit, per_channel, per_step, steps, dtype, spread,
                                                 offset, tokens, head_dim):
    g = torch.Generator().manual_seed(seed)
    # [batch, tokens, heads, dim] transposed to [batch, heads, tokens, dim], as attention hands it over
    x = (torch.randn(2, tokens, 3, head_dim + 3, generator=g) * spread + offset).to(dtype)[..., :head_dim]
    x = x.transpose(1, 2)
    x[0, 0, 0] = offset                      # a constant row (per-token codes) / column entry
    channel_steps = None
    if per_channel:
        channel_steps = torch.randint(1, steps + 1, (head_dim,), generator=g)
        channel_steps[0] = steps              # the caller passes the largest count as ``steps``
    got = kernels.attention_encode(x, dim, per_step, steps, channel_steps, explicit, dtype)
    want = kernels.attention_encode_reference(x, dim, per_step, steps, channel_steps, explicit, dtype)
    assert got.dtype == dtype and got.shape == x.shape and got.is_contiguous()
    assert torch.equal(got, want)
    got_hat, got_count = kernels.attention_encode(x, dim, per_step, steps, channel_steps, explicit, dtype, counts=True)
    want_hat, want_count = kernels.attention_encode_reference(x, dim, per_step, steps, channel_steps, explicit, dtype,
                                                              counts=True)
    assert torch.equal(got_hat, want) and got_count.dtype == torch.float32 and torch.equal(got_count, want_count)


def test_attention_reference_is_the_code():
    """The reference is SpikeCode's quantizer (x̂ = Δ(q - z)); explicit integration gives the same counts."""
    x = torch.randn(1, 2, 9, 8) * 4
    code = SpikeCode("gif", 15)
    for dim in (-1, -2):
        s, z = code.scale_zero(x, 2, dim)
        want = s * (quant.asymmetric_count(x, s, z, 30) - z)
        for explicit in (False, True):
            assert torch.equal(kernels.attention_encode_reference(x, dim, 15, 2, None, explicit, torch.float32), want)
    with pytest.raises(ValueError, match="batch, heads, tokens"):
        kernels.attention_encode(x[0], -1, 15, 2, None, False, torch.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_through_the_kernel_equals_the_torch_path(dtype):
    """A converted model (grouped-query attention, per-channel K/V step counts from attention OBS) gives the
    same logits with the fused attention encoder as with the torch path, in both modes."""
    from conftest import tiny_model
    from neuro_llm import SpikeConfig, convert
    from neuro_llm.spiking.observe import SpikeStats, observing

    model = tiny_model("llama").to(dtype)
    calibration = torch.randint(0, 96, (2, 48), generator=torch.Generator().manual_seed(0))
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.25, extra_steps=1),
                  calibration=calibration, progress=False)
    attention = snn.hf_model.model.layers[0].self_attn.spiking
    assert attention.k_steps is not None and int(attention.k_steps.max()) == 2
    ids = torch.randint(0, 96, (2, 20), generator=torch.Generator().manual_seed(1))

    class Trains:                                        # an observer that needs the spike trains themselves
        def on_encode(self, event):
            pass

    logits, stats = [], []
    with torch.no_grad():
        for mode in ("collapsed", "explicit"):
            snn.set_mode(mode)
            for fused in (False, True):
                with kernels.forced() if fused else contextlib.nullcontext():
                    probe = torch.zeros(1, 1, 1, 1)
                    assert attention.fused(probe) == fused
                    with observing(Trains()):            # the torch path
                        assert not attention.fused(probe)
                    logits.append(snn(ids).logits)
                    stats.append(SpikeStats())
                    with observing(stats[-1]):           # counts suffice: the kernel, with its counts
                        assert attention.fused(probe) == fused
                        assert torch.equal(snn(ids).logits, logits[-1])
    for other in logits[1:]:
        assert torch.equal(other, logits[0])
    for other in stats[1:]:                              # the same statistics through either path, either mode
        assert other == stats[0] and other.summary() == stats[0].summary()


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_epilogue_single_pair_and_chain_equal_the_torch_path(groups):
    """One channel group (one pass), two (one pass over both accumulators), three (a partial-sum chain)."""
    g = torch.Generator().manual_seed(groups)
    codes, scale = quant.rtn_weight(torch.randn(24, 40, generator=g), 4)
    steps = torch.ones(40, dtype=torch.long)
    for extra in range(2, groups + 1):
        steps[torch.randperm(40, generator=g)[:6]] = extra
    layer = SpikingLinear(codes, scale, torch.randn(24, generator=g), code=SpikeCode("gif", 15), channel_steps=steps)
    assert len(layer.plans) == groups
    x = (torch.randn(2, 9, 40, generator=g) * 3).to(torch.bfloat16)
    for layer.mode in ("collapsed", "explicit"):
        reference = layer(x)
        with kernels.forced():
            assert torch.equal(layer(x), reference)


@pytest.mark.parametrize("spikes", [False, True])
def test_kernel_writes_the_pad_columns(monkeypatch, spikes):
    """Operands padded to an aligned width get zeros from the kernel itself, whatever the memory held."""
    real_empty = torch.empty

    def dirty(*shape, **kwargs):
        return real_empty(*shape, **kwargs).fill_(7)

    x = torch.randn(4, 21) * 3
    want = kernels.gif_encode_reference(x, 15, 2, spikes, out_dtype=torch.bfloat16, width=32)
    monkeypatch.setattr(torch, "empty", dirty)
    got = kernels.gif_encode(x, 15, 2, spikes, out_dtype=torch.bfloat16, width=32)
    monkeypatch.undo()
    assert torch.equal(got[0], want[0]) and int((got[0].reshape(4, -1, 32)[..., 21:] != 0).sum()) == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(0, 70), columns=st.integers(1, 150), pad=st.integers(0, 15),
       tiles=st.integers(1, 3), per_step=st.sampled_from([1, 3, 15]), signed=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.int8]))
def test_count_stats_equals_torch_reference(seed, rows, columns, pad, tiles, per_step, signed, dtype):
    """Events, payload, token steps (sum and max) and the clamped histogram of counts summed over an operand's
    step tiles (pad columns ignored), from one kernel pass == the torch tallies, exactly."""
    g = torch.Generator().manual_seed(seed)
    width = columns + pad
    high = 40    # counts up to tiles·39: past the histogram's ±65 limit at 2–3 tiles
    x = torch.randint(-high if signed else 0, high, (rows, tiles * width), generator=g).to(dtype)
    x.view(rows, tiles, width)[..., columns:] = 99     # pad columns must not count
    with kernels.forced():
        tallies, binned = kernels.count_stats(x, per_step, 65, tiles, width, columns)
    ref_tallies, ref_binned = observe.count_stats_reference(x, per_step, 65, tiles, width, columns)
    assert torch.equal(tallies, ref_tallies) and torch.equal(binned, ref_binned)
    assert binned.sum() == rows * columns


def test_spike_stats_from_operands_equal_the_counts_path():
    """SpikeStats given the GEMM operand (summed by the kernel) and given the counts (torch) agree exactly,
    for a linear layer's explicit (tiled) and collapsed operands."""
    from neuro_llm.spiking.observe import Encoded, SpikeStats, notify, observing

    g = torch.Generator().manual_seed(5)
    code = SpikeCode("gif", 15)
    for tiles in (1, 2):
        operand = torch.randint(0, 16, (2 * 9, tiles * 48), generator=g).to(torch.bfloat16)
        operand.view(18, tiles, 48)[..., 45:] = 0
        by_operand, by_count = SpikeStats(), SpikeStats()
        with kernels.forced(), observing(by_operand):
            notify(Encoded("layers.0.mlp.up_proj", 0, code, None, tiles, operand=(operand, tiles, 48, (2, 9, 45))))
        count = operand.float().view(18, tiles, 48)[..., :45].sum(1).view(2, 9, 45)
        with observing(by_count):
            notify(Encoded("layers.0.mlp.up_proj", 0, code, count, tiles))
        assert by_operand == by_count and by_operand.summary() == by_count.summary()

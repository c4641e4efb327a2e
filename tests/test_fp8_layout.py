"""Float8 weight codes (the layout used on GPUs with exact float8 GEMMs), checked on the CPU: the same bits as
the canonical int8 codes in both modes, through the torch path and the Triton kernels (interpreted); saved as
int8; kept through dtype casts; refused where float8 would not be exact."""
import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.spiking import gemm, kernels
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import SpikingLinear


def layer(out=48, inp=70, salient=9, steps=2, low=-8, high=8, mode="collapsed", seed=0, per_step=15):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(low, high, (out, inp), generator=g).float()
    channel_steps = torch.ones(inp, dtype=torch.long)
    channel_steps[torch.randperm(inp, generator=g)[:salient]] = steps
    return SpikingLinear(codes, torch.rand(out, generator=g) + 0.1, torch.randn(out, generator=g),
                         SpikeCode("gif", per_step), channel_steps, mode=mode)


def fp8_copy(module):
    other = copy.deepcopy(module)
    with gemm.forced():
        other.prepare_for("cpu")
    return other


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), inp=st.integers(3, 90), salient=st.integers(0, 3), steps=st.integers(2, 3),
       mode=st.sampled_from(["collapsed", "explicit"]), dtype=st.sampled_from([torch.float32, torch.bfloat16]),
       fused=st.booleans(), wide=st.booleans())
def test_fp8_layout_equals_int8_codes(seed, inp, salient, steps, mode, dtype, fused, wide):
    """Random group widths (nothing aligned), salient groups of 2-3 steps, 4- or 5-bit codes (|c| ≤ 16)."""
    low, high = (-16, 17) if wide else (-8, 8)
    reference = layer(32, inp, min(salient, inp), steps, low, high, mode, seed).to(dtype)
    candidate = fp8_copy(reference)
    assert candidate.fp8_layout and candidate.codes.dtype == gemm.FP8
    assert candidate.codes.shape[1] % 16 == 0 and all(p.offset % 16 == 0 for p in candidate.plans)
    x = torch.randn(3, 5, inp, generator=torch.Generator().manual_seed(seed)).to(dtype) * 3
    with torch.no_grad():
        want = reference(x)
        if fused:
            with kernels.forced():
                got = candidate(x)
        else:
            got = candidate(x)
    assert torch.equal(got, want)


def test_salient_counts_beyond_fp8_take_the_bf16_operand_and_stay_exact():
    ref = layer(steps=2)             # counts up to 30 in the salient group: not exact in e4m3
    fp8 = fp8_copy(ref)
    assert [p.fp8_counts for p in fp8.plans] == [True, False] and all(p.fp8_spikes for p in fp8.plans)
    x = torch.randn(6, 70) * 4
    for mode in ("collapsed", "explicit"):
        ref.mode = fp8.mode = mode
        assert torch.equal(fp8(x), ref(x))


def test_saved_codes_are_canonical_int8_and_casts_keep_float8():
    ref = layer()
    fp8 = fp8_copy(ref)
    state = fp8.state_dict()
    assert state["codes"].dtype == torch.int8 and torch.equal(state["codes"], ref.codes)
    assert torch.equal(fp8.weight, ref.weight)
    with gemm.forced():
        fp8.to(torch.bfloat16)
    assert fp8.codes.dtype == gemm.FP8 and fp8.bias.dtype == torch.bfloat16
    fp8.load_state_dict(ref.state_dict())   # canonical codes load into the float8 layout
    assert fp8.codes.dtype == gemm.FP8 and torch.equal(fp8.canonical_codes(), ref.codes)
    fp8.cpu()                                # a host keeps the layout it was given
    assert fp8.fp8_layout


@pytest.mark.parametrize("case", ["8-bit codes", "odd out_features", "switched off", "adaptive code"])
def test_float8_layout_only_where_exact(case, monkeypatch):
    if case == "8-bit codes":
        module = layer(low=-100, high=100)
    elif case == "odd out_features":
        module = layer(out=40 + 3)
    elif case == "adaptive code":
        module = layer()
        module = SpikingLinear(module.codes.float(), module.weight_scale, None, SpikeCode("ternary", 1, k=3.0), None)
    else:
        monkeypatch.setenv("NEURO_LLM_FP8", "0")
        module = layer()
    with gemm.forced():
        module.prepare_for("cpu")
    assert not module.fp8_layout and module.codes.dtype in (torch.int8, torch.int16)


def test_probe_and_device_rule():
    assert not gemm.exact_on("cpu")          # hosts keep int8 codes unless a test forces the layout
    with gemm.forced():
        assert gemm.exact_on("cpu")          # the worst-case probe passes on the CPU's _scaled_mm


def test_whole_model_fp8_layout_equals_int8(tmp_path):
    snn = convert(tiny_model("qwen2"), SpikeConfig(method="spikellm", salient=0.2, extra_steps=1), progress=False,
                  calibration=torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1)))
    fp8 = copy.deepcopy(snn)
    with gemm.forced():
        for m in fp8.modules():
            if isinstance(m, SpikingLinear):
                m.prepare_for("cpu")
    assert all(m.fp8_layout for m in fp8.modules() if isinstance(m, SpikingLinear))
    ids = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(2))
    for mode in ("collapsed", "explicit"):
        snn.set_mode(mode)
        fp8.set_mode(mode)
        with torch.no_grad():
            assert torch.equal(fp8(ids).logits, snn(ids).logits)


def test_encoder_pads_each_step_with_zero_columns():
    x = torch.randn(7, 50)
    cols = torch.randperm(50)[:21].to(torch.int32)
    with kernels.forced():
        got = kernels.gif_encode(x, 15, 3, True, cols=cols, out_dtype=gemm.FP8, width=32)
    want = kernels.gif_encode_reference(x, 15, 3, True, cols=cols, out_dtype=gemm.FP8, width=32)
    assert got[0].shape == (7, 96) and torch.equal(got[0].float(), want[0].float())
    assert torch.equal(got[0].float().view(7, 3, 32)[..., 21:], torch.zeros(7, 3, 11))
    with pytest.raises(ValueError, match="must hold"):
        kernels.gif_encode(x, 15, 1, False, width=10)


def test_additive_mask_equals_transformers_eager_mask():
    from transformers.masking_utils import eager_mask, sliding_window_causal_mask_function

    from neuro_llm.spiking.attention import additive_mask

    for window in (None, 5):
        kwargs = dict(batch_size=2, q_length=9, kv_length=9, dtype=torch.bfloat16)
        try:
            want = eager_mask(cache_position=torch.arange(9), **kwargs, **(
                {} if window is None else {"mask_function": sliding_window_causal_mask_function(window)}))
            got = additive_mask(cache_position=torch.arange(9), **kwargs, **(
                {} if window is None else {"mask_function": sliding_window_causal_mask_function(window)}))
        except TypeError:   # transformers without cache_position in the mask functions
            extra = {} if window is None else {"mask_function": sliding_window_causal_mask_function(window)}
            want, got = eager_mask(**kwargs, **extra), additive_mask(**kwargs, **extra)
        assert got.dtype == torch.bfloat16 and torch.equal(got, want)


def test_graphed_forward_needs_cuda():
    from neuro_llm.graphs import GraphedForward

    with pytest.raises(ValueError, match="CUDA"):
        GraphedForward(tiny_model(), torch.zeros(1, 4, dtype=torch.long))


@pytest.mark.parametrize("layout", ["int8", "float8"])
def test_packed_codes_round_trip_and_refuse_to_run(layout):
    ref = layer(low=-3, high=13)              # a row spans at most 16 values (RTN's q - z)
    module = fp8_copy(ref) if layout == "float8" else copy.deepcopy(ref)
    before = module.codes.clone()
    assert module.pack_codes() and module.codes_packed
    assert module.codes.numel() * module.codes.element_size() * 2 == before.numel() * before.element_size()
    with pytest.raises(RuntimeError, match="packed for streaming"):
        module(torch.randn(2, 70))
    assert torch.equal(module.canonical_codes(), ref.codes)            # saving sees the codes
    unpacked = module.unpack_transfer("codes", module.codes)
    assert unpacked.dtype == before.dtype and torch.equal(unpacked.float(), before.float())
    module.unpack_codes()
    assert torch.equal(module(torch.ones(2, 70)), ref(torch.ones(2, 70)))
    wide = layer(low=-8, high=12)             # rows spanning 20 values cannot pack
    assert not wide.pack_codes() and not wide.codes_packed


def test_streamer_packs_host_codes_and_unpacks_copies():
    from neuro_llm.arch import adapter_for
    from neuro_llm.streaming import BlockStreamer

    snn = convert(tiny_model("llama", layers=2), SpikeConfig(method="spikellm", salient=0, extra_steps=0),
                  progress=False)
    blocks = snn.hf_model.model.layers
    x = torch.randn(1, 8, 64)
    kwargs = adapter_for(snn.hf_model).block_inputs(snn.hf_model, x).kwargs(0)
    with torch.no_grad():
        reference = blocks[0](x, **kwargs)
        streamer = BlockStreamer(blocks, "cpu", pack=True)
        streamer.copy_resident = True
        with streamer.on_device(0) as block:
            streamed = block(x, **kwargs)
    assert torch.equal(streamed, reference)
    linears = [m for m in blocks.modules() if isinstance(m, SpikingLinear)]
    assert linears and all(m.codes_packed for m in linears[:7])        # block 0 (and prefetched block 1) on the host
    blocks.to("cpu")                                                    # moving the model unpacks
    assert not any(m.codes_packed for m in linears)
    with torch.no_grad():
        assert torch.equal(blocks[0](x, **kwargs), reference)

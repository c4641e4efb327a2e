"""The GPU tier: what only a CUDA device can check, bit for bit against the references the CPU suite trusts.

    python -m pytest -m gpu                      # on a CUDA machine (its own process: Triton is compiled)
    python benchmarks/gpu_tier.py                # the same, recorded in benchmarks/results/gpu_tier.json

- float8 ``_scaled_mm`` GEMMs and the bf16/fp16 cuBLAS GEMMs (with their 16-column padding) on integer codes
  == float64 (exact: integer operands, sums below 2^24);
- a spiking linear layer on the GPU (every GEMM path, Triton kernels on and off) == the same layer on the CPU;
- the compiled Triton encoders (GIF rows, attention Q/K/V) and the SpikeStats kernel == their torch references;
- a CUDA-graph replay == the eager forward (perplexity, NLL and every spike count);
- blocks streamed from pinned host memory == the resident model (perplexity windows);
- explicit == collapsed on the GPU (logits and spike statistics);
- NCCL: ``torchrun`` on 2 GPUs == one process (where the machine has two).

Every test here skips on a machine without CUDA, and when Triton runs interpreted (``TRITON_INTERPRET=1``,
which ``tests/conftest.py`` sets unless the session selects ``-m gpu`` on a CUDA machine); the reason is
printed in the summary (``-rs``).
"""
import contextlib
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_model

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU tier: no CUDA device here"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                       reason="GPU tier: Triton is interpreted in this session (TRITON_INTERPRET=1); run "
                              "`python -m pytest -m gpu` in its own process on a CUDA machine"),
]
CUDA = "cuda"


def converted(family="llama", layers=2, dtype=torch.float32, **spec):
    from neuro_llm import SpikeConfig, convert

    spec = {"method": "spikellm", "salient": 0.25, "extra_steps": 1, **spec}
    return convert(tiny_model(family, layers=layers).to(dtype), SpikeConfig(**spec), progress=False,
                   calibration=torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1)))


# ----------------------------------------------------------------------------------------------- GEMMs
@pytest.mark.parametrize("k", [16, 4096, 44032])
def test_float8_scaled_mm_is_exact_on_integer_operands(k):
    """``torch._scaled_mm`` in float8 with float32 accumulation (never fast accumulation) == float64, on
    codes |c| ≤ 15 and spikes ≤ 15 whose sums climb past 2^14 (what a 14-bit accumulator would lose)."""
    from neuro_llm.spiking import gemm

    if not gemm.exact_on(CUDA):
        pytest.skip(f"float8 GEMMs are not used on {torch.cuda.get_device_name()} (capability < 8.9 or the probe "
                    "failed): the bf16 path runs, checked below")
    g = torch.Generator().manual_seed(k)
    a = torch.randint(0, 16, (64, k), generator=g)
    b = torch.randint(-15, 16, (48, k), generator=g)
    a[:, : k // 2], b[:, : k // 2] = 15, 7            # large products first, small odd ones after
    got = gemm.mm(a.to(CUDA, gemm.FP8), b.to(CUDA, gemm.FP8))
    assert got.dtype == torch.float32 and torch.equal(got.double().cpu(), a.double() @ b.double().t())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("k", [70, 2867, 4096])
def test_half_cublas_gemm_with_padding_is_exact_on_integer_operands(dtype, k):
    """The bf16/fp16 operand GEMM with float32 output (K padded to a multiple of 16 where it is not) == float64."""
    import torch.nn.functional as F

    from neuro_llm.spiking.linear import _mm_float32_out

    g = torch.Generator().manual_seed(k)
    a = torch.randint(0, 31, (33, k), generator=g)     # collapsed counts of a t2 group: up to 30
    b = torch.randint(-8, 8, (40, k), generator=g)
    pad = (16 - k % 16) % 16
    got = _mm_float32_out(F.pad(a.to(CUDA, dtype), (0, pad)), F.pad(b.to(CUDA, dtype), (0, pad)))
    assert got.dtype == torch.float32 and torch.equal(got.double().cpu(), a.double() @ b.double().t())


def spiking_layer(inp=70, salient=9, steps=2, seed=0):
    from neuro_llm.spiking.codes import SpikeCode
    from neuro_llm.spiking.linear import SpikingLinear

    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(-8, 8, (48, inp), generator=g).float()
    channel_steps = torch.ones(inp, dtype=torch.long)
    channel_steps[torch.randperm(inp, generator=g)[:salient]] = steps
    return SpikingLinear(codes, torch.rand(48, generator=g) + 0.1, torch.randn(48, generator=g),
                         SpikeCode("gif", 15), channel_steps)


@pytest.mark.parametrize("fp8", [True, False], ids=["float8", "no-float8"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mode", ["collapsed", "explicit"])
@pytest.mark.parametrize("fused", [True, False], ids=["triton", "torch"])
def test_spiking_linear_on_gpu_equals_the_cpu_layer(fp8, dtype, mode, fused, monkeypatch):
    """Every GEMM path of a layer with unaligned groups (70 inputs, 9 salient at 2 steps) on the GPU — float8
    codes or ``NEURO_LLM_FP8=0`` (bf16/fp16 cuBLAS, padded, or float32), Triton encoder and epilogue or the
    torch path — gives the CPU layer's output bit for bit."""
    from neuro_llm.spiking import gemm, kernels

    if not fp8:
        monkeypatch.setenv("NEURO_LLM_FP8", "0")
    reference = spiking_layer().to(dtype)
    reference.mode = mode
    x = (torch.randn(3, 5, 70, generator=torch.Generator().manual_seed(1)) * 3).to(dtype)
    with torch.no_grad():
        want = reference(x)
        layer = copy.deepcopy(reference).to(CUDA)
        layer.prepare_for(CUDA)
        assert layer.fp8_layout == (fp8 and gemm.exact_on(CUDA))
        with contextlib.nullcontext() if fused else kernels.disabled():
            got = layer(x.to(CUDA))
    assert got.dtype == dtype and torch.equal(got.cpu(), want)


# ----------------------------------------------------------------------------------------------- kernels
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spikes", [False, True])
@pytest.mark.parametrize("gather", [False, True])
def test_compiled_gif_encoder_equals_torch_reference(dtype, spikes, gather):
    from neuro_llm.spiking import kernels

    for seed, (per_step, steps, cols, out_dtype) in enumerate([(15, 2, 4096, torch.bfloat16), (15, 1, 33, torch.int8),
                                                                (1, 4, 1000, torch.float32), (3, 2, 2867, gemm_fp8())]):
        g = torch.Generator().manual_seed(seed)
        x = (torch.randn(37, 4096 + 64, generator=g) * 3 + 0.5).to(dtype)
        x[0] = 0.5                                    # a constant row
        index = torch.randperm(x.shape[1], generator=g)[:cols].to(torch.int32).to(CUDA) if gather else None
        if not gather:
            x = x[:, :cols].contiguous()
        x = x.to(CUDA)
        width = cols + (16 - cols % 16) % 16
        got = kernels.gif_encode(x, per_step, steps, spikes, cols=index, out_dtype=out_dtype, width=width)
        want = kernels.gif_encode_reference(x, per_step, steps, spikes, cols=index, out_dtype=out_dtype, width=width)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and torch.equal(a.float(), b.float()), (seed, per_step, steps, cols)


def gemm_fp8():
    from neuro_llm.spiking import gemm
    return gemm.FP8 if gemm.FP8 is not None else torch.bfloat16


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [-1, -2])
@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_compiled_attention_encoder_equals_torch_reference(dtype, dim, explicit, per_channel):
    from neuro_llm.spiking import kernels

    g = torch.Generator().manual_seed(7)
    head_dim, steps, per_step = 128, 2, 15
    x = (torch.randn(2, 300, 4, head_dim + 8, generator=g) * 4).to(dtype)[..., :head_dim].transpose(1, 2)
    channel_steps = None
    if per_channel:
        channel_steps = torch.randint(1, steps + 1, (head_dim,), generator=g)
        channel_steps[0] = steps
        channel_steps = channel_steps.to(CUDA)
    x = x.to(CUDA)
    want_hat, want_count = kernels.attention_encode_reference(x, dim, per_step, steps, channel_steps, explicit, dtype,
                                                              counts=True)
    got_hat, got_count = kernels.attention_encode(x, dim, per_step, steps, channel_steps, explicit, dtype, counts=True)
    assert torch.equal(got_hat, want_hat) and torch.equal(got_count, want_count)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8, "float8"])
@pytest.mark.parametrize("tiles", [1, 2, 3])
def test_compiled_stats_kernel_equals_torch_reference(dtype, tiles):
    from neuro_llm.spiking import kernels
    from neuro_llm.spiking.observe import count_stats_reference

    dtype = gemm_fp8() if dtype == "float8" else dtype
    g = torch.Generator().manual_seed(tiles)
    columns, pad, rows = 2867, 13, 517
    width = columns + pad
    high = 16 if dtype == gemm_fp8() else 40
    x = torch.randint(-high + 1, high, (rows, tiles * width), generator=g)
    x.view(rows, tiles, width)[..., columns:] = 0
    x = x.float().to(dtype).to(CUDA)
    tallies, binned = kernels.count_stats(x, 15, 65, tiles, width, columns)
    ref_tallies, ref_binned = count_stats_reference(x, 15, 65, tiles, width, columns)
    assert torch.equal(tallies.cpu(), ref_tallies.cpu()) and torch.equal(binned.cpu(), ref_binned.cpu())
    assert int(binned.sum()) == rows * columns


# ----------------------------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_explicit_equals_collapsed_on_gpu(family):
    from neuro_llm import SpikeStats, observing

    snn = converted(family).to(CUDA)
    ids = torch.randint(0, 96, (2, 40), generator=torch.Generator().manual_seed(2)).to(CUDA)
    logits, stats = {}, {}
    with torch.no_grad():
        for mode in ("collapsed", "explicit"):
            snn.set_mode(mode)
            stats[mode] = SpikeStats()
            with observing(stats[mode]):
                logits[mode] = snn(ids).logits
    assert torch.equal(logits["explicit"], logits["collapsed"])
    assert stats["explicit"] == stats["collapsed"] and stats["explicit"].summary() == stats["collapsed"].summary()


@pytest.mark.parametrize("mode", ["collapsed", "explicit"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_replay_equals_eager_counts_and_scores(mode, dtype):
    """``eval``'s graphed windows (forward and SpikeStats tallies in one CUDA graph) == eager windows:
    perplexity, NLL and every spike total."""
    from neuro_llm.eval.perplexity import windows_ppl

    snn = converted(dtype=dtype).to(CUDA)
    snn.set_mode(mode)
    chunks = torch.randint(0, 96, (4, 64), generator=torch.Generator().manual_seed(3))
    eager = windows_ppl(snn, chunks, progress=False, cuda_graphs=False)
    graphed = windows_ppl(snn, chunks, progress=False, cuda_graphs=True)
    assert graphed.pop("cuda_graphs") and not eager.pop("cuda_graphs")
    assert graphed == eager


@pytest.mark.parametrize("windows_per_pass", [1, 3])
def test_pinned_streaming_equals_resident(windows_per_pass):
    """Blocks on the host (pinned), streamed through the GPU one at a time == the model resident on the GPU."""
    from neuro_llm.eval.perplexity import windows_ppl

    snn = converted(layers=3)
    chunks = torch.randint(0, 96, (5, 48), generator=torch.Generator().manual_seed(2))
    streamed = windows_ppl(snn, chunks, progress=False, stream_to=CUDA, windows_per_pass=windows_per_pass)
    resident = windows_ppl(snn.to(CUDA), chunks, progress=False, cuda_graphs=False)
    resident.pop("cuda_graphs", None)
    streamed.pop("cuda_graphs", None)
    if windows_per_pass == 1:
        assert streamed == resident
    else:   # batched windows may change dense GEMMs' blocking: the same spikes, NLL to float rounding
        assert streamed["nll"] == pytest.approx(resident["nll"], rel=1e-6)
        assert {k: v for k, v in streamed.items() if k not in ("nll", "ppl")} == \
            {k: v for k, v in resident.items() if k not in ("nll", "ppl")}


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="GPU tier: NCCL needs 2 CUDA devices")
def test_nccl_two_ranks_equal_one_process(tmp_path):
    """``torchrun --nproc-per-node 2 neuro-llm eval --device cuda`` (NCCL) == one process, to the last digit."""
    from checkpoints import make_checkpoint
    from tiny_tasks import tiny_tokenizer

    model = make_checkpoint(tmp_path / "model", tiny_tokenizer())
    data = tmp_path / "data" / "wikitext-2"
    data.mkdir(parents=True)
    for split in ("valid", "test"):
        (data / f"{split}.txt").write_text((ROOT / "README.md").read_text(encoding="utf-8") * 4, encoding="utf-8")
    argv = ["eval", "--model", model, "--method", "spikellm", "--calib-windows", 2, "--calib-seqlen", 32,
            "--seqlen", 32, "--max-windows", 3, "--device", "cuda", "--data-dir", tmp_path / "data",
            "--json", "out.json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "TQDM_DISABLE": "1"}
    results = {}
    for n in (1, 2):
        folder = tmp_path / f"np{n}"
        folder.mkdir()
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
                               "--no-python", sys.executable, "-m", "neuro_llm.cli.main", *map(str, argv)],
                              env=env, cwd=folder, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        results[n] = json.loads((folder / "out.json").read_text())
    for key in ("ppl", "nll", "tokens", "spike_events", "values", "avg_spike_bits", "firing_rate"):
        assert results[1][key] == results[2][key], key

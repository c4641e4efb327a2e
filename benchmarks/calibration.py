"""Calibration seconds per LLaMA-2-7B-shaped block for each method (rtn, gptq, omniquant 1 epoch, spikellm).

    python benchmarks/calibration.py --device cuda          # one 7B-shaped block, bf16, 4 × 512 tokens
    python benchmarks/calibration.py --device cpu --tiny    # quick check

Each method converts a one-block random-weight model with ``convert`` (W4A4; spikellm: RTN weights,
10 % salient channels at t2, first-order saliency) on calibration windows of random token ids; the time
is the whole ``convert`` call (block forward on the windows, statistics, the method, the rebuilt block's
forward), after a warm-up conversion of a small model so that Triton/cuBLAS start-up is not counted.
Writes ``benchmarks/results/calibration_<device>[_tiny].json`` and a table.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)

SHAPE = dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32)
TINY = dict(hidden_size=128, intermediate_size=344, num_attention_heads=4, num_key_value_heads=4)
METHODS = {
    "rtn": dict(method="rtn"),
    "gptq": dict(method="gptq"),
    "omniquant-1epoch": dict(method="omniquant", epochs=1),
    "spikellm-t2": dict(method="spikellm", salient=0.1, extra_steps=1),
    "spikellm-t2-gptq": dict(method="spikellm", salient=0.1, extra_steps=1, weight_method="gptq"),
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def build(shape, device, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=256, num_hidden_layers=1, max_position_embeddings=4096, **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_convert(shape, overrides, device, dtype, windows, seqlen) -> float:
    from neuro_llm import SpikeConfig, convert

    model = build(shape, device, dtype)
    calibration = torch.randint(0, 256, (windows, seqlen), generator=torch.Generator().manual_seed(1))
    config = SpikeConfig(wbits=4, abits=4, calib_windows=windows, calib_seqlen=seqlen, **overrides)
    sync(device)
    start = time.perf_counter()
    convert(model, config, calibration=calibration, inplace=True, progress=False, device=device)
    sync(device)
    seconds = time.perf_counter() - start
    del model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    parser.add_argument("--windows", type=int, default=None, help="calibration windows (default 4; tiny 2)")
    parser.add_argument("--seqlen", type=int, default=None, help="tokens per window (default 512; tiny 32)")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    shape = TINY if args.tiny else SHAPE
    windows = args.windows or (2 if args.tiny else 4)
    seqlen = args.seqlen or (32 if args.tiny else 512)
    dtype = DTYPES[args.dtype]
    rows = []
    for name in args.methods.split(","):
        overrides = METHODS[name]
        time_convert(TINY, overrides, args.device, dtype, 1, 16)  # warm-up: kernels compiled, libraries loaded
        seconds = time_convert(shape, overrides, args.device, dtype, windows, seqlen)
        rows.append({"method": name, "seconds_per_block": seconds, "spike_config": overrides})
        log(f"{name}: {seconds:.2f} s per block")
    device = report.device_name(args.device)
    result = {"device": device, "shape": shape, "dtype": args.dtype, "windows": windows, "seqlen": seqlen,
              "wbits": 4, "abits": 4, "tiny": args.tiny, "rows": rows}
    report.write_report(report.stem("calibration", args.device, args.tiny), result, markdown(result),
                        device=args.device, dtype=args.dtype)


def markdown(result: dict) -> str:
    """The table of a result (``docs/results.md`` renders it from the JSON)."""
    lines = [f"W4A4 calibration of one {'tiny' if result.get('tiny') else '7B'}-shaped block ({result['dtype']}), "
             f"{result['windows']} × {result['seqlen']} tokens, {result['device']}", "",
             "| method | seconds per block |", "|---|---|"]
    lines += [f"| {r['method']} | {r['seconds_per_block']:.2f} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

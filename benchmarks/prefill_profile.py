"""Where a prefill's time goes: one 7B-shaped decoder layer, 2048 tokens, dense bf16 vs spiking W4A4 t2
(collapsed and explicit), graphed wall time and the GPU kernel time of one forward by kind of kernel.

    python benchmarks/prefill_profile.py --device cuda           # H200: about a minute
    python benchmarks/prefill_profile.py --device cpu --tiny     # quick check of the script

Each configuration is timed as a CUDA graph replay (best of ``--repeats``, as ``gpu_layer.py``), then one eager
forward runs under ``torch.profiler`` and every device kernel's time is put in one bucket by its name:
GEMM (cuBLAS / CUTLASS / nvjet / float8 ``_scaled_mm``), attention (SDPA / flash), spike encoders and the
fused epilogue (the Triton kernels of ``neuro_llm/spiking/_triton_*.py``), and the rest (norms, RoPE, SiLU,
copies, casts, reductions: torch's elementwise and reduction kernels). The table says how far each bucket is
from dense bf16's and so where the spiking layer loses its time. Writes
``benchmarks/results/prefill_profile_<device>[_tiny].json``.
"""
from __future__ import annotations

import argparse
import gc
import sys

import torch

import report  # benchmarks/report.py
from gpu_layer import SHAPES, STEPS, TINY, build, timed_graph

BUCKETS = (   # first match wins; names are lower-cased kernel names
    ("spike encoders + epilogue (Triton)", ("gif_encode", "linear_epilogue", "attention_rows", "attention_columns",
                                            "count_stats", "unpack_nibbles")),
    ("GEMM", ("gemm", "cutlass", "nvjet", "xmma", "cublas", "matmul", "scaled_mm", "f8f8", "sm90_", "sm100_",
              "aten::mm", "aten::addmm", "aten::bmm", "aten::linear")),
    ("attention", ("flash", "fmha", "attention", "sdpa", "efficient_attention")),
    ("reductions (amin/amax/sum)", ("reduce",)),
    ("elementwise, copies, casts", ("elementwise", "vectorized", "copy", "cast", "fill", "index", "cat", "unrolled")),
)
OTHER = "other"


def bucket(name: str) -> str:
    """The bucket of a kernel ``name`` (see :data:`BUCKETS`)."""
    lower = name.lower()
    for label, keys in BUCKETS:
        if any(k in lower for k in keys):
            return label
    return OTHER


def kernel_times(model, ids, device: str) -> dict:
    """Device time (seconds) of one eager forward by bucket, and the kernels' count, from ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)   # warm-up
        report.synchronizer(device)()
        with profile(activities=activities) as prof:
            model(input_ids=ids, use_cache=False)
            report.synchronizer(device)()
    totals, kernels, names = {}, 0, {}
    for event in prof.events():
        if cuda and event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        if not cuda and (event.cpu_parent is not None or not event.name.startswith("aten::")):
            continue   # CPU check: top-level aten ops stand in for kernels
        us = event.device_time if cuda else event.cpu_time
        label = bucket(event.name)
        totals[label] = totals.get(label, 0.0) + us * 1e-6
        names[event.name[:80]] = names.get(event.name[:80], 0.0) + us * 1e-6
        kernels += 1
    top = sorted(names.items(), key=lambda kv: -kv[1])[:12]
    return {"buckets": totals, "kernel_seconds": sum(totals.values()), "kernels": kernels,
            "top_kernels": [{"name": n, "seconds": s} for n, s in top]}


def run(shape: dict, tokens: int, device: str, repeats: int, steps: str, calib_tokens: int) -> list[dict]:
    from neuro_llm import SpikeConfig, convert, set_mode

    ids = torch.randint(0, 256, (1, tokens), generator=torch.Generator().manual_seed(0)).to(device)
    rows = []
    model = build(shape, device, torch.bfloat16)
    rows.append({"config": "dense bf16", **measure(model, ids, device, repeats)})
    del model
    gc.collect()
    calibration = torch.randint(0, 256, (1, calib_tokens), generator=torch.Generator().manual_seed(1))
    model = convert(build(shape, device, torch.bfloat16), SpikeConfig(method="spikellm", wbits=4, abits=4,
                                                                       **STEPS[steps]),
                    calibration=calibration, inplace=True, progress=False)
    for mode in ("collapsed", "explicit"):
        set_mode(model, mode)
        rows.append({"config": f"{mode} {steps}", **measure(model, ids, device, repeats)})
    dense = rows[0]
    for r in rows:
        r["wall_vs_dense"] = r["wall_seconds"] / dense["wall_seconds"]
        r["kernel_vs_dense"] = r["kernel_seconds"] / dense["kernel_seconds"]
        r["extra_vs_dense"] = {k: v - dense["buckets"].get(k, 0.0) for k, v in r["buckets"].items()}
    return rows


def measure(model, ids, device: str, repeats: int) -> dict:
    """Graphed wall time on CUDA (eager elsewhere) and the profile of one eager forward."""
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits
        if device.startswith("cuda"):
            wall = timed_graph(model, ids, device, repeats, logits)["graph_seconds"]
        else:
            wall = report.best_seconds(lambda: model(input_ids=ids, use_cache=False), repeats,
                                       report.synchronizer(device))
    return {"wall_seconds": wall, "graphed": device.startswith("cuda"), **kernel_times(model, ids, device)}


def markdown(result: dict) -> str:
    rows = result["rows"]
    labels = [label for label, _ in BUCKETS] + [OTHER]
    lines = ["| config | wall ms (graphed) | / dense | kernel ms | / dense | " + " | ".join(f"{l} ms" for l in labels)
             + " |", "|---" * (5 + len(labels)) + "|"]
    for r in rows:
        cells = " | ".join(f"{r['buckets'].get(l, 0.0) * 1e3:.3f}" for l in labels)
        lines.append(f"| {r['config']} | {r['wall_seconds'] * 1e3:.3f} | {r['wall_vs_dense']:.2f} | "
                     f"{r['kernel_seconds'] * 1e3:.3f} | {r['kernel_vs_dense']:.2f} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small shape and token count (a CPU check)")
    parser.add_argument("--tokens", type=int, default=None, help="prompt tokens (default 2048; tiny 64)")
    parser.add_argument("--steps", default="t2", choices=list(STEPS))
    parser.add_argument("--repeats", type=int, default=None, help="timed replays (default 20; tiny 2)")
    args = parser.parse_args()
    tokens = args.tokens or (64 if args.tiny else 2048)
    repeats = args.repeats or (2 if args.tiny else 20)
    shape = (TINY if args.tiny else SHAPES)["7b"]
    print(f"7b-shaped layer {shape}, {tokens} tokens", file=sys.stderr)
    rows = run(shape, tokens, args.device, repeats, args.steps, 32 if args.tiny else 256)
    result = {"device": report.device_name(args.device), "tiny": args.tiny, "shape": "7b", "tokens": tokens,
              "steps": args.steps, "repeats": repeats, "rows": rows}
    report.write_report(report.stem("prefill_profile", args.device, args.tiny), result, markdown(result),
                        device=args.device, dtype="bf16")


if __name__ == "__main__":
    main()

"""Working memory of converting one block, measured on the CPU: what a GPU holds while converting a
streamed model (finished blocks go to the host) — peak resident bytes while block ``i`` is loaded,
quantized and rebuilt, over one fp16 block's weights.

    python benchmarks/convert_memory.py                      # 70B-proportioned blocks (hidden 2048), a minute
    python benchmarks/convert_memory.py --shape tiny         # a quick check

Blocks are built on the ``meta`` device and filled with random weights one at a time (as
``benchmarks/streaming.py`` does on the GPU); the conversion is data-free RTN W4A4 (t1). Peak resident
memory comes from Linux's ``VmHWM``, reset per block through ``/proc/self/clear_refs``, in a process whose
allocator returns freed tensors to the system at once (``MALLOC_MMAP_THRESHOLD_=65536``: glibc otherwise
raises its mmap threshold after large frees and keeps later tensors in its heap, so the resident peak would
measure the allocator's caching, varying run to run by 1.5 blocks). Writes
``benchmarks/results/convert_memory_<shape>.json`` and a Markdown table beside it.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import report  # noqa: E402
import streaming  # noqa: E402  (meta_model, random_block)

SHAPES = {   # hidden, intermediate, heads, kv heads, layers, vocab — LLaMA-2-70B's proportions, scaled down
    "tiny": (256, 896, 8, 1, 3, 256),
    "mini70b": (2048, 7168, 16, 2, 4, 1024),
}
RESULTS = Path(__file__).parent / "results"


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> int:
    """Reset the peak resident size to the current one (Linux ≥ 4.0); returns the current resident bytes."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


MMAP_THRESHOLD = "65536"   # bytes: every larger allocation is its own mapping, unmapped when freed


def measure(shape: str, config=None) -> dict:
    from neuro_llm import SpikeConfig, convert

    streaming.SHAPES.setdefault(shape, SHAPES[shape])
    model = streaming.meta_model(shape, torch.float16)
    fp16_block = 2 * sum(p.numel() for p in model.model.layers[0].parameters())
    config = config or SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.0, extra_steps=0)
    peaks, start = [], {}

    def loader(i, block, device):
        if "rss" in start:   # the previous block is done (converted and rebuilt)
            peaks.append(_status("VmHWM") - start["rss"])
        start["rss"] = reset_peak()
        streaming.random_block(i, block, device)

    convert(model, config, inplace=True, device="cpu", block_loader=loader, progress=False)
    peaks.append(_status("VmHWM") - start["rss"])
    hidden, inter, heads, kv, layers, vocab = SHAPES[shape]
    return {"shape": shape, "hidden": hidden, "intermediate": inter, "heads": heads, "kv_heads": kv, "layers": layers,
            "config": config.to_dict(), "fp16_block_bytes": fp16_block, "block_peak_bytes": peaks,
            "max_block_peak_over_fp16_block": max(peaks) / fp16_block}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="mini70b")
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        raise SystemExit("convert_memory.py reads Linux's /proc/self/status and clear_refs; run it on Linux")
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:   # glibc reads it at start: start again
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})
    result = measure(args.shape)
    mib = 2 ** 20
    table = ("| shape | fp16 block MiB | peak per block MiB | max / fp16 block |\n|---|---|---|---|\n"
             f"| {args.shape} | {result['fp16_block_bytes'] / mib:.0f} | "
             f"{', '.join(f'{p / mib:.0f}' for p in result['block_peak_bytes'])} | "
             f"{result['max_block_peak_over_fp16_block']:.2f} |\n")
    report.write_report(f"convert_memory_{args.shape}", result, table, device="cpu")


if __name__ == "__main__":
    main()

"""The spike encoder alone: fused Triton GIF encoder vs the memory floor, our torch path, SpikingJelly's
IFNode (every backend it has here; the fastest is quoted) and snntorch's Leaky.

    python benchmarks/encoder.py --device cuda             # 2048×4096 fp16 activations, T = 4 and 16
    python benchmarks/encoder.py --device cpu --tiny       # quick check (the kernel through TRITON_INTERPRET)

Every encoder turns each activation into ``T`` binary spikes (our GIF code with ``L = 2``: a neuron charged
once with ``x/Δ + z`` drained for ``T`` steps = an IF neuron fed ``x`` for ``T`` steps up to rounding; ours
also finds the per-token scale and zero point). The memory floor reads the fp16 activations once and
writes ``T`` int8 spikes per activation at the measured device-to-device copy bandwidth. The script
asserts that the kernel equals the torch reference bit for bit on the device. SpikingJelly is optional
(``pip install spikingjelly``). Writes ``benchmarks/results/encoder_<device>[_tiny].json`` and a table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench(fn, device: str, repeats: int) -> float:
    fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth(device: str, repeats: int, nbytes: int) -> float:
    """Bytes per second moved (read + write) by a device-to-device copy of ``nbytes``."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    seconds = bench(lambda: dst.copy_(src), device, repeats)
    return 2 * nbytes / seconds


def spikingjelly_rows(x: torch.Tensor, steps: int, device: str, repeats: int) -> list[dict]:
    try:
        from spikingjelly.activation_based import neuron
    except ImportError:
        log("spikingjelly is not installed: skipped")
        return []
    rows = []
    current = x.unsqueeze(0).expand(steps, *x.shape).contiguous()  # [T, N, C]: the same input every step
    import inspect

    # SpikingJelly < 2 names its kernels (backend=...); 2.x picks its fastest kernel itself (Triton on CUDA)
    named = "backend" in inspect.signature(neuron.IFNode.__init__).parameters
    for backend in ("triton", "cupy", "torch") if named else ("auto",):
        try:
            options = {"backend": backend} if named else {}
            node = neuron.IFNode(step_mode="m", v_reset=None, **options)
            if device.startswith("cuda"):
                node = node.to(device)

            def run():
                node.reset()
                return node(current)

            seconds = bench(run, device, repeats)
        except Exception as error:  # backend not available here
            log(f"spikingjelly IFNode backend {backend}: unavailable ({type(error).__name__}: {error})"[:200])
            continue
        rows.append({"encoder": f"spikingjelly IFNode ({backend})", "seconds": seconds,
                     "note": "input already repeated over T (not timed)"})
    return rows


def snntorch_row(x: torch.Tensor, steps: int, device: str, repeats: int) -> list[dict]:
    import snntorch as snn

    leaky = snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract").to(device)

    def run():
        mem = leaky.init_leaky()
        out = []
        for _ in range(steps):
            spk, mem = leaky(x, mem)
            out.append(spk)
        return torch.stack(out)

    return [{"encoder": "snntorch Leaky (beta=1, T-step loop)", "seconds": bench(run, device, repeats)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--steps", default="4,16")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    if not cuda:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # the kernel runs (slowly) on the CPU: a check only
    from neuro_llm.spiking import kernels

    tokens = args.tokens or (64 if args.tiny else 2048)
    channels = args.channels or (256 if args.tiny else 4096)
    repeats = args.repeats or (2 if args.tiny else 20)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(tokens, channels, generator=g) * 2).to(torch.float16 if cuda else torch.float32).to(args.device)
    bandwidth = copy_bandwidth(args.device, repeats, (64 if args.tiny else 1024) * 2**20)
    log(f"device-to-device copy: {bandwidth / 1e9:.0f} GB/s")
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        floor = (x.numel() * x.element_size() + steps * x.numel()) / bandwidth
        group = [{"encoder": "memory floor (read fp16 once, write int8 spikes)", "seconds": floor}]
        have_kernel = kernels.available()
        if have_kernel:
            with kernels.forced():
                got = kernels.gif_encode(x, 1, steps, True)
            want = kernels.gif_encode_reference(x, 1, steps, True)
            if not all(torch.equal(a, b) for a, b in zip(got, want)):
                raise AssertionError(f"T={steps}: the Triton encoder differs from the torch reference")

            def fused():
                with kernels.forced():
                    return kernels.gif_encode(x, 1, steps, True)
            group.append({"encoder": "neuro-llm GIF, fused Triton (int8 spikes)", "seconds": bench(fused, args.device, repeats)})
        else:
            log("triton is not installed: the fused encoder is skipped")
        group.append({"encoder": "neuro-llm GIF, torch reference",
                      "seconds": bench(lambda: kernels.gif_encode_reference(x, 1, steps, True), args.device, repeats)})
        group += spikingjelly_rows(x, steps, args.device, repeats)
        group += snntorch_row(x, steps, args.device, repeats)
        for r in group:
            r.update(steps=steps, vs_floor=r["seconds"] / floor)
            log(f"T={steps:2d} {r['encoder']}: {r['seconds'] * 1e6:9.1f} us ({r['vs_floor']:.1f}x floor)")
        rows += group
    device = report.device_name(args.device)
    result = {"device": device, "tokens": tokens, "channels": channels, "dtype": str(x.dtype),
              "copy_bandwidth_bytes_per_s": bandwidth, "repeats": repeats, "rows": rows}
    report.write_report(report.stem("encoder", args.device, args.tiny), result, markdown(result), device=args.device)


def markdown(result: dict) -> str:
    """The table of a result (``docs/results.md`` renders it from the JSON)."""
    lines = [f"{result['tokens']}×{result['channels']} {result['dtype']} activations, {result['device']}, copy "
             f"{result['copy_bandwidth_bytes_per_s'] / 1e9:.0f} GB/s, best of {result['repeats']}", "",
             "| T | encoder | µs | × memory floor |", "|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['encoder']} | {r['seconds'] * 1e6:.1f} | {r['vs_floor']:.1f} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

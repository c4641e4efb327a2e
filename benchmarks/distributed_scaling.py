"""Data-parallel scaling under torchrun: perplexity and calibration time at 1, 2, 4 ranks (GPUs).

    python benchmarks/distributed_scaling.py --preset llama7b --device cuda --nproc 1,2,4
    python benchmarks/distributed_scaling.py --preset tiny --device cpu --nproc 1,2      # a check on a CPU (gloo)

``llama7b``: a LLaMA-2-7B-shaped model (32 blocks, hidden 4096, 32 heads, MLP 11008, vocabulary 32000) with
random weights (seeded: every rank builds the same model); ``tiny``: 2 blocks of hidden 64. The text is
random token windows (seeded), so no tokenizer or data set is needed. For each world size N the script
runs ``torchrun --standalone --nproc-per-node N`` of itself in worker mode; each rank (on ``cuda:LOCAL_RANK``
or the CPU) times

* ``ppl``: :func:`neuro_llm.eval.perplexity.windows_ppl` of the spiking model (collapsed mode) over
  ``--windows`` windows of ``--seqlen`` tokens (window ``j`` on rank ``j mod N``), and
* ``calibrate``: :func:`neuro_llm.convert.convert` with SpikeLLM W4A4 t2 (RTN weights, first-order Optimal
  Brain Spiking saliency) on ``--calib-windows`` windows (window ``j`` on rank ``j mod N``),

and rank 0 reports them. Writes ``benchmarks/results/distributed_scaling_<preset>_<device>.json``
(per world size: seconds, speed-up over one rank, and the perplexity, which must be the same at every N)
and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {  # LlamaConfig sizes
    "llama7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096),
    "tiny": dict(vocab_size=256, hidden_size=64, intermediate_size=112, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096),
}


def build(preset: str, device: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(LlamaConfig(**PRESETS[preset])).eval()
    return model.to(device)


def token_windows(vocab: int, n: int, seqlen: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (n, seqlen), generator=torch.Generator().manual_seed(seed))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def worker(args) -> None:
    """One rank (started by torchrun): build, calibrate, evaluate; rank 0 writes ``args.out``."""
    from neuro_llm import SpikeConfig, convert, distributed
    from neuro_llm.eval.perplexity import windows_ppl
    from neuro_llm.core.provenance import write_result

    distributed.init(args.device)
    try:
        started = time.perf_counter()
        model = build(args.preset, args.device)
        vocab = model.config.vocab_size
        calibration = token_windows(vocab, args.calib_windows, args.seqlen, seed=1)
        chunks = token_windows(vocab, args.windows, args.seqlen, seed=2)
        config = SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.1, extra_steps=1,
                             calib_windows=args.calib_windows, calib_seqlen=args.seqlen)
        distributed.agree()
        sync(args.device)
        t0 = time.perf_counter()
        convert(model, config, calibration=calibration, inplace=True, progress=False, device=args.device)
        sync(args.device)
        distributed.agree()
        t1 = time.perf_counter()
        result = windows_ppl(model, chunks, progress=False)
        sync(args.device)
        distributed.agree()
        t2 = time.perf_counter()
        if distributed.is_main():
            memory = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else None
            write_result(args.out, {
                "world_size": distributed.world_size(), "preset": args.preset, "device": args.device,
                "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                "windows": args.windows, "calib_windows": args.calib_windows, "seqlen": args.seqlen,
                "calibrate_s": t1 - t0, "ppl_s": t2 - t1, "build_s": t0 - started, "ppl": result["ppl"],
                "nll": result["nll"], "firing_rate": result["firing_rate"], "peak_gpu_bytes": memory},
                device=args.device, seed=0)
    except BaseException as err:
        distributed.announce(err)
        raise
    finally:
        distributed.shutdown()


def launch(args, nproc: int, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if args.device == "cpu":
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               __file__, "--worker", "--out", str(out), "--preset", args.preset, "--device", args.device,
               "--windows", str(args.windows), "--calib-windows", str(args.calib_windows), "--seqlen", str(args.seqlen)]
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def table(rows: list[dict]) -> str:
    lines = ["| ranks | calibrate (s) | speed-up | perplexity (s) | speed-up | ppl |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['world_size']} | {r['calibrate_s']:.1f} | {r['calibrate_speedup']:.2f}× | "
                     f"{r['ppl_s']:.1f} | {r['ppl_speedup']:.2f}× | {r['ppl']!r} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="llama7b")
    parser.add_argument("--device", default="cuda", help="cuda (rank r on cuda:LOCAL_RANK) or cpu (gloo)")
    parser.add_argument("--nproc", default="1,2,4", help="world sizes to run (default %(default)s)")
    parser.add_argument("--windows", type=int, default=32, help="perplexity windows (default %(default)s)")
    parser.add_argument("--calib-windows", type=int, default=16, help="calibration windows (default %(default)s)")
    parser.add_argument("--seqlen", type=int, default=2048, help="tokens per window (default %(default)s)")
    parser.add_argument("--json", default=None, help="output (default benchmarks/results/distributed_scaling_"
                                                     "<preset>_<device>.json)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    sizes = [int(n) for n in args.nproc.split(",")]
    if args.device.startswith("cuda") and max(sizes) > torch.cuda.device_count():
        parser.error(f"--nproc {args.nproc}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    out = Path(args.json or ROOT / "benchmarks" / "results" / f"distributed_scaling_{args.preset}_{args.device}.json")
    rows = []
    for n in sizes:
        part = out.with_name(f".{out.stem}.np{n}.json")
        try:
            rows.append(launch(args, n, part))
        finally:
            part.unlink(missing_ok=True)
    base = rows[0]
    for r in rows:
        r["calibrate_speedup"] = base["calibrate_s"] / r["calibrate_s"]
        r["ppl_speedup"] = base["ppl_s"] / r["ppl_s"]
    same = len({r["ppl"] for r in rows}) == 1
    from neuro_llm.core.provenance import write_result
    write_result(out, {"runs": rows, "ppl_equal_across_world_sizes": same, "command": " ".join(sys.argv)},
                 device=args.device, seed=0)
    print(table(rows))
    print(f"perplexity equal at every world size: {same}; wrote {out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

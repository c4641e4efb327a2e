"""Forward time and peak memory: FP vs collapsed vs explicit spiking, at t1 / t2 / t4.

    python benchmarks/forward_modes.py --target smollm2 --device cpu --tokens 512
    python benchmarks/forward_modes.py --target llama7b-layer --device cuda --tokens 2048

``smollm2``: the real SmolLM2-135M (all 30 blocks + lm_head). ``llama7b-layer``: one LLaMA-2-7B-shaped
decoder block (hidden 4096, 32 heads, MLP 11008) with random weights. Each configuration runs in a fresh
subprocess so its peak memory (CPU: max RSS; GPU: ``max_memory_allocated``) is its own. Writes
``benchmarks/results/forward_<target>_<device>.json`` and prints a Markdown table; quote the ratios.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)

CONFIGS = {  # name: SpikeConfig overrides (None: the FP model)
    "fp": None,
    "collapsed t1": dict(method="spikellm", salient=0.0, extra_steps=0, mode="collapsed"),
    "explicit t1": dict(method="spikellm", salient=0.0, extra_steps=0, mode="explicit"),
    "collapsed t2": dict(method="spikellm", salient=0.1, extra_steps=1, mode="collapsed"),
    "explicit t2": dict(method="spikellm", salient=0.1, extra_steps=1, mode="explicit"),
    "collapsed t4": dict(method="spikellm", salient=0.1, extra_steps=2, mode="collapsed"),
    "explicit t4": dict(method="spikellm", salient=0.1, extra_steps=2, mode="explicit"),
}


def build(target: str, device: str):
    if target == "smollm2":
        from neuro_llm import load_model
        model, _ = load_model("smollm2-135m")
    else:
        from transformers import LlamaConfig, LlamaForCausalLM
        config = LlamaConfig(vocab_size=256, hidden_size=4096, intermediate_size=11008, num_hidden_layers=1,
                             num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).eval()
    return model.to(device)


def run_one(target: str, name: str, device: str, tokens: int, repeats: int, wbits: int, abits: int) -> dict:
    from neuro_llm import SpikeConfig, convert

    model = build(target, device)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, tokens), generator=torch.Generator().manual_seed(0)).to(device)
    overrides = CONFIGS[name]
    if overrides is not None:
        calibration = torch.randint(0, vocab, (1, min(tokens, 512)), generator=torch.Generator().manual_seed(1))
        model = convert(model, SpikeConfig(wbits=wbits, abits=abits, **overrides), calibration=calibration,
                        inplace=True, progress=False).hf_model
    sync = report.synchronizer(device)
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)  # warm-up
        sync()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        seconds = report.best_seconds(lambda: model(input_ids=ids, use_cache=False), repeats, sync)
    peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"config": name, "seconds": seconds, "peak_bytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=["smollm2", "llama7b-layer"], default="smollm2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wbits", type=int, default=4)
    parser.add_argument("--abits", type=int, default=4)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.target, args.one, args.device, args.tokens, args.repeats, args.wbits, args.abits)))
        return
    rows = []
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--one", name, "--target", args.target, "--device", args.device,
               "--tokens", str(args.tokens), "--repeats", str(args.repeats), "--wbits", str(args.wbits),
               "--abits", str(args.abits)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]['seconds']:.3f} s", file=sys.stderr)
    fp = rows[0]
    for row in rows:
        row["time_vs_fp"] = row["seconds"] / fp["seconds"]
        row["memory_vs_fp"] = row["peak_bytes"] / fp["peak_bytes"]
    device_name = report.device_name(args.device)
    result = {"target": args.target, "device": device_name, "tokens": args.tokens, "wbits": args.wbits,
              "abits": args.abits, "rows": rows}
    report.write_json(report.RESULTS / f"forward_{args.target}_{args.device.split(':')[0]}.json", result,
                      device=args.device)
    print(f"\n{args.target}, {args.tokens} tokens, W{args.wbits}A{args.abits}, {device_name}\n")
    print("| config | time / FP | peak memory / FP | seconds | peak MiB |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['config']} | {row['time_vs_fp']:.2f} | {row['memory_vs_fp']:.2f} | "
              f"{row['seconds']:.3f} | {row['peak_bytes'] / 2**20:.0f} |")


if __name__ == "__main__":
    main()

"""What ``neuro-llm eval`` spends per perplexity window: a LLaMA-2-7B-shaped model (random weights, a few
decoder blocks) scored over windows of random tokens, dense bf16 vs spiking W4A4 t2 (explicit and
collapsed), each eagerly and replayed as a CUDA graph — the spiking runs with their SpikeStats observer, as
``eval`` runs them.

    python benchmarks/eval_speed.py --device cuda               # H200: about a minute
    python benchmarks/eval_speed.py --device cpu --tiny         # a check of the script (eager only)

Reports the seconds per window in steady state and the set-up a run pays once (warm-up and graph capture).
Asserts that the graphed perplexity and spike statistics equal the eager ones exactly. Writes
``benchmarks/results/eval_speed_<device>[_tiny].json`` and a Markdown table beside it.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)
from gpu_layer import DTYPES, SHAPES, STEPS, TINY


def build(shape: dict, layers: int, device: str, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=256, num_hidden_layers=layers, max_position_embeddings=4096, **shape)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def scored(model, chunks, device: str, graphs: bool) -> tuple[dict, float, float]:
    """``windows_ppl`` as ``eval`` runs it (a graph is captured per call): after a warm-up window, timed over
    the first 2 windows and over all of them; the difference gives the seconds per window in steady state, the
    rest the set-up (capture) a call pays once. Returns (result over all windows, per window, set-up)."""
    from neuro_llm.eval.perplexity import windows_ppl

    sync = report.synchronizer(device)
    windows_ppl(model, chunks[:1], progress=False, cuda_graphs=graphs)   # Triton compiles, cuBLAS picks
    times, result = [], None
    for count in (2, len(chunks)):
        sync()
        start = time.perf_counter()
        result = windows_ppl(model, chunks[:count], progress=False, cuda_graphs=graphs)
        sync()
        times.append(time.perf_counter() - start)
    per_window = (times[1] - times[0]) / (len(chunks) - 2)
    return result, per_window, times[0] - 2 * per_window


def main() -> None:
    from neuro_llm import SpikeConfig, convert

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--layers", type=int, default=None, help="decoder blocks (default 4; tiny 2)")
    parser.add_argument("--windows", type=int, default=None, help="windows scored (default 12; tiny 4)")
    parser.add_argument("--seqlen", type=int, default=None, help="tokens a window (default 2048; tiny 32)")
    args = parser.parse_args()
    layers, windows = args.layers or (2 if args.tiny else 4), max(3, args.windows or (4 if args.tiny else 12))
    seqlen = args.seqlen or (32 if args.tiny else 2048)
    shape = (TINY if args.tiny else SHAPES)["7b"]
    cuda = args.device.startswith("cuda")
    chunks = torch.randint(0, 256, (windows, seqlen), generator=torch.Generator().manual_seed(0))
    rows = []

    def add(config: str, model, graphs: bool):
        result, seconds, setup = scored(model, chunks, args.device, graphs)
        rows.append({"config": config, "cuda_graphs": result["cuda_graphs"], "seconds_per_window": seconds,
                     "setup_seconds": setup, "ppl": result["ppl"], "spike_events": result.get("spike_events")})
        print(f"{config:28s} graphs={result['cuda_graphs']!s:5s} {seconds * 1e3:9.2f} ms/window, set-up "
              f"{setup * 1e3:.0f} ms", file=sys.stderr, flush=True)
        return result

    model = build(shape, layers, args.device, DTYPES["bf16"])
    for graphs in ((False, True) if cuda else (False,)):
        add("dense bf16", model, graphs)
    calibration = torch.randint(0, 256, (1, 256 if not args.tiny else 32), generator=torch.Generator().manual_seed(1))
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, **STEPS["t2"]), calibration=calibration,
                  inplace=True, progress=False)
    for mode in ("collapsed", "explicit"):
        snn.set_mode(mode)
        eager = add(f"spiking t2 {mode}", snn, False)
        if cuda:
            graphed = add(f"spiking t2 {mode}", snn, True)
            if {k: v for k, v in graphed.items() if k != "cuda_graphs"} != \
                    {k: v for k, v in eager.items() if k != "cuda_graphs"}:
                raise AssertionError(f"{mode}: the graphed perplexity or spike statistics differ from the eager ones")
    dense = {r["cuda_graphs"]: r["seconds_per_window"] for r in rows if r["config"] == "dense bf16"}
    for r in rows:
        r["vs_dense_eager"] = r["seconds_per_window"] / dense[False]
        if True in dense:
            r["vs_dense_graphed"] = r["seconds_per_window"] / dense[True]
    device = report.device_name(args.device)
    result = {"device": device, "torch": torch.__version__, "layers": layers, "windows": windows, "seqlen": seqlen,
              "shape": shape, "rows": rows}
    report.write_report(report.stem("eval_speed", args.device, args.tiny), result, markdown(result), device=args.device)


def markdown(result: dict) -> str:
    """The table of a result (``docs/results.md`` renders it from the JSON)."""
    lines = [f"Perplexity windows of a {result['layers']}-block LLaMA-2-7B-shaped model ({result['seqlen']} tokens, "
             f"W4A4 t2, SpikeStats observing the spiking runs), {result['device']}", "",
             "| config | CUDA graphs | ms / window | / dense bf16 eager | / dense bf16 graphed | set-up ms (once per run) |",
             "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        graphed = f"{r['vs_dense_graphed']:.2f}" if "vs_dense_graphed" in r else ""
        lines.append(f"| {r['config']} | {'yes' if r['cuda_graphs'] else 'no'} | {r['seconds_per_window'] * 1e3:.2f} | "
                     f"{r['vs_dense_eager']:.2f} | {graphed} | {r['setup_seconds'] * 1e3:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

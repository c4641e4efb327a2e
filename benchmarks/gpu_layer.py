"""One LLaMA-2-7B- and one 70B-shaped decoder layer: spiking W4A4 (explicit / collapsed, t1 / t2 / t4) vs
the dense layer in bf16, fp16 and fp32 — time, peak memory, weight bytes on the device.

    python benchmarks/gpu_layer.py --device cuda            # full size (H200: a few minutes)
    python benchmarks/gpu_layer.py --device cpu --tiny      # quick check of the script

Shapes: ``7b`` hidden 4096, 32/32 heads, MLP 11008; ``70b`` hidden 8192, 64/8 heads (GQA), MLP 28672;
random weights, one layer (+ a 256-token vocabulary), 128 and 2048 tokens. Spiking layers are converted
with ``convert`` (spikellm, RTN weights, 10 % salient channels at t2 / t4, saliency from 256 random
calibration tokens) in the model dtype (bf16 by default), and the script asserts that explicit and
collapsed logits are bit-identical on the device. Writes ``benchmarks/results/gpu_layer_<device>[_tiny].json``
and a Markdown table beside it; quote the ratios to dense bf16.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32),
    "70b": dict(hidden_size=8192, intermediate_size=28672, num_attention_heads=64, num_key_value_heads=8),
}
TINY = {
    "7b": dict(hidden_size=128, intermediate_size=344, num_attention_heads=4, num_key_value_heads=4),
    "70b": dict(hidden_size=256, intermediate_size=896, num_attention_heads=8, num_key_value_heads=2),
}
STEPS = {"t1": dict(salient=0.0, extra_steps=0), "t2": dict(salient=0.1, extra_steps=1),
         "t4": dict(salient=0.1, extra_steps=2)}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def build(shape: dict, device: str, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=256, num_hidden_layers=1, max_position_embeddings=4096, **shape)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def linear_params(model) -> int:
    from neuro_llm.arch import LINEAR_NAMES

    block = model.model.layers[0]
    return sum(block.get_submodule(name).in_features * block.get_submodule(name).out_features for name in LINEAR_NAMES)


def weight_bytes(model) -> int:
    """Bytes of the seven linear layers' weights as they sit on the device (codes, scales, biases, order)."""
    from neuro_llm.arch import LINEAR_NAMES
    from neuro_llm.spiking.linear import SpikingLinear

    block = getattr(model, "hf_model", model).model.layers[0]   # a SpikingModel or a Hugging Face model
    total = 0
    for name in LINEAR_NAMES:
        m = block.get_submodule(name)
        total += m.weight_bytes() if isinstance(m, SpikingLinear) else sum(
            p.numel() * p.element_size() for p in m.parameters())
    return total


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(model, ids, device: str, repeats: int) -> dict:
    """Best of ``repeats`` forwards, and the peak memory one forward adds to what is resident."""
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits  # warm-up (Triton compiles, cuBLAS picks)
        sync(device)
        resident = torch.cuda.memory_allocated() if device.startswith("cuda") else 0
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        seconds = report.best_seconds(lambda: model(input_ids=ids, use_cache=False), repeats,
                                      report.synchronizer(device))
        peak = torch.cuda.max_memory_allocated() - resident if device.startswith("cuda") else 0
    return {"seconds": seconds, "activation_peak_bytes": peak, "resident_bytes": resident, "logits": logits}


def timed_observed(model, ids, device: str, repeats: int) -> dict:
    """Best of ``repeats`` forwards while a ``SpikeStats`` observer counts the spikes (what ``eval`` runs),
    its device tallies read back after each forward."""
    from neuro_llm.spiking.observe import SpikeStats, observing

    stats = SpikeStats()

    def forward():
        model(input_ids=ids, use_cache=False)
        stats._flush()

    with torch.no_grad(), observing(stats):
        forward()   # warm-up
        seconds = report.best_seconds(forward, repeats, report.synchronizer(device))
    return {"observed_seconds": seconds}


def timed_graph_observed(model, ids, device: str, repeats: int) -> dict:
    """Best of ``repeats`` replays of the forward captured with a ``SpikeStats`` observer (what ``eval`` runs on
    CUDA: the tallies stay on the device until the totals are read, once, at the end); asserts that the
    statistics of the kernels equal the torch path's, and that a replay counts exactly what an eager forward
    counts."""
    from neuro_llm.graphs import GraphedForward
    from neuro_llm.spiking.observe import SpikeStats, observing

    from neuro_llm.spiking import kernels

    eager, replayed, reference = SpikeStats(), SpikeStats(), SpikeStats()
    with torch.no_grad():
        with observing(eager):
            model(input_ids=ids, use_cache=False)
        with kernels.disabled(), observing(reference):   # the torch path: encoders and statistics
            model(input_ids=ids, use_cache=False)
        if eager != reference:
            raise AssertionError("the spike statistics of the kernels (count_stats) differ from the torch path's")
        with observing(replayed):
            graphed = GraphedForward(model, ids)
        graphed(ids)
        if replayed != eager:
            raise AssertionError("a replayed forward's spike statistics differ from the eager forward's")

        seconds = report.best_seconds(lambda: graphed(ids), repeats, report.synchronizer(device))
        replayed._flush()
    return {"graph_observed_seconds": seconds}


def timed_graph(model, ids, device: str, repeats: int, eager_logits: torch.Tensor) -> dict:
    """Best of ``repeats`` replays of the forward captured as a CUDA graph, and whether its logits equal the eager
    forward's (cuBLAS/SDPA may pick other kernels under capture, so float parts can round differently)."""
    from neuro_llm.graphs import GraphedForward

    graphed = GraphedForward(model, ids)
    logits = graphed(ids)
    sync(device)
    same = bool(torch.equal(logits, eager_logits))
    deviation = float((logits.float() - eager_logits.float()).abs().max())
    seconds = report.best_seconds(lambda: graphed(ids), repeats, report.synchronizer(device))
    return {"graph_seconds": seconds, "graph_equals_eager": same, "graph_max_abs_deviation": deviation}


def check_kernels_against_torch(model, device: str, dtype: torch.dtype) -> None:
    """On CUDA: every spiking linear of the block gives the same bits through the Triton kernels and through
    the torch reference path, in both modes (the kernels are tested on the CPU under the interpreter)."""
    from neuro_llm.spiking import kernels
    from neuro_llm.spiking.linear import SpikingLinear

    if not device.startswith("cuda") or not kernels.available():
        return
    g = torch.Generator(device=device).manual_seed(3)
    fp8_layers = 0
    for name, layer in model.named_modules():
        if not isinstance(layer, SpikingLinear):
            continue
        x = (torch.randn(256, layer.in_features, device=device, generator=g) * 2).to(dtype)
        mode = layer.mode
        for layer.mode in ("collapsed", "explicit"):
            with torch.no_grad():
                fused = layer(x)
                with kernels.disabled():
                    reference = layer(x)
                canonical = canonical_layout_output(layer, x)
            if not torch.equal(fused, reference):
                raise AssertionError(f"{name} ({layer.mode}): the Triton path differs from the torch reference")
            if not torch.equal(fused, canonical):
                raise AssertionError(f"{name} ({layer.mode}): the float8 GEMMs differ from the bf16 GEMMs")
        layer.mode = mode
        fp8_layers += layer.fp8_layout
    # the attention encoder: the whole layer's logits through the kernels and through the torch path
    ids = torch.randint(0, 256, (2, 512), device=device, generator=g)
    for mode in ("collapsed", "explicit"):
        model.set_mode(mode)
        with torch.no_grad():
            fused = model(ids).logits
            with kernels.disabled():
                reference = model(ids).logits
        if not torch.equal(fused, reference):
            raise AssertionError(f"{mode}: the layer through the Triton kernels (attention encoder included) "
                                 "differs from the torch path")
    log(f"Triton kernels == torch reference, float8 GEMMs ({fp8_layers} linears) == bf16 GEMMs on the device "
        "(every linear, both modes); whole-layer logits equal through the kernels and the torch path")


def canonical_layout_output(layer, x):
    """``layer(x)`` with the canonical int8 codes and bf16/fp16 GEMMs (float8 switched off), layout restored."""
    if not layer.fp8_layout:
        return layer(x)
    os.environ["NEURO_LLM_FP8"] = "0"
    try:
        layer.prepare_for(x.device)
        return layer(x)
    finally:
        del os.environ["NEURO_LLM_FP8"]
        layer.prepare_for(x.device)


def run_shape(name: str, shape: dict, device: str, tokens_list: list[int], repeats: int, dtype: torch.dtype,
              calib_tokens: int) -> list[dict]:
    from neuro_llm import SpikeConfig, convert

    rows = []
    fp16_bytes = 2 * linear_params(build(shape, "meta", torch.float16))
    for dense in ("bf16", "fp16", "fp32"):
        model = build(shape, device, DTYPES[dense])
        wbytes = weight_bytes(model)
        for tokens in tokens_list:
            ids = torch.randint(0, 256, (1, tokens), generator=torch.Generator().manual_seed(0)).to(device)
            r = timed(model, ids, device, repeats)
            logits = r.pop("logits")
            if device.startswith("cuda") and dense != "fp32":
                r.update(timed_graph(model, ids, device, repeats, logits))
            rows.append({"shape": name, "tokens": tokens, "config": f"dense {dense}", "weight_bytes": wbytes,
                         "weight_vs_fp16": wbytes / fp16_bytes, **r})
            log(f"{name} {tokens:5d} tok  dense {dense}: {r['seconds'] * 1e3:8.2f} ms")
        del model
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    calibration = torch.randint(0, 256, (1, calib_tokens), generator=torch.Generator().manual_seed(1))
    for steps, overrides in STEPS.items():
        model = build(shape, device, dtype)
        start = time.perf_counter()
        model = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, **overrides), calibration=calibration,
                        inplace=True, progress=False)
        sync(device)
        convert_s = time.perf_counter() - start
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        wbytes = weight_bytes(model)
        check_kernels_against_torch(model, device, dtype)
        for tokens in tokens_list:
            ids = torch.randint(0, 256, (1, tokens), generator=torch.Generator().manual_seed(0)).to(device)
            logits = {}
            for mode in ("collapsed", "explicit"):
                model.set_mode(mode)
                r = timed(model, ids, device, repeats)
                logits[mode] = r.pop("logits")
                r.update(timed_observed(model, ids, device, repeats))
                if device.startswith("cuda"):
                    r.update(timed_graph(model, ids, device, repeats, logits[mode]))
                    r.update(timed_graph_observed(model, ids, device, repeats))
                rows.append({"shape": name, "tokens": tokens, "config": f"{mode} {steps}", "weight_bytes": wbytes,
                             "weight_vs_fp16": wbytes / fp16_bytes, "convert_seconds": convert_s, **r})
                log(f"{name} {tokens:5d} tok  {mode:9s} {steps}: {r['seconds'] * 1e3:8.2f} ms")
            if not torch.equal(logits["explicit"], logits["collapsed"]):
                raise AssertionError(f"{name} {steps} {tokens} tokens: explicit and collapsed logits differ")
        del model, logits
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    for tokens in tokens_list:
        base = {k: r for r in rows if r["shape"] == name and r["tokens"] == tokens and r["config"].startswith("dense")
                for k in [r["config"]]}
        for r in rows:
            if r["shape"] == name and r["tokens"] == tokens:
                r["time_vs_bf16"] = r["seconds"] / base["dense bf16"]["seconds"]
                r["time_vs_fp16"] = r["seconds"] / base["dense fp16"]["seconds"]
                if "graph_seconds" in r:
                    r["graph_vs_bf16_graph"] = r["graph_seconds"] / base["dense bf16"]["graph_seconds"]
                    r["graph_vs_bf16_eager"] = r["graph_seconds"] / base["dense bf16"]["seconds"]
                if "graph_observed_seconds" in r:
                    r["graph_observed_vs_bf16_graph"] = (r["graph_observed_seconds"]
                                                         / base["dense bf16"]["graph_seconds"])
                if base["dense bf16"]["activation_peak_bytes"]:
                    r["activation_vs_bf16"] = r["activation_peak_bytes"] / base["dense bf16"]["activation_peak_bytes"]
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| shape | tokens | config | ms | / dense bf16 | / dense fp16 | graphed ms | / dense bf16 graphed | "
             "observed ms (SpikeStats) | observed graphed ms | / dense bf16 graphed | activation peak MiB | / bf16 | "
             "weights MiB | weights / fp16 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        act = r.get("activation_vs_bf16")
        graph = (f"{r['graph_seconds'] * 1e3:.2f} | {r['graph_vs_bf16_graph']:.2f}" if "graph_vs_bf16_graph" in r
                 else " | ")
        observed = f"{r['observed_seconds'] * 1e3:.2f}" if "observed_seconds" in r else ""
        observed += (f" | {r['graph_observed_seconds'] * 1e3:.2f} | {r['graph_observed_vs_bf16_graph']:.2f}"
                     if "graph_observed_vs_bf16_graph" in r else " |  | ")
        lines.append(f"| {r['shape']} | {r['tokens']} | {r['config']} | {r['seconds'] * 1e3:.2f} | "
                     f"{r['time_vs_bf16']:.2f} | {r['time_vs_fp16']:.2f} | {graph} | "
                     f"{observed} | "
                     f"{r['activation_peak_bytes'] / 2**20:.0f} | "
                     f"{'' if act is None else f'{act:.2f}'} | {r['weight_bytes'] / 2**20:.0f} | "
                     f"{r['weight_vs_fp16']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small shapes and token counts (a CPU check)")
    parser.add_argument("--shapes", default="7b,70b")
    parser.add_argument("--tokens", default=None, help="comma-separated (default 128,2048; tiny: 16,64)")
    parser.add_argument("--repeats", type=int, default=None, help="timed forwards per row (default 10; tiny 2)")
    parser.add_argument("--dtype", default="bf16", choices=list(DTYPES), help="spiking model dtype (default bf16)")
    parser.add_argument("--calib-tokens", type=int, default=None, help="calibration tokens (default 256; tiny 32)")
    args = parser.parse_args()
    tokens = [int(t) for t in (args.tokens or ("16,64" if args.tiny else "128,2048")).split(",")]
    repeats = args.repeats or (2 if args.tiny else 10)
    calib = args.calib_tokens or (32 if args.tiny else 256)
    shapes = TINY if args.tiny else SHAPES
    rows = []
    for name in args.shapes.split(","):
        log(f"--- {name}-shaped layer {shapes[name]}")
        rows += run_shape(name, shapes[name], args.device, tokens, repeats, DTYPES[args.dtype], calib)
    device = report.device_name(args.device)
    result = {"device": device, "torch": torch.__version__, "tiny": args.tiny, "spiking_dtype": args.dtype,
              "wbits": 4, "abits": 4, "repeats": repeats, "rows": rows}
    report.write_report(report.stem("gpu_layer", args.device, args.tiny), result, markdown(result),
                        device=args.device, dtype=args.dtype)


def markdown(result: dict) -> str:
    """The table of a result (``docs/results.md`` renders it from the JSON)."""
    return (f"W4A4 spiking ({result['spiking_dtype']}) vs dense, {result['device']}, best of {result['repeats']}\n\n"
            f"{table(result['rows'])}\n")


if __name__ == "__main__":
    main()

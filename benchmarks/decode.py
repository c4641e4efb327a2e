"""Decode speed: per-token latency and tokens/s of LLaMA-2-7B- and 70B-shaped models, spiking vs dense bf16.

    python benchmarks/decode.py --device cuda            # H200: a few minutes
    python benchmarks/decode.py --device cpu --tiny      # quick check of the script (eager only)

Both sides decode through the same harness: a static KV cache (``transformers.StaticCache`` for the dense
model, :class:`~neuro_llm.spiking.cache.EncodedStaticCache` for the spiking one, which encodes each new token's
K and V once), the prompt prefilled eagerly, then one decode step captured as a CUDA graph and replayed (on a
CPU: eager steps). Spiking: spikellm W4A4 t2 (RTN weights, 10 % salient channels at 2 GIF steps) in
``collapsed`` and ``explicit`` mode, in the model dtype (bf16). Random weights: ``7b`` = 4 blocks of hidden 4096,
32/32 heads, MLP 11008; ``70b`` = 2 blocks of hidden 8192, 64/8 heads, MLP 28672; vocabulary 32000. Batches 1 and
16, prompts of 128 and 2048 tokens. The floor is the bytes a step must read (weights as stored + the KV cache)
over the HBM bandwidth (``--bandwidth``, default 4.3e12 B/s: a device-to-device copy measured on an H200 here,
/work/.library/device/KINDS.md; the data sheet says 4.8e12). The script checks that graphed decoding gives the
eager decode's logits bit for bit. Writes ``benchmarks/results/decode_<device>[_tiny].json`` and a table.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

import torch

import gpu_layer  # benchmarks/gpu_layer.py: the 7B/70B layer shapes
import report  # benchmarks/report.py

SHAPES = {"7b": {**gpu_layer.SHAPES["7b"], "layers": 4}, "70b": {**gpu_layer.SHAPES["70b"], "layers": 2}}
TINY = {"7b": {**gpu_layer.TINY["7b"], "layers": 2}, "70b": {**gpu_layer.TINY["70b"], "layers": 2}}
VOCAB, TINY_VOCAB = 32000, 512
T2 = dict(method="spikellm", wbits=4, abits=4, salient=0.1, extra_steps=1)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def build(shape: dict, vocab: int, device: str, dtype: torch.dtype, max_len: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = dict(shape)
    config = LlamaConfig(vocab_size=vocab, num_hidden_layers=shape.pop("layers"), max_position_embeddings=max_len,
                         **shape)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    return model.to(dtype).eval()


def spiking(model, mode: str, device: str):
    from neuro_llm import SpikeConfig, convert

    calib = torch.randint(0, model.config.vocab_size, (1, 256), generator=torch.Generator().manual_seed(1))
    return convert(model, SpikeConfig(mode=mode, **T2), calibration=calib.to(device), progress=False).hf_model


def stored_bytes(model) -> int:
    """Bytes a decode step reads of the weights as stored (spiking linears: codes, scales, order)."""
    from neuro_llm.spiking.linear import SpikingLinear

    total, seen = 0, set()
    for module in model.modules():
        if isinstance(module, SpikingLinear):
            total += module.weight_bytes()
            seen.update(id(t) for t in list(module.parameters()) + list(module.buffers()))
    for tensor in list(model.parameters()) + list(model.buffers()):
        if id(tensor) not in seen and tensor.dim() >= 2:
            total += tensor.numel() * tensor.element_size()
    embedding = model.get_input_embeddings().weight
    return total - embedding.numel() * embedding.element_size()   # a step reads one embedding row, not the table


def kv_bytes(config, batch: int, length: int, dtype: torch.dtype) -> int:
    head_dim = config.hidden_size // config.num_attention_heads
    return (2 * config.num_hidden_layers * batch * config.num_key_value_heads * head_dim * length
            * torch.finfo(dtype).bits // 8)


class Decoder:
    """Prefill ``prompt`` into a static cache, then decode one token a step (graphed on CUDA)."""

    def __init__(self, model, prompt: torch.Tensor, steps: int, graphed: bool):
        from transformers import StaticCache

        from neuro_llm.spiking.mode import is_spiking
        from neuro_llm.spiking.cache import EncodedStaticCache

        max_len = prompt.shape[1] + steps + 8
        self.model, self.graphed = model, graphed
        self.cache = (EncodedStaticCache(model, max_cache_len=max_len) if is_spiking(model)
                      else StaticCache(config=model.config, max_cache_len=max_len))
        with torch.no_grad():
            logits = model(prompt, cache=self.cache, use_cache=True).logits
        self.token = logits[:, -1:].argmax(-1)
        self.logits = None
        if graphed:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.no_grad():
                for _ in range(2):   # warm-up (Triton compiles, cuBLAS picks) advances the cache two tokens
                    self._step()
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph), torch.no_grad():
                self.logits = self._step()

    def _step(self) -> torch.Tensor:
        return self.model(self.token, cache=self.cache, use_cache=True).logits

    def step(self) -> torch.Tensor:
        if self.graphed:
            self.graph.replay()
            return self.logits
        with torch.no_grad():
            return self._step()


def measure(model, prompt: torch.Tensor, steps: int, device: str, graphed: bool) -> dict:
    decoder = Decoder(model, prompt, steps + 4, graphed)
    sync = report.synchronizer(device)
    decoder.step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        decoder.step()
    sync()
    seconds = (time.perf_counter() - start) / steps
    return {"ms_per_token_step": seconds * 1e3, "tokens_per_second": prompt.shape[0] / seconds}


def graphed_equals_eager(model, prompt: torch.Tensor, steps: int = 3) -> bool:
    """Logits of ``steps`` graph replays == ``steps`` eager decode steps from the same prefill (same tokens fed)."""
    graphed, eager = Decoder(model, prompt, steps + 4, True), Decoder(model, prompt, steps + 4, False)
    with torch.no_grad():
        for _ in range(2):   # the graphed decoder's warm-up advanced its cache two tokens
            eager.step()
    same = True
    for _ in range(steps):
        same &= bool(torch.equal(graphed.step().clone(), eager.step()))
    return same


def markdown(result: dict) -> str:
    """The table of a result: per-token time of each model, graphed where the device could capture."""
    rows = result["rows"]
    how = "graphed" if all("graphed" in r for r in rows) else "eager"
    lines = [f"| shape | batch | prompt | model | ms per step ({how}) | tokens/s | × dense bf16 | floor ms | "
             "graphed == eager |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r[how]
        lines.append(f"| {r['shape']} ({r['layers']} blocks) | {r['batch']} | {r['prompt']} | {r['model']} | "
                     f"{m['ms_per_token_step']:.3f} | {m['tokens_per_second']:.0f} | {m['ratio_to_dense_bf16']:.2f} | "
                     f"{r['floor_ms']:.3f} | {r.get('graphed_equals_eager', 'n/a')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--shapes", nargs="+", default=["7b", "70b"], choices=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--prompts", nargs="+", type=int, default=[128, 2048])
    parser.add_argument("--steps", type=int, default=32, help="timed decode steps per configuration")
    parser.add_argument("--bandwidth", type=float, default=4.3e12, help="HBM bytes/s for the floor")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    shapes, vocab = (TINY, TINY_VOCAB) if args.tiny else (SHAPES, VOCAB)
    prompts = [min(p, 64) for p in args.prompts] if args.tiny else args.prompts
    rows = []
    for shape in args.shapes:
        dense = build(shapes[shape], vocab, args.device, dtype, max(prompts) + args.steps + 64)
        models = {"dense": dense}
        for mode in ("collapsed", "explicit"):
            models[f"spiking-t2-{mode}"] = spiking(dense, mode, args.device)
        weights = {name: stored_bytes(m) for name, m in models.items()}
        for batch in args.batches:
            for length in prompts:
                prompt = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(2))
                prompt = prompt.to(args.device)
                kv = kv_bytes(dense.config, batch, length, dtype)
                for name, model in models.items():
                    row = {"shape": shape, "layers": dense.config.num_hidden_layers, "batch": batch,
                           "prompt": length, "model": name, "weight_bytes": weights[name], "kv_cache_bytes": kv,
                           "floor_ms": (weights[name] + kv) / args.bandwidth * 1e3}
                    row["eager"] = measure(model, prompt, max(4, args.steps // 4), args.device, graphed=False)
                    if cuda:
                        row["graphed"] = measure(model, prompt, args.steps, args.device, graphed=True)
                        row["graphed_equals_eager"] = graphed_equals_eager(model, prompt)
                    rows.append(row)
                    log(shape, batch, length, name, {k: round(v["ms_per_token_step"], 3) for k, v in row.items()
                                                    if isinstance(v, dict)})
                    gc.collect()
        del models, dense
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    for row in rows:   # ratios to the dense model of the same configuration, measured in this run
        base = next(r for r in rows if r["model"] == "dense" and all(r[k] == row[k] for k in ("shape", "batch", "prompt")))
        for how in ("eager", "graphed"):
            if how in row:
                row[how]["ratio_to_dense_bf16"] = row[how]["ms_per_token_step"] / base[how]["ms_per_token_step"]
    result = {"device": report.device_name(args.device), "dtype": str(dtype), "bandwidth_bytes_per_s": args.bandwidth,
              "steps": args.steps, "spiking_config": T2, "rows": rows}
    table = markdown(result)
    print(table)
    report.write_report(report.stem("decode", args.device, args.tiny), result, table)


if __name__ == "__main__":
    main()

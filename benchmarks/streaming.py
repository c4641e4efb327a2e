"""Streamed conversion and simulation of a whole LLaMA-shaped model on one device.

    python benchmarks/streaming.py --shape llama7b --device cuda --tokens 2048
    python benchmarks/streaming.py --shape llama70b --device cuda --tokens 2048
    python benchmarks/streaming.py --shape tiny --device cpu --tokens 64          # a quick check

The model is built on the ``meta`` device (no weights anywhere); conversion fills each block with random
weights on the device just before converting it (``convert(..., block_loader=)``) and sends the spiking
block to the host, so the FP model never exists whole — a 70B-shaped model's FP weights (140 GB in fp16)
would not fit the 128 GB host. The spiking model is then simulated layer by layer with blocks streamed
from pinned host memory (``LayerByLayerSimulator``, prefetch on a side stream), and — where it fits —
again with every block resident on the device. Reports seconds per layer, peak device memory against
one block's weights, and streamed / resident time. Writes ``benchmarks/results/streaming_<shape>_<device>.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import report  # benchmarks/report.py (this folder is on sys.path when a script runs)

SHAPES = {   # hidden, intermediate, heads, kv heads, layers, vocab
    "tiny": (64, 112, 4, 2, 4, 96),
    "llama7b": (4096, 11008, 32, 32, 32, 32000),
    "llama70b": (8192, 28672, 64, 8, 80, 32000),
}
RESULTS = report.RESULTS


def meta_model(shape: str, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, inter, heads, kv, layers, vocab = SHAPES[shape]
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=4096)
    with torch.device("meta"):
        model = LlamaForCausalLM(config).to(dtype).eval()
    # embeddings, final norm, head: small enough to exist on the host from the start
    for module in (model.model.embed_tokens, model.model.norm, model.lm_head):
        module.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0, 1)
        model.lm_head.weight.normal_(0, hidden ** -0.5)
        model.model.norm.weight.fill_(1)
    model.model.rotary_emb = type(model.model.rotary_emb)(config)   # built on the host (its inv_freq table)
    return model


def random_block(i: int, block: torch.nn.Module, device) -> None:
    """``block_loader``: random weights for block ``i``, made on ``device`` (a new seed per block)."""
    block.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(1000 + i)
    with torch.no_grad():
        for name, p in block.named_parameters():
            if p.dim() == 2:
                p.normal_(0, p.shape[1] ** -0.5, generator=generator)
            else:
                p.fill_(1)
    rotary = getattr(block.self_attn, "rotary_emb", None)
    if rotary is not None:
        rotary.to(device)


def weight_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="llama7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--resident", choices=["auto", "yes", "no"], default="auto",
                        help="also time the same model with every block resident on the device")
    parser.add_argument("--convert-only", action="store_true", help="measure the conversion only (no simulation)")
    parser.add_argument("--pack-codes", action="store_true",
                        help="stream 4-bit weight codes packed two to a byte (unpacked on the device)")
    args = parser.parse_args()
    from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert

    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    peak = (lambda: torch.cuda.max_memory_allocated(device)) if cuda else (lambda: 0)
    model = meta_model(args.shape, dtype)
    layers = model.config.num_hidden_layers
    fp16_block_bytes = 2 * sum(p.numel() for p in model.model.layers[0].parameters())
    config = SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.0, extra_steps=0)   # data-free (RTN)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.time()
    snn = convert(model, config, inplace=True, device=device, block_loader=random_block, progress=True)
    sync()
    convert_seconds = time.time() - start
    convert_peak = peak()
    spiking_block_bytes = weight_bytes(snn.model.layers[0])
    print(f"converted {layers} blocks in {convert_seconds:.1f} s, peak device memory {convert_peak / 2**30:.2f} GiB "
          f"(one fp16 block {fp16_block_bytes / 2**30:.2f} GiB, one spiking block {spiking_block_bytes / 2**30:.2f} GiB)",
          file=sys.stderr, flush=True)

    for module in (snn.model.embed_tokens, snn.model.norm, snn.lm_head, snn.model.rotary_emb):
        module.to(device)   # small; only the decoder blocks stream
    ids = torch.randint(0, model.config.vocab_size, (1, args.tokens), generator=torch.Generator().manual_seed(0))
    result = {"shape": args.shape, "layers": layers, "tokens": args.tokens, "dtype": args.dtype,
              "pack_codes": args.pack_codes,
              "device": report.device_name(device),
              "config": config.to_dict(), "convert_seconds": convert_seconds, "convert_peak_bytes": convert_peak,
              "fp16_block_bytes": fp16_block_bytes, "spiking_block_bytes": spiking_block_bytes}

    def simulate(label: str) -> tuple[float, int, torch.Tensor]:
        sim = LayerByLayerSimulator(snn, device=device, progress=False, pack_codes=args.pack_codes)
        sim.run(ids)                     # warm-up at full size (pins/packs host memory, compiles kernels, cuBLAS picks)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.time()
        out = sim.run(ids)
        sync()
        seconds = time.time() - t0
        print(f"{label}: {seconds:.2f} s ({seconds / layers * 1e3:.1f} ms a layer), peak "
              f"{peak() / 2**30:.2f} GiB", file=sys.stderr, flush=True)
        return seconds, peak(), out.float().cpu()

    if args.convert_only:
        report.write_json(RESULTS / f"convert_gpu_{args.shape}_{'cuda' if cuda else 'cpu'}.json", result)
        print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1))
        return
    seconds, streamed_peak, streamed = simulate("streamed")
    result.update(streamed_seconds=seconds, streamed_ms_per_layer=seconds / layers * 1e3, streamed_peak_bytes=streamed_peak,
                  streamed_peak_over_block=streamed_peak / spiking_block_bytes if spiking_block_bytes else None)
    total = weight_bytes(snn.model.layers)
    free = torch.cuda.mem_get_info(device)[0] if cuda else 0
    if args.resident == "yes" or (args.resident == "auto" and cuda and total < 0.8 * free):
        for block in snn.model.layers:
            block.to(device)
        seconds, resident_peak, resident = simulate("resident")
        result.update(resident_seconds=seconds, resident_peak_bytes=resident_peak,
                      streamed_over_resident=result["streamed_seconds"] / seconds,
                      resident_equals_streamed=bool(torch.equal(resident, streamed)))
    report.write_json(RESULTS / f"streaming_{args.shape}_{'cuda' if cuda else 'cpu'}"
                       f"{'_packed' if args.pack_codes else ''}.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()

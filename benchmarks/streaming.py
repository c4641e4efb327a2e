"""Streamed conversion and simulation of a whole LLaMA-shaped model on one device.

    python benchmarks/streaming.py --shape llama7b --device cuda --tokens 2048
    python benchmarks/streaming.py --shape llama70b --device cuda --tokens 2048
    python benchmarks/streaming.py --shape llama70b --device cuda --batch 1,4     # 1 and 4 windows a layer pass
    python benchmarks/streaming.py --shape tiny --device cpu --tokens 64          # a quick check

The model is built on the ``meta`` device (no weights anywhere); conversion fills each block with random
weights on the device just before converting it (``convert(..., block_loader=)``) and sends the spiking
block to the host, so the FP model never exists whole — a 70B-shaped model's FP weights (140 GB in fp16)
would not fit the 128 GB host. The spiking model is then simulated layer by layer with blocks streamed
from pinned host memory (``LayerByLayerSimulator``, prefetch on a side stream), and — where it fits —
again with every block resident on the device. Reports seconds per layer, peak device memory against
one block's weights, streamed / resident time, and the host-to-device copy floor (one block's bytes over the
measured pinned-copy bandwidth). ``--batch`` sets how many windows of ``--tokens`` go through each block per
pass (the simulator takes ``[windows, tokens]``): a block's copy is paid once per pass, so more windows hide
it behind more compute. Writes ``benchmarks/results/streaming_<shape>_<device>[_packed][_b<windows>].json``.
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
    parser.add_argument("--batch", default="1", help="comma-separated windows per layer pass (default 1)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--resident", choices=["auto", "yes", "no"], default="auto",
                        help="also time the same model with every block resident on the device")
    parser.add_argument("--convert-only", action="store_true", help="measure the conversion only (no simulation)")
    parser.add_argument("--pack-codes", action="store_true",
                        help="stream 4-bit weight codes packed two to a byte (unpacked on the device)")
    args = parser.parse_args()
    from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert
    from neuro_llm.simulator import place_outside_blocks

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
    spiking_block_bytes = weight_bytes(snn.hf_model.model.layers[0])
    print(f"converted {layers} blocks in {convert_seconds:.1f} s, peak device memory {convert_peak / 2**30:.2f} GiB "
          f"(one fp16 block {fp16_block_bytes / 2**30:.2f} GiB, one spiking block {spiking_block_bytes / 2**30:.2f} GiB)",
          file=sys.stderr, flush=True)

    place_outside_blocks(snn, device)   # embeddings, norm, head, rotary tables: small; only the blocks stream
    batches = [int(b) for b in args.batch.split(",")]
    if min(batches) < 1:
        raise SystemExit(f"--batch {args.batch}: windows per pass must be positive")
    generator = torch.Generator().manual_seed(0)
    inputs = {b: torch.randint(0, model.config.vocab_size, (b, args.tokens), generator=generator) for b in batches}
    base = {"shape": args.shape, "layers": layers, "tokens": args.tokens, "dtype": args.dtype,
            "pack_codes": args.pack_codes, "device": report.device_name(device),
            "config": config.to_dict(), "convert_seconds": convert_seconds, "convert_peak_bytes": convert_peak,
            "fp16_block_bytes": fp16_block_bytes, "spiking_block_bytes": spiking_block_bytes}

    def simulate(label: str, ids: torch.Tensor) -> tuple[float, int, torch.Tensor]:
        sim = LayerByLayerSimulator(snn, device=device, progress=False, pack_codes=args.pack_codes)
        sim.run(ids)                     # warm-up at full size (pins/packs host memory, compiles kernels, cuBLAS picks)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.time()
        out = sim.run(ids)
        sync()
        seconds = time.time() - t0
        print(f"{label}, {ids.shape[0]} window(s) of {ids.shape[1]} tokens: {seconds:.2f} s "
              f"({seconds / layers * 1e3:.1f} ms a layer), peak {peak() / 2**30:.2f} GiB", file=sys.stderr, flush=True)
        return seconds, peak(), out.float().cpu()

    def result_path(batch: int):
        return RESULTS / (f"streaming_{args.shape}_{'cuda' if cuda else 'cpu'}{'_packed' if args.pack_codes else ''}"
                          f"{f'_b{batch}' if batch > 1 else ''}.json")

    if args.convert_only:
        report.write_json(RESULTS / f"convert_gpu_{args.shape}_{'cuda' if cuda else 'cpu'}.json", base, device=device)
        print(json.dumps({k: v for k, v in base.items() if k != "config"}, indent=1))
        return
    results, streamed = {}, {}
    for batch in batches:
        seconds, streamed_peak, streamed[batch] = simulate("streamed", inputs[batch])
        results[batch] = dict(base, windows_per_pass=batch, streamed_seconds=seconds,
                              streamed_ms_per_layer=seconds / layers * 1e3, streamed_peak_bytes=streamed_peak,
                              streamed_peak_over_block=streamed_peak / spiking_block_bytes if spiking_block_bytes else None)
    if cuda:   # the copy floor: one block's host bytes (as streamed: packed or not) over the pinned-copy bandwidth
        block = snn.hf_model.model.layers[0]
        host_bytes = weight_bytes(block)
        bandwidth = pinned_copy_bandwidth(device, host_bytes)
        for r in results.values():
            r.update(host_block_bytes=host_bytes, h2d_bytes_per_second=bandwidth,
                     copy_floor_ms_per_layer=host_bytes / bandwidth * 1e3)
    total = weight_bytes(snn.hf_model.model.layers)
    free = torch.cuda.mem_get_info(device)[0] if cuda else 0
    if args.resident == "yes" or (args.resident == "auto" and cuda and total < 0.8 * free):
        if args.pack_codes:
            for module in snn.modules():
                if getattr(module, "codes_packed", False):
                    module.unpack_codes()
        for block in snn.hf_model.model.layers:
            block.to(device)
        for batch in batches:
            seconds, resident_peak, resident = simulate("resident", inputs[batch])
            results[batch].update(resident_seconds=seconds, resident_ms_per_layer=seconds / layers * 1e3,
                                  resident_peak_bytes=resident_peak,
                                  streamed_over_resident=results[batch]["streamed_seconds"] / seconds,
                                  resident_equals_streamed=bool(torch.equal(resident, streamed[batch])))
    for batch, r in results.items():
        report.write_json(result_path(batch), r, device=device)
        print(json.dumps({k: v for k, v in r.items() if k != "config"}, indent=1))


def pinned_copy_bandwidth(device: torch.device, nbytes: int) -> float:
    """Bytes per second of one pinned host-to-device copy of ``nbytes`` (best of 5)."""
    host = torch.empty(nbytes, dtype=torch.uint8).pin_memory()
    target = torch.empty(nbytes, dtype=torch.uint8, device=device)
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        target.copy_(host, non_blocking=True)
        torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    del host, target
    return nbytes / best


if __name__ == "__main__":
    main()

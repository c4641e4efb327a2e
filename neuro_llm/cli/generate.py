"""``neuro-llm generate``: convert a model, continue a prompt with the KV cache, stream the tokens."""
from __future__ import annotations

import argparse
import sys
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate at most (default %(default)s)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 = greedy (default); > 0 samples from softmax(logits / T)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling: keep the top-p probability mass (default 1)")
    p.add_argument("--sample-seed", type=int, default=0, help="sampling: seed of the sampler (default 0)")
    p.add_argument("--no-stream", action="store_true", help="print the text at the end instead of token by token")


def check_arguments(args) -> None:
    """Bad numbers fail before the model is loaded."""
    from neuro_llm.generation import Sampling

    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if not args.prompt.strip():
        raise ValueError("--prompt is empty: give the text to continue")
    Sampling(args.temperature, args.top_p, args.sample_seed)   # validates


def run(args, load_and_convert) -> dict:
    """Generate; ``load_and_convert(args)`` gives ``(model, tokenizer, SpikeConfig)``. Prints the text as it
    comes (stdout) and one summary line (stderr)."""
    from transformers import TextStreamer

    from neuro_llm.eval.data import leading_bos
    from neuro_llm.generation import Sampling, generate, new_cache
    from neuro_llm.spiking.observe import SpikeStats, observing

    model, tok, config = load_and_convert(args)
    ids = tok(args.prompt, return_tensors="pt").input_ids
    bos = leading_bos(model, tok)
    if bos is not None and (ids.shape[1] == 0 or int(ids[0, 0]) != bos):
        import torch
        ids = torch.cat([torch.tensor([[bos]], dtype=ids.dtype), ids], dim=1)
    ids = ids.to(next(model.parameters()).device)
    streamer = None if args.no_stream else TextStreamer(tok, skip_prompt=True)
    sampling = Sampling(args.temperature, args.top_p, args.sample_seed)
    stats = SpikeStats()
    start = time.time()
    with observing(stats):
        out = generate(model, ids, args.max_new_tokens, sampling, streamer=streamer, eos_token_id=tok.eos_token_id)
    seconds = time.time() - start
    new = out[0, ids.shape[1]:].tolist()
    text = tok.decode(new, skip_special_tokens=True)
    if args.no_stream:
        print(text)
    result = {"model": args.model, "method": config.method, "mode": config.mode, "prompt": args.prompt,
              "text": text, "tokens": new, "new_tokens": len(new), "seconds": seconds,
              "tokens_per_second": len(new) / seconds if seconds > 0 else None,
              "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed},
              "kv_cache": "encoded" if new_cache(model) is not None else "dense"}
    line = f"{len(new)} tokens in {seconds:.1f} s ({result['tokens_per_second'] or 0:.2f} tokens/s)"
    if stats.values:
        result.update(stats.summary())
        line += (f"; {stats.events / stats.values:.3f} spike events per activation, "
                 f"firing rate {stats.firing_rate:.4f}")
    print(line, file=sys.stderr)
    return result

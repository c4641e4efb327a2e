"""Tiny Hugging Face model directories with the real SmolLM2 tokenizer: what `--model DIR` reads, in a
fraction of a second, so command-line runs (calibration, perplexity, simulation) are fast to test."""
from __future__ import annotations

from pathlib import Path

import torch


def make_checkpoint(directory: Path, tokenizer, arch: str = "llama", layers: int = 2, tie: bool = False,
                    seed: int = 0, poison: bool = False) -> Path:
    """A random ``arch`` model (64 wide, GQA 4/2 heads, the tokenizer's vocabulary) saved with the tokenizer.
    ``poison``: an infinite weight in block 0, so its activations overflow (NaN/Inf) during calibration."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_cls, model_cls = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[arch]
    config = config_cls(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=112, num_hidden_layers=layers,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                        tie_word_embeddings=tie, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    if poison:
        with torch.no_grad():
            model.model.layers[0].mlp.up_proj.weight[0, 0] = float("inf")
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

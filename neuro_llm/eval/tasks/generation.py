"""Greedy decoding with the KV cache (a spiking model's holds its encoded K and V: equal to re-running the full
forward at every step, tests/test_generation.py), stopping at stop strings."""
from __future__ import annotations

import torch

from neuro_llm.eval.tasks.scoring import encode, max_length, model_device
from neuro_llm.spiking_model import hf_model_of


def cut_at_stop(text: str, stop: list[str]) -> str:
    """``text`` up to the first occurrence of any stop string."""
    return text[:min((text.find(s) for s in stop if s in text), default=len(text))]


@torch.no_grad()
def greedy_generate(model, tokenizer, context: str, stop: list[str], max_new_tokens: int) -> str:
    """Greedy continuation of ``context``, cut before the first stop string; ends at EOS or ``max_new_tokens``.

    The context is left-truncated so that context and new tokens fit the model's context length."""
    model = hf_model_of(model)
    ids = encode(tokenizer, context)[-max(1, max_length(model) - max_new_tokens):]
    from transformers import DynamicCache

    from neuro_llm.generation import cache_argument, new_cache

    device = model_device(model)
    cache = new_cache(model) or DynamicCache(config=model.config)
    argument = cache_argument(model)
    new: list[int] = []
    inputs = torch.tensor([ids], device=device)
    for _ in range(max_new_tokens):
        logits = model(input_ids=inputs, use_cache=True, **{argument: cache}).logits
        token = int(logits[0, -1].argmax())
        if token == tokenizer.eos_token_id:
            break
        new.append(token)
        if any(s in tokenizer.decode(new) for s in stop):
            break
        inputs = torch.tensor([[token]], device=device)
    return cut_at_stop(tokenizer.decode(new), stop)

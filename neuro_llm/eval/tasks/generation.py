"""Greedy decoding by repeated full forward passes (no KV cache), so custom (spiking) forwards work too."""
from __future__ import annotations

import torch

from neuro_llm.eval.tasks.scoring import encode, max_length, model_device


def cut_at_stop(text: str, stop: list[str]) -> str:
    """``text`` up to the first occurrence of any stop string."""
    return text[:min((text.find(s) for s in stop if s in text), default=len(text))]


@torch.no_grad()
def greedy_generate(model, tokenizer, context: str, stop: list[str], max_new_tokens: int) -> str:
    """Greedy continuation of ``context``, cut before the first stop string; ends at EOS or ``max_new_tokens``.

    The context is left-truncated so that context and new tokens fit the model's context length."""
    ids = encode(tokenizer, context)[-max(1, max_length(model) - max_new_tokens):]
    device = model_device(model)
    new: list[int] = []
    for _ in range(max_new_tokens):
        inputs = torch.tensor([ids + new], device=device)
        token = int(model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits[0, -1].argmax())
        if token == tokenizer.eos_token_id:
            break
        new.append(token)
        if any(s in tokenizer.decode(new) for s in stop):
            break
    return cut_at_stop(tokenizer.decode(new), stop)

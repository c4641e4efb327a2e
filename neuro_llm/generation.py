"""Text generation with a KV cache: greedy or sampled, tokens streamed as they come.

A spiking model decodes with an :class:`~neuro_llm.spiking.cache.EncodedCache`: each token's K and V are
spike-encoded once, when the token arrives, and the cache keeps the encoded rows. Because every encoder is
causal this equals re-running the full forward at every step (same greedy tokens; logits equal up to float
summation order, ``tests/test_generation.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from neuro_llm.spiking.cache import EncodedCache
from neuro_llm.spiking.mode import is_spiking

Tensor = torch.Tensor


def _hf(model):
    """The Hugging Face model of a ``SpikingModel`` (read by name: that class's module imports this one)."""
    return getattr(model, "hf_model", model)


@dataclass(frozen=True)
class Sampling:
    """Greedy when ``temperature == 0``; else softmax(logits / temperature) cut to the top-``p`` mass."""
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def generate_kwargs(self) -> dict:
        if self.temperature == 0:
            return dict(do_sample=False)
        return dict(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=None)


def new_cache(model):
    """The cache a decode of ``model`` uses: encoded K/V for a spiking model, ``None`` (the default) otherwise."""
    model = _hf(model)
    return EncodedCache(model) if is_spiking(model) else None


def cache_argument(model) -> str:
    """The name ``transformers`` gives the cache argument: ``cache`` (5.x), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.no_grad()
def generate(model, input_ids: Tensor, max_new_tokens: int = 32, sampling: Sampling = Sampling(),
             streamer=None, eos_token_id: int | None = None, output_logits: bool = False):
    """Continue ``input_ids`` ``[batch, S]`` by up to ``max_new_tokens`` tokens with the KV cache (encoded for a
    spiking model). Returns the ids ``[batch, S + n]``, and with ``output_logits`` the per-step logits
    ``[batch, n, vocab]`` too. ``streamer``: a ``transformers`` streamer (e.g. ``TextStreamer``). ``model``: a
    ``SpikingModel`` or a Hugging Face model."""
    model = _hf(model)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if sampling.temperature > 0:
        torch.manual_seed(sampling.seed)
    out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                         **{cache_argument(model): new_cache(model)}, streamer=streamer, eos_token_id=eos_token_id,
                         pad_token_id=_first(eos_token_id) if eos_token_id is not None else 0,
                         return_dict_in_generate=True, output_logits=output_logits, **sampling.generate_kwargs())
    if not output_logits:
        return out.sequences
    return out.sequences, torch.stack(out.logits, dim=1)


def _first(token_ids):
    """One id of ``eos_token_id`` (a generation config may list several) to pad with."""
    return token_ids[0] if isinstance(token_ids, (list, tuple)) else token_ids


@torch.no_grad()
def generate_by_full_forward(model, input_ids: Tensor, max_new_tokens: int) -> tuple[Tensor, Tensor]:
    """Greedy reference without any cache: the whole sequence through the model at every step. Returns the ids
    and the per-step last-position logits (what :func:`generate` must reproduce)."""
    model = _hf(model)
    ids, steps = input_ids, []
    for _ in range(max_new_tokens):
        logits = model(ids, use_cache=False).logits[:, -1]
        steps.append(logits)
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return ids, torch.stack(steps, dim=1)

"""Log-likelihoods of continuations given contexts, tokenized and batched as lm-eval's ``HFLM`` does.

A ``(context, continuation)`` pair is encoded as the whole string, then split after the tokens of the
context alone (trailing spaces of the context move to the continuation); an empty context becomes the
prefix token (BOS, else EOS). The tokenizer adds its default special tokens, except to a string that
already starts with the prefix token. The model is only called as ``model(input_ids=, attention_mask=)``
and its ``.logits`` read, so custom (spiking) forwards work too; a ``SpikingModel`` runs its Hugging Face model.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from neuro_llm import distributed
from neuro_llm.spiking_model import hf_model_of

DEFAULT_MAX_LENGTH = 2048


def prefix_token_id(tokenizer) -> int:
    """The token that stands for an empty context: BOS, else EOS."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def encode(tokenizer, text: str, add_special_tokens: bool | None = None) -> list[int]:
    """Token ids of ``text``; ``None`` means the tokenizer's default unless ``text`` starts with the prefix token."""
    if add_special_tokens is None and text.startswith(tokenizer.decode(prefix_token_id(tokenizer))):
        add_special_tokens = False
    kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
    return tokenizer.encode(text, **kwargs)


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of one request."""
    if not context:
        cont = encode(tokenizer, continuation, add_special_tokens=False)
        prefix = prefix_token_id(tokenizer)
        return ([prefix], cont) if cont[0] != prefix else (cont[:1], cont[1:])
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    context_ids = encode(tokenizer, stripped)
    return context_ids, encode(tokenizer, stripped + continuation)[len(context_ids):]


def max_length(model) -> int:
    """The model's context length from its config (``n_positions``, ``max_position_embeddings``, ``n_ctx``)."""
    config = getattr(hf_model_of(model), "config", None)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(config, attr, None):
            return getattr(config, attr)
    return DEFAULT_MAX_LENGTH


def model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def forward_logprobs(model, inputs: list[list[int]], tails: list[int]) -> list[torch.Tensor]:
    """Log-softmax of the last ``tails[i]`` positions of each input, from one right-padded forward pass
    (left on the model's device: only the scores of the target tokens need to leave it)."""
    width = max(map(len, inputs))
    ids = torch.zeros(len(inputs), width, dtype=torch.long)
    mask = torch.zeros(len(inputs), width, dtype=torch.long)
    for row, seq in enumerate(inputs):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    device = model_device(model)
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
    return [logits[row, len(seq) - tail:len(seq)].float().log_softmax(-1)
            for row, (seq, tail) in enumerate(zip(inputs, tails))]


def score_tokens(model, requests: list[tuple[list[int], list[int]]], batch_size: int = 16,
                 progress: bool = True, desc: str = "log-likelihoods") -> list[tuple[float, bool]]:
    """(log P(continuation | context), whether greedy decoding yields the continuation) per token request.

    The input is ``(context + continuation)[:-1]``, left-truncated to the model's context length;
    requests with the same input share one forward row (e.g. one-token answers to one question);
    rows are batched longest first. Under torchrun the batches are split over the ranks (each request is
    scored in the same batch as in one process) and every rank returns all the results."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model = hf_model_of(model)
    limit = max_length(model)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (context, continuation) in enumerate(requests):
        if not continuation:
            raise ValueError(f"request {index} has an empty continuation")
        groups.setdefault(tuple((context + continuation)[-(limit + 1):][:-1]), []).append(index)
    order = sorted(groups, key=len, reverse=True)
    results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
    starts = [range(0, len(order), batch_size)[b] for b in distributed.shard(-(-len(order) // batch_size))]
    mine = sum(len(groups[key]) for start in starts for key in order[start:start + batch_size])
    with tqdm(total=mine, desc=desc, disable=not progress or not distributed.is_main()) as bar:
        for start in starts:   # data-parallel: batch b on rank b mod world size (the same batches as one process)
            batch = order[start:start + batch_size]
            tails = [max(len(requests[i][1]) for i in groups[key]) for key in batch]
            scores, indices = [], []
            for key, logprobs in zip(batch, forward_logprobs(model, [list(k) for k in batch], tails)):
                for index in groups[key]:
                    target = torch.tensor(requests[index][1], device=logprobs.device)
                    rows = logprobs[-len(target):]
                    scores.append(torch.stack([rows.gather(1, target[:, None]).sum(),
                                               (rows.argmax(-1) == target).all().to(rows.dtype)]))
                    indices.append(index)
            for index, (loglik, greedy) in zip(indices, torch.stack(scores).cpu().tolist()):
                results[index] = (loglik, bool(greedy))
            bar.update(len(indices))
    if distributed.active():
        for part in distributed.gather({i: results[i] for start in starts for key in order[start:start + batch_size]
                                        for i in groups[key]}):
            for index, value in part.items():
                results[index] = value
    return results


def loglikelihoods(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 16,
                   progress: bool = True, desc: str = "log-likelihoods") -> list[tuple[float, bool]]:
    """``score_tokens`` of ``(context, continuation)`` strings."""
    return score_tokens(model, [encode_pair(tokenizer, c, x) for c, x in pairs], batch_size, progress, desc)

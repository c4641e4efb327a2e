"""WikiText-2 text, tokenized once as one long text and cut into non-overlapping windows.

The files are the tokenized v1 release (``valid.txt`` for calibration, ``test.txt`` for perplexity),
read from ``../shared/data/wikitext-2`` beside the project unless ``NEURO_LLM_DATA`` or an explicit
``data_dir`` says otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from neuro_llm.arch import ADAPTERS

DATASETS = {"wikitext2": "wikitext-2"}
SPLITS = ("valid", "test")


def default_data_dir() -> Path:
    """``$NEURO_LLM_DATA``, else ``shared/data`` beside the checkout, else ``./shared/data``."""
    if os.environ.get("NEURO_LLM_DATA"):
        return Path(os.environ["NEURO_LLM_DATA"])
    repo = Path(__file__).resolve().parents[2]   # neuro_llm/eval/data.py → the checkout
    for candidate in (repo.parent / "shared" / "data", repo / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return repo.parent / "shared" / "data"


def text_path(dataset: str = "wikitext2", split: str = "test", data_dir: str | os.PathLike | None = None) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: accepted {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: accepted {list(SPLITS)}")
    path = Path(data_dir or default_data_dir()) / DATASETS[dataset] / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: put WikiText-2 ({split}.txt) there, or pass --data-dir / set NEURO_LLM_DATA"
        )
    return path


def load_tokens(tokenizer, dataset: str = "wikitext2", split: str = "test",
                data_dir: str | os.PathLike | None = None) -> torch.Tensor:
    """The whole split as one 1-D LongTensor of token ids (the file read as one text)."""
    text = text_path(dataset, split, data_dir).read_text(encoding="utf-8")
    return torch.tensor(tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)


def leading_bos(model, tokenizer) -> int | None:
    """The BOS id every window must start with, for families that expect one (Gemma); else ``None``. ``model``: a
    Hugging Face model or a ``SpikingModel`` (its ``hf_model``, read by name: the converter imports this module)."""
    model = getattr(model, "hf_model", model)
    adapter = ADAPTERS.get(getattr(getattr(model, "config", None), "model_type", None))
    if adapter is None or not adapter.bos_first:
        return None
    return getattr(tokenizer, "bos_token_id", None) if tokenizer is not None else model.config.bos_token_id


def model_windows(tokens: torch.Tensor, seqlen: int, max_windows: int | None = None,
                  bos: int | None = None) -> torch.Tensor:
    """:func:`windows` of ``seqlen`` tokens; with ``bos``, each is ``[bos]`` + ``seqlen - 1`` text tokens
    (so every window predicts ``seqlen - 1`` text tokens either way)."""
    if bos is None:
        return windows(tokens, seqlen, max_windows)
    chunks = windows(tokens, seqlen - 1, max_windows)
    return torch.cat([torch.full((chunks.shape[0], 1), bos, dtype=chunks.dtype), chunks], dim=1)


def windows(tokens: torch.Tensor, seqlen: int, max_windows: int | None = None) -> torch.Tensor:
    """Non-overlapping ``[n, seqlen]`` windows (the tail shorter than ``seqlen`` is dropped)."""
    if seqlen < 2:
        raise ValueError(f"seqlen must be at least 2, got {seqlen}")
    n = tokens.numel() // seqlen
    if max_windows is not None:
        if max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, got {max_windows}")
        n = min(n, max_windows)
    if n == 0:
        raise ValueError(f"the text has {tokens.numel()} tokens, fewer than one window of {seqlen}")
    return tokens[: n * seqlen].view(n, seqlen)

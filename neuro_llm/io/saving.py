"""Save a converted (calibrated) model and load it back without calibrating again.

A saved model is a directory (``neuro-llm eval ... --save DIR``, :func:`save_spiking_model`)::

    DIR/model.safetensors   the converted model's state dict: for every SpikingLinear its integer weight
                            ``codes`` (int8 on disk when they fit), in the channel order of ``perm``, with
                            ``weight_scale``, ``channel_steps``, ``perm`` and ``bias``; everything that stays
                            floating point (embeddings, norms, lm_head) as it is. A tensor two names share
                            (tied embeddings) is stored once.
    DIR/neuro_llm.json      schema and package version, the source model, the SpikeConfig, the Hugging Face
                            model config, where the spiking modules sit (each one's spike code and steps),
                            the run configuration that produced it.
    DIR/tokenizer*.json     the tokenizer, so the directory stands on its own.

The directory is written under a temporary name beside ``DIR`` and renamed into place; an existing
``DIR`` is replaced only if it is itself a saved model. :func:`load_spiking_model` builds the Hugging Face
model from its config with uninitialized weights, puts spiking modules built from the saved tensors where
the manifest says, loads the rest of the state dict and refuses a directory of another schema or package
version. No calibration runs, so the reloaded model computes bit for bit what was saved.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from neuro_llm.config import SpikeConfig, spike_config_options
from neuro_llm.core.dtypes import parse_dtype
from neuro_llm.core.version import __version__, versions
from neuro_llm.io.atomic import check_writable, remove_stale_temporaries
from neuro_llm.spiking.attention import SpikingAttention, register_attention
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import SpikingLinear
from neuro_llm.spiking.mode import set_mode

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


def save_spiking_model(model: nn.Module, directory: str | os.PathLike, tokenizer=None,
                       run_config: dict | None = None) -> Path:
    """Write the converted ``model`` (from :func:`neuro_llm.convert.convert`) to ``directory``, whole or not at all."""
    from safetensors.torch import save_file

    config = getattr(model, "neuro_llm_config", None)
    if config is None:
        raise ValueError("the model was not converted: save the result of convert(model, SpikeConfig(...))")
    target = check_save_target(directory)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "neuro_llm_tokenizer", None)

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
        raise ValueError(f"the model mixes execution modes {sorted(modes)}: set_mode(model, ...) first")

    state, shared = _unique_tensors(model.state_dict())
    casts = {}
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        owner = name.rsplit(".", 1)[0]
        if name.endswith(".codes") and owner in linears:
            tensor = _compact_codes(name, model.get_submodule(owner), tensor, casts)
        tensors[name] = tensor.contiguous()

    source = getattr(model, "neuro_llm_source", None)
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


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def load_spiking_model(directory: str | os.PathLike, device: str | torch.device = "cpu", dtype=None):
    """``(model, tokenizer)`` from a directory written by :func:`save_spiking_model`, without calibration.

    The model is in eval mode on ``device``, in the execution mode it was saved in, in ``dtype`` (default:
    the dtype it was saved in; integer weight codes and their float32 scales keep their types), with
    ``model.neuro_llm_config`` set as :func:`~neuro_llm.convert.convert` sets it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.initialization import no_init_weights

    directory = Path(directory).expanduser()
    manifest = read_manifest(directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{directory}: {WEIGHTS} is missing; the saved model is incomplete")
    try:
        config = SpikeConfig(**manifest["config"])
        hf_config = AutoConfig.for_model(**manifest["hf_config"])
        saved_dtype = getattr(torch, manifest["dtype"])
        state = load_file(str(weights))
    except (KeyError, TypeError, AttributeError, SafetensorError) as error:
        raise ValueError(f"{directory}: the saved model is damaged ({type(error).__name__}: {error})") from None
    for name, dtype_name in manifest["int8_codes"].items():
        state[name] = state[name].to(getattr(torch, dtype_name))

    with no_init_weights():  # every tensor comes from the file
        model = AutoModelForCausalLM.from_config(hf_config, dtype=saved_dtype)
    try:
        for name, spec in manifest["linears"].items():
            saved_perm = state[f"{name}.perm"]
            permuted = state[f"{name}.codes"]
            codes = torch.empty_like(permuted)
            codes[:, saved_perm] = permuted  # SpikingLinear keeps the codes in perm's order
            code = None if spec["code"] is None else SpikeCode(**spec["code"])
            module = SpikingLinear(codes, state.get(f"{name}.weight_scale"), state.get(f"{name}.bias"), code=code,
                                   channel_steps=state[f"{name}.channel_steps"], site=spec["site"],
                                   layer=spec["layer"])
            if not torch.equal(module.perm, saved_perm):
                raise ValueError(f"{name}: the channel order does not follow the channel steps")
            _set_submodule(model, name, module)
        for name, spec in manifest["attention"].items():
            tensors = {key.removeprefix(f"{name}."): value for key, value in state.items()
                       if key.startswith(f"{name}.")}  # per-channel steps of K and V, where calibrated
            _set_submodule(model, name, SpikingAttention(SpikeCode(**spec["code"]), spec["steps"], site=spec["site"],
                                                         layer=spec["layer"],
                                                         key_scale=spec.get("key_scale", "token"), **tensors))
    except (KeyError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{directory}: the saved model is damaged or foreign ({error})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    shared = manifest["shared_tensors"]
    missing = [key for key in missing if key not in shared]
    if missing or unexpected:
        raise ValueError(f"{directory}: the saved tensors do not fit the model (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    model.tie_weights()
    for name, kept in shared.items():  # names the file stored once: same values (tied where the config ties)
        try:
            tensor = model.get_parameter(name)
        except AttributeError:
            tensor = model.get_buffer(name)
        if not torch.equal(tensor, state[kept]):
            tensor.data.copy_(state[kept])

    if manifest.get("generation_config"):
        model.generation_config = GenerationConfig.from_dict(manifest["generation_config"])
    if manifest.get("attn_implementation") == "neuro_llm_spiking":
        register_attention()
    if manifest.get("attn_implementation"):
        model.config._attn_implementation = manifest["attn_implementation"]
    set_mode(model, manifest["mode"])
    if dtype is not None:
        model.to(parse_dtype(dtype))
    model.to(device).eval()
    tokenizer = None
    if (directory / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model.neuro_llm_config = config
    model.neuro_llm_tokenizer = tokenizer
    model.neuro_llm_source = manifest.get("source_model")
    model.neuro_llm_saved = str(directory)
    return model, tokenizer

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
version. No calibration runs, so the reloaded model (a :class:`~neuro_llm.spiking_model.SpikingModel`)
computes bit for bit what was saved. Writing is :mod:`neuro_llm.io.writer`, whose names this module re-exports.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from neuro_llm.config import SpikeConfig
from neuro_llm.core.dtypes import parse_dtype
from neuro_llm.io.writer import (MANIFEST, SCHEMA, SCHEMA_VERSION, WEIGHTS, check_save_target,  # noqa: F401
                                 is_saved_model, read_manifest, save_spiking_model)
from neuro_llm.spiking.attention import SpikingAttention, register_attention
from neuro_llm.spiking.codes import SpikeCode
from neuro_llm.spiking.linear import SpikingLinear
from neuro_llm.spiking_model import SpikingModel


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def load_spiking_model(directory: str | os.PathLike, device: str | torch.device = "cpu", dtype=None):
    """``(model, tokenizer)`` from a directory written by :func:`save_spiking_model`, without calibration.

    ``model`` is a :class:`~neuro_llm.spiking_model.SpikingModel` as :func:`~neuro_llm.convert.convert` returns
    it: in eval mode on ``device``, in the execution mode it was saved in, in ``dtype`` (default: the dtype it
    was saved in; integer weight codes and their float32 scales keep their types)."""
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
    if dtype is not None:
        model.to(parse_dtype(dtype))
    model.to(device).eval()
    tokenizer = None
    if (directory / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    snn = SpikingModel(model, config, tokenizer, source=manifest.get("source_model"), saved_from=str(directory))
    return snn.set_mode(manifest["mode"]), tokenizer

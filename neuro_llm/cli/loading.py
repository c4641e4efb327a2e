"""Loading (and converting) the model a command names, and what every output records about the run."""
from __future__ import annotations

from dataclasses import replace

from neuro_llm.cli.checks import _saved, _spike_options
from neuro_llm.config import SpikeConfig


def _load_saved(args):
    """A model saved by ``eval --save``: no calibration; only the execution mode may differ from it."""
    from neuro_llm.io.saving import load_spiking_model

    model, tok = load_spiking_model(args.model, device=_model_device(args), dtype=args.dtype)
    saved = model.spec
    given = _spike_options(args)
    wanted = replace(saved, **given).to_dict()
    differ = sorted(k for k, v in saved.to_dict().items() if k != "mode" and wanted[k] != v)
    clash = [k for k in differ if k in given] or differ
    if clash:
        options = ", ".join(f"--{k.replace('_', '-')}" for k in clash)
        raise ValueError(f"--model {args.model} is a saved {saved.method} W{saved.wbits}A{saved.abits} model; "
                         f"{options} differ from what it was saved with (only --mode may change): drop them")
    model.set_mode(given.get("mode", saved.mode))
    return model, tok, model.spec


def _load_and_convert(args, check=None, blocks=None):
    """``(SpikingModel, tokenizer, SpikeConfig)``; ``check(hf_model, tokenizer)`` runs after loading, before
    calibration; ``blocks(hf_model)`` (optional) says how many leading blocks need converting."""
    import torch

    from neuro_llm.convert import convert
    from neuro_llm.io.models import load_model

    if _saved(args):
        model, tok, config = _load_saved(args)
        if check is not None:
            check(model.hf_model, tok)
        return model, tok, config
    config = SpikeConfig(**_spike_options(args))
    model, tok = load_model(args.model, device=_model_device(args), dtype=args.dtype)
    if check is not None:
        check(model, tok)
    torch.manual_seed(config.seed)
    model = convert(model, config, tokenizer=tok, inplace=True, data_dir=args.data_dir,
                    num_blocks=None if blocks is None else blocks(model),
                    device=args.device if _streamed(args) else None)
    return model, tok, config


def _streamed(args) -> bool:
    return bool(getattr(args, "stream", False))


def _model_device(args) -> str:
    """Where the model is loaded: the host when its blocks stream through ``--device``, else ``--device``."""
    return "cpu" if _streamed(args) else args.device


def _run_config(args, config: SpikeConfig | None = None) -> dict:
    from neuro_llm.cli.runconfig import run_config
    return run_config(args.command_parser, args.command, args, config)


def _provenance(args, config: SpikeConfig | None = None) -> dict:
    """What every output records: the resolved configuration and the versions that produced it."""
    from neuro_llm import __version__
    from neuro_llm.cli.runconfig import versions

    return {"run_config": _run_config(args, config), "neuro_llm_version": __version__, "versions": versions()}


def _stamp(args, seed: int | None) -> dict:
    """The device, dtype and seed that a result's ``provenance`` records (:mod:`neuro_llm.core.provenance`)."""
    return {"device": getattr(args, "device", None), "dtype": getattr(args, "dtype", None), "seed": seed}


def _record_world(result: dict) -> None:
    """Under torchrun, how many ranks shared the work (absent in one process)."""
    from neuro_llm import distributed

    if distributed.active():
        result["world_size"] = distributed.world_size()

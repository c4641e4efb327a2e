"""What ``neuro-llm`` checks before any long work: options, devices, dtypes, output paths, model names, texts."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from neuro_llm.cli import generate as generate_cli
from neuro_llm.cli.parser import MODEL_COMMANDS, SPIKE_FIELDS, _default
from neuro_llm.config import SpikeConfig


def _spike_options(args) -> dict:
    """The spiking options given (on the command line or in --config), by SpikeConfig field."""
    return {name: getattr(args, name) for name in SPIKE_FIELDS if getattr(args, name, None) is not None}


def _check_positive(**values) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: expected cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: no CUDA device is available to torch {torch.__version__} here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _check_output(path: str | None, flag: str) -> None:
    """An output file must be creatable (its folder exists and is writable) and not be a folder."""
    from neuro_llm.io.atomic import check_writable

    if path is None:
        return
    check_writable(path)
    if Path(path).is_dir():
        raise IsADirectoryError(f"{flag} {path} is a directory; give a file name")


def _check_model_name(name: str) -> None:
    from neuro_llm.io.models import resolve_model
    from neuro_llm.io.saving import is_saved_model, read_manifest

    if is_saved_model(name):
        read_manifest(name)  # refuses another schema or package version now
    else:
        resolve_model(name)


def _check_inputs(args) -> None:
    """Everything that can be checked without the model: runs before loading and calibrating."""
    _check_output(getattr(args, "json", None), "--json")
    if args.command not in MODEL_COMMANDS:  # energy, plot: analysis.cli checks its own arguments
        return
    if args.command == "info":
        _check_model_name(args.model)
        _check_dtype(args, "cpu")
        return
    _check_device(args.device)
    _check_dtype(args, args.device)
    if not _saved(args):
        SpikeConfig(**_spike_options(args))  # contradictory or out-of-range options fail here
    if args.command in ("eval", "simulate"):
        from neuro_llm.eval.data import text_path
        text_path(getattr(args, "dataset", "wikitext2"), "test", args.data_dir)   # the text exists
    if not _saved(args):
        _check_calibration_file(args)
        _hint_unquantized(args)
    if args.command == "export-nir":
        _check_output(args.out, "--out")
        _check_positive(max_count=args.max_count)
        if _spike_options(args).get("method", _default("method")) == "fp" and not _saved(args):
            raise ValueError("export-nir writes spiking (or quantized) projections; --method fp has none: give "
                             "--method spikellm or sdllm")
        if args.layers is not None:
            from neuro_llm.simulator import parse_layers
            parse_layers(args.layers, 1 + max(map(int, re.findall(r"\d+", args.layers)), default=0))
    if args.command == "convert":
        from neuro_llm.io.saving import check_save_target
        check_save_target(args.save)
    if args.command == "eval":
        _check_positive(max_windows=args.max_windows, limit=args.limit, batch_size=args.batch_size,
                        windows_per_pass=args.windows_per_pass)
        if args.stream and args.tasks is not None:
            raise ValueError("--tasks scores with the model resident on --device; drop --stream (perplexity only) "
                             "or --tasks")
        if args.cuda_graphs and (args.stream or not str(args.device).startswith("cuda")):
            raise ValueError("--cuda-graphs replays a resident model on a CUDA device: "
                             + ("drop --stream (a streamed block is a new copy every pass)" if args.stream
                                else f"use --device cuda, or drop --cuda-graphs on {args.device}"))
        if args.seqlen < 2:
            raise ValueError(f"--seqlen must be at least 2, got {args.seqlen}")
        if args.tasks is not None:
            from neuro_llm.eval.tasks.formats import get_task
            names = [t.strip() for t in args.tasks.split(",") if t.strip()]
            if not names:
                raise ValueError("--tasks is empty: give comma-separated task names")
            for name in names:
                get_task(name)
        if args.save is not None:
            from neuro_llm.io.saving import check_save_target
            check_save_target(args.save)
        if args.ppl and not args.tasks:
            raise ValueError("--ppl goes with --tasks (without --tasks the perplexity is always measured)")
    if args.command == "generate":
        generate_cli.check_arguments(args)
    if args.command == "simulate":
        from neuro_llm.simulator import parse_layers

        _check_positive(tokens=args.tokens)
        _check_output(args.record, "--record")
        method = _spike_options(args).get("method", _default("method"))
        if not _saved(args) and method not in ("spikellm", "sdllm"):
            raise ValueError(f"simulate needs a spiking method (spikellm or sdllm), not {method!r}")
        if not _saved(args) and not SpikeConfig(**_spike_options(args)).quantizes_activations:
            raise ValueError(f"--abits {_spike_options(args).get('abits')} leaves the activations unquantized: {method} "
                             "then encodes no spikes to record; give --abits 4 (or another width below 16)")
        if args.layers is not None:  # the syntax now, the range once the model is known
            parse_layers(args.layers, 1 + max(map(int, re.findall(r"\d+", args.layers)), default=0))
    _check_model_name(args.model)


def _check_calibration_file(args) -> None:
    """Methods that calibrate read WikiText-2 valid: it must exist and hold text (its length in tokens is
    checked again, with the tokenizer, before calibration starts)."""
    from neuro_llm.eval.data import text_path

    try:
        config = SpikeConfig(**_spike_options(args))
    except (TypeError, ValueError):
        return
    from neuro_llm.calibrate import make_calibrator

    if config.method == "fp" or not (make_calibrator(config).needs_data or config.uses_saliency):
        return
    path = text_path("wikitext2", "valid", args.data_dir)
    if not path.read_text(encoding="utf-8", errors="replace").strip():
        raise ValueError(f"the calibration text {path} is empty: put WikiText-2's valid split there (or point "
                         "--data-dir at a folder holding wikitext-2/valid.txt)")


def _hint_unquantized(args) -> None:
    """A spiking method whose activations stay in floating point spikes nowhere: say so before the run."""
    try:
        config = SpikeConfig(**_spike_options(args))
    except (TypeError, ValueError):
        return
    if config.method in ("spikellm", "sdllm") and not config.quantizes_activations and \
            config.weight_spikes != "ternary" and args.command != "simulate":
        print(f"neuro-llm {args.command}: note: --abits {config.abits} leaves the activations unquantized, so "
              f"{config.method} encodes no spikes (a W{config.wbits}A{config.abits} weight-only model); give --abits 4 "
              "for spike trains", file=sys.stderr)


def _check_text_length(args, tokenizer) -> None:
    """The test text must hold at least one window of ``--seqlen`` tokens: checked with the tokenizer,
    before calibration (which can take many minutes)."""
    from neuro_llm.eval.data import load_tokens, text_path

    n = load_tokens(tokenizer, args.dataset, "test", args.data_dir).numel()
    if n < 2:
        raise ValueError(f"the {args.dataset} test text {text_path(args.dataset, 'test', args.data_dir)} is empty "
                         f"({n} tokens): put WikiText-2's test split there (or point --data-dir at a folder holding "
                         "wikitext-2/test.txt)")
    if n < args.seqlen:
        raise ValueError(f"--seqlen {args.seqlen} is longer than the {args.dataset} test text ({n} tokens with "
                         f"this tokenizer): use --seqlen {n} or less")


def _check_dtype(args, device: str) -> None:
    from neuro_llm.io.models import check_dtype

    if getattr(args, "dtype", None) is not None:
        check_dtype(args.dtype, device)


def _saved(args) -> bool:
    from neuro_llm.io.saving import is_saved_model
    return is_saved_model(args.model)

"""``neuro-llm``: info, eval, simulate, energy, plot.

Every command takes ``--config FILE`` (YAML/JSON of its options, flags override it; see
:mod:`neuro_llm.cli.runconfig`) and records the resolved configuration and the package version in what it
writes. Inputs are checked before any long work starts; user mistakes end in one line and exit status 2,
an interrupt (Ctrl-C) in exit status 130 with no output file left behind (outputs are written to a
temporary name and renamed when whole).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from neuro_llm.cli import generate as generate_cli
from neuro_llm.config import (KEY_SCALES, METHODS, MODES, SALIENCY, SPIKE_TRAINS, THRESHOLDS, WEIGHT_METHODS,
                              WEIGHT_SPIKES, SpikeConfig)
from neuro_llm.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, USER_ERRORS  # noqa: F401

SPIKE_FIELDS = tuple(f.name for f in fields(SpikeConfig) if f.name != "extra")


# ----------------------------------------------------------------------------- arguments
class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (the full usage stays behind --help)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --config is found before parsing: no abbreviations
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _default(name: str):
    return SpikeConfig.__dataclass_fields__[name].default


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", default=None,
                   help="YAML/JSON file of this command's options (flags given beside it override it); also a "
                        "--json result, a .h5 recording or a saved model directory: re-run what it records")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m",
                   help="smollm2-135m (default), a local Hugging Face model directory, a .gguf file, or a "
                        "directory written by `eval --save`")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--dtype", default=None, choices=["bfloat16", "float16", "float32"],
                   help="compute dtype of the model (default float32; a saved model: the dtype it was saved in)")


def _add_spiking(p: argparse.ArgumentParser) -> None:
    """The options of :class:`SpikeConfig`, one per field. Their argparse default is ``None`` ("not given"),
    so that a saved model can tell given options from defaults; the defaults are SpikeConfig's."""
    g = p.add_argument_group("quantization and spikes (SpikeConfig)")
    g.add_argument("--method", choices=METHODS, default=None,
                   help=f"quantization/spiking method (default {_default('method')})")
    g.add_argument("--wbits", type=int, default=None,
                   help=f"weight bits, 16 = not quantized (default {_default('wbits')})")
    g.add_argument("--abits", type=int, default=None,
                   help=f"activation bits, 16 = not quantized (default {_default('abits')})")
    g.add_argument("--salient", type=float, default=None,
                   help="fraction of input channels ranked salient by Optimal Brain Spiking (default 0.10 for "
                        "spikellm, 0 otherwise)")
    g.add_argument("--extra-steps", type=int, default=None,
                   help="salient channels get 2**k times the GIF steps: 1 = t2, 2 = t4 (default 1 for spikellm, "
                        "0 otherwise)")
    g.add_argument("--spike-levels", type=int, default=None,
                   help="gif: levels L per step (default 2**abits, one step); ternary: max level k (default 1)")
    g.add_argument("--mode", default=None, choices=MODES,
                   help=f"explicit: time-stepped spike trains; collapsed: the equal quantized computation "
                        f"(default {_default('mode')})")
    g.add_argument("--quantize-attention", action=argparse.BooleanOptionalAction, default=None,
                   help="spike-encode Q, K and V of the attention products (default: yes)")
    g.add_argument("--key-scale", choices=KEY_SCALES, default=None,
                   help="K's spike threshold, causal either way: 'token' = per token and head (as OmniQuant and "
                        "the official SpikeLLM code); 'running' = per channel over the tokens so far "
                        f"(default {_default('key_scale')})")
    g.add_argument("--calib-windows", type=int, default=None,
                   help=f"WikiText-2 valid windows for calibration (default {_default('calib_windows')})")
    g.add_argument("--calib-seqlen", type=int, default=None,
                   help=f"tokens per calibration window (default {_default('calib_seqlen')})")
    g.add_argument("--seed", type=int, default=None,
                   help=f"seed of the calibration windows and of torch (default {_default('seed')})")
    g.add_argument("--weight-method", choices=WEIGHT_METHODS, default=None,
                   help="spiking methods: where the weights come from (default rtn)")
    g.add_argument("--saliency", choices=SALIENCY, default=None,
                   help=f"Optimal Brain Spiking order for ranking channels (default {_default('saliency')})")
    g.add_argument("--group-size", type=int, default=None,
                   help="GPTQ weight groups (default: one scale per output row)")
    g.add_argument("--act-order", action=argparse.BooleanOptionalAction, default=None,
                   help="GPTQ: quantize columns in order of decreasing Hessian diagonal (default: no)")
    g.add_argument("--epochs", type=int, default=None,
                   help=f"OmniQuant epochs per block (default {_default('epochs')})")
    g.add_argument("--omniquant-batch", type=int, default=None, metavar="N",
                   help="OmniQuant windows per optimizer step (default: the number of torchrun ranks, 1 alone)")
    g.add_argument("--weight-spikes", choices=WEIGHT_SPIKES, default=None,
                   help=f"spikellm: 'ternary' = sparse ternary GIF weight spikes (default {_default('weight_spikes')})")
    g.add_argument("--weight-salient", type=float, default=None,
                   help=f"pbllm / ternary weights: fraction of salient weights (default {_default('weight_salient')})")
    g.add_argument("--weight-extra-steps", type=int, default=None,
                   help=f"ternary weights: salient weights get 2**k ternary steps (default "
                        f"{_default('weight_extra_steps')})")
    g.add_argument("--threshold", choices=THRESHOLDS, default=None,
                   help="sdllm: 'mean' = per-token threshold mean|x|/k, counts unbounded or capped (the authors' "
                        "code); 'max' = the old max-scaled --abits code, kept as a comparison (default mean)")
    g.add_argument("--threshold-k", type=float, default=None,
                   help=f"sdllm: k of the threshold mean|x|/k; larger k = finer counts, more spikes (about k unit "
                        f"spikes per activation) (default {_default('threshold_k'):g})")
    g.add_argument("--count-cap", type=_count_cap, default=None, metavar="N|none",
                   help="sdllm: clip |count| at N (membrane clipping; bounds the time steps), or none "
                        f"(default {_cap_text(_default('count_cap'))})")
    g.add_argument("--spike-train", choices=SPIKE_TRAINS, default=None,
                   help="sdllm: 'ternary' = a count c fires |c| spikes of ±1; 'bitwise' = c sent bit by bit, "
                        "sign-magnitude (popcount(|c|) spikes) (default bitwise, as SpikingBrain's W8ASpike)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding wikitext-2/{valid,test}.txt (default: $NEURO_LLM_DATA or ../shared/data)")


class _ValueTypeError(argparse.ArgumentTypeError, ValueError):
    """A bad option value: argparse reports its message; ``--config`` files report it as a ValueError."""


def _count_cap(text: str):
    """``--count-cap``: a positive integer, or ``none`` (no cap)."""
    if str(text).strip().lower() == "none":
        return "none"
    try:
        return int(text)
    except ValueError:
        raise _ValueTypeError(f"expected an integer or none, got {text!r}") from None


def _cap_text(cap) -> str:
    return "none" if cap is None else str(cap)


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="OUT", default=None, help="write the result as JSON (atomically)")


def _model_command(sub, name: str, help: str, description: str, add_arguments=None) -> argparse.ArgumentParser:
    """A command that loads and converts a model: model and spiking options, its own, then --config and --json."""
    p = sub.add_parser(name, help=help, description=description)
    _add_model(p)
    _add_spiking(p)
    if add_arguments is not None:
        add_arguments(p)
    _add_config(p)
    _add_json(p)
    return p


def _simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", default=None, help="blocks to record, e.g. 0-3 or 0,5,7-9 (default: all)")
    p.add_argument("--tokens", type=int, default=256, help="WikiText-2 test tokens to simulate (default %(default)s)")
    p.add_argument("--record", required=True, metavar="OUT.h5", help="HDF5 recording to write")


def _export_nir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", default=None, help="blocks to export, e.g. 0 or 0-1 (default: all)")
    p.add_argument("--out", required=True, metavar="OUT.nir", help="NIR file to write (HDF5)")
    p.add_argument("--max-count", type=int, default=None,
                   help="sdllm without --count-cap: IF populations per step multiplier (larger counts saturate; "
                        "the graph is marked inexact) (default 15)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="neuro-llm", description="Spiking LLaMA-family language models: evaluate, "
                           "simulate layer by layer, estimate neuromorphic energy.")
    parser.add_argument("--version", action="version", version=f"neuro-llm {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    p = sub.add_parser("info", help="describe a model (architecture, sizes, source)",
                       description="Describe a model: architecture, sizes, where it is read from.")
    _add_model(p)
    _add_config(p)
    _add_json(p)

    p = sub.add_parser("eval", help="perplexity (WikiText-2 test) of a quantized or spiking model",
                       description="Convert a model with a quantization or spiking method and measure its "
                                   "WikiText-2 perplexity (and, with --tasks, zero-shot accuracy).")
    _add_model(p)
    _add_spiking(p)
    p.add_argument("--dataset", default="wikitext2", choices=["wikitext2"], help="perplexity text (default %(default)s)")
    p.add_argument("--seqlen", type=int, default=2048, help="tokens per non-overlapping window (default %(default)s)")
    p.add_argument("--max-windows", type=int, default=None, help="evaluate only the first N windows (default: all)")
    p.add_argument("--tasks", default=None, help="comma-separated zero-shot tasks (piqa,arc_easy,...); with --tasks the "
                   "WikiText-2 perplexity is skipped unless --ppl is given")
    p.add_argument("--ppl", action="store_true", help="with --tasks: measure the perplexity too (without --tasks it "
                   "always is)")
    p.add_argument("--limit", type=int, default=None, help="items per zero-shot task (default: all)")
    p.add_argument("--batch-size", type=int, default=16, help="zero-shot scoring batch size (default %(default)s)")
    p.add_argument("--predictions", action="store_true", help="keep per-item zero-shot predictions in --json")
    p.add_argument("--stream", action="store_true",
                   help="keep the decoder blocks in host memory and stream them through --device one at a time "
                        "(calibration and perplexity): for a model that does not fit the device")
    p.add_argument("--windows-per-pass", type=int, default=4,
                   help="with --stream: perplexity windows through each block per pass; a block's copy is paid "
                        "once a pass (default %(default)s)")
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None,
                   help="replay each perplexity window as a CUDA graph, spike statistics included: the same "
                        "kernels and numbers without Python's launch overhead (default: on for a resident "
                        "spiking model on CUDA whose codes allow it, i.e. not SDLLM's adaptive code)")
    p.add_argument("--save", metavar="DIR", default=None,
                   help="save the converted model (safetensors + neuro_llm.json) to DIR; --model DIR reloads it "
                        "without calibrating")
    _add_config(p)
    _add_json(p)

    _model_command(sub, "simulate", help="simulate a spiking model block by block and record its spikes",
                   description="Simulate a spiking model one decoder block at a time in explicit mode and record its "
                               "spikes into an HDF5 file (schema: docs/hdf5_schema.md).",
                   add_arguments=_simulate_arguments)
    _model_command(sub, "generate", help="continue a prompt with a quantized or spiking model (KV cache)",
                   description="Convert a model and continue a prompt, greedy or sampled, with the KV cache (a spiking "
                               "model's cache holds its encoded K and V); tokens are printed as they come, spike "
                               "statistics and tokens/s at the end.",
                   add_arguments=generate_cli.add_arguments)
    _model_command(sub, "export-nir", help="write the spiking projections of some blocks as a NIR graph (HDF5)",
                   description="Convert a model and write the projections of the chosen blocks as a NIR graph "
                               "(nir.read loads it): per projection IF populations and a Linear node with the "
                               "dequantized weights; what NIR cannot express (attention products, softmax, RMSNorm, "
                               "gates, RoPE, KV cache, residuals, per-token thresholds) is listed in its metadata. "
                               "Exactness: docs/concepts.md.",
                   add_arguments=_export_nir_arguments)
    _model_command(sub, "convert", help="convert (calibrate) a model and save it, without evaluating",
                   description="Convert a model with a quantization or spiking method and save it (safetensors + "
                               "neuro_llm.json); --model DIR reloads it in every command without calibrating.",
                   add_arguments=lambda p: p.add_argument("--save", metavar="DIR", required=True,
                                                          help="directory to save the converted model to"))

    try:
        from analysis import cli as analysis_cli
    except ImportError:  # pragma: no cover - the analysis package ships with neuro-llm
        analysis_cli = None
    if analysis_cli is not None:
        p = sub.add_parser("energy", help="neuromorphic energy estimate of a recording",
                           description="Energy of a recording on a hardware preset, spiking vs the same "
                                       "network dense (constants: docs/energy.md).")
        analysis_cli.add_energy_arguments(p)
        _add_config(p)
        p = sub.add_parser("plot", help="plots (PNG) of a recording",
                           description="PNG figures of a recording: rasters, firing rates, spike levels, energy.")
        analysis_cli.add_plot_arguments(p)
        _add_config(p)
    parser.commands = sub.choices  # name -> that command's parser
    return parser


def _version() -> str:
    from neuro_llm import __version__
    return __version__


# ----------------------------------------------------------------------------- checks (before any work)
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
    if args.command not in COMMANDS:  # energy, plot: analysis.cli checks its own arguments
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


# ----------------------------------------------------------------------------- loading
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


# ----------------------------------------------------------------------------- commands
def cmd_info(args) -> dict:
    from neuro_llm.io.models import load_model, resolve_model
    from neuro_llm.io.saving import is_saved_model, load_spiking_model

    if is_saved_model(args.model):
        snn, _ = load_spiking_model(args.model, dtype=args.dtype)
        model, path, source = snn.hf_model, str(Path(args.model).expanduser().resolve()), snn.source
    else:
        directory, gguf = resolve_model(args.model)
        (model, _), snn = load_model(args.model, dtype=args.dtype), None
        path, source = (str(directory / gguf) if gguf else str(directory)), None
    c = model.config
    result = {"model": args.model, "path": path, "architecture": c.model_type, "layers": c.num_hidden_layers,
              "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
              "attention_heads": c.num_attention_heads, "kv_heads": c.num_key_value_heads,
              "head_dim": getattr(c, "head_dim", c.hidden_size // c.num_attention_heads),
              "vocab_size": c.vocab_size, "parameters": sum(p.numel() for p in model.parameters()),
              "dtype": str(model.get_input_embeddings().weight.dtype).removeprefix("torch.")}
    if source is not None:
        result.update(saved_from=source, config=snn.spec.to_dict())
    return result


def cmd_eval(args) -> dict:
    from neuro_llm.eval.perplexity import evaluate_ppl

    start = time.time()
    measure_ppl = not args.tasks or args.ppl
    model, tok, config = _load_and_convert(args, check=lambda m, tok: _check_text_length(args, tok) if measure_ppl
                                           else None)
    result = {"model": args.model, "method": config.method, "wbits": config.wbits, "abits": config.abits,
              "mode": config.mode, "config": config.to_dict(), **_provenance(args, config)}
    if measure_ppl:
        result.update(dataset=args.dataset, seqlen=args.seqlen)
        ppl = evaluate_ppl(model, tok, dataset=args.dataset, seqlen=args.seqlen, max_windows=args.max_windows,
                           data_dir=args.data_dir, mode=config.mode, stream_to=args.device if args.stream else None,
                           windows_per_pass=args.windows_per_pass, cuda_graphs=args.cuda_graphs)
        if args.stream:
            result.update(streamed=True, windows_per_pass=args.windows_per_pass)
        result.update(ppl)
    if args.tasks:
        from neuro_llm.eval.tasks import evaluate_tasks
        report = evaluate_tasks(model, tok, tasks=args.tasks.split(","), limit=args.limit, batch_size=args.batch_size)
        if not args.predictions:
            report.pop("predictions", None)
        result["tasks"] = report["tasks"]
        result.update({k: v for k, v in report.items() if k != "tasks"})
        for name, r in report["tasks"].items():
            print(f"{name}: acc {r['acc']:.3f}" + (f", acc_norm {r['acc_norm']:.3f}" if "acc_norm" in r else "")
                  + f" ({r['n']} items)")
    if args.save is not None:
        from neuro_llm import distributed
        from neuro_llm.io.saving import save_spiking_model
        distributed.agree()   # every rank's share is done: rank 0 saves (the ranks hold the same model)
        if distributed.is_main():
            result["saved"] = str(save_spiking_model(model, args.save, tokenizer=tok, run_config=result["run_config"]))
    result["seconds"] = time.time() - start
    _record_world(result)
    if not measure_ppl:
        print(f"{_label(config)}: {len(result['tasks'])} task(s) in {result['seconds']:.0f} s (no perplexity; add "
              "--ppl for it)" + (f"; saved to {result['saved']}" if "saved" in result else ""))
        return result
    summary = f"{_label(config)}: ppl {result['ppl']:.3f}"
    if config.adaptive and "avg_spike_bits" in result and config.quantizes_activations:
        # SDLLM's adaptive code: the train is as long as the tensor's largest count needs (SpikingBrain's
        # "adaptive time steps"); spikes per activation is what a reader of either paper compares
        steps = result["avg_spike_bits"] / config.code.bits_per_step
        summary += (f", {result['spike_events'] / result['values']:.3f} spikes per activation, adaptive train length "
                    f"{steps:.1f} steps (mean over activations), firing rate {result['firing_rate']:.4f} per "
                    "neuron-step")
    else:
        if "spike_events" in result:
            summary += f", {result['spike_events'] / result['values']:.3f} spike events per activation"
        if "avg_spike_bits" in result:
            summary += f", {result['avg_spike_bits']:.3f} spike bits, firing rate {result['firing_rate']:.4f}"
    print(summary + f" over {result['tokens']} tokens in {result['seconds']:.0f} s"
          + (f"; saved to {result['saved']}" if "saved" in result else ""))
    return result


def _label(config: SpikeConfig) -> str:
    """``spikellm W4A4 (explicit)``; the FP baseline has no bit widths nor modes."""
    if config.method == "fp":
        return "fp (the model as loaded, not quantized)"
    bits = (f"W{config.wbits}, threshold mean|x|/{config.threshold_k:g}, cap {_cap_text(config.count_cap)}, "
            f"{config.spike_train}" if config.adaptive and config.quantizes_activations
            else f"W{config.wbits}A{config.abits}")
    return f"{config.method} {bits}" + (f" ({config.mode})" if config.quantizes_activations else "")


def cmd_convert(args) -> dict:
    from neuro_llm import distributed
    from neuro_llm.io.saving import save_spiking_model

    start = time.time()
    model, tok, config = _load_and_convert(args)
    result = {"model": args.model, "method": config.method, "wbits": config.wbits, "abits": config.abits,
              "mode": config.mode, "config": config.to_dict(), **_provenance(args, config)}
    distributed.agree()
    if distributed.is_main():
        result["saved"] = str(save_spiking_model(model, args.save, tokenizer=tok, run_config=result["run_config"]))
    result["seconds"] = time.time() - start
    print(f"{_label(config)}: converted in {result['seconds']:.0f} s; saved to {args.save} (reload with --model "
          f"{args.save})")
    return result


def cmd_export_nir(args) -> dict:
    from neuro_llm import __version__
    from neuro_llm.export import nir as nir_export
    from neuro_llm.simulator import parse_layers

    start = time.time()
    layers = []
    model, tok, config = _load_and_convert(   # only the blocks up to the last exported one are calibrated
        args, check=lambda m, tok: layers.extend(parse_layers(args.layers, m.config.num_hidden_layers)),
        blocks=lambda m: max(layers) + 1)
    graph = nir_export.to_nir(model, layers, max_count=args.max_count)
    graph.metadata.update(command=" ".join(sys.argv), neuro_llm_version=__version__)
    summary = nir_export.summary(graph)
    path = nir_export.write(graph, args.out)
    result = {"model": args.model, "method": config.method, "config": config.to_dict(), "out": str(path),
              "layers": layers, **summary, "seconds": time.time() - start, **_provenance(args, config)}
    print(f"{_label(config)}: wrote {path}: {summary['projections']} projections of block(s) "
          f"{args.layers if args.layers is not None else 'all'}, {summary['populations']} IF populations "
          f"({summary['neurons']} neurons), {summary['exact']}; {summary['host_operations']} host-side operations "
          "named in its metadata")
    return result


def cmd_simulate(args) -> dict:
    import torch

    from analysis.recording import simulate_to_hdf5
    from neuro_llm.eval.data import leading_bos, load_tokens
    from neuro_llm.simulator import parse_layers

    layers = []

    def check(m, tok):
        layers.extend(parse_layers(args.layers, m.config.num_hidden_layers))
        if tok is not None:
            n = load_tokens(tok, "wikitext2", "test", args.data_dir).numel()
            if n < args.tokens:
                raise ValueError(f"--tokens {args.tokens} is more than the wikitext2 test text holds ({n} tokens with "
                                 f"this tokenizer): use --tokens {n} or less, or a longer text (--data-dir)")

    model, tok, config = _load_and_convert(   # only the blocks up to the last simulated one are calibrated
        args, check=check, blocks=lambda m: max(layers) + 1)
    if not model.is_spiking:
        raise ValueError(f"simulate needs a spiking model; {args.model} is {config.method} "
                         f"W{config.wbits}A{config.abits}")
    model.set_mode("explicit")
    ids = load_tokens(tok, "wikitext2", "test", args.data_dir)[: args.tokens]
    bos = leading_bos(model, tok)
    if bos is not None:   # the family expects <bos> first (Gemma)
        ids = torch.cat([torch.tensor([bos], dtype=ids.dtype), ids[: args.tokens - 1]])
    metadata = {"model": args.model, "method": config.method, "config": config.to_dict(),
                "command": " ".join(sys.argv), **_provenance(args, config)}
    from neuro_llm.core.provenance import provenance
    metadata["provenance"] = provenance(**_stamp(args, config.seed))   # commit, versions, ... (JSON in the header)
    metadata.pop("neuro_llm_version")  # the recording's own header attribute
    result = simulate_to_hdf5(model, ids, args.record, layers=layers, device=args.device, metadata=metadata)
    print(f"recorded {result['tokens']} tokens, firing rate {result['firing_rate']:.4f}, {result['sops']:.3e} SOPs "
          f"-> {result['path']} ({result['bytes'] / 1e6:.1f} MB)")
    _record_world(result)
    return {**result, **_provenance(args, config)}


def _record_world(result: dict) -> None:
    """Under torchrun, how many ranks shared the work (absent in one process)."""
    from neuro_llm import distributed

    if distributed.active():
        result["world_size"] = distributed.world_size()


def _analysis_command(args) -> dict:
    from analysis import cli as analysis_cli

    try:
        return getattr(analysis_cli, f"{args.command}_command")(args)
    except KeyError as err:  # h5py reports damaged metadata as a missing object
        raise ValueError(f"{args.recording}: the recording is damaged or incomplete ({err})") from None


def cmd_generate(args) -> dict:
    return generate_cli.run(args, _load_and_convert)


COMMANDS = {"info": cmd_info, "eval": cmd_eval, "simulate": cmd_simulate, "convert": cmd_convert,
            "export-nir": cmd_export_nir, "generate": cmd_generate}


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``argv`` with its ``--config`` file's values as the command's defaults."""
    from neuro_llm.cli.runconfig import apply_config, find_config_argument, read_config_file

    command, config = find_config_argument(argv)
    if config is not None and command in parser.commands:
        try:
            apply_config(parser.commands[command], command, read_config_file(config), config)
        except USER_ERRORS as err:
            parser.commands[command].exit(EXIT_USAGE, f"neuro-llm {command}: error: {err}\n")
    args = parser.parse_args(argv)
    args.command_parser = parser.commands[args.command]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))   # --help ends here: no torch imported

    from neuro_llm import distributed

    def say(message: str) -> None:   # under torchrun rank 0 speaks for every rank
        if distributed.is_main():
            print(message, file=sys.stderr)

    try:
        distributed.init(getattr(args, "device", "cpu"))   # under torchrun only
        with distributed.main_stdout():
            _check_inputs(args)
            result = COMMANDS[args.command](args) if args.command in COMMANDS else _analysis_command(args)
            distributed.agree()   # every rank finished: only now is anything written (by rank 0)
            if getattr(args, "json", None) and distributed.is_main():
                from neuro_llm.core.provenance import write_result
                write_result(args.json, {**_provenance(args), **result},
                             **_stamp(args, (result.get("config") or {}).get("seed")))
            elif args.command == "info":
                print(json.dumps(result, indent=2))
    except distributed.RankFailed as err:   # another rank failed; it told every rank
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return err.exit_code
    except KeyboardInterrupt as err:
        distributed.announce(err)
        say(f"neuro-llm {args.command}: interrupted; no output was left half-written")
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return EXIT_USAGE
    except torch_out_of_memory() as err:   # the model (or its activations) does not fit the chosen device
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_out_of_memory_message(args)}")
        return EXIT_USAGE   # a placement the user chose; the message says what would work
    except OSError as err:  # disk full, I/O errors: not the user's mistake, still one line
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return EXIT_FAILURE
    except BaseException as err:   # a bug: its traceback, after the other ranks were told
        distributed.announce(err)
        raise
    finally:
        distributed.shutdown()
    return 0


def torch_out_of_memory() -> type:
    import torch
    return getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _out_of_memory_message(args) -> str:
    """What would work instead, when the model does not fit ``--device``."""
    device = getattr(args, "device", "cpu")
    hints = []
    if getattr(args, "dtype", None) in (None, "float32"):
        hints.append("--dtype bfloat16 (half the weights)")
    if args.command == "eval":
        hints.append("a shorter --seqlen")
        if not _streamed(args):
            hints.append("--stream (the blocks stay in host memory and pass through the device one at a time)")
    hints.append("`neuro-llm simulate`, which streams one block at a time through the device")
    if str(device).startswith("cuda"):
        hints.append("--device cpu")
    return f"out of memory on {device}: the model or its activations do not fit; try " + ", or ".join(hints)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())

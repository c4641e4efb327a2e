"""The ``neuro-llm`` argument parser: the options every model command shares (model, SpikeConfig fields,
``--config``, ``--json``) and :func:`build_parser` (no torch import: ``--help`` stays fast)."""
from __future__ import annotations

import argparse
from dataclasses import fields

from neuro_llm.cli import generate as generate_cli
from neuro_llm.config import (
    KEY_SCALES,
    METHODS,
    MODES,
    SALIENCY,
    SPIKE_TRAINS,
    THRESHOLDS,
    WEIGHT_METHODS,
    WEIGHT_SPIKES,
    SpikeConfig,
)
from neuro_llm.core.errors import EXIT_USAGE

SPIKE_FIELDS = tuple(f.name for f in fields(SpikeConfig) if f.name != "extra")
MODEL_COMMANDS = ("info", "eval", "simulate", "convert", "export-nir", "generate")   # energy, plot: analysis.cli


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

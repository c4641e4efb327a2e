"""``neuro-llm``: info, eval, simulate, energy, plot. User mistakes end in one line and exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from neuro_llm.config import METHODS, MODES, SpikeConfig

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# ----------------------------------------------------------------------------- arguments
class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (the full usage stays behind --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m",
                   help="smollm2-135m (default), a local Hugging Face model directory, or a .gguf file")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")


def _add_spiking(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="spikellm", choices=METHODS, help="quantization/spiking method")
    p.add_argument("--wbits", type=int, default=4, help="weight bits (16 = not quantized)")
    p.add_argument("--abits", type=int, default=4, help="activation bits (16 = not quantized)")
    p.add_argument("--salient", type=float, default=None,
                   help="fraction of input channels ranked salient by Optimal Brain Spiking (spikellm default 0.10)")
    p.add_argument("--extra-steps", type=int, default=None,
                   help="salient channels get 2**k times the GIF steps: 1 = t2, 2 = t4 (spikellm default 1)")
    p.add_argument("--spike-levels", type=int, default=None,
                   help="gif: levels L per step (default 2**abits, one step); ternary: max level k (default 1)")
    p.add_argument("--mode", default="collapsed", choices=MODES,
                   help="explicit: time-stepped spike trains; collapsed: the equal quantized computation")
    p.add_argument("--calib-windows", type=int, default=4, help="WikiText-2 valid windows for calibration")
    p.add_argument("--calib-seqlen", type=int, default=512, help="tokens per calibration window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="folder holding wikitext-2/{valid,test}.txt")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="OUT", default=None, help="write the result as JSON (atomically)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="neuro-llm", description="Spiking LLaMA-family language models: evaluate, "
                           "simulate layer by layer, estimate neuromorphic energy.")
    parser.add_argument("--version", action="version", version=f"neuro-llm {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    p = sub.add_parser("info", help="describe a model (architecture, sizes, source)")
    _add_model(p)
    _add_json(p)

    p = sub.add_parser("eval", help="perplexity (WikiText-2 test) of a quantized or spiking model")
    _add_model(p)
    _add_spiking(p)
    p.add_argument("--dataset", default="wikitext2", choices=["wikitext2"])
    p.add_argument("--seqlen", type=int, default=2048, help="tokens per non-overlapping window")
    p.add_argument("--max-windows", type=int, default=None, help="evaluate only the first N windows")
    p.add_argument("--tasks", default=None, help="comma-separated zero-shot tasks (piqa,arc_easy,...)")
    p.add_argument("--limit", type=int, default=None, help="items per zero-shot task")
    p.add_argument("--batch-size", type=int, default=16, help="zero-shot scoring batch size")
    p.add_argument("--predictions", action="store_true", help="keep per-item zero-shot predictions in --json")
    _add_json(p)

    p = sub.add_parser("simulate", help="simulate a spiking model block by block and record its spikes")
    _add_model(p)
    _add_spiking(p)
    p.add_argument("--layers", default=None, help="blocks to record, e.g. 0-3 or 0,5,7-9 (default: all)")
    p.add_argument("--tokens", type=int, default=256, help="WikiText-2 test tokens to simulate")
    p.add_argument("--record", required=True, metavar="OUT.h5", help="HDF5 recording to write")
    _add_json(p)

    try:
        from analysis import cli as analysis_cli
    except ImportError:  # pragma: no cover - the analysis package ships with neuro-llm
        analysis_cli = None
    if analysis_cli is not None:
        p = sub.add_parser("energy", help="neuromorphic energy estimate of a recording")
        analysis_cli.add_energy_arguments(p)
        p = sub.add_parser("plot", help="plots (PNG) of a recording")
        analysis_cli.add_plot_arguments(p)
    return parser


def _version() -> str:
    from neuro_llm import __version__
    return __version__


# ----------------------------------------------------------------------------- commands
def _spike_config(args) -> SpikeConfig:
    return SpikeConfig(method=args.method, wbits=args.wbits, abits=args.abits, salient=args.salient,
                       extra_steps=args.extra_steps, spike_levels=args.spike_levels, mode=args.mode,
                       calib_windows=args.calib_windows, calib_seqlen=args.calib_seqlen, seed=args.seed)


def _check_positive(**values) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def cmd_info(args) -> dict:
    from neuro_llm.models import load_model, resolve_model

    directory, gguf = resolve_model(args.model)
    model, _ = load_model(args.model)
    c = model.config
    return {"model": args.model, "path": str(directory / gguf) if gguf else str(directory),
            "architecture": c.model_type, "layers": c.num_hidden_layers, "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size, "attention_heads": c.num_attention_heads,
            "kv_heads": c.num_key_value_heads, "head_dim": getattr(c, "head_dim", c.hidden_size // c.num_attention_heads),
            "vocab_size": c.vocab_size, "parameters": sum(p.numel() for p in model.parameters())}


def _load_and_convert(args):
    from neuro_llm.convert import convert
    from neuro_llm.models import load_model

    config = _spike_config(args)
    model, tok = load_model(args.model, device=args.device)
    model = convert(model, config, tokenizer=tok, inplace=True, data_dir=args.data_dir)
    return model, tok, config


def cmd_eval(args) -> dict:
    from neuro_llm.perplexity import evaluate_ppl

    _check_positive(seqlen=args.seqlen, max_windows=args.max_windows, limit=args.limit, batch_size=args.batch_size)
    start = time.time()
    model, tok, config = _load_and_convert(args)
    result = {"model": args.model, "method": config.method, "wbits": config.wbits, "abits": config.abits,
              "mode": config.mode, "config": config.to_dict(), "dataset": args.dataset, "seqlen": args.seqlen}
    ppl = evaluate_ppl(model, tok, dataset=args.dataset, seqlen=args.seqlen, max_windows=args.max_windows,
                       data_dir=args.data_dir)
    result.update(ppl)
    if args.tasks:
        from neuro_llm.tasks import evaluate_tasks
        report = evaluate_tasks(model, tok, tasks=args.tasks.split(","), limit=args.limit, batch_size=args.batch_size)
        if not args.predictions:
            report.pop("predictions", None)
        result["tasks"] = report["tasks"]
        result.update({k: v for k, v in report.items() if k != "tasks"})
        for name, r in report["tasks"].items():
            print(f"{name}: acc {r['acc']:.3f}" + (f", acc_norm {r['acc_norm']:.3f}" if "acc_norm" in r else "")
                  + f" ({r['n']} items)")
    result["seconds"] = time.time() - start
    summary = f"{config.method} W{config.wbits}A{config.abits} ({config.mode}): ppl {result['ppl']:.3f}"
    if "avg_spike_bits" in result:
        summary += f", {result['avg_spike_bits']:.3f} spike bits, firing rate {result['firing_rate']:.4f}"
    print(summary + f" over {result['tokens']} tokens in {result['seconds']:.0f} s")
    return result


def cmd_simulate(args) -> dict:
    from analysis.recording import simulate_to_hdf5
    from neuro_llm.convert import set_mode
    from neuro_llm.data import load_tokens
    from neuro_llm.io import check_writable
    from neuro_llm.simulator import parse_layers

    _check_positive(tokens=args.tokens)
    check_writable(args.record)
    if args.method not in ("spikellm", "sdllm"):
        raise ValueError(f"simulate needs a spiking method (spikellm or sdllm), not {args.method!r}")
    model, tok, config = _load_and_convert(args)
    layers = parse_layers(args.layers, model.config.num_hidden_layers)
    set_mode(model, "explicit")
    ids = load_tokens(tok, "wikitext2", "test", args.data_dir)[: args.tokens]
    metadata = {"model": args.model, "method": config.method, "config": config.to_dict(),
                "command": " ".join(sys.argv)}
    result = simulate_to_hdf5(model, ids, args.record, layers=layers, device=args.device, metadata=metadata)
    print(f"recorded {result['tokens']} tokens, firing rate {result['firing_rate']:.4f}, {result['sops']:.3e} SOPs "
          f"-> {result['path']} ({result['bytes'] / 1e6:.1f} MB)")
    return result


COMMANDS = {"info": cmd_info, "eval": cmd_eval, "simulate": cmd_simulate}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in COMMANDS:
            result = COMMANDS[args.command](args)
        else:
            from analysis import cli as analysis_cli
            result = getattr(analysis_cli, f"{args.command}_command")(args)
        if getattr(args, "json", None):
            from neuro_llm.io import write_json_atomic
            write_json_atomic(args.json, result)
        elif args.command == "info":
            print(json.dumps(result, indent=2))
    except KeyboardInterrupt:
        print("neuro-llm: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, PermissionError, FloatingPointError, NotADirectoryError) as err:
        print(f"neuro-llm {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())

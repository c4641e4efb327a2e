"""The model commands of ``neuro-llm``: info, eval, convert, export-nir, simulate, generate (each returns its
result dict; :func:`neuro_llm.cli.main.main` writes it). energy and plot are :mod:`analysis.cli`'s."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from neuro_llm.cli import generate as generate_cli
from neuro_llm.cli.checks import _check_text_length
from neuro_llm.cli.loading import _load_and_convert, _provenance, _record_world, _stamp
from neuro_llm.cli.parser import _cap_text
from neuro_llm.config import SpikeConfig


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

"""Energy budgets of recordings on every preset, with and without memory, under every convention, and a
LLaMA-2-7B-shaped projection → ``benchmarks/results/energy_smollm2.json`` (rendered by write_results.py).

    neuro-llm simulate --model smollm2-135m --method spikellm --wbits 4 --abits 4 --tokens 256 --record t2.h5
    neuro-llm eval --model smollm2-135m --method spikellm --wbits 4 --abits 4 --seqlen 1024 --max-windows 4 \\
        --json ppl-t2.json                                     # optional: perplexity for the Pareto plot
    python benchmarks/energy.py t2.h5 --label spikellm-w4a4-t2 --ppl ppl-t2.json [--project] [--layers-figure]
    python benchmarks/energy.py --baseline fp16=ppl-fp.json --baseline w4a4-int=ppl-rtn.json
    python benchmarks/energy.py --label spikellm-w4a4-t2 --ppl ppl-t2.json     # attach a perplexity later
    python benchmarks/energy.py --figures                      # redraw docs/img/energy_pareto_*.png
    python benchmarks/energy.py --regenerate /tmp/energy_rec   # ONE command: re-record all, rebuild everything

Re-running with the same ``--label`` replaces that entry (e.g. after the SDLLM rebuild:
``python benchmarks/energy.py sdllm.h5 --label sdllm-w4a4 --ppl ppl-sdllm.json``). ``--project`` also
stores the LLaMA-2-7B-shaped projection of that recording (:func:`project`): 7B op counts × the firing
statistics measured per site on the recording. Only summaries are stored, never the recordings.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from analysis import plots  # noqa: E402
from analysis.energy import LEGACY, estimate  # noqa: E402
from analysis.energy import Options  # noqa: E402
from analysis.sweep import plot_tornado, sweep  # noqa: E402
from analysis.hardware import PRESETS  # noqa: E402
from analysis.ops import block_ops, head_ops  # noqa: E402
from analysis.records import LayerRecord, Recording, SiteRecord  # noqa: E402
from analysis.shape import LayerShape, LinearShape, ModelShape  # noqa: E402
from analysis.store import read_recording  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "energy_smollm2.json"
IMG = ROOT / "docs" / "img"
SUMMARY = ("energy_j", "dense_int_energy_j", "dense_fp16_energy_j", "energy_per_token_j",
           "dense_int_energy_per_token_j", "dense_fp16_energy_per_token_j", "ratio_vs_dense_int",
           "ratio_vs_dense_fp16", "memory_j", "breakdown", "terms", "range", "spikes_per_activation",
           "mac_equivalent_j", "mac_equivalent_ratio", "synaptic_ops", "sop_count", "binary_spikes", "sops",
           "sops_payload", "spike_events", "neuron_steps", "macs", "ann_macs", "int_macs", "float_macs",
           "neuron_updates", "charged_events", "weights_on_chip", "technology_node", "dataflow", "neuron_policy",
           "spike_train", "kv", "options", "wbits", "abits", "dense_int_abits", "carried_abits", "dense_isobit_abits",
           "dense_isobit_energy_j", "ratio_vs_dense_isobit", "ratio_blocks_vs_dense_int", "ratio_blocks_vs_dense_fp16",
           "ratio_band", "ratio_blocks_band", "synapse_placement", "spikingbrain")
# LLaMA-2-7B (Touvron et al. 2023, config.json of meta-llama/Llama-2-7b-hf)
LLAMA2_7B = dict(hidden=4096, intermediate=11008, heads=32, kv_heads=32, head_dim=128, vocab=32000, layers=32)


def summary(result: dict) -> dict:
    return {key: result[key] for key in SUMMARY if key in result}


def budgets(recording: Recording) -> dict:
    """Every preset with and without memory (binary chips also with bit-planes), and every convention."""
    presets = {}
    for name, hw in PRESETS.items():
        presets[name] = {"memory": summary(estimate(recording, hw)),
                         "no_memory": summary(estimate(recording, hw, memory=False))}
        if hw.spikes == "binary":
            presets[name]["bitplane"] = summary(estimate(recording, hw, binary_spikes="bitplane"))
    # the accounting before the dataflow model (no reuse, nominal --abits), for the before/after comparison
    presets["45nm-fp16"]["legacy_no_reuse"] = summary(estimate(recording, PRESETS["45nm-fp16"], options=LEGACY))
    presets["45nm-fp16"]["sweep"] = sweep(recording, PRESETS["45nm-fp16"], Options())
    conventions = {"snn-paper": summary(estimate(recording, convention="snn-paper")),
                   "snn-paper-kops": summary(estimate(recording, convention="snn-paper", payload=True)),
                   "spikingbrain": summary(estimate(recording, convention="spikingbrain"))}
    return {"presets": presets, "conventions": conventions}


def statistics(recording: Recording) -> dict:
    sites = [site for layer in recording.layers for site in layer.sites.values()]
    activations = sum(site.rows * len(site.channel_steps) for site in sites)
    events, payload = recording.total("events"), recording.total("payload")
    return {"tokens": recording.layers[0].batch * recording.layers[0].q_len, "blocks": len(recording.layers),
            "firing_rate": recording.firing_rate, "spike_events": events, "unit_spikes": payload,
            "activations": activations, "events_per_activation": events / activations,
            "unit_spikes_per_activation": payload / activations, "sops": recording.total("sops"),
            "sops_payload": recording.total("sops_payload"), "neuron_steps": recording.total("neuron_steps")}


def _site_means(recording: Recording) -> dict:
    """Per site name, over all blocks: events, unit spikes and neuron-steps per activation, synaptic ops per
    event (Q, V: the position mix of fan-outs), and the spike-level mix per neuron-step."""
    out = {}
    for name in recording.layers[0].sites:
        sites = [layer.sites[name] for layer in recording.layers if name in layer.sites]
        neurons = sum(s.rows * len(s.channel_steps) for s in sites)
        levels: dict[int, int] = {}
        for s in sites:
            for v, f in zip(s.level_values.tolist(), s.level_freq.tolist()):
                levels[v] = levels.get(v, 0) + f
        steps = sum(levels.values())
        out[name] = {"kind": sites[0].kind, "code_kind": sites[0].code_kind, "per_step": sites[0].per_step,
                     "events": sum(s.events for s in sites) / neurons, "payload": sum(s.payload for s in sites) / neurons,
                     "steps": sum(s.neuron_steps for s in sites) / neurons,
                     "sops_per_event": sum(s.sops for s in sites) / max(1, sum(s.events for s in sites)),
                     "sops_payload_per_unit": sum(s.sops_payload for s in sites) / max(1, sum(s.payload for s in sites)),
                     "levels": {v: f / steps for v, f in levels.items()}}
    return out


def project(recording: Recording, target: dict = LLAMA2_7B) -> Recording:
    """A recording of the ``target`` shape (LLaMA-2-7B) whose every block fires as the measured model fires
    on average per site: 7B op counts × measured spikes per activation. Linear fan-outs are the 7B
    out_features; Q fan-outs keep the measured position mix (same tokens); V's scale with the query heads
    per kv head. A projection, not a measurement."""
    shape, first = recording.shape, recording.layers[0]
    B, n = first.batch, first.q_len
    template = shape.layers[first.layer]
    dims = {"self_attn.q_proj": (target["hidden"], target["heads"] * target["head_dim"]),
            "self_attn.k_proj": (target["hidden"], target["kv_heads"] * target["head_dim"]),
            "self_attn.v_proj": (target["hidden"], target["kv_heads"] * target["head_dim"]),
            "self_attn.o_proj": (target["heads"] * target["head_dim"], target["hidden"]),
            "mlp.gate_proj": (target["hidden"], target["intermediate"]),
            "mlp.up_proj": (target["hidden"], target["intermediate"]),
            "mlp.down_proj": (target["intermediate"], target["hidden"])}
    linears = tuple(LinearShape(lin.name, *dims[lin.name], lin.bias, lin.spiking, lin.groups, lin.integer_weights)
                    for lin in template.linears)
    layer_shape = LayerShape(linears, template.attention_spiking)
    big = ModelShape(target["hidden"], target["intermediate"], target["heads"], target["kv_heads"],
                     target["head_dim"], target["vocab"], shape.code_kind, shape.weight_bits,
                     (layer_shape,) * target["layers"])
    channels = {"q": target["heads"] * target["head_dim"], "k": target["kv_heads"] * target["head_dim"],
                "v": target["kv_heads"] * target["head_dim"]}
    group_scale = (target["heads"] // target["kv_heads"]) / shape.groups
    sites = {}
    for name, m in _site_means(recording).items():
        C = layer_shape.linear(name).in_features if m["kind"] == "linear" else channels[m["kind"]]
        neurons = B * n * C
        events, payload, steps = (round(m[key] * neurons) for key in ("events", "payload", "steps"))
        if m["kind"] == "linear":
            fan = layer_shape.linear(name).out_features
            sops, sops_payload = events * fan, payload * fan
        else:
            scale = group_scale if m["kind"] == "v" else 1.0
            sops = round(events * m["sops_per_event"] * scale)
            sops_payload = round(payload * m["sops_payload_per_unit"] * scale)
        values = np.array(sorted(m["levels"]), dtype=np.int64)
        freq = np.array([round(m["levels"][v] * steps) for v in values.tolist()], dtype=np.int64)
        sites[name] = SiteRecord(
            name=name, kind=m["kind"], code_kind=m["code_kind"], per_step=m["per_step"], rows=B * n, sops=sops,
            sops_payload=sops_payload, channel_steps=np.ones(C, np.int64), channel_events=np.array([events]),
            channel_payload=np.array([payload]), step_events=np.array([events]), step_neuron_steps=np.array([steps]),
            level_values=values, level_freq=freq, count_values=np.array([0]), count_freq=np.array([1]),
            raster=np.zeros((1, 1, 1), np.int8), raster_rows=np.array([0]), raster_channels=np.array([0]))
    layers = [LayerRecord(i, B, n, n, sites, block_ops(big, layer_shape, B, n, n, spiking=True),
                          block_ops(big, layer_shape, B, n, n, spiking=False)) for i in range(target["layers"])]
    return Recording({**recording.metadata, "projection": "llama2-7b"}, big, layers, head_ops(big, B, n),
                     path=f"projection of {recording.path} onto LLaMA-2-7B")


def _command(command: str | None) -> str | None:
    """The recording's command as a user types it (``neuro-llm ...``, not ``.../neuro_llm/cli.py ...``)."""
    if not command:
        return command
    first, _, rest = command.partition(" ")
    return f"neuro-llm {rest}" if first.endswith(("cli.py", "neuro-llm")) else command


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"recordings": {}, "baselines": {},
                                                                      "projections": {}}


def save(data: dict) -> None:
    from neuro_llm.core.provenance import write_result
    write_result(RESULTS, data, device="cpu")


SDLLM_ONLY = ("threshold", "threshold_k", "count_cap", "spike_train")


def _relevant(config: dict | None) -> dict | None:
    """A configuration without the options its method ignores (sdllm's train options on spikellm)."""
    if not config:
        return config
    return {k: v for k, v in config.items() if config.get("method") == "sdllm" or k not in SDLLM_ONLY}


def _ppl(path: str | None, note: str | None = None) -> dict | None:
    if not path:
        return None
    r = json.loads(Path(path).read_text())
    return {"ppl": r["ppl"], "seqlen": r["seqlen"], "windows": r["windows"], "dataset": r.get("dataset"),
            "method": r.get("method"), **({"note": note} if note else {})}


def pareto_points(data: dict, preset: str) -> list[dict]:
    """(energy per token on ``preset`` with memory, perplexity) of every recording with a perplexity, and of
    the fp16 and W4A4-integer baselines (their dense energies from the first spiking recording)."""
    points = []
    recordings = data["recordings"]
    for label, entry in sorted(recordings.items()):
        if entry.get("ppl"):
            points.append({"label": label, "ppl": entry["ppl"]["ppl"], "kind": "spiking",
                           "energy_per_token_j": entry["presets"][preset]["memory"]["energy_per_token_j"]})
    reference = recordings.get(data.get("dense_reference", ""))
    if reference:
        for name, key in (("fp16", "dense_fp16_energy_per_token_j"), ("w4a4-int", "dense_int_energy_per_token_j")):
            if name in data["baselines"]:
                points.append({"label": f"{name} (dense)", "ppl": data["baselines"][name]["ppl"], "kind": "dense",
                               "energy_per_token_j": reference["presets"][preset]["memory"][key]})
    return points


def figures(data: dict) -> list[Path]:
    files = []
    for preset in ("45nm-fp16", "loihi2"):
        points = pareto_points(data, preset)
        if points:
            files.append(plots.plot_pareto(points, IMG / f"energy_pareto_{preset}.png",
                                           title=f"SmolLM2-135M, {preset}, memory on: energy per token vs perplexity"))
    return files


# one command regenerates every entry: (label, simulate arguments, flags of this script)
REGENERATE = [
    ("spikellm-w4a4-t1", ["--method", "spikellm", "--salient", "0", "--extra-steps", "0"], ["--dense-reference"]),
    ("spikellm-w4a4-t2", ["--method", "spikellm", "--salient", "0.1", "--extra-steps", "1"], ["--project"]),
    ("spikellm-w4a4-t4", ["--method", "spikellm", "--salient", "0.1", "--extra-steps", "2"], []),
    ("sdllm-w4a4", ["--method", "sdllm"], ["--project"]),                       # bitwise: the default train
    ("sdllm-w4a4-ternary", ["--method", "sdllm", "--spike-train", "ternary"], []),
]


def regenerate(workdir: str) -> None:
    """Record every configuration of :data:`REGENERATE` on SmolLM2-135M (256 WikiText-2 tokens, W4A4) with this
    checkout's code, then rebuild its entry (perplexities already stored are kept), the tornado plots and the
    Pareto figures."""
    import subprocess
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for label, args, flags in REGENERATE:
        record = work / f"{label}.h5"
        subprocess.run([sys.executable, "-m", "neuro_llm.cli.main", "simulate", "--model", "smollm2-135m",
                        *args, "--wbits", "4", "--abits", "4", "--tokens", "256", "--record", str(record),
                        "--json", str(work / f"{label}.sim.json")], check=True, cwd=ROOT, env=env)
        main([str(record), "--label", label, *flags])
        data = load()
        rows = data["recordings"][label]["presets"]["45nm-fp16"]["sweep"]
        print(f"wrote {plot_tornado(rows, IMG / f'energy_sweep_{label}.png', title=f'SmolLM2-135M {label}, 45nm-fp16: spiking / dense-int by choice')}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", nargs="?", help="HDF5 recording of `neuro-llm simulate --record`")
    parser.add_argument("--label", help="name of the entry (e.g. spikellm-w4a4-t2); replaces an entry of that name")
    parser.add_argument("--ppl", help="`neuro-llm eval --json` result of the same configuration (Pareto plot)")
    parser.add_argument("--ppl-note", help="how the --ppl result relates to the recording (shown in results.md)")
    parser.add_argument("--project", action="store_true", help="also store the LLaMA-2-7B-shaped projection")
    parser.add_argument("--dense-reference", action="store_true",
                        help="the dense-int and fp16 Pareto points take their energies from this recording")
    parser.add_argument("--layers-figure", action="store_true",
                        help="draw docs/img/energy_layers_<label>.png (per-block breakdown, 45nm-fp16 and loihi)")
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=EVAL.json",
                        help="perplexity of a dense baseline (fp16, w4a4-int) for the Pareto plot")
    parser.add_argument("--figures", action="store_true", help="redraw the Pareto figures from the JSON")
    parser.add_argument("--regenerate", metavar="WORKDIR",
                        help="record every configuration again with this checkout (neuro-llm simulate) and rebuild "
                             "all entries, tornado plots and figures: the one command after a change of the model")
    args = parser.parse_args(argv)
    if args.regenerate:
        regenerate(args.regenerate)
        return
    data = load()
    for spec in args.baseline:
        name, _, path = spec.partition("=")
        data["baselines"][name] = _ppl(path)
    if args.ppl and args.label and not args.recording:  # attach a perplexity to a stored entry
        if args.label not in data["recordings"]:
            parser.error(f"no stored entry {args.label!r}: give its recording")
        data["recordings"][args.label]["ppl"] = _ppl(args.ppl, args.ppl_note)
    if args.recording:
        if not args.label:
            parser.error("--label is required with a recording")
        recording = read_recording(args.recording, rasters=False)
        entry = {"recording": Path(args.recording).name, "command": _command(recording.metadata.get("command")),
                 "config": recording.metadata.get("config"), **statistics(recording), **budgets(recording)}
        previous = data["recordings"].get(args.label, {})
        same = _relevant(previous.get("config")) == _relevant(entry["config"])   # a perplexity of the same model
        entry["ppl"] = _ppl(args.ppl, args.ppl_note) or (previous.get("ppl") if same else None)
        data["recordings"][args.label] = entry
        if args.dense_reference:
            data["dense_reference"] = args.label
        if args.project:
            projected = project(recording)
            data["projections"][args.label] = {"target": "LLaMA-2-7B", **LLAMA2_7B,
                                               **statistics(projected), **budgets(projected)}
        if args.layers_figure:
            for preset in ("45nm-fp16", "loihi"):
                plots.plot_energy(recording, PRESETS[preset], IMG / f"energy_layers_{args.label}_{preset}.png")
    save(data)
    if args.figures or args.recording or args.baseline or args.ppl:
        for path in figures(data):
            print(f"wrote {path}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

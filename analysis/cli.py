"""Arguments and commands of ``neuro-llm energy`` and ``neuro-llm plot`` (wired into ``neuro_llm.cli.main``).

Each ``*_command(args)`` prints its human-readable result and returns the result dict; ``neuro_llm.cli.main``
writes it to ``--json`` (atomically) and turns ``ValueError``/``FileNotFoundError`` into one-line errors.
"""
from __future__ import annotations

import argparse

from analysis.dataflow import DATAFLOWS, PLACEMENTS
from analysis.energy import BINARY_SPIKES, CONVENTIONS, DENSE_WIDTHS, KV_MODES, NEURON_POLICIES, Options
from analysis.hardware import PRESETS

DEFAULT_HARDWARE = "45nm-fp16"


def _hardware_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hardware", default=None,
                        help=f"energy preset: {'|'.join(PRESETS)}, or a JSON/YAML file of constants "
                             f"(default {DEFAULT_HARDWARE}; --convention ours only)")
    parser.add_argument("--payload-sops", action="store_true",
                        help="charge a level-k graded spike as k accumulates (ours) or count it as k spikes "
                             "(snn-paper); default: one synaptic op per spike event")
    parser.add_argument("--binary-spikes", choices=BINARY_SPIKES, default="unary",
                        help="binary-spike chips (loihi, truenorth): carry a level-k spike as k binary spikes "
                             "(unary, default) or as the set bits of k on bit-plane axons (bitplane)")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="leave memory traffic out (default: weights, activations, spikes, membranes and "
                             "DRAM streaming included)")
    parser.add_argument("--memory", dest="memory", action="store_true", default=True,
                        help="memory traffic included (the default; kept for compatibility)")


def add_energy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="recording written by `neuro-llm simulate --record`")
    _hardware_argument(parser)
    parser.add_argument("--convention", choices=CONVENTIONS, default="ours",
                        help="ours: spiking vs dense-int vs dense-fp16, like for like (default); snn-paper: "
                             "0.9 pJ x SOPs + 4.6 pJ x FLOPs; spikingbrain: unit spikes x 0.03 pJ vs 1.5 pJ MACs")
    defaults = Options()
    parser.add_argument("--dataflow", choices=DATAFLOWS, default=defaults.dataflow,
                        help="dense accelerator's dataflow: no-reuse (a weight read per MAC), weight-stationary "
                             "(weights reused over the tokens), output-stationary (default %(default)s)")
    parser.add_argument("--neuron-policy", choices=NEURON_POLICIES, default=defaults.neuron_policy,
                        help="which neuron updates the spiking chip charges: every neuron for its tensor's longest "
                             "train (lockstep), for its token's longest train (per-token), or one per spike "
                             "(event-driven) (default %(default)s)")
    parser.add_argument("--placement", choices=PLACEMENTS, default=defaults.placement,
                        help="synapses that exceed one chip: streamed from DRAM once per pass (stream) or held on "
                             "as many chips as needed (chips) (default %(default)s)")
    parser.add_argument("--kv", choices=KV_MODES, default=defaults.kv,
                        help="attention's Q/K/V spiked, or int8 on both sides as SpikingBrain's W8ASpike "
                             "(default %(default)s)")
    parser.add_argument("--weight-bits", type=int, default=None,
                        help="reprice the integer weight codes at this width (8: W8ASpike's INT8 group-128 "
                             "weights; default: as recorded)")
    parser.add_argument("--dense-abits", choices=DENSE_WIDTHS, default=defaults.dense_abits,
                        help="dense-int activation width: carried (the largest recorded count's bits), nominal "
                             "(--abits) or isobit (ceil(log2(T+1)), Yan et al.) (default %(default)s)")
    parser.add_argument("--sweep", action="store_true",
                        help="also print the spiking/dense-int ratio under each documented choice")
    parser.add_argument("--plot", metavar="PNG", help="with --sweep: write the tornado plot here")
    parser.add_argument("--json", metavar="OUT", help="write the result as JSON (atomically)")


def _options(args: argparse.Namespace) -> Options:
    return Options(dataflow=args.dataflow, neuron_policy=args.neuron_policy, placement=args.placement,
                   kv=args.kv, weight_bits=args.weight_bits, dense_abits=args.dense_abits)


def _hardware(args: argparse.Namespace, convention: str = "ours"):
    from analysis.hardware import load_hardware

    if convention != "ours":
        return None if args.hardware is None else load_hardware(args.hardware)
    return load_hardware(args.hardware or DEFAULT_HARDWARE)


def energy_command(args: argparse.Namespace) -> dict:
    from analysis.energy import estimate, format_table
    from analysis.store import read_recording
    from analysis import sweep as sweeps

    hardware = _hardware(args, args.convention)
    if args.plot and not args.sweep:
        raise ValueError("--plot draws the sweep: give --sweep too")
    if args.sweep and args.convention != "ours":
        raise ValueError("--sweep varies the choices of --convention ours")
    recording = read_recording(args.recording, rasters=False)
    options = _options(args)
    result = estimate(recording, hardware, payload=args.payload_sops, memory=args.memory,
                      convention=args.convention, binary_spikes=args.binary_spikes, options=options)
    print(format_table(result))
    if args.sweep:
        result["sweep"] = sweeps.sweep(recording, hardware, options, memory=args.memory, payload=args.payload_sops,
                                       binary_spikes=args.binary_spikes)
        print(sweeps.format_sweep(result["sweep"]))
        if args.plot:
            path = sweeps.plot_tornado(result["sweep"], args.plot,
                                       title=f"{recording.path}: spiking / dense-int on {hardware.name}")
            result["sweep_plot"] = str(path)
            print(f"wrote {path}")
    return result


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="recording written by `neuro-llm simulate --record`")
    parser.add_argument("--out-dir", required=True, help="directory for the PNG figures (created)")
    _hardware_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="write the list of figures as JSON (atomically)")


def plot_command(args: argparse.Namespace) -> dict:
    from analysis import plots
    from analysis.store import read_recording

    hardware = _hardware(args)
    files = plots.plot_all(read_recording(args.recording), args.out_dir, hardware, payload=args.payload_sops,
                           memory=args.memory, binary_spikes=args.binary_spikes)
    result = {"recording": str(args.recording), "out_dir": str(args.out_dir), "hardware": hardware.name,
              "convention": "ours", "files": [str(f) for f in files]}
    print(f"{len(files)} figures in {args.out_dir}")
    return result

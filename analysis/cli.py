"""Arguments and commands of ``neuro-llm energy`` and ``neuro-llm plot`` (wired into ``neuro_llm.cli.main``).

Each ``*_command(args)`` prints its human-readable result and returns the result dict; ``neuro_llm.cli.main``
writes it to ``--json`` (atomically) and turns ``ValueError``/``FileNotFoundError`` into one-line errors.
"""
from __future__ import annotations

import argparse

from analysis import plots
from analysis.energy import PRESETS, estimate, format_table, load_hardware
from analysis.store import read_recording

DEFAULT_HARDWARE = "45nm-fp16"


def _hardware_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hardware", default=DEFAULT_HARDWARE,
                        help=f"energy preset: {'|'.join(PRESETS)}, or a JSON/YAML file of constants "
                             f"(default {DEFAULT_HARDWARE})")
    parser.add_argument("--payload-sops", action="store_true",
                        help="charge a level-k spike as k synaptic ops (default: one per non-zero spike)")


def add_energy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="recording written by `neuro-llm simulate --record`")
    _hardware_argument(parser)
    parser.add_argument("--memory", action="store_true",
                        help="also estimate weight and membrane memory accesses (reported separately)")
    parser.add_argument("--json", metavar="OUT", help="write the result as JSON (atomically)")


def energy_command(args: argparse.Namespace) -> dict:
    hardware = load_hardware(args.hardware)
    result = estimate(read_recording(args.recording, rasters=False), hardware, payload=args.payload_sops,
                      memory=args.memory)
    print(format_table(result))
    return result


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="recording written by `neuro-llm simulate --record`")
    parser.add_argument("--out-dir", required=True, help="directory for the PNG figures (created)")
    _hardware_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="write the list of figures as JSON (atomically)")


def plot_command(args: argparse.Namespace) -> dict:
    hardware = load_hardware(args.hardware)
    files = plots.plot_all(read_recording(args.recording), args.out_dir, hardware, payload=args.payload_sops)
    result = {"recording": str(args.recording), "out_dir": str(args.out_dir), "hardware": hardware.name,
              "files": [str(f) for f in files]}
    print(f"{len(files)} figures in {args.out_dir}")
    return result

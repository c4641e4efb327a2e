"""Run configurations: every ``neuro-llm`` run described by a YAML or JSON file, and recorded with its result.

A configuration file is a mapping of one command's options, by their long names (``max-windows`` and
``max_windows`` alike)::

    # run.yaml                                   neuro-llm eval --config run.yaml [--seqlen 512 ...]
    command: eval          # optional; must match the command it is given to
    model: smollm2-135m
    method: spikellm
    wbits: 4
    abits: 4
    salient: 0.10
    seqlen: 1024
    max-windows: 4
    tasks: [piqa, arc_easy]   # lists stand for comma-separated values

Flags on the command line override the file; a key that is not an option of the command is an error
naming the key. Every output (``--json`` results, recordings, saved models) records the resolved
configuration under ``run_config`` (every option's value after defaults, without the output paths) and
the package version, so an output is itself a configuration file: ``neuro-llm eval --config result.json``
(or ``--config recording.h5``, ``--config saved-model/``) runs the same computation again.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

from neuro_llm.config import spike_config_options  # noqa: F401  (defined beside SpikeConfig; kept importable here)
from neuro_llm.core.version import versions  # noqa: F401  (defined in core; kept importable here)

FILE_SUFFIXES = (".yaml", ".yml", ".json")
RECORDING_SUFFIXES = (".h5", ".hdf5")
OUTPUT_OPTIONS = ("json", "record", "save", "out_dir")  # where results go: not part of what is computed
NOT_OPTIONS = ("help", "config", "version")
BOOLEAN_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)


def find_config_argument(argv: list[str]) -> tuple[str | None, str | None]:
    """``(command, --config value)`` from raw ``argv``, before argparse runs (the file's values become the
    command's defaults, so flags given beside it override them)."""
    command = next((token for token in argv if not token.startswith("-")), None)
    if command is None:
        return None, None
    path = None
    tokens = argv[argv.index(command) + 1:]
    for i, token in enumerate(tokens):
        if token == "--":
            break
        if token == "--config" and i + 1 < len(tokens):
            path = tokens[i + 1]
        elif token.startswith("--config="):
            path = token.split("=", 1)[1]
    return command, path


def read_config_file(path: str | os.PathLike) -> dict:
    """The mapping a configuration file holds: a YAML/JSON file of options, or any neuro-llm output that
    recorded its ``run_config`` (a ``--json`` result, an HDF5 recording, a saved model directory)."""
    path = Path(path)
    if path.is_dir():
        from neuro_llm.io.saving import read_manifest
        data = read_manifest(path)
        if not isinstance(data.get("run_config"), dict):
            raise ValueError(f"--config {path}: the saved model holds no run_config (it was saved from Python)")
    elif not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    elif path.suffix.lower() in RECORDING_SUFFIXES:
        from analysis.store import read_recording
        try:
            data = read_recording(path, rasters=False).metadata
        except KeyError as error:  # h5py reports damaged metadata as a missing object
            raise ValueError(f"--config {path}: the recording is damaged ({error})") from None
        if "run_config" not in data:
            raise ValueError(f"--config {path}: the recording holds no run_config (written by an older neuro-llm)")
    elif path.suffix.lower() in FILE_SUFFIXES:
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as error:
            raise ValueError(f"--config {path}: cannot parse: {' '.join(str(error).split())}") from None
    else:
        raise ValueError(f"--config {path}: expected a .yaml, .yml or .json file, a .h5 recording or a saved "
                         "model directory")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of option names to values, got a "
                         f"{type(data).__name__}")
    if isinstance(data.get("run_config"), dict):  # an output of neuro-llm: re-run what it recorded
        data = data["run_config"]
    return data


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options of a command's parser that a configuration may set: ``{dest: action}``."""
    return {a.dest: a for a in parser._actions if a.dest not in NOT_OPTIONS and a.dest != argparse.SUPPRESS}


def _coerce(action: argparse.Action, key: str, value, source: str):
    where = f"{source}: {key}"
    if isinstance(action, BOOLEAN_ACTIONS):
        if value is None and action.default is None:   # a tri-state switch (--x / --no-x / automatic)
            return None
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if value is None:
        if action.default is not None or action.required:
            raise ValueError(f"{where} needs a value (null is not accepted)")
        return None
    if action.type in (int, float):
        kind = "an integer" if action.type is int else "a number"
        if isinstance(value, bool) or isinstance(value, (list, dict)) or (action.type is int and isinstance(value, float)):
            raise ValueError(f"{where} must be {kind}, got {value!r}")
        try:
            value = action.type(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be {kind}, got {value!r}") from None
    else:
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            raise ValueError(f"{where} must be a single value or a list, got a mapping")
        value = str(value)
        if action.type is not None:
            value = action.type(value)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{where}: invalid choice {value!r} (choose from {', '.join(map(str, action.choices))})")
    return value


def apply_config(parser: argparse.ArgumentParser, command: str, data: dict, source: str) -> dict:
    """Validate ``data`` against ``parser`` (one command's parser) and make its values the defaults, so that
    flags on the command line override them. Returns the coerced values."""
    data = dict(data)
    recorded = data.pop("command", None)
    if recorded is not None and recorded != command:
        raise ValueError(f"--config {source} describes a `{recorded}` run, not `{command}`: "
                         f"use it with `neuro-llm {recorded} --config {source}`")
    accepted = options(parser)
    values = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in accepted:
            names = ", ".join(sorted(k.replace("_", "-") for k in accepted))
            raise ValueError(f"--config {source}: unknown key {str(raw_key)!r} for `neuro-llm {command}` "
                             f"(accepted: {names})")
        values[key] = _coerce(accepted[key], str(raw_key), value, f"--config {source}")
    for key, value in values.items():
        action = accepted[key]
        action.default = value
        if action.required:  # given by the file: the command line need not repeat it
            action.required = False
            if not action.option_strings:
                action.nargs = "?"
    parser.set_defaults(**values)
    return values


def run_config(parser: argparse.ArgumentParser, command: str, args: argparse.Namespace,
               spike_config=None) -> dict:
    """The resolved configuration of a run: ``command`` and every option's value (outputs left out); the
    spiking options as the :class:`~neuro_llm.config.SpikeConfig` that was built, defaults filled in."""
    out = {"command": command}
    for key in options(parser):
        if key not in OUTPUT_OPTIONS:
            out[key] = getattr(args, key, None)
    if spike_config is not None:
        out.update(spike_config_options(spike_config))
    return out

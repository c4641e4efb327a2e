"""A hardware preset file (JSON or YAML) read into a :class:`~analysis.hardware_spec.Hardware`.

Every field is validated with a one-line ``ValueError`` that names the problem: energies finite and
``>= 0`` (``ann_mac_j > 0``, the reference of the ratio; ``fp_add_j <= mac_j``), sizes positive integers,
``ranges`` as ``constant: [low, high]`` with ``low <= high``.
"""
from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import yaml

from analysis.hardware_spec import SPIKES, Hardware

REQUIRED = ("sop_j", "mac_j", "ann_mac_j")
INTEGER_FIELDS = ("word_bits", "membrane_bits", "onchip_bytes", "core_bytes", "cores", "pe_rows", "pe_cols",
                  "psum_bits")
BOOL_FIELDS = ("graded_multiply", "chip_memory")
OPTIONAL_NUMBERS = ("sop_j", "fp_add_j", "neuron_inactive_j")


def read_hardware_file(path: Path) -> Hardware:
    """The :class:`Hardware` of a .json/.yaml file (``name`` defaults to the file's stem)."""
    if not path.is_file():
        raise FileNotFoundError(f"hardware preset file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot parse the hardware preset: {str(error).splitlines()[0]}") from None
    return hardware_from_mapping(data, path)


def _number(path, key, value, optional=False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{path}: {key} must be a finite number >= 0, got {value!r}")
    return float(value)


def hardware_from_mapping(data, path: str | Path = "preset") -> Hardware:
    """Validate a mapping of :class:`Hardware` fields (one-line ``ValueError`` naming the problem)."""
    if not isinstance(data, dict):
        names = ", ".join(f.name for f in fields(Hardware))
        raise ValueError(f"{path}: a hardware preset must be a mapping of {names}")
    known = {f.name for f in fields(Hardware)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown hardware fields {unknown}; accepted: {', '.join(sorted(known))}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ValueError(f"{path}: missing hardware fields {missing} (give them in joules; sop_j may be null for "
                         "a digital datapath)")
    values = {"name": Path(str(path)).stem, **data}
    for key, value in list(values.items()):
        if key in ("name", "source", "node", "dense_node"):
            values[key] = str(value)
        elif key == "spikes":
            if value not in SPIKES:
                raise ValueError(f"{path}: spikes must be one of {', '.join(SPIKES)}, got {value!r}")
        elif key in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ValueError(f"{path}: {key} must be true or false, got {value!r}")
        elif key == "provisional":
            if not isinstance(value, (list, tuple)) or any(v not in known for v in value):
                raise ValueError(f"{path}: provisional must be a list of hardware field names, got {value!r}")
            values[key] = tuple(value)
        elif key == "sources":
            if not isinstance(value, dict):
                raise ValueError(f"{path}: sources must map a constant to its source, got {value!r}")
            values[key] = {str(k): str(v) for k, v in value.items()}
        elif key == "ranges":
            values[key] = _ranges(path, value, known)
        elif key in INTEGER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
                raise ValueError(f"{path}: {key} must be a positive integer, got {value!r}")
            values[key] = int(value)
        else:
            values[key] = _number(path, key, value, optional=key in OPTIONAL_NUMBERS)
    if values["ann_mac_j"] <= 0:
        raise ValueError(f"{path}: ann_mac_j must be > 0 (the dense model is the reference of the ratio)")
    if values.get("fp_add_j") is not None and values["fp_add_j"] > values["mac_j"]:
        raise ValueError(f"{path}: fp_add_j ({values['fp_add_j']}) must not exceed mac_j ({values['mac_j']})")
    return Hardware(**values)


def _ranges(path, value, known) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: ranges must map a constant to [low, high], got {value!r}")
    out = {}
    for key, bounds in value.items():
        if key not in known or key in ("name", "source", "spikes", "provisional", "ranges", "sources", "node",
                                       "dense_node", *BOOL_FIELDS,
                                       *INTEGER_FIELDS):
            raise ValueError(f"{path}: ranges: {key!r} is not an energy constant")
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ValueError(f"{path}: ranges: {key} must be [low, high], got {bounds!r}")
        low, high = (_number(path, f"ranges.{key}", b) for b in bounds)
        if low > high:
            raise ValueError(f"{path}: ranges: {key} low {low} exceeds high {high}")
        out[key] = (low, high)
    return out

"""Hardware presets: energy per operation and per memory access, each constant with its source.

A :class:`Hardware` prices three things (docs/energy.md has the table and the equations):

* **arithmetic** of a digital datapath (Horowitz, ISSCC 2014, 45 nm, 0.9 V): the accumulator add
  ``add_j`` (int32), the integer multiply (``mult8_j`` for 8×8 bits, ``a×b`` bits at ``mult8_j·a·b/64``),
  the floating-point MAC ``mac_j`` / ``ann_mac_j`` and add ``fp_add_j``;
* **a neuromorphic chip's own per-op constants** where it quotes them: ``sop_j`` per synaptic op
  (``None``: the synaptic op is built from the arithmetic above), ``neuron_j`` per neuron update,
  ``hop_j`` per spike event and router hop, whether it carries ``graded`` or only ``binary`` spikes,
  and whether those constants already include the chip's memory traffic (``chip_memory``);
* **memory**: ``weight_read_j`` per 64-bit read of the on-chip weight memory of ``onchip_bytes``,
  ``dram_j`` per 64-bit DRAM access when the weights do not fit, ``memory_j`` per 64-bit access of the
  small local buffer that holds activations, spikes, membranes and attention operands.

A constant without a primary source is listed in ``provisional`` and carries a ``ranges`` entry
``(low, high)``; estimates report the energy at both ends.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

PJ = 1e-12
NJ = 1e-9
KIB = 1024
MIB = 1024 * KIB

HOROWITZ = "Horowitz, ISSCC 2014, 'Computing's energy problem', 45 nm, 0.9 V"
DAVIES = "Davies et al., IEEE Micro 38(1), 2018, Table 2"
MEROLLA = "Merolla et al., Science 345(6197), 2014"
DRAM_RANGE = (1.3 * NJ, 2.6 * NJ)  # Horowitz 2014: DRAM 1.3-2.6 nJ per 64-bit access
DRAM_MID = sum(DRAM_RANGE) / 2
SPIKES = ("graded", "binary")


@dataclass(frozen=True)
class Hardware:
    """Energy per operation and per 64-bit memory access, in joules (docs/energy.md)."""
    name: str
    sop_j: float | None           # one synaptic op on a chip that quotes one (None: built from add_j/mult8_j)
    mac_j: float                  # one floating-point op left in the spiking and dense-int models
    ann_mac_j: float              # one MAC of the dense floating-point model
    neuron_j: float = 0.0         # one neuron update (per neuron-step)
    hop_j: float = 0.0            # one spike event crossing one router hop
    word_bits: int = 16           # floating-point width (float weights, K̂/P operands, the float model)
    memory_j: float = 10 * PJ     # 64-bit access of the 8 KB local buffer (Horowitz 2014)
    fp_add_j: float | None = None  # one floating-point add (None: mac_j)
    add_j: float = 0.1 * PJ       # one accumulate at the accumulator's width (int32 add, Horowitz 2014)
    mult8_j: float = 0.2 * PJ     # one 8×8-bit integer multiply (Horowitz 2014); a×b bits cost mult8_j·a·b/64
    weight_read_j: float = 100 * PJ  # 64-bit read of the on-chip weight memory (1 MB SRAM, Horowitz 2014)
    onchip_bytes: int = 1 * MIB   # capacity of the on-chip weight memory
    dram_j: float = DRAM_MID      # 64-bit DRAM access (Horowitz 2014: 1.3-2.6 nJ)
    membrane_bits: int = 16       # width of a membrane potential (memory traffic)
    spikes: str = "graded"        # "graded": a level-k spike is one event; "binary": only 0/1 (signed) spikes
    graded_multiply: bool = True  # a graded spike also costs a (spike bits × operand bits) multiply
    chip_memory: bool = False     # sop_j/neuron_j/hop_j include synapse reads, neuron state and spike routing
    source: str = ""
    provisional: tuple[str, ...] = ()  # constants without a primary source (reported as ranges)
    ranges: dict = field(default_factory=dict)  # constant -> (low, high)

    @property
    def float_add_j(self) -> float:
        return self.mac_j if self.fp_add_j is None else self.fp_add_j

    def mult_j(self, a_bits: int, b_bits: int) -> float:
        """An ``a×b``-bit integer multiply: ``mult8_j·a·b/64`` (array-multiplier scaling; it gives 3.2 pJ for
        32×32 bits against Horowitz's 3.1 pJ)."""
        return self.mult8_j * a_bits * b_bits / 64

    def at(self, end: int) -> "Hardware":
        """This preset with every ranged constant at its low (``end=0``) or high (``end=1``) value."""
        return replace(self, **{key: bounds[end] for key, bounds in self.ranges.items()})

    def corners(self) -> list["Hardware"]:
        """This preset at every combination of its ranged constants' ends: energies are linear and ratios
        linear-fractional in each constant, so their extremes over the ranges lie at these corners."""
        keys = sorted(self.ranges)
        return [replace(self, **{key: self.ranges[key][end] for key, end in zip(keys, ends)})
                for ends in itertools.product((0, 1), repeat=len(keys))]


def _dram(name: str, **kwargs) -> Hardware:
    kwargs.setdefault("ranges", {})
    kwargs["ranges"] = {"dram_j": DRAM_RANGE, **kwargs["ranges"]}
    return Hardware(name, **kwargs)


DIGITAL = (HOROWITZ + ": int32 add 0.1 pJ, int8 mult 0.2 pJ, 16-bit add 0.05 pJ (neuron update = compare + "
           "subtract), 64-bit SRAM read 10 pJ (8 KB) / 100 pJ (1 MB), DRAM 1.3-2.6 nJ")
COMPANION = "; the floating-point remainder and the dense models on a 45 nm digital datapath (Horowitz 2014)"

PRESETS = {
    "45nm-fp32": _dram("45nm-fp32", sop_j=None, mac_j=4.6 * PJ, ann_mac_j=4.6 * PJ, fp_add_j=0.9 * PJ,
                       neuron_j=0.1 * PJ, word_bits=32,
                       source=DIGITAL + "; fp32 add 0.9 pJ, mult 3.7 pJ (MAC 4.6 pJ)"),
    "45nm-fp16": _dram("45nm-fp16", sop_j=None, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                       neuron_j=0.1 * PJ, word_bits=16,
                       source=DIGITAL + "; fp16 add 0.4 pJ, mult 1.1 pJ (MAC 1.5 pJ)"),
    "45nm-int8": _dram("45nm-int8", sop_j=None, mac_j=0.23 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.03 * PJ,
                       neuron_j=0.1 * PJ, word_bits=16,
                       source=DIGITAL + "; the remainder in int8 (add 0.03 pJ, MAC 0.23 pJ), the float model "
                       "at fp16 (MAC 1.5 pJ)"),
    "loihi": _dram("loihi", sop_j=23.6 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                   neuron_j=81 * PJ, hop_j=3.5 * PJ, spikes="binary", chip_memory=True, onchip_bytes=16 * MIB,
                   source=DAVIES + ": synaptic spike op 23.6 pJ, neuron update 81 pJ (active), 3.5 pJ per tile "
                   "hop; 128 cores x 128 KB synaptic memory; binary spikes" + COMPANION),
    "loihi2": _dram("loihi2", sop_j=23.6 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                    neuron_j=81 * PJ, hop_j=3.5 * PJ, spikes="graded", chip_memory=True, onchip_bytes=24 * MIB,
                    provisional=("sop_j", "neuron_j", "hop_j", "onchip_bytes"),
                    ranges={"sop_j": (11.8 * PJ, 23.6 * PJ), "neuron_j": (40.5 * PJ, 81 * PJ),
                            "hop_j": (1.75 * PJ, 3.5 * PJ)},
                    source="PROVISIONAL: no per-op energies of Loihi 2 are published; Loihi 1's (" + DAVIES +
                    ") as the high end, half of them as the low end; graded spikes (Intel, 'Taking neuromorphic "
                    "computing to the next level with Loihi 2', technology brief, 2021) priced per event plus a "
                    "payload multiply (Horowitz 2014); 128 cores x 192 KB" + COMPANION),
    "truenorth": _dram("truenorth", sop_j=26 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                       spikes="binary", chip_memory=True, onchip_bytes=32 * MIB,
                       source=MEROLLA + ": 26 pJ per synaptic event (all included); 4096 cores x 256x256 binary "
                       "synapses; binary spikes" + COMPANION),
    "spinnaker2": _dram("spinnaker2", sop_j=450 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                        spikes="graded", graded_multiply=False, chip_memory=True, onchip_bytes=19 * MIB,
                        provisional=("sop_j",), ranges={"sop_j": (23.6 * PJ, 450 * PJ)},
                        source="PROVISIONAL: 450 pJ per synaptic op as specified for this project (no primary "
                        "source found), low end Loihi's 23.6 pJ; 152 PEs x 128 KB SRAM (Mayr et al., "
                        "arXiv:1911.02385, 2019)" + COMPANION),
}
REQUIRED = ("sop_j", "mac_j", "ann_mac_j")
INTEGER_FIELDS = ("word_bits", "membrane_bits", "onchip_bytes")
BOOL_FIELDS = ("graded_multiply", "chip_memory")
OPTIONAL_NUMBERS = ("sop_j", "fp_add_j")


def load_hardware(name: str) -> Hardware:
    """A preset name, or a JSON/YAML file of :class:`Hardware` fields (``sop_j``, ``mac_j``, ``ann_mac_j``
    required; ``name`` defaults to the file's stem)."""
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise ValueError(f"unknown hardware {name!r}: give one of {', '.join(PRESETS)} or a .json/.yaml preset file")
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
        if key in ("name", "source"):
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
        if key not in known or key in ("name", "source", "spikes", "provisional", "ranges", *BOOL_FIELDS,
                                       *INTEGER_FIELDS):
            raise ValueError(f"{path}: ranges: {key!r} is not an energy constant")
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ValueError(f"{path}: ranges: {key} must be [low, high], got {bounds!r}")
        low, high = (_number(path, f"ranges.{key}", b) for b in bounds)
        if low > high:
            raise ValueError(f"{path}: ranges: {key} low {low} exceeds high {high}")
        out[key] = (low, high)
    return out

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
    neuron_j: float = 0.0         # one neuron update (per neuron-step) in which the neuron fires (active)
    hop_j: float = 0.0            # one spike event crossing one router hop
    word_bits: int = 16           # floating-point width (float weights, K̂/P operands, the float model)
    memory_j: float = 10 * PJ     # 64-bit access of the 8 KB local buffer (Horowitz 2014)
    fp_add_j: float | None = None  # one floating-point add (None: mac_j)
    add_j: float = 0.1 * PJ       # one accumulate at the accumulator's width (int32 add, Horowitz 2014)
    mult8_j: float = 0.2 * PJ     # one 8×8-bit integer multiply (Horowitz 2014); a×b bits cost mult8_j·a·b/64
    weight_read_j: float = 20 * PJ  # 64-bit read of a core-local weight (synapse) memory (32 KB SRAM, Horowitz)
    onchip_bytes: int = 1 * MIB   # capacity of the on-chip global SRAM (all weights resident if they fit)
    dram_j: float = DRAM_MID      # 64-bit DRAM access (Horowitz 2014: 1.3-2.6 nJ)
    membrane_bits: int = 16       # width of a membrane potential (memory traffic)
    spikes: str = "graded"        # "graded": a level-k spike is one event; "binary": only 0/1 (signed) spikes
    graded_multiply: bool = True  # a graded spike also costs a (spike bits × operand bits) multiply
    chip_memory: bool = False     # sop_j/neuron_j/hop_j include synapse reads, neuron state and spike routing
    source: str = ""
    provisional: tuple[str, ...] = ()  # constants without a primary source (reported as ranges)
    ranges: dict = field(default_factory=dict)  # constant -> (low, high)
    # --- the memory hierarchy of the dataflow model (analysis.dataflow) -------------------------------------
    sram_j: float = 100 * PJ      # 64-bit access of the global SRAM of onchip_bytes (1 MB, Horowitz 2014)
    rf_j: float = 1.2 * PJ        # 64-bit access of a PE's register file (PROVISIONAL, see RF_SOURCE)
    core_bytes: int = 32 * KIB    # synapse memory of one neuromorphic core (the weight_read_j level)
    cores: int = 128              # cores of one chip (chip synapse memory = cores × core_bytes)
    pe_rows: int = 32             # dense accelerator: PE array rows (input channels unrolled) ...
    pe_cols: int = 32             # ... and columns (output channels unrolled)
    psum_bits: int = 32           # integer partial sums (int32 accumulator)
    neuron_inactive_j: float | None = None  # a neuron update without a spike (None: neuron_j)
    node: str = "45 nm"           # technology node of the spiking side's constants
    dense_node: str = "45 nm"     # technology node of the dense datapath (Horowitz 2014)
    sources: dict = field(default_factory=dict)  # constant -> primary source (overrides DEFAULT_SOURCES)

    @property
    def float_add_j(self) -> float:
        return self.mac_j if self.fp_add_j is None else self.fp_add_j

    @property
    def inactive_j(self) -> float:
        return self.neuron_j if self.neuron_inactive_j is None else self.neuron_inactive_j

    @property
    def chip_bytes(self) -> int:
        """Synapse memory of one chip: its cores' local memories."""
        return self.cores * self.core_bytes

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
    kwargs["ranges"] = {"dram_j": DRAM_RANGE, "rf_j": RF_RANGE, **kwargs["ranges"]}
    kwargs["provisional"] = ("rf_j", *kwargs.get("provisional", ()))
    return Hardware(name, **kwargs)


RF_RANGE = (0.0, 10 * PJ)
RF_SOURCE = ("PROVISIONAL: no 45 nm register-file figure in Horowitz 2014; 1.2 pJ per 64 bits = one 16-bit "
             "register access costing one int8 MAC (0.3 pJ), the 'RF = 1x ALU' ratio of Chen, Emer & Sze, Eyeriss, "
             "ISCA 2016 (65 nm); range 0 (free) to 10 pJ (Horowitz's 8 KB SRAM)")
HOROWITZ_ARITH = HOROWITZ + " (arithmetic table)"
HOROWITZ_MEM = HOROWITZ + " (64-bit memory reads)"
DEFAULT_SOURCES = {
    "mac_j": HOROWITZ_ARITH, "ann_mac_j": HOROWITZ_ARITH, "fp_add_j": HOROWITZ_ARITH,
    "add_j": HOROWITZ_ARITH + ": int32 add 0.1 pJ", "mult8_j": HOROWITZ_ARITH + ": int8 multiply 0.2 pJ",
    "memory_j": HOROWITZ_MEM + ": 8 KB SRAM 10 pJ", "weight_read_j": HOROWITZ_MEM + ": 32 KB SRAM 20 pJ",
    "sram_j": HOROWITZ_MEM + ": 1 MB SRAM 100 pJ", "dram_j": HOROWITZ_MEM + ": DRAM 1.3-2.6 nJ (midpoint)",
    "rf_j": RF_SOURCE,
    "neuron_j": "PROVISIONAL: compare + subtract at 16 bits, between two int8 adds (0.06 pJ) and two int32 adds "
                "(0.2 pJ), Horowitz 2014",
    "hop_j": "no spike routing on a digital datapath (0)",
    # not energies: the architecture the model describes (docs/energy.md, 'The accelerators')
    "onchip_bytes": "design choice: the dense accelerator's global SRAM, Horowitz's largest listed SRAM (1 MB)",
    "core_bytes": "design choice: a core's synapse memory at Horowitz's 32 KB SRAM level",
    "cores": "design choice: 128 cores a chip (as Loihi, Davies et al. 2018)",
    "pe_rows": "design choice: a 32x32 MAC array", "pe_cols": "design choice: a 32x32 MAC array",
    "psum_bits": "int32 accumulator (Horowitz's int32 add)", "word_bits": "fp16 (or fp32) floats",
    "membrane_bits": "design choice: 16-bit membranes",
}
PROVISIONAL_NEURON = {"neuron_j": (0.06 * PJ, 0.2 * PJ)}
DIGITAL = (HOROWITZ + ": int32 add 0.1 pJ, int8 mult 0.2 pJ, 64-bit SRAM read 10 pJ (8 KB) / 20 pJ (32 KB) / "
           "100 pJ (1 MB), DRAM 1.3-2.6 nJ; a 45 nm digital neuromorphic chip of 128 cores x 32 KB synapse SRAM "
           "beside a 45 nm 32x32 MAC array with a 1 MB SRAM")
COMPANION = "; the floating-point remainder and the dense models on a 45 nm digital datapath (Horowitz 2014)"
LOIHI_SOURCES = {"sop_j": DAVIES + ": synaptic spike op 23.6 pJ (minimum)",
                 "neuron_j": DAVIES + ": neuron update 81 pJ (active)",
                 "neuron_inactive_j": DAVIES + ": neuron update 52 pJ (inactive)",
                 "hop_j": DAVIES + ": tile-to-tile spike hop 3.0-4.0 pJ (midpoint, range)",
                 "core_bytes": DAVIES + ": 128 KB synaptic memory a core", "cores": DAVIES + ": 128 cores"}

PRESETS = {
    "45nm-fp32": _dram("45nm-fp32", sop_j=None, mac_j=4.6 * PJ, ann_mac_j=4.6 * PJ, fp_add_j=0.9 * PJ,
                       neuron_j=0.1 * PJ, word_bits=32, provisional=("neuron_j",), ranges=PROVISIONAL_NEURON,
                       sources={"mac_j": HOROWITZ_ARITH + ": fp32 add 0.9 + mult 3.7 pJ"},
                       source=DIGITAL + "; fp32 add 0.9 pJ, mult 3.7 pJ (MAC 4.6 pJ)"),
    "45nm-fp16": _dram("45nm-fp16", sop_j=None, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                       neuron_j=0.1 * PJ, word_bits=16, provisional=("neuron_j",), ranges=PROVISIONAL_NEURON,
                       sources={"mac_j": HOROWITZ_ARITH + ": fp16 add 0.4 + mult 1.1 pJ"},
                       source=DIGITAL + "; fp16 add 0.4 pJ, mult 1.1 pJ (MAC 1.5 pJ)"),
    "45nm-int8": _dram("45nm-int8", sop_j=None, mac_j=0.23 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.03 * PJ,
                       neuron_j=0.1 * PJ, word_bits=16, provisional=("neuron_j",), ranges=PROVISIONAL_NEURON,
                       sources={"mac_j": HOROWITZ_ARITH + ": int8 mult 0.2 + add 0.03 pJ",
                                "fp_add_j": HOROWITZ_ARITH + ": int8 add 0.03 pJ",
                                "ann_mac_j": HOROWITZ_ARITH + ": fp16 add 0.4 + mult 1.1 pJ"},
                       source=DIGITAL + "; the remainder in int8 (add 0.03 pJ, MAC 0.23 pJ), the float model "
                       "at fp16 (MAC 1.5 pJ)"),
    "loihi": _dram("loihi", sop_j=23.6 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                   neuron_j=81 * PJ, neuron_inactive_j=52 * PJ, hop_j=3.5 * PJ, spikes="binary", chip_memory=True,
                   core_bytes=128 * KIB, cores=128, node="14 nm (Loihi)", ranges={"hop_j": (3.0 * PJ, 4.0 * PJ)},
                   sources=LOIHI_SOURCES,
                   source=DAVIES + " (14 nm, pre-silicon estimates): synaptic spike op 23.6 pJ, neuron update 81 pJ "
                   "active / 52 pJ inactive, 3.0-4.0 pJ per tile hop; 128 cores x 128 KB synaptic memory; binary "
                   "spikes" + COMPANION),
    "loihi2": _dram("loihi2", sop_j=23.6 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                    neuron_j=81 * PJ, neuron_inactive_j=52 * PJ, hop_j=3.5 * PJ, spikes="graded", chip_memory=True,
                    core_bytes=192 * KIB, cores=128, node="Intel 4 (Loihi 2)",
                    provisional=("sop_j", "neuron_j", "neuron_inactive_j", "hop_j"),
                    ranges={"sop_j": (11.8 * PJ, 23.6 * PJ), "neuron_j": (40.5 * PJ, 81 * PJ),
                            "neuron_inactive_j": (26 * PJ, 52 * PJ), "hop_j": (1.5 * PJ, 4.0 * PJ)},
                    sources={k: "PROVISIONAL: no per-op energies of Loihi 2 are published; Loihi 1's (" + DAVIES +
                             ") as the high end, half of them as the low end" for k in
                             ("sop_j", "neuron_j", "neuron_inactive_j", "hop_j")} | {
                        "core_bytes": "Intel, 'Taking neuromorphic computing to the next level with Loihi 2', "
                                      "technology brief, 2021: 128 cores, up to 192 KB a core",
                        "cores": "Intel Loihi 2 technology brief, 2021: 128 cores"},
                    source="PROVISIONAL: no per-op energies of Loihi 2 are published; Loihi 1's (" + DAVIES +
                    ") as the high end, half of them as the low end; graded spikes (Intel, 'Taking neuromorphic "
                    "computing to the next level with Loihi 2', technology brief, 2021) priced per event plus a "
                    "payload multiply (Horowitz 2014); 128 cores x 192 KB" + COMPANION),
    "truenorth": _dram("truenorth", sop_j=26 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                       spikes="binary", chip_memory=True, core_bytes=8 * KIB, cores=4096, node="28 nm (TrueNorth)",
                       sources={"sop_j": MEROLLA + ": 26 pJ per synaptic event (all included)",
                                "neuron_j": MEROLLA + ": included in the 26 pJ per synaptic event",
                                "hop_j": MEROLLA + ": included in the 26 pJ per synaptic event",
                                "core_bytes": MEROLLA + ": 256x256 binary synapses a core",
                                "cores": MEROLLA + ": 4096 cores"},
                       source=MEROLLA + " (28 nm): 26 pJ per synaptic event (all included); 4096 cores x 256x256 "
                       "binary synapses; binary spikes" + COMPANION),
    "spinnaker2": _dram("spinnaker2", sop_j=450 * PJ, mac_j=1.5 * PJ, ann_mac_j=1.5 * PJ, fp_add_j=0.4 * PJ,
                        spikes="graded", graded_multiply=False, chip_memory=True, core_bytes=128 * KIB, cores=152,
                        node="22 nm FDSOI (SpiNNaker 2)",
                        provisional=("sop_j",), ranges={"sop_j": (23.6 * PJ, 450 * PJ)},
                        sources={"sop_j": "PROVISIONAL: no per-synaptic-op energy of SpiNNaker 2 is published; 450 "
                                          "pJ is this project's specification figure (no primary source), the low "
                                          "end Loihi's 23.6 pJ (" + DAVIES + ")",
                                 "neuron_j": "PROVISIONAL: taken as included in the per-op figure (no source)",
                                 "hop_j": "PROVISIONAL: taken as included in the per-op figure (no source)",
                                 "core_bytes": "Mayr et al., arXiv:1911.02385, 2019: 128 KB SRAM a PE",
                                 "cores": "Mayr et al., arXiv:1911.02385, 2019: 152 PEs"},
                        source="PROVISIONAL: no per-synaptic-op energy of SpiNNaker 2 is published (450 pJ has no "
                        "primary source), low end Loihi's 23.6 pJ; 152 PEs x 128 KB SRAM (Mayr et al., "
                        "arXiv:1911.02385, 2019)" + COMPANION),
}
ENERGY_FIELDS = ("sop_j", "mac_j", "ann_mac_j", "neuron_j", "neuron_inactive_j", "hop_j", "memory_j", "fp_add_j",
                 "add_j", "mult8_j", "weight_read_j", "sram_j", "rf_j", "dram_j")
SIZE_FIELDS = ("onchip_bytes", "core_bytes", "cores", "pe_rows", "pe_cols", "psum_bits", "word_bits",
               "membrane_bits")


def constants(hw: Hardware) -> dict:
    """Every constant of ``hw`` with its value and primary source, or ``provisional: true`` and its
    ``range`` (the JSON's ``constants``)."""
    out = {}
    for key in ENERGY_FIELDS + SIZE_FIELDS:
        value = getattr(hw, key)
        if value is None:
            continue
        entry = {"value_j" if key in ENERGY_FIELDS else "value": value,
                 "source": hw.sources.get(key) or DEFAULT_SOURCES.get(key, "")}
        if key in hw.provisional or (key in hw.ranges and "PROVISIONAL" in entry["source"]):
            entry["provisional"] = True
        if key in hw.ranges:
            entry["range"] = list(hw.ranges[key])
        if key == "sop_j" and value is not None and not entry["source"]:
            entry["source"] = hw.source
        out[key] = entry
    return out


REQUIRED = ("sop_j", "mac_j", "ann_mac_j")
INTEGER_FIELDS = ("word_bits", "membrane_bits", "onchip_bytes", "core_bytes", "cores", "pe_rows", "pe_cols",
                  "psum_bits")
BOOL_FIELDS = ("graded_multiply", "chip_memory")
OPTIONAL_NUMBERS = ("sop_j", "fp_add_j", "neuron_inactive_j")


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

"""Hardware presets: energy per operation and per memory access, each constant with its source.

A preset is one :class:`~analysis.hardware_spec.Hardware` entry of :data:`PRESETS` (docs/energy.md has the
table and the equations). The 45 nm digital presets price a synaptic op from Horowitz's arithmetic
(``E_add + E_mult(b×W)`` for a graded spike, ``E_add`` for a binary one); the chip presets (Loihi, Loihi 2,
TrueNorth, SpiNNaker 2) quote ``sop_j`` / ``neuron_j`` / ``hop_j`` and include their memory traffic.
Memory is priced per 64-bit access: ``weight_read_j`` (core-local weights), ``sram_j`` (global SRAM of
``onchip_bytes``), ``dram_j`` (when the weights do not fit), ``memory_j`` (local buffer), ``rf_j``.

A constant without a primary source is listed in ``provisional`` and carries a ``ranges`` entry
``(low, high)``; estimates report the energy at both ends. :func:`load_hardware` takes a preset name or a
JSON/YAML file (:mod:`analysis.hardware_file`).
"""
from __future__ import annotations

from pathlib import Path

from analysis.hardware_file import (BOOL_FIELDS, INTEGER_FIELDS, OPTIONAL_NUMBERS, REQUIRED,  # noqa: F401
                                    hardware_from_mapping, read_hardware_file)
from analysis.hardware_spec import DRAM_MID, DRAM_RANGE, KIB, MIB, NJ, PJ, SPIKES, Hardware  # noqa: F401

HOROWITZ = "Horowitz, ISSCC 2014, 'Computing's energy problem', 45 nm, 0.9 V"
DAVIES = "Davies et al., IEEE Micro 38(1), 2018, Table 2"
MEROLLA = "Merolla et al., Science 345(6197), 2014"

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


def load_hardware(name: str) -> Hardware:
    """A preset name, or a JSON/YAML file of :class:`Hardware` fields (``sop_j``, ``mac_j``, ``ann_mac_j``
    required; ``name`` defaults to the file's stem)."""
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise ValueError(f"unknown hardware {name!r}: give one of {', '.join(PRESETS)} or a .json/.yaml preset file")
    return read_hardware_file(path)

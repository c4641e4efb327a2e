"""The :class:`Hardware` record: energy per operation and per 64-bit memory access, in joules.

It prices three things (docs/energy.md has the table and the equations):

* **arithmetic** of a digital datapath (Horowitz, ISSCC 2014, 45 nm, 0.9 V): the accumulator add
  ``add_j`` (int32), the integer multiply ``E_mult(a×b) = mult8_j·a·b/64`` (``mult8_j`` for 8×8 bits),
  the floating-point MAC ``mac_j`` / ``ann_mac_j`` and add ``fp_add_j``;
* **a neuromorphic chip's own per-op constants** where it quotes them: ``sop_j`` per synaptic op,
  ``neuron_j`` per neuron update, ``hop_j`` per spike event and router hop;
* **memory**: ``weight_read_j``, ``sram_j``, ``dram_j``, ``memory_j``, ``rf_j`` per 64-bit access of each level.

A ranged constant ``c ∈ [low, high]`` (``ranges``) enters every energy linearly and every ratio
linear-fractionally, so the extremes over the ranges lie at the corners (:meth:`Hardware.corners`).
The presets are in :mod:`analysis.hardware`, reading a preset file in :mod:`analysis.hardware_file`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

PJ = 1e-12
NJ = 1e-9
KIB = 1024
MIB = 1024 * KIB

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

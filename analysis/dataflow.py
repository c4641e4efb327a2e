"""Dataflow and memory-hierarchy model: where every operand of a dense GEMM (and every synaptic read of the
spiking chip) is read from, how often, and what that costs (docs/energy.md, "Dataflows").

The dense accelerator (every dense model runs on it; constants from :class:`analysis.hardware.Hardware`)::

    PE array     R × C MACs (pe_rows × pe_cols): input channels along the rows, output channels along the columns
    registers    one per PE (rf_j per 64 bits): the stationary operand
    local buffer 8 KB (memory_j): partial sums (weight-stationary), activations of the no-reuse model
    global SRAM  onchip_bytes (sram_j): a layer's inputs and outputs; its weights when they fit beside them
    DRAM         dram_j: every weight once per pass when the model does not fit on chip (and the activations
                 of a GEMM whose inputs and outputs do not fit in the SRAM)

A GEMM ``Y[n, out] = X[n, in] · W[in, out]`` (``n`` tokens), weights of ``w`` bits, activations of ``a`` bits,
partial sums of ``p`` bits, under a dataflow:

* ``no-reuse`` — every MAC reads its weight from the core-local weight memory (``weight_read_j``), as a
  synaptic op does: ``n·in·out·w`` bits, and its partial sum from an accumulator register (read and
  written, ``p`` bits each). Activations written and read once in the local buffer.

Every dataflow (and every synaptic op of the spiking chip) reads and writes its partial sum in a register
per MAC (``2·p`` bits at ``rf_j``): a systolic column passes it down, an output-stationary PE keeps it.
* ``weight-stationary`` — a tile of ``R × C`` weights sits in the PE registers while a token tile of ``n_t``
  tokens streams through (``n_t`` = the tokens whose ``C`` partial sums fit the local buffer): every weight
  is fetched ``⌈n/n_t⌉`` times from the SRAM (or from DRAM when the layer's weights do not fit there),
  read from its register once per MAC, and each MAC reads and writes its partial sum in a PE register as it
  passes down the column; inputs read from the SRAM once per column tile
  (``n·in·⌈out/C⌉``); partial sums read and written in the local buffer once per row tile
  (``2·n·out·⌈in/R⌉``); outputs written once to the SRAM.
* ``output-stationary`` — ``R`` tokens × ``C`` outputs accumulate in the PE registers over all inputs:
  weights fetched once per token tile (``in·out·⌈n/R⌉``), inputs once per column tile, partial sums read
  and written in the registers per MAC, outputs written once.

Weight reuse across tokens is what separates the dataflows: over ``n`` = 256 recorded tokens a weight is
read from memory 256 times (no reuse), ``⌈n/n_t⌉`` times (weight-stationary) or ``⌈n/R⌉`` times
(output-stationary). ``benchmarks/zigzag_check.py`` checks these formulas against ZigZag (Mei et al.,
IEEE TC 2021), which searches the temporal mapping itself.

The spiking chip (:func:`synapse_memory`): ``cores`` cores of ``core_bytes`` synapse memory; each synaptic op
reads one synapse (its weight, at its stored width) from the core-local memory (``weight_read_j``, or
included in ``sop_j`` on chips that quote it). If the synapses do not fit on one chip, either enough chips
hold them (``chips``, no DRAM) or they are streamed from DRAM once per pass (``stream``, charged).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from analysis.hardware import Hardware

DATAFLOWS = ("no-reuse", "weight-stationary", "output-stationary")
PLACEMENTS = ("stream", "chips")
BITS = 64  # memory energies are per 64-bit access
LOCAL_BYTES = 8 * 1024  # the local buffer: Horowitz's 8 KB SRAM level (memory_j)


@dataclass(frozen=True)
class Gemm:
    """``n`` tokens × ``inputs`` × ``outputs`` MACs (``macs`` overrides the count: causal attention)."""
    n: int
    inputs: int
    outputs: int
    weight_bits: int
    act_bits: int
    macs: int | None = None
    count: int = 1                # identical GEMMs (heads × samples)

    def scaled(self, k: int) -> "Gemm":
        return replace(self, count=self.count * k)

    @property
    def mac_count(self) -> int:
        return self.n * self.inputs * self.outputs if self.macs is None else self.macs

    @property
    def weight_bytes(self) -> float:
        return self.inputs * self.outputs * self.weight_bits / 8


def _zero() -> dict:
    return {"rf_j": 0.0, "local_j": 0.0, "sram_j": 0.0, "weight_j": 0.0, "dram_j": 0.0}


def gemm_memory(g: Gemm, hw: Hardware, dataflow: str, psum_bits: int | None = None,
                weights_in_dram: bool = False) -> dict:
    """Memory energy (J) of one GEMM by level, and the weight fetches (``weight_fetches``: how many times each
    weight leaves its home). ``weights_in_dram``: the model does not fit on chip, so the weights come from
    DRAM (once per pass: charged by the caller as the DRAM stream) and a weight re-fetched more than once per
    pass is re-fetched from DRAM when the layer's weights do not fit in the SRAM either."""
    if dataflow not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}: give one of {', '.join(DATAFLOWS)}")
    p = hw.psum_bits if psum_bits is None else psum_bits
    R, C = hw.pe_rows, hw.pe_cols
    macs = g.mac_count
    out = _zero()
    if dataflow == "no-reuse":  # the partial sum read and written in an accumulator register per MAC
        out["weight_j"] = macs * g.weight_bits / BITS * hw.weight_read_j
        out["rf_j"] = 2 * macs * p / BITS * hw.rf_j
        out["local_j"] = 2 * g.n * g.inputs * g.act_bits / BITS * hw.memory_j
        out["weight_fetches"] = g.n
        return out
    if dataflow == "weight-stationary":
        # partial sums of a token tile in the local buffer (short tiles, weights re-fetched per tile) or in the
        # SRAM (one tile of every token, weights fetched once): the cheaper of the two, as a mapper would pick
        local_tile = max(1, (LOCAL_BYTES * 8) // (C * p))
        sram_tile = max(1, int(hw.onchip_bytes * 4) // (C * p))   # half the SRAM for partial sums
        options = [_stationary(g, hw, p, min(g.n, local_tile), hw.memory_j, weights_in_dram),
                   _stationary(g, hw, p, min(g.n, sram_tile), hw.sram_j, weights_in_dram)]
        return min(options, key=lambda m: sum(v for k, v in m.items() if k.endswith("_j")))
    return _stationary(g, hw, p, R, None, weights_in_dram)


def _stationary(g: Gemm, hw: Hardware, p: int, tile: int, psum_j: float | None, weights_in_dram: bool) -> dict:
    """Weight-stationary with token tiles of ``tile`` and partial sums at ``psum_j`` per 64 bits, or (``psum_j``
    None) output-stationary with ``R`` tokens × ``C`` outputs accumulating in the PE registers."""
    R, C = hw.pe_rows, hw.pe_cols
    macs = g.mac_count
    fill = macs / (g.n * g.inputs * g.outputs) if g.n * g.inputs * g.outputs else 0.0  # causal fraction
    out = _zero()
    act_bytes = g.n * g.inputs * g.act_bits / 8
    spill = act_bytes > hw.onchip_bytes / 2   # the inputs do not fit half the SRAM: token tiles whose inputs do
    if spill:
        tile = min(tile, max(1, int(hw.onchip_bytes * 4 // (g.inputs * g.act_bits))))
    fetches = math.ceil(g.n / tile)
    if psum_j is not None:
        psum = 2 * g.n * g.outputs * math.ceil(g.inputs / R) * fill
        out["local_j" if psum_j == hw.memory_j else "sram_j"] += psum * p / BITS * psum_j
        # the stationary weight read from its register per MAC (and written once per fetch); the partial sum
        # passed down the column through a register per MAC (read and written)
        out["rf_j"] = ((macs + g.inputs * g.outputs * fetches) * g.weight_bits + 2 * macs * p) / BITS * hw.rf_j
    else:
        out["rf_j"] = 2 * macs * p / BITS * hw.rf_j
    weights_fit = g.weight_bytes + min(act_bytes, hw.onchip_bytes / 2) <= hw.onchip_bytes
    weight_bits_moved = g.inputs * g.outputs * g.weight_bits * fetches * (fill if g.macs is not None else 1.0)
    # the weights reach the array from the SRAM; when they also come from DRAM, the first fetch is the
    # per-pass DRAM stream (charged by the caller) and the others come from DRAM too if they do not fit
    if weights_in_dram and not weights_fit:
        extra = weight_bits_moved * (fetches - 1) / fetches
        out["dram_j"] += extra / BITS * hw.dram_j
        out["sram_j"] += (weight_bits_moved - extra) / BITS * hw.sram_j
    else:
        out["sram_j"] += weight_bits_moved / BITS * hw.sram_j
    inputs = g.n * g.inputs * math.ceil(g.outputs / C) * (fill if g.macs is not None else 1.0)
    out["sram_j"] += (inputs + g.n * g.outputs) * g.act_bits / BITS * hw.sram_j
    if spill:  # inputs read from DRAM once
        out["dram_j"] += g.n * g.inputs * g.act_bits / BITS * hw.dram_j
    if g.n * g.outputs * g.act_bits / 8 > hw.onchip_bytes / 2:  # outputs written to DRAM once
        out["dram_j"] += g.n * g.outputs * g.act_bits / BITS * hw.dram_j
    out["weight_fetches"] = fetches
    out["token_tile"] = tile
    return out


def placement(weight_bytes: float, hw: Hardware, policy: str = "stream") -> dict:
    """Where the spiking model's synapses live: ``chips`` needed to hold them all, and whether they stream
    from DRAM once per pass (``stream`` when they do not fit on one chip) or sit on ``chips`` chips."""
    if policy not in PLACEMENTS:
        raise ValueError(f"unknown synapse placement {policy!r}: give one of {', '.join(PLACEMENTS)}")
    chips = max(1, math.ceil(weight_bytes / hw.chip_bytes))
    return {"chips_needed": chips, "chip_bytes": hw.chip_bytes, "streamed": policy == "stream" and chips > 1,
            "policy": policy}

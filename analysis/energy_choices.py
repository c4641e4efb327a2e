"""The choices of the energy accounting: conventions, spike transports, and :class:`Options` (docs/energy.md,
"Choices"; ``--sweep`` varies each).

Memory energies are per 64-bit access, so ``b`` bits moved cost ``b / BITS`` accesses. ``MODELS`` are the
three sides of every ratio: ``spiking`` / ``dense_int`` and ``spiking`` / ``dense_fp16``.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis import dataflow as df

CONVENTIONS = ("ours", "snn-paper", "spikingbrain")
BINARY_SPIKES = ("unary", "bitplane")
MODELS = ("spiking", "dense_int", "dense_fp16")
BITS = 64  # memory energies are per 64-bit access
NEURON_POLICIES = ("lockstep", "per-token", "event-driven")
KV_MODES = ("spiking", "int8")
DENSE_WIDTHS = ("carried", "nominal", "isobit")


@dataclass(frozen=True)
class Options:
    """The documented choices of convention ``ours`` (docs/energy.md, "Choices"; ``--sweep`` varies each).

    ``dataflow``: the dense accelerator's dataflow (:mod:`analysis.dataflow`); ``neuron_policy``: which
    neuron updates the spiking chip charges — every neuron of a tensor for the tensor's longest train
    (``lockstep``), each token's neurons for that token's longest train (``per-token``), or one update per
    spike (``event-driven``); ``placement``: synapses streamed from DRAM once per pass when they exceed one
    chip (``stream``) or held on as many chips as needed (``chips``); ``kv``: Q, K, V spiked or kept int8
    (SpikingBrain's W8ASpike: attention as int8 MACs on both sides); ``weight_bits``: reprice every integer
    weight code at this width (8: W8ASpike's INT8 group-128 symmetric weights; None: as recorded);
    ``dense_abits``: the dense-int baseline's activation width — what the spike counts really carry
    (``carried``, from the largest recorded count), the nominal ``--abits`` (``nominal``), or Yan et al.'s
    iso-bit ``⌈log2(T+1)⌉`` (``isobit``)."""
    dataflow: str = "weight-stationary"
    neuron_policy: str = "lockstep"
    placement: str = "stream"
    kv: str = "spiking"
    weight_bits: int | None = None
    dense_abits: str = "carried"

    def check(self) -> None:
        for value, allowed, name in ((self.dataflow, df.DATAFLOWS, "dataflow"),
                                     (self.neuron_policy, NEURON_POLICIES, "neuron policy"),
                                     (self.placement, df.PLACEMENTS, "synapse placement"),
                                     (self.kv, KV_MODES, "K/V mode"), (self.dense_abits, DENSE_WIDTHS, "dense width")):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: give one of {', '.join(allowed)}")
        if self.weight_bits is not None and not 1 <= self.weight_bits <= 16:
            raise ValueError(f"weight bits must be 1..16, got {self.weight_bits}")


LEGACY = Options(dataflow="no-reuse", dense_abits="nominal")  # the accounting before the dataflow model

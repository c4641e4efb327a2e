"""Bitwise bidirectional code (SDLLM / SpikingBrain's W8ASpike default): the adaptive count sent bit by bit.

The count ``q`` of the adaptive threshold (:mod:`.adaptive`) goes out most significant bit first:
``S[t] = sign(q)·bit_{T-1-t}(|q|)`` with ``T = bit_length(max|q|)`` steps, and the receiving neuron integrates
``Σ_t 2^(T-1-t) S[t] = q``. A neuron fires ``popcount(|q|)`` ±1 spikes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from neurons import functional as nf
from neuro_llm.spiking.codes.adaptive import AdaptiveTernaryCode
from neuro_llm.spiking.codes.base import Tensor, popcount
from neuro_llm.spiking.codes.registry import register_code


@register_code
@dataclass(frozen=True)
class BitwiseCode(AdaptiveTernaryCode):
    bitwise: bool = True
    name: ClassVar[str] = "bitwise"
    label: ClassVar[str] = "bitwise (SDLLM)"
    fused_count_stats: ClassVar[bool] = False
    spike_train: ClassVar[str] = "bitwise"
    chunked: ClassVar[bool] = False

    def __post_init__(self):
        super().__post_init__()
        if self.bitwise is not True:
            raise ValueError("BitwiseCode records bitwise=True")

    def capacity(self, steps) -> Tensor | int:
        """``2**T - 1``."""
        return 2 ** steps - 1

    def token_steps(self, count: Tensor) -> Tensor:
        """``bit_length(max|q|)`` per token."""
        largest = count.abs().amax(-1) if count.dim() else count.abs()
        return nf.bit_length(largest)

    def drain(self, count: Tensor, steps: int) -> Tensor:
        return nf.bitwise_drain(count, steps)

    def integrate(self, spikes: Tensor) -> Tensor:
        """``Σ_t 2^(T-1-t) S[t]``."""
        return nf.bitwise_decode(spikes)

    def events(self, count: Tensor) -> Tensor:
        """``popcount(|q|)``."""
        return popcount(count.abs().to(torch.int64))

    def payload(self, count: Tensor) -> Tensor:
        """``popcount(|q|)``: each bitwise spike is ±1 (its weight ``2^(T-1-t)`` is applied by the synapse)."""
        return popcount(count.abs().to(torch.int64))

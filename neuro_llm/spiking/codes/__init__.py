"""Spike codes: one class a code, one file each, registered by name.

* :class:`GIFCode` (``gif``, SpikeLLM): asymmetric, ``T`` fixed per channel group; binary IF is ``per_step = 1``.
* :class:`TernaryCode` (``ternary``): max-scaled signed code, ``T`` fixed (the old SDLLM guess, a comparison).
* :class:`AdaptiveTernaryCode` (``adaptive-ternary``, SDLLM): ``Δ = mean|x|/k``, unit trains as long as needed.
* :class:`BitwiseCode` (``bitwise``, SDLLM/SpikingBrain's default): the adaptive count sent bit by bit.

A new code is one file (a frozen dataclass subclass of :class:`SpikeCode`, decorated ``@register_code``) and
its import below. ``SpikeCode(kind, per_step, clip=, k=, cap=, bitwise=)`` still builds the code an old record
names (saved models store ``dataclasses.asdict(code)``).
"""
from neuro_llm.spiking.codes.base import SPIKE_BUDGET, SignedCode, SpikeCode, popcount
from neuro_llm.spiking.codes.registry import (code_class, code_names, from_record, recorded_code, register_code,
                                              registered_codes, unregister_code)
from neuro_llm.spiking.codes.gif import GIFCode
from neuro_llm.spiking.codes.ternary import TernaryCode
from neuro_llm.spiking.codes.adaptive import AdaptiveTernaryCode
from neuro_llm.spiking.codes.bitwise import BitwiseCode

_popcount = popcount   # the old private name

__all__ = ["SPIKE_BUDGET", "SpikeCode", "SignedCode", "GIFCode", "TernaryCode", "AdaptiveTernaryCode", "BitwiseCode",
           "register_code", "unregister_code", "code_class", "code_names", "registered_codes", "recorded_code",
           "from_record", "popcount"]

"""Which spiking modules a model holds, and switching them between ``explicit`` and ``collapsed`` execution.

Below the converter: evaluation, the simulator, saved models and recordings switch modes without
importing :mod:`neuro_llm.convert` (which re-exports both names).
"""
from __future__ import annotations

from torch import nn

from neuro_llm.core.modes import Mode
from neuro_llm.spiking.attention import SpikingAttention
from neuro_llm.spiking.linear import SpikingLinear


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every spiking module of ``model`` to ``explicit`` or ``collapsed`` execution."""
    mode = Mode.parse(mode, "mode")
    for module in model.modules():
        if isinstance(module, (SpikingLinear, SpikingAttention)):
            module.mode = mode
    return model


def is_spiking(model: nn.Module) -> bool:
    return any(isinstance(m, (SpikingLinear, SpikingAttention)) and m.code is not None for m in model.modules())

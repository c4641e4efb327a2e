"""Round-to-nearest: each weight row quantized on its own, no data needed."""
from __future__ import annotations

from torch import nn

from neuro_llm.spiking import quant
from neuro_llm.arch import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.config import FULL_PRECISION_BITS


def float_weights(linear: nn.Linear) -> LinearWeights:
    return LinearWeights(linear.weight.detach().float().clone(), None, float(FULL_PRECISION_BITS))


def rtn_weights(linear: nn.Linear, bits: int) -> LinearWeights:
    if bits >= FULL_PRECISION_BITS:
        return float_weights(linear)
    codes, scale = quant.rtn_weight(linear.weight.detach().float(), bits)
    return LinearWeights(codes, scale, float(bits))


class RTN(BlockCalibrator):
    def calibrate_block(self, block, inputs, targets, ctx):
        return {name: rtn_weights(block.get_submodule(name), ctx.config.wbits) for name in LINEAR_NAMES}

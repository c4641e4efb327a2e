"""Round-to-nearest: each weight row quantized on its own, no data needed."""
from __future__ import annotations

import torch
from torch import nn

from neuro_llm.spiking import quant
from neuro_llm.arch import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.config import FULL_PRECISION_BITS


def float_weights(linear: nn.Linear) -> LinearWeights:
    return LinearWeights(linear.weight.detach().float().clone(), None, float(FULL_PRECISION_BITS))


ROWS_PER_CHUNK = 1024   # float32 temporaries of at most this many rows at a time


def rtn_weights(linear: nn.Linear, bits: int) -> LinearWeights:
    """Row-wise RTN, a chunk of rows at a time, the codes written as int8 (int16 above 7 bits): the float
    temporaries stay a few chunks large instead of several copies of the whole weight (what made converting
    a 70B-shaped block peak at 7 fp16 blocks). Rows are independent, so the codes are those of one pass."""
    if bits >= FULL_PRECISION_BITS:
        return float_weights(linear)
    weight = linear.weight.detach()
    rows = weight.shape[0]
    codes = torch.empty(weight.shape, dtype=torch.int8 if bits <= 7 else torch.int16, device=weight.device)
    scale = torch.empty(rows, 1, dtype=torch.float32, device=weight.device)
    for start in range(0, rows, ROWS_PER_CHUNK):
        chunk = slice(start, min(rows, start + ROWS_PER_CHUNK))
        codes[chunk], scale[chunk] = quant.rtn_weight(weight[chunk].float(), bits)
    return LinearWeights(codes, scale, float(bits))


class RTN(BlockCalibrator):
    def calibrate_block(self, block, inputs, targets, ctx):
        return {name: rtn_weights(block.get_submodule(name), ctx.config.wbits) for name in LINEAR_NAMES}

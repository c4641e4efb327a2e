"""The one interface every calibration method implements, and what it hands back.

The shared block-by-block driver (:mod:`neuro_llm.calibrate.loop`) runs the FP model one decoder block
at a time on calibration text; for each block it gives the method the block's inputs, the FP block's
outputs (the targets) and per-linear input statistics, and receives the weights of the seven linear layers.
The block is then rebuilt from those weights as a spiking block, and *its* outputs feed the next block
(quantized propagation, as GPTQ and OmniQuant do).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

Tensor = torch.Tensor


@dataclass
class LinearWeights:
    """Weights of one linear layer after calibration.

    Integer ``codes`` with a per-output-row ``scale`` (``W = scale · codes``) keep explicit and collapsed
    execution bit-identical; ``scale=None`` means ``codes`` is a float weight (e.g. group-wise GPTQ,
    PB-LLM's mixed binary/8-bit weights), which accumulates in float64. ``bits`` is the average storage
    bits per weight (for tables). ``bias`` replaces the layer's bias when a method changes it (LET)."""
    codes: Tensor
    scale: Tensor | None
    bits: float
    bias: Tensor | None = None


@dataclass
class BlockContext:
    """What a method may need besides the block: where it is and how to run it."""
    index: int
    config: object                      # SpikeConfig
    block_kwargs: dict | None           # attention_mask / position_embeddings / position_ids of this layer
    arch: object = None                 # the model's architecture adapter (neuro_llm.arch)
    stats: dict = field(default_factory=dict)   # linear name -> LinearInputStats (see loop.py)
    windows: list | None = None         # data-parallel: this rank's calibration windows (None: all of them)
    total_windows: int | None = None    # data-parallel: the windows of all ranks

    def run(self, block: nn.Module, x: Tensor) -> Tensor:
        """``block(x)`` with this layer's mask and positional embeddings, as the model runs it."""
        return block(x, **self.block_kwargs)


class BlockCalibrator:
    """A calibration method. ``needs_data``: whether it needs calibration text; ``needs_hessian``: whether
    the loop must accumulate ``H = 2XXᵀ`` of every linear input."""
    needs_data = False
    needs_hessian = False

    def calibrate_block(self, block: nn.Module, inputs: Tensor, targets: Tensor, ctx: BlockContext) -> dict[str, LinearWeights]:
        """Return ``{linear name (e.g. "self_attn.q_proj"): LinearWeights}`` for the seven linear layers.
        ``block`` is the FP block (still ``nn.Linear``); a method that reparametrizes it (LET smoothing
        folded into RMSNorm weights) edits it in place. ``inputs``/``targets``: ``[n, seqlen, hidden]``."""
        raise NotImplementedError

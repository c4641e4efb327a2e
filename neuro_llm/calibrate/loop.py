"""The shared block-by-block driver: one loop for every calibration method.

For block ``i``: run the FP block on the calibration inputs (collecting per-linear input statistics and
the FP outputs), let the method produce the weights, rebuild the block as a spiking block, and feed the
*spiking* block's outputs to block ``i + 1``. Only the current block sits on the device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from neuro_llm.arch import LINEAR_NAMES, adapter_for
from neuro_llm.calibrate.base import BlockCalibrator, BlockContext, LinearWeights
from neuro_llm.calibrate.saliency import AttentionSaliency

Tensor = torch.Tensor


@dataclass
class LinearInputStats:
    """Running sums over the calibration tokens ``x`` entering one linear layer ``y = x Wᵀ``:
    ``first_order = Σ x ⊙ (x Wᵀ W)`` (Optimal Brain Spiking) and ``hessian = Σ 2 x xᵀ`` (GPTQ/OBS)."""
    tokens: int = 0
    first_order: Tensor | None = None
    hessian: Tensor | None = None
    samples: Tensor | None = None   # the first ``keep`` input rows (for clipping-factor searches)

    def add(self, linear: nn.Linear, x: Tensor, y: Tensor, hessian: bool, keep: int = 0) -> None:
        x = x.reshape(-1, linear.in_features).float()
        y = y.reshape(-1, linear.out_features).float()
        if linear.bias is not None:
            y = y - linear.bias.float()
        s = (x * (y @ linear.weight.float())).sum(0)
        self.first_order = s if self.first_order is None else self.first_order + s
        if hessian:
            h = 2 * x.t() @ x
            self.hessian = h if self.hessian is None else self.hessian + h
        if keep and (self.samples is None or self.samples.shape[0] < keep):
            rows = x[: keep - (0 if self.samples is None else self.samples.shape[0])]
            self.samples = rows if self.samples is None else torch.cat([self.samples, rows])
        self.tokens += x.shape[0]

    @property
    def saliency(self) -> Tensor:
        """``mean_tokens(x ⊙ x Wᵀ W)``."""
        return self.first_order / self.tokens

    @property
    def mean_hessian(self) -> Tensor:
        """``H = (2/n) Σ x xᵀ``."""
        return self.hessian / self.tokens


def _run_rows(ctx: BlockContext, block: nn.Module, x: Tensor) -> Tensor:
    """The block over each calibration window separately (bounded memory)."""
    return torch.cat([ctx.run(block, x[j: j + 1]) for j in range(x.shape[0])])


@torch.no_grad()
def calibrate_blocks(model: nn.Module, method: BlockCalibrator, config, calibration: Tensor | None,
                     build_block, device=None, progress: bool = True, collect_hessian: bool = False,
                     keep_samples: int = 0, attention_saliency: bool = False, num_blocks: int | None = None) -> dict:
    """Calibrate every block with ``method`` and rebuild it with ``build_block(block, index, weights, stats)``.

    ``calibration``: ``[n, seqlen]`` token ids, or ``None`` for data-free methods (RTN without saliency).
    Only the first ``num_blocks`` blocks (default: all) are calibrated and rebuilt.
    Returns ``{index: {name: LinearWeights}}``."""
    arch = adapter_for(model)
    layers = arch.decoder_layers(model)
    if num_blocks is not None:
        layers = layers[:num_blocks]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    results = {}
    if calibration is None:
        for i, block in enumerate(tqdm(layers, desc=f"{type(method).__name__}", disable=not progress)):
            ctx = BlockContext(i, config, None, arch)
            weights = method.calibrate_block(block, None, None, ctx)
            build_block(block, i, weights, {})
            results[i] = weights
        return results

    ids = calibration.to(device)
    x = arch.embeddings(model).to(device)(ids).float()
    inputs = arch.block_inputs(model, x[:1])   # one window at a time: masks for batch 1
    hessian = collect_hessian or method.needs_hessian
    for i, block in enumerate(tqdm(layers, desc=f"calibrating ({type(method).__name__})", disable=not progress)):
        home = next(block.parameters()).device
        block.to(device)
        ctx = BlockContext(i, config, inputs.kwargs(i), arch)
        handles = []
        for name in LINEAR_NAMES:
            linear = block.get_submodule(name)
            ctx.stats[name] = LinearInputStats()
            handles.append(linear.register_forward_hook(
                lambda m, inp, out, s=ctx.stats[name]: s.add(m, inp[0], out, hessian, keep_samples)))
        if attention_saliency:
            block.self_attn.neuro_llm_capture = ctx.stats["attention"] = AttentionSaliency()
        try:
            targets = _run_rows(ctx, block, x)
        finally:
            for h in handles:
                h.remove()
            block.self_attn.neuro_llm_capture = None
        if not torch.isfinite(targets).all():
            raise FloatingPointError(f"block {i} produced NaN/Inf activations on the calibration text")
        with torch.enable_grad():
            weights = method.calibrate_block(block, x, targets, ctx)
        build_block(block, i, weights, ctx.stats)
        x = _run_rows(ctx, block, x)
        if not torch.isfinite(x).all():
            raise FloatingPointError(f"the calibrated block {i} produced NaN/Inf activations: try more bits")
        block.to(home)
        results[i] = weights
    return results

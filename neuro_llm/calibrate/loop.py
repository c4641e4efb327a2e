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

from neuro_llm.blocks import LINEAR_NAMES, decoder_layers
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


def _causal_mask(length: int, device, dtype=torch.float32) -> Tensor:
    return torch.full((length, length), torch.finfo(dtype).min, device=device, dtype=dtype).triu(1).view(1, 1, length, length)


def _run_rows(ctx: BlockContext, block: nn.Module, x: Tensor) -> Tensor:
    """The block over each calibration window separately (bounded memory)."""
    return torch.cat([ctx.run(block, x[j: j + 1]) for j in range(x.shape[0])])


@torch.no_grad()
def calibrate_blocks(model: nn.Module, method: BlockCalibrator, config, calibration: Tensor | None,
                     build_block, device=None, progress: bool = True, collect_hessian: bool = False,
                     keep_samples: int = 0, attention_saliency: bool = False) -> dict:
    """Calibrate every block with ``method`` and rebuild it with ``build_block(block, index, weights, stats)``.

    ``calibration``: ``[n, seqlen]`` token ids, or ``None`` for data-free methods (RTN without saliency).
    Returns ``{index: {name: LinearWeights}}``."""
    layers = decoder_layers(model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    results = {}
    if calibration is None:
        for i, block in enumerate(tqdm(layers, desc=f"{type(method).__name__}", disable=not progress)):
            ctx = BlockContext(i, config, None, None)
            weights = method.calibrate_block(block, None, None, ctx)
            build_block(block, i, weights, {})
            results[i] = weights
        return results

    inner = model.model
    ids = calibration.to(device)
    x = inner.embed_tokens.to(device)(ids)  # in the model's dtype (bf16/fp16 blocks take bf16/fp16 inputs)
    positions = torch.arange(ids.shape[1], device=device).view(1, -1)
    position_embeddings = inner.rotary_emb.to(device)(x, positions)
    mask = _causal_mask(ids.shape[1], device, x.dtype)
    hessian = collect_hessian or method.needs_hessian
    for i, block in enumerate(tqdm(layers, desc=f"calibrating ({type(method).__name__})", disable=not progress)):
        home = next(block.parameters()).device
        block.to(device)
        ctx = BlockContext(i, config, position_embeddings, mask)
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

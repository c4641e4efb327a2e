"""The shared block-by-block driver: one loop for every calibration method.

For block ``i``: run the FP block on the calibration inputs (collecting per-linear input statistics and
the FP outputs), let the method produce the weights, rebuild the block as a spiking block, and feed the
*spiking* block's outputs to block ``i + 1``. Only the current block sits on the device.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from neuro_llm import distributed
from neuro_llm.arch import LINEAR_NAMES, adapter_for
from neuro_llm.calibrate.base import BlockCalibrator, BlockContext, LinearWeights
from neuro_llm.calibrate.saliency import AttentionSaliency
from neuro_llm.spiking import taps

Tensor = torch.Tensor


@dataclass
class LinearInputStats:
    """Running sums over the calibration tokens ``x`` entering one linear layer ``y = x Wᵀ``:
    ``first_order = Σ x ⊙ (x Wᵀ W)`` (Optimal Brain Spiking) and ``hessian = Σ 2 x xᵀ`` (GPTQ/OBS)."""
    tokens: int = 0
    first_order: Tensor | None = None
    hessian: Tensor | None = None
    samples: Tensor | None = None   # the first ``keep`` input rows (for clipping-factor searches)
    terms: list | None = None       # data-parallel runs: each call's first-order term, summed in window order

    def add(self, linear: nn.Linear, x: Tensor, y: Tensor, hessian: bool, keep: int = 0) -> None:
        x = x.reshape(-1, linear.in_features).float()
        y = y.reshape(-1, linear.out_features).float()
        if linear.bias is not None:
            y = y - linear.bias.float()
        s = (x * (y @ linear.weight.float())).sum(0)
        self.first_order = s if self.first_order is None else self.first_order + s
        if self.terms is not None:
            self.terms.append(s)
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
    if x.shape[0] == 0:   # a data-parallel rank without windows
        return x.clone()
    return torch.cat([ctx.run(block, x[j: j + 1]) for j in range(x.shape[0])])


def _compact(weights: dict) -> dict:
    """Integer codes (those with a row scale) as int8/int16 as soon as a method hands them back: a block's
    seven float32 code matrices would otherwise sit beside the block until it is rebuilt."""
    for w in weights.values():
        if w.scale is not None and w.codes.is_floating_point():
            largest = float(w.codes.abs().max()) if w.codes.numel() else 0.0
            if largest <= torch.iinfo(torch.int16).max:
                w.codes = w.codes.to(torch.int8 if largest <= torch.iinfo(torch.int8).max else torch.int16)
    return weights


def _sizes(weights: dict) -> dict:
    return {name: (w.codes.numel(), w.bits) for name, w in weights.items()}


def _load(block_loader, i: int, block: nn.Module, device) -> torch.device | None:
    """Fill block ``i`` on ``device`` with ``block_loader``; its converted form then lives on the host."""
    if block_loader is None:
        return None
    block_loader(i, block, device)
    return torch.device("cpu")


@torch.no_grad()
def calibrate_blocks(model: nn.Module, method: BlockCalibrator, config, calibration: Tensor | None,
                     build_block, device=None, progress: bool = True, collect_hessian: bool = False,
                     keep_samples: int = 0, attention_saliency: bool = False, num_blocks: int | None = None,
                     block_loader=None) -> dict:
    """Calibrate every block with ``method`` and rebuild it with ``build_block(block, index, weights, stats)``.

    ``calibration``: ``[n, seqlen]`` token ids, or ``None`` for data-free methods (RTN without saliency).
    Only the first ``num_blocks`` blocks (default: all) are calibrated and rebuilt. ``block_loader(i, block,
    device)``: fills block ``i``'s weights on ``device`` just before it is calibrated (a model built on the
    ``meta`` device, loaded a block at a time: one that does not fit the host); the converted block then
    goes to the host. Under torchrun each
    rank runs the windows ``j ≡ rank (mod world size)`` and the statistics are reduced over the ranks
    before the method sees them (:mod:`neuro_llm.distributed`). Returns ``{index: {name: (weights, storage bits per weight)}}`` (the codes themselves
    live in the rebuilt blocks; keeping them here would hold every block's weights on the device)."""
    arch = adapter_for(model)
    layers = arch.decoder_layers(model)
    if num_blocks is not None:
        layers = layers[:num_blocks]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    results = {}
    if calibration is None:
        for i, block in enumerate(tqdm(layers, desc=f"{type(method).__name__}",
                                       disable=not progress or not distributed.is_main())):
            home = _load(block_loader, i, block, device)
            ctx = BlockContext(i, config, None, arch)
            weights = _compact(method.calibrate_block(block, None, None, ctx))
            results[i] = _sizes(weights)
            build_block(block, i, weights, {})
            if home is not None:
                block.to(home)
        return results

    windows = distributed.shard(calibration.shape[0])   # all of them in one process
    ids = calibration[windows].to(device)
    embed = arch.embeddings(model).to(device)
    x = embed(ids)   # in the model's dtype (bf16/fp16 blocks take bf16/fp16 inputs)
    first = embed(calibration[:1].to(device))   # window 0 (every rank)
    inputs = arch.block_inputs(model, first)   # one window at a time: masks for batch 1
    hessian = collect_hessian or method.needs_hessian
    parallel = distributed.active()
    for i, block in enumerate(tqdm(layers, desc=f"calibrating ({type(method).__name__})",
                                   disable=not progress or not distributed.is_main())):
        home = _load(block_loader, i, block, device)
        if home is None:
            home = next(block.parameters()).device
            block.to(device)
        ctx = BlockContext(i, config, inputs.kwargs(i), arch, windows=windows, total_windows=calibration.shape[0])
        handles = []
        for name in LINEAR_NAMES:
            linear = block.get_submodule(name)
            ctx.stats[name] = LinearInputStats(terms=[] if parallel else None)
            handles.append(linear.register_forward_hook(
                lambda m, inp, out, s=ctx.stats[name]: s.add(m, inp[0], out, hessian, keep_samples)))
        capture = None
        if attention_saliency:
            capture = ctx.stats["attention"] = AttentionSaliency(keep_terms=parallel)
        try:
            with taps.capturing(block.self_attn, capture) if capture is not None else contextlib.nullcontext():
                targets = _run_rows(ctx, block, x)
        finally:
            for h in handles:
                h.remove()
        if not torch.isfinite(targets).all():
            raise FloatingPointError(f"block {i} produced NaN/Inf activations on the calibration text")
        distributed.reduce_calibration_stats(ctx.stats, windows, calibration.shape[1], keep_samples, hessian,
                                             {name: block.get_submodule(name) for name in LINEAR_NAMES})
        with torch.enable_grad():
            weights = _compact(method.calibrate_block(block, x, targets, ctx))
        results[i] = _sizes(weights)
        build_block(block, i, weights, ctx.stats)
        x = _run_rows(ctx, block, x)
        if not torch.isfinite(x).all():
            raise FloatingPointError(f"the calibrated block {i} produced NaN/Inf activations: try more bits")
        block.to(home)
    return results

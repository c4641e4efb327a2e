"""OmniQuant (Shao et al., ICLR 2024): learnable weight clipping and equivalent transformation, per block.

For each decoder block, two sets of parameters are trained so that the fake-quantized block reproduces
the FP block's outputs (MSE, AdamW, one calibration window per step):

* **LWC** (learnable weight clipping): row ``i`` of ``W`` is quantized over ``[σ(l_i)·min W_i, σ(u_i)·max W_i]``
  instead of its full range (``wbits`` asymmetric, straight-through round).
* **LET** (learnable equivalent transformation), only when activations are quantized (as OmniQuant for
  LLaMA): per-channel scales moved between an activation and the weights that read it,
  ``x Wᵀ = (x / s)(W diag s)ᵀ``. Pairs come from the architecture adapter (:mod:`neuro_llm.arch`): a norm →
  the linears it feeds (LLaMA: input norm → q/k/v, post-attention norm → gate/up; Gemma 3: input norm →
  q/k/v, pre-feed-forward norm → gate/up), folded into the norm's effective weight (``w / s``, or
  ``(1 + w)/s - 1`` for Gemma's ``(1 + w)`` norms; no shifts, RMSNorm has no bias); v → o (v rows / s,
  o columns · s; ``s`` lives on the kv-head channels and is shared by the query heads of each group); q/k
  (q rows / s, k rows · s, with ``s[d] = s[d + head_dim/2]`` so that it commutes with RoPE) only where no
  q/k norm sits between the projections and RoPE (not Qwen3, not Gemma 3). down_proj's input is not smoothed.

Activations are fake-quantized where and as the spiking model encodes them: per token at the seven
linear inputs and, with ``quantize_attention``, Q per token, K per token (or per channel over the tokens so far), V per token (per
head). The fake-quantized block is the model's own block run with substituted weights
(``torch.func.functional_call``) and quantizing hooks, so every family's block structure is respected.
Afterwards the transformation is folded into the FP block in place and the folded weights are
quantized with the trained clipping, so the spiking block computes exactly what was trained.
"""
from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neuro_llm import distributed
from neuro_llm.spiking import quant, taps
from neuro_llm.arch import LINEAR_NAMES, adapter_for
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.config import FULL_PRECISION_BITS
from neuro_llm.core.modes import KeyScale
from neuro_llm.spiking.attention import ATTENTION_NAME
from neuro_llm.calibrate.fake_quant import fake_activation, fake_asymmetric, round_ste, scale_zero  # noqa: F401

Tensor = torch.Tensor
LWC_INIT = 4.0            # σ(4) ≈ 0.982: start near the plain min/max range
LWC_LR, LET_LR = 1e-2, 5e-3
ALPHA = 0.5               # SmoothQuant migration strength of the LET initialization
CLIP_MIN = 1e-5


def scale_rows(wb: tuple[Tensor, Tensor | None], r: Tensor) -> tuple[Tensor, Tensor | None]:
    """``(diag(r) W, r ⊙ b)``: the linear's outputs multiplied by ``r``."""
    w, b = wb
    return w * r[:, None], None if b is None else b * r


@torch.no_grad()
def activation_maxima(block: nn.Module, inputs: Tensor, ctx) -> dict[str, Tensor]:
    """Per-channel ``max|x|`` over the calibration tokens entering the smoothed linears: one entry per
    foldable norm of the adapter (keyed by the norm's name) and ``o`` (o_proj's input)."""
    arch = ctx.arch or adapter_for(block.self_attn.config)
    sites = {fold.norm: fold.linears[0] for fold in arch.folds} | {"o": "self_attn.o_proj"}
    maxima = {}

    def record(key):
        def hook(module, args):
            m = args[0].detach().abs().flatten(0, -2).amax(0).float()
            maxima[key] = torch.maximum(maxima[key], m) if key in maxima else m
        return hook

    handles = [block.get_submodule(name).register_forward_pre_hook(record(key)) for key, name in sites.items()]
    try:
        for j in range(inputs.shape[0]):
            ctx.run(block, inputs[j: j + 1])
    finally:
        for h in handles:
            h.remove()
    return distributed.reduce_max(maxima)   # data-parallel: over every rank's windows (exact)


class BlockTransform(nn.Module):
    """LWC and LET parameters of one decoder block, and the fake-quantized block they define.

    LWC is trained when ``wbits < 16``; LET when ``act_max`` (see :func:`activation_maxima`) is given,
    initialized as SmoothQuant ``s = max|x|^α / max|W|^(1-α)`` (q/k: ``s = 1``)."""

    def __init__(self, block: nn.Module, config, act_max: dict[str, Tensor] | None = None, arch=None):
        super().__init__()
        attn = block.self_attn
        # the FP block the fake-quantized forward runs (substituted weights); a private copy, so it stays
        # valid after the real block is rebuilt as a spiking block; a list hides it from nn.Module
        self.block = [copy.deepcopy(block).requires_grad_(False)]
        self.arch = arch or adapter_for(attn.config)
        self.head_dim, self.groups = attn.head_dim, attn.num_key_value_groups
        self.kv_heads = attn.k_proj.out_features // self.head_dim
        self.wbits, self.levels = config.wbits, 2 ** config.wbits - 1
        self.act_levels = config.capacity if config.quantizes_activations else None
        self.act_k = config.threshold_k if config.adaptive and config.quantizes_activations else None
        self.symmetric, self.quantize_attention = config.signed_code, config.quantize_attention
        self.running_keys = config.key_scaling is KeyScale.RUNNING
        clone = lambda t: None if t is None else t.detach().float().clone()
        self.norm = {f.norm: clone(block.get_submodule(f.norm).weight) for f in self.arch.folds}
        self.fp = {n: (clone(block.get_submodule(n).weight), clone(block.get_submodule(n).bias)) for n in LINEAR_NAMES}
        device = self.fp[LINEAR_NAMES[0]][0].device
        self.upper, self.lower = nn.ParameterDict(), nn.ParameterDict()
        if config.wbits < FULL_PRECISION_BITS:
            for name, (w, _) in self.fp.items():
                key = name.rsplit(".", 1)[1]
                self.upper[key] = nn.Parameter(torch.full((w.shape[0], 1), LWC_INIT, device=device))
                self.lower[key] = nn.Parameter(torch.full((w.shape[0], 1), LWC_INIT, device=device))
        self.let = nn.ParameterDict()
        if act_max is not None:
            def smooth(x, w):
                s = x.clamp_min(CLIP_MIN) ** ALPHA / w.clamp_min(CLIP_MIN) ** (1 - ALPHA)
                return nn.Parameter(s.clamp_min(CLIP_MIN))

            def column_max(*names):
                return torch.cat([self.fp[n][0] for n in names]).abs().amax(0)

            def per_kv(t):  # [heads·head_dim] -> [kv_heads·head_dim], max over each group's query heads
                return t.view(self.kv_heads, self.groups, self.head_dim).amax(1).flatten()

            for fold in self.arch.folds:
                self.let[self._key(fold.norm)] = smooth(act_max[fold.norm], column_max(*fold.linears))
            self.let["vo"] = smooth(per_kv(act_max["o"]), per_kv(column_max("self_attn.o_proj")))
            if self.arch.qk_scale_folds:
                self.let["qk"] = nn.Parameter(torch.ones(self.kv_heads, self.head_dim // 2, device=device))

    @staticmethod
    def _key(norm: str) -> str:
        return "norm:" + norm.replace(".", "/")   # ParameterDict keys may not contain dots

    def to_query_heads(self, s: Tensor) -> Tensor:
        """A per-kv-head channel vector ``[kv_heads·head_dim]`` repeated for the query heads of each group."""
        return s.reshape(self.kv_heads, self.head_dim).repeat_interleave(self.groups, 0).flatten()

    def folded(self) -> tuple[dict[str, Tensor], dict[str, tuple[Tensor, Tensor | None]]]:
        """Norm weights and linear ``(W, b)`` with LET folded in (differentiable in the scales)."""
        norms, lin = dict(self.norm), dict(self.fp)
        if not self.let:
            return norms, lin
        s, offset = self.let, self.arch.norm_offset
        for fold in self.arch.folds:
            scale = s[self._key(fold.norm)]
            norms[fold.norm] = (offset + norms[fold.norm]) / scale - offset    # effective weight / s
            for name in fold.linears:
                lin[name] = (lin[name][0] * scale, lin[name][1])
        if "qk" in s:
            qk = torch.cat([s["qk"], s["qk"]], -1).flatten()      # s[d] == s[d + head_dim/2]: commutes with RoPE
            lin["self_attn.q_proj"] = scale_rows(lin["self_attn.q_proj"], 1 / self.to_query_heads(qk))
            lin["self_attn.k_proj"] = scale_rows(lin["self_attn.k_proj"], qk)
        lin["self_attn.v_proj"] = scale_rows(lin["self_attn.v_proj"], 1 / s["vo"])
        w_o, b_o = lin["self_attn.o_proj"]
        lin["self_attn.o_proj"] = (w_o * self.to_query_heads(s["vo"]), b_o)
        return norms, lin

    def clip_range(self, name: str, w: Tensor) -> tuple[Tensor, Tensor]:
        """Row-wise ``Δ, z`` of the clipped range ``[σ(l)·min W, σ(u)·max W]``."""
        key = name.rsplit(".", 1)[1]
        return scale_zero(torch.sigmoid(self.lower[key]) * w.amin(1, keepdim=True),
                          torch.sigmoid(self.upper[key]) * w.amax(1, keepdim=True), self.levels)

    def quantize_weight(self, name: str, w: Tensor) -> Tensor:
        return fake_asymmetric(w, *self.clip_range(name, w), self.levels) if self.upper else w

    def quantize_activation(self, x: Tensor, dim: int, running: bool = False) -> Tensor:
        if self.act_k is not None:
            return fake_activation(x, self.act_levels, dim, True, self.act_k, running)
        return x if self.act_levels is None else fake_activation(x, self.act_levels, dim, self.symmetric,
                                                                  running=running)

    def _quantize_qkv(self, q: Tensor, k: Tensor, v: Tensor):
        """Q per token, K per token (or per channel over the tokens so far), V per token (per head), as the
        spiking attention encodes."""
        k_hat = self.quantize_activation(k, -2, running=True) if self.running_keys else self.quantize_activation(k, -1)
        return self.quantize_activation(q, -1), k_hat, self.quantize_activation(v, -1)

    def forward(self, x: Tensor, ctx) -> Tensor:
        """The fake-quantized block on ``x`` ``[b, S, hidden]``: the model's own block with the folded,
        clipped weights substituted and every spike-encoded activation fake-quantized."""
        block = self.block[0]
        attn = block.self_attn
        if attn.config._attn_implementation != ATTENTION_NAME:
            raise RuntimeError("OmniQuant runs blocks through neuro-llm's attention: call "
                               "neuro_llm.spiking.attention.use_spiking_attention(model) first (convert() does)")
        norms, lin = self.folded()
        params = {f"{name}.weight": w for name, w in norms.items()}
        for name, (w, b) in lin.items():
            params[f"{name}.weight"] = self.quantize_weight(name, w)
            if b is not None:
                params[f"{name}.bias"] = b
        hooks = [block.get_submodule(name).register_forward_pre_hook(
            lambda m, args: (self.quantize_activation(args[0], -1), *args[1:])) for name in LINEAR_NAMES]
        quantized = taps.fake_quantizing(attn, self._quantize_qkv) if self.quantize_attention else nullcontext()
        try:
            with quantized:
                return torch.func.functional_call(block, params, (x,), ctx.block_kwargs, strict=False)
        finally:
            for h in hooks:
                h.remove()

    @torch.no_grad()
    def fold_into(self, block: nn.Module) -> None:
        """Write the LET-folded norm weights, linear weights and biases into the FP ``block`` in place."""
        norms, lin = self.folded()
        for name, weight in norms.items():
            block.get_submodule(name).weight.copy_(weight)
        for name, (w, b) in lin.items():
            linear = block.get_submodule(name)
            linear.weight.copy_(w)
            if b is not None:
                linear.bias.copy_(b)

    @torch.no_grad()
    def weights(self) -> dict[str, LinearWeights]:
        """Integer codes ``q - z`` of the folded weights under the trained clipping (float weights at 16 bits)."""
        _, lin = self.folded()
        out = {}
        for name, (w, b) in lin.items():
            if not self.upper:
                out[name] = LinearWeights(w.clone(), None, float(FULL_PRECISION_BITS), bias=b)
                continue
            scale, zero = self.clip_range(name, w)
            codes = quant.asymmetric_count(w, scale, zero, self.levels) - zero
            out[name] = LinearWeights(codes, scale, float(self.wbits), bias=b)
        return out


def step_windows(batch: int | None = None) -> int:
    """Windows per optimizer step: ``batch`` (``SpikeConfig.omniquant_batch``, ``--omniquant-batch``), else the
    world size (one window per rank and step, as DDP; 1 in one process, OmniQuant's own batch)."""
    if batch is None:
        return distributed.world_size()
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"omniquant batch {batch!r}: expected a positive integer (windows per OmniQuant step)")
    return batch


def train(transform: BlockTransform, inputs: Tensor, targets: Tensor, ctx) -> None:
    """``config.epochs`` passes over the windows minimizing ``‖block_q(x) - y_fp‖²`` with AdamW
    (LWC lr 1e-2, LET lr 5e-3, no weight decay).

    A step averages the gradients of :func:`step_windows` consecutive windows (one by default in one
    process). Data-parallel: ``inputs``/``targets`` are this rank's ``ctx.windows`` (among ``ctx.total_windows``);
    each rank back-propagates its windows of the step and the gradients are summed over the ranks in rank
    order and divided by the step's window count (:func:`neuro_llm.distributed.average_gradients`)."""
    windows = getattr(ctx, "windows", None)
    windows = list(range(inputs.shape[0])) if windows is None else list(windows)
    total = getattr(ctx, "total_windows", None) or len(windows)
    local = {j: m for m, j in enumerate(windows)}
    groups = [{"params": [*transform.upper.values(), *transform.lower.values()], "lr": LWC_LR},
              {"params": list(transform.let.values()), "lr": LET_LR}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        return
    params = [p for g in groups for p in g["params"]]
    batch = step_windows(getattr(ctx.config, "omniquant_batch", None))
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    with torch.enable_grad():
        bar = tqdm(range(ctx.config.epochs), desc=f"OmniQuant block {ctx.index}", leave=False,
                   disable=not distributed.is_main())
        for epoch in bar:
            losses = 0.0
            for start in range(0, total, batch):
                step = range(start, min(start + batch, total))
                optimizer.zero_grad(set_to_none=True)
                for j in (j for j in step if j in local):
                    m = local[j]
                    loss = F.mse_loss(transform(inputs[m: m + 1], ctx), targets[m: m + 1])
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"OmniQuant: the loss of block {ctx.index} became {loss.item()} "
                                                 f"(epoch {epoch}, window {j}): try more bits or fewer epochs")
                    loss.backward()
                    losses += loss.item()
                distributed.average_gradients(params, len(step))
                optimizer.step()
            bar.set_postfix(loss=losses / max(len(windows), 1))


class OmniQuant(BlockCalibrator):
    """LWC (+ LET when activations are quantized) trained per block, folded, then quantized."""
    needs_data = True

    def calibrate_block(self, block, inputs, targets, ctx):
        config = ctx.config
        act_max = activation_maxima(block, inputs, ctx) if config.quantizes_activations else None
        transform = BlockTransform(block, config, act_max, ctx.arch)
        train(transform, inputs.float(), targets.float(), ctx)
        transform.fold_into(block)
        return transform.weights()

"""OmniQuant (Shao et al., ICLR 2024): learnable weight clipping and equivalent transformation, per block.

For each decoder block, two sets of parameters are trained so that the fake-quantized block reproduces
the FP block's outputs (MSE, AdamW, one calibration window per step):

* **LWC** (learnable weight clipping): row ``i`` of ``W`` is quantized over ``[σ(l_i)·min W_i, σ(u_i)·max W_i]``
  instead of its full range (``wbits`` asymmetric, straight-through round).
* **LET** (learnable equivalent transformation), only when activations are quantized (as OmniQuant for
  LLaMA): per-channel scales moved between an activation and the weights that read it,
  ``x Wᵀ = (x / s)(W diag s)ᵀ``. Pairs: input RMSNorm → q/k/v and post-attention RMSNorm → gate/up (norm
  weight / s; no shifts, RMSNorm has no bias); v → o (v rows / s, o columns · s; ``s`` lives on the kv-head
  channels and is shared by the query heads of each group); q/k (q rows / s, k rows · s, with
  ``s[d] = s[d + head_dim/2]`` so that it commutes with RoPE). down_proj's input is not smoothed.

Activations are fake-quantized where and as the spiking model encodes them: per token at the seven
linear inputs and, with ``quantize_attention``, Q per token, K per channel over tokens, V per token (per
head). Afterwards the transformation is folded into the FP block in place and the folded weights are
quantized with the trained clipping, so the spiking block computes exactly what was trained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from neuro_llm.spiking import quant
from neuro_llm.blocks import LINEAR_NAMES
from neuro_llm.calibrate.base import BlockCalibrator, LinearWeights
from neuro_llm.config import FULL_PRECISION_BITS
from neuro_llm.spiking.attention import repeat_heads
from neurons.functional import round_half_up

Tensor = torch.Tensor
NORMS = ("input_layernorm", "post_attention_layernorm")
LWC_INIT = 4.0            # σ(4) ≈ 0.982: start near the plain min/max range
LWC_LR, LET_LR = 1e-2, 5e-3
ALPHA = 0.5               # SmoothQuant migration strength of the LET initialization
CLIP_MIN = 1e-5


def round_ste(v: Tensor) -> Tensor:
    """``round(v)`` forward (ties up, as the quantizers), identity backward."""
    return v + (round_half_up(v) - v).detach()


def scale_zero(xmin: Tensor, xmax: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """``Δ = (max - min)/n`` and ``z = round(-min/Δ)`` (no gradient through ``z``, as OmniQuant)."""
    scale = ((xmax - xmin) / n).clamp_min(quant.SCALE_EPS)
    return scale, round_half_up(-xmin / scale).detach()


def fake_asymmetric(x: Tensor, scale: Tensor, zero: Tensor, n: int) -> Tensor:
    """``x̂ = Δ (clamp(round(x/Δ + z), 0, n) - z)`` with a straight-through round."""
    return scale * (round_ste(x / scale + zero).clamp(0, n) - zero)


def fake_activation(x: Tensor, n: int | None, dim: int, symmetric: bool, k: float | None = None) -> Tensor:
    """Dynamic fake quantization over ``dim``: asymmetric (gif), or ``Δ clamp(round(x/Δ), -n, n)`` with
    ``Δ = max|x|/n`` (ternary), or ``Δ = mean|x|/k`` (SDLLM's adaptive threshold; ``n = None``: no clamp)."""
    if k is not None:
        scale = quant.adaptive_scale(x, k, dim)
        q = round_ste(x / scale)
        return scale * (q if n is None else q.clamp(-n, n))
    if symmetric:
        scale = quant.symmetric_scale(x, n, dim)
        return scale * round_ste(x / scale).clamp(-n, n)
    return fake_asymmetric(x, *scale_zero(x.amin(dim, keepdim=True), x.amax(dim, keepdim=True), n), n)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """``w ⊙ x / sqrt(mean(x²) + ε)``."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def scale_rows(wb: tuple[Tensor, Tensor | None], r: Tensor) -> tuple[Tensor, Tensor | None]:
    """``(diag(r) W, r ⊙ b)``: the linear's outputs multiplied by ``r``."""
    w, b = wb
    return w * r[:, None], None if b is None else b * r


@torch.no_grad()
def activation_maxima(block: nn.Module, inputs: Tensor, ctx) -> dict[str, Tensor]:
    """Per-channel ``max|x|`` over the calibration tokens entering the smoothed linears: ``attn`` (q/k/v),
    ``mlp`` (gate/up) and ``o`` (o_proj)."""
    sites = {"attn": "self_attn.q_proj", "mlp": "mlp.up_proj", "o": "self_attn.o_proj"}
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
    return maxima


class BlockTransform(nn.Module):
    """LWC and LET parameters of one LLaMA-shaped block, and the fake-quantized block they define.

    LWC is trained when ``wbits < 16``; LET when ``act_max`` (see :func:`activation_maxima`) is given,
    initialized as SmoothQuant ``s = max|x|^α / max|W|^(1-α)`` (q/k: ``s = 1``)."""

    def __init__(self, block: nn.Module, config, act_max: dict[str, Tensor] | None = None):
        super().__init__()
        attn = block.self_attn
        self.head_dim, self.groups, self.scaling = attn.head_dim, attn.num_key_value_groups, attn.scaling
        self.kv_heads = attn.k_proj.out_features // self.head_dim
        self.eps, self.act_fn = block.input_layernorm.variance_epsilon, block.mlp.act_fn
        self.wbits, self.levels = config.wbits, 2 ** config.wbits - 1
        self.act_levels = config.capacity if config.quantizes_activations else None
        self.act_k = config.threshold_k if config.adaptive and config.quantizes_activations else None
        self.symmetric, self.quantize_attention = config.kind == "ternary", config.quantize_attention
        copy = lambda t: None if t is None else t.detach().float().clone()
        self.norm = {n: copy(block.get_submodule(n).weight) for n in NORMS}
        self.fp = {n: (copy(block.get_submodule(n).weight), copy(block.get_submodule(n).bias)) for n in LINEAR_NAMES}
        device = self.norm["input_layernorm"].device
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

            qkv = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
            self.let["attn"] = smooth(act_max["attn"], column_max(*qkv))
            self.let["mlp"] = smooth(act_max["mlp"], column_max("mlp.gate_proj", "mlp.up_proj"))
            self.let["vo"] = smooth(per_kv(act_max["o"]), per_kv(column_max("self_attn.o_proj")))
            self.let["qk"] = nn.Parameter(torch.ones(self.kv_heads, self.head_dim // 2, device=device))

    def to_query_heads(self, s: Tensor) -> Tensor:
        """A per-kv-head channel vector ``[kv_heads·head_dim]`` repeated for the query heads of each group."""
        return s.reshape(self.kv_heads, self.head_dim).repeat_interleave(self.groups, 0).flatten()

    def folded(self) -> tuple[dict[str, Tensor], dict[str, tuple[Tensor, Tensor | None]]]:
        """Norm weights and linear ``(W, b)`` with LET folded in (differentiable in the scales)."""
        norms, lin = dict(self.norm), dict(self.fp)
        if not self.let:
            return norms, lin
        s = self.let
        norms = {"input_layernorm": norms["input_layernorm"] / s["attn"],
                 "post_attention_layernorm": norms["post_attention_layernorm"] / s["mlp"]}
        for name, key in (("self_attn.q_proj", "attn"), ("self_attn.k_proj", "attn"), ("self_attn.v_proj", "attn"),
                          ("mlp.gate_proj", "mlp"), ("mlp.up_proj", "mlp")):
            lin[name] = (lin[name][0] * s[key], lin[name][1])
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

    def quantize_activation(self, x: Tensor, dim: int) -> Tensor:
        if self.act_k is not None:
            return fake_activation(x, self.act_levels, dim, True, self.act_k)
        return x if self.act_levels is None else fake_activation(x, self.act_levels, dim, self.symmetric)

    def forward(self, x: Tensor, ctx) -> Tensor:
        """The fake-quantized block on ``x`` ``[b, S, hidden]`` (positions and causal mask from ``ctx``)."""
        norms, lin = self.folded()

        def linear(name, h):
            w, b = lin[name]
            return F.linear(self.quantize_activation(h, -1), self.quantize_weight(name, w), b)

        batch, length, _ = x.shape
        h = rms_norm(x, norms["input_layernorm"], self.eps)
        q, k, v = (linear(f"self_attn.{p}_proj", h).view(batch, length, -1, self.head_dim).transpose(1, 2)
                   for p in "qkv")
        q, k = apply_rotary_pos_emb(q, k, *ctx.position_embeddings)
        if self.quantize_attention:  # Q per token, K per channel over tokens, V per token
            q, k, v = self.quantize_activation(q, -1), self.quantize_activation(k, -2), self.quantize_activation(v, -1)
        scores = q @ repeat_heads(k, self.groups).transpose(-1, -2) * self.scaling + ctx.attention_mask[..., :length]
        heads = torch.softmax(scores, dim=-1) @ repeat_heads(v, self.groups)
        x = x + linear("self_attn.o_proj", heads.transpose(1, 2).reshape(batch, length, -1))
        h = rms_norm(x, norms["post_attention_layernorm"], self.eps)
        return x + linear("mlp.down_proj", self.act_fn(linear("mlp.gate_proj", h)) * linear("mlp.up_proj", h))

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


def train(transform: BlockTransform, inputs: Tensor, targets: Tensor, ctx) -> None:
    """``config.epochs`` passes over the windows minimizing ``‖block_q(x) - y_fp‖²`` with AdamW
    (LWC lr 1e-2, LET lr 5e-3, no weight decay)."""
    groups = [{"params": [*transform.upper.values(), *transform.lower.values()], "lr": LWC_LR},
              {"params": list(transform.let.values()), "lr": LET_LR}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        return
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    with torch.enable_grad():
        bar = tqdm(range(ctx.config.epochs), desc=f"OmniQuant block {ctx.index}", leave=False)
        for epoch in bar:
            total = 0.0
            for j in range(inputs.shape[0]):
                loss = F.mse_loss(transform(inputs[j: j + 1], ctx), targets[j: j + 1])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"OmniQuant: the loss of block {ctx.index} became {loss.item()} "
                                             f"(epoch {epoch}, window {j}): try more bits or fewer epochs")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item()
            bar.set_postfix(loss=total / inputs.shape[0])


class OmniQuant(BlockCalibrator):
    """LWC (+ LET when activations are quantized) trained per block, folded, then quantized."""
    needs_data = True

    def calibrate_block(self, block, inputs, targets, ctx):
        config = ctx.config
        act_max = activation_maxima(block, inputs, ctx) if config.quantizes_activations else None
        transform = BlockTransform(block, config, act_max)
        train(transform, inputs.float(), targets.float(), ctx)
        transform.fold_into(block)
        return transform.weights()

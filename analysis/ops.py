"""Floating-point operation counts of one decoder block (and of the head), spiking and dense.

Every elementary floating-point operation — a multiply, an add, a multiply-add, a comparison, an ``exp``,
a divide, an ``rsqrt`` — counts as one MAC (docs/energy.md gives the table). With ``B`` samples of
``n = q_len`` queries over ``m = kv_len`` keys (``m = n`` without a cache), hidden size ``d``, MLP size
``f``, ``H`` query heads and ``H_kv`` key/value heads of size ``D``, and ``P = Σ_i min(i + 1 + m - n, w)``
unmasked (query, key) pairs per head (causal attention, ``w`` the layer's sliding window or ∞; masked
pairs cost nothing). ``N`` hidden-size RMSNorms a block and the gate's activation come from the
architecture adapter (LLaMA: 2 norms, SiLU; Gemma 3: 4 norms, tanh-GELU; Qwen3/Gemma 3 add q/k norms)::

    linear            n·in·out per floating-point linear layer (+ n·out per bias, spiking or not)
    attention_scores  H·P·D    QKᵀ    (only where Q, K are not spikes)
    attention_values  H·P·D    P·V    (only where V is not spikes)
    softmax           5·H·P    scale by 1/√D, subtract the row max, exp, sum, divide
    rope              3·n·(H + H_kv)·D   x·cos + rotate_half(x)·sin
    norm              N·n·(3d + 3)       N RMSNorms: Σx², mean, +eps, rsqrt, x·r, ·γ
                      + n·(H + H_kv)·(3D + 3) with q/k norms (per head)
    silu              4·n·f              the gate's activation: x·σ(x) (exp, add, divide, multiply);
                                         tanh-GELU 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) counted as 4 too
    gating            n·f                silu(gate) ⊙ up
    residual          2·n·d              two residual adds
    encode            E per encoded value: the scale's min and max (gif, E = 3) or max|x| (ternary,
                      E = 2) comparisons and the charge x/Δ + z
    decode            the rescaling around every spike-driven product (see :func:`_decode_linear`,
                      :func:`_attention_spiking_ops`)
    lm_head           n·d·V (head only; the final RMSNorm goes to ``norm``)

All counts are multiplied by ``B``. The dense model is the same network with every linear layer and both
attention products in floating point.
"""
from __future__ import annotations

from analysis.shape import LayerShape, LinearShape, ModelShape

CATEGORIES = ("linear", "attention_scores", "attention_values", "softmax", "rope", "norm", "silu", "gating",
              "residual", "encode", "decode", "lm_head")
ENCODE_OPS = {"gif": 3, "ternary": 2}


def causal_pairs(q_len: int, kv_len: int, window: int | None = None) -> int:
    """``Σ_{i<n} min(i + 1 + m - n, w)``: (query, key) pairs the causal (sliding-window) mask lets through."""
    if kv_len < q_len:
        raise ValueError(f"kv_len ({kv_len}) must be at least q_len ({q_len})")
    full = q_len * (q_len + 1) // 2 + q_len * (kv_len - q_len)
    if window is None:
        return full
    seen = range(kv_len - q_len + 1, kv_len + 1)   # keys visible to each query without a window
    return sum(min(s, window) for s in seen)


def _zero_point_ops(code_kind: str) -> int:
    """Ops per rescaled element: ``Δ·(acc - z·r)`` is 2 for the asymmetric gif code, ``Δ·acc`` 1 for ternary."""
    return 2 if code_kind == "gif" else 1


def _decode_linear(linear: LinearShape, code_kind: str, q_len: int) -> int:
    """Per token and output: each channel group ``g`` adds ``Δ_g·(acc_g - z_g·rowsum C_g)`` into ``y``
    (2 ops gif, 1 ternary), then one multiply by the weight scale ``s`` if the weights are integer codes."""
    return q_len * linear.out_features * (linear.groups * _zero_point_ops(code_kind) + int(linear.integer_weights))


def _attention_spiking_ops(shape: ModelShape, code_kind: str, q_len: int, kv_len: int,
                           window: int | None = None) -> dict[str, int]:
    """Encode and decode ops of spiking attention (per sample).

    ``K̂ = Δ_k(ΣS_k - z_k)``: 2 (gif) / 1 (ternary) per K element. Scores: ``Δ_q`` times each score and
    (gif) ``- z_q·rowsum K̂``: 2 / 1 per pair, plus (gif) the row sums of ``K̂`` (D adds per key and kv head).
    Values: the synaptic weight ``p_ij·Δ_v[j]`` of each pair and (gif) ``- p_ij·Δ_v[j]·z_v[j]``: 2 / 1 per
    pair, plus (gif) one subtraction per output element.
    """
    H, Hkv, D = shape.heads, shape.kv_heads, shape.head_dim
    zp = _zero_point_ops(code_kind)
    pairs = causal_pairs(q_len, kv_len, window)
    gif = code_kind == "gif"
    decode = kv_len * Hkv * D * zp + H * pairs * zp + H * pairs * zp
    if gif:
        decode += kv_len * Hkv * D + q_len * H * D
    encode = ENCODE_OPS[code_kind] * (q_len * H * D + 2 * kv_len * Hkv * D)
    return {"encode": encode, "decode": decode}


def block_ops(shape: ModelShape, layer: LayerShape, batch: int, q_len: int, kv_len: int,
              spiking: bool) -> dict[str, int]:
    """Floating-point ops of one block over ``batch`` samples: of the spiking model (``spiking=True``) or
    of the dense one. Spike-driven products are not here: they are synaptic operations."""
    d, f, H, Hkv, D = shape.hidden, shape.intermediate, shape.heads, shape.kv_heads, shape.head_dim
    pairs = causal_pairs(q_len, kv_len, layer.window)
    ops = dict.fromkeys(CATEGORIES, 0)
    for linear in layer.linears:
        spikes = spiking and linear.spiking
        if not spikes:
            ops["linear"] += q_len * linear.in_features * linear.out_features
        else:
            ops["encode"] += ENCODE_OPS[shape.code_kind] * q_len * linear.in_features
            ops["decode"] += _decode_linear(linear, shape.code_kind, q_len)
        if linear.bias:
            ops["linear"] += q_len * linear.out_features
    if spiking and layer.attention_spiking:
        for key, value in _attention_spiking_ops(shape, shape.code_kind, q_len, kv_len, layer.window).items():
            ops[key] += value
    else:
        ops["attention_scores"] = H * pairs * D
        ops["attention_values"] = H * pairs * D
    ops["softmax"] = 5 * H * pairs
    ops["rope"] = 3 * q_len * (H + Hkv) * D
    ops["norm"] = shape.norms * q_len * (3 * d + 3) + (q_len * (H + Hkv) * (3 * D + 3) if shape.qk_norm else 0)
    ops["silu"] = 4 * q_len * f
    ops["gating"] = q_len * f
    ops["residual"] = 2 * q_len * d
    return {key: batch * value for key, value in ops.items()}


def head_ops(shape: ModelShape, batch: int, q_len: int) -> dict[str, int]:
    """Final RMSNorm and ``lm_head`` over ``batch`` samples (the same in both models)."""
    ops = dict.fromkeys(CATEGORIES, 0)
    ops["norm"] = batch * q_len * (3 * shape.hidden + 3)
    ops["lm_head"] = batch * q_len * shape.hidden * shape.vocab
    return ops


def spike_driven_macs(shape: ModelShape, layer: LayerShape, batch: int, q_len: int, kv_len: int) -> dict[str, int]:
    """MACs of the products that spikes drive in the spiking block, as the same quantized block run densely
    computes them (over ``batch`` samples): ``linear_int`` (spiking linear layers with integer weight codes,
    ``n·in·out``), ``linear_float`` (spiking linear layers with floating-point weights), and, where Q, K, V
    spike, ``attention_scores`` (QKᵀ, ``H·P·D``, integer codes on both sides) and ``attention_values``
    (P·V, ``H·P·D``, a floating-point P times integer V codes)."""
    macs = {"linear_int": 0, "linear_float": 0, "attention_scores": 0, "attention_values": 0}
    for linear in layer.linears:
        if linear.spiking:
            macs["linear_int" if linear.integer_weights else "linear_float"] += (
                q_len * linear.in_features * linear.out_features)
    if layer.attention_spiking:
        macs["attention_scores"] = macs["attention_values"] = (
            shape.heads * causal_pairs(q_len, kv_len) * shape.head_dim)
    return {key: batch * value for key, value in macs.items()}

"""What a block computes outside the projections a NIR graph holds (the graph's ``host_operations`` metadata)."""
from __future__ import annotations

from torch import nn


def host_operations(model: nn.Module, layer: int) -> dict:
    """What block ``layer`` computes outside the exported projections, in order: ``{key: {op, after,
    before, shape}}`` (shapes per token; ``tokens`` is the sequence length)."""
    hf = getattr(model, "hf_model", model)
    c = hf.config
    hidden, inter = c.hidden_size, c.intermediate_size
    heads, kv = c.num_attention_heads, c.num_key_value_heads
    head_dim = getattr(c, "head_dim", None) or hidden // heads
    act = str(getattr(c, "hidden_activation", None) or getattr(c, "hidden_act", "silu"))
    p = f"layers.{layer}."
    q, k, v, o = (p + f"self_attn.{n}_proj" for n in "qkvo")
    gate, up, down = (p + f"mlp.{n}_proj" for n in ("gate", "up", "down"))
    ops = [("input_layernorm", "RMSNorm", "block input (residual stream)", f"{q}, {k}, {v}", f"[tokens, {hidden}]"),
           ("encoder_thresholds", "per-token threshold Δ and zero point z of every projection's encoder "
            "(from the token's range or mean|x|): the charge u = x/Δ + z", "each projection's input",
            "each projection's input.g", "[tokens, in_features] -> [tokens, 1] per group")]
    block = hf.model.layers[layer] if hasattr(hf, "model") and hasattr(hf.model, "layers") else None
    attn = getattr(block, "self_attn", None)
    if attn is not None and hasattr(attn, "q_norm"):
        ops.append(("qk_norm", "RMSNorm of q and k per head", f"{q}, {k}", "rope", f"[tokens, {heads}|{kv}, {head_dim}]"))
    ops += [("rope", "rotary position embedding of q and k", f"{q}, {k}", "kv_cache",
             f"[tokens, {heads}, {head_dim}] and [tokens, {kv}, {head_dim}]"),
            ("kv_cache", "KV cache (keys and values of earlier tokens)", f"{k}, {v}", "qk_product",
             f"[{kv}, tokens, {head_dim}] each"),
            ("qk_product", "Q·Kᵀ / sqrt(head_dim) with the causal mask (activation × activation; Q and K "
             "spike-encoded when quantize_attention)", "rope, kv_cache", "softmax", f"[{heads}, tokens, tokens]"),
            ("softmax", "softmax over keys", "qk_product", "av_product", f"[{heads}, tokens, tokens]"),
            ("av_product", "A·V (activation × activation; V spike-encoded when quantize_attention)", "softmax", o,
             f"[tokens, {heads * head_dim}]")]
    if block is not None and hasattr(block, "post_attention_layernorm") and hasattr(block, "pre_feedforward_layernorm"):
        ops.append(("post_attention_norm", "RMSNorm of the attention output (Gemma 3 sandwich)", o, "residual_attention",
                    f"[tokens, {hidden}]"))
    ops += [("residual_attention", "residual add: block input + attention output", o, "post_attention_layernorm",
             f"[tokens, {hidden}]"),
            ("post_attention_layernorm", "RMSNorm", "residual_attention", f"{gate}, {up}", f"[tokens, {hidden}]"),
            ("gate", f"{act}(gate) ⊙ up (activation × activation)", f"{gate}, {up}", down, f"[tokens, {inter}]"),
            ("residual_mlp", "residual add: residual stream + MLP output", down, "next block", f"[tokens, {hidden}]")]
    return {f"{layer:03d}.{i:02d}.{name}": {"op": op, "after": after, "before": before, "shape": shape}
            for i, (name, op, after, before, shape) in enumerate(ops)}

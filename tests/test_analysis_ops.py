"""Floating-point and dense operation counts: by hand on a tiny shape, and against torch's FLOP counter."""
import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from analysis.ops import block_ops, causal_pairs, head_ops
from analysis.shape import LayerShape, LinearShape, ModelShape


def tiny_shape(attention_spiking=True, code_kind="gif"):
    sizes = {"self_attn.q_proj": (4, 4), "self_attn.k_proj": (4, 2), "self_attn.v_proj": (4, 2),
             "self_attn.o_proj": (4, 4), "mlp.gate_proj": (4, 6), "mlp.up_proj": (4, 6), "mlp.down_proj": (6, 4)}
    linears = tuple(LinearShape(name, i, o, bias=False, spiking=True, groups=2, integer_weights=True)
                    for name, (i, o) in sizes.items())
    return ModelShape(hidden=4, intermediate=6, heads=2, kv_heads=1, head_dim=2, vocab=5, code_kind=code_kind,
                      weight_bits=4, layers=(LayerShape(linears, attention_spiking),))


def test_causal_pairs():
    assert causal_pairs(3, 3) == 1 + 2 + 3
    assert causal_pairs(2, 5) == 4 + 5  # two new queries over three cached keys
    with pytest.raises(ValueError, match="kv_len"):
        causal_pairs(3, 2)


def test_hand_counted_block():
    shape = tiny_shape()
    layer = shape.layers[0]
    dense = block_ops(shape, layer, batch=1, q_len=3, kv_len=3, spiking=False)
    # linear: 3 tokens × (16 + 8 + 8 + 16 + 24 + 24 + 24); 6 causal pairs per head, 2 heads of size 2
    assert dense == {"linear": 360, "attention_scores": 24, "attention_values": 24, "softmax": 60, "rope": 54,
                     "norm": 90, "silu": 72, "gating": 18, "residual": 24, "encode": 0, "decode": 0, "lm_head": 0}
    spiking = block_ops(shape, layer, batch=2, q_len=3, kv_len=3, spiking=True)
    # encode: 3 ops × (3 tokens × 30 linear inputs + 12 Q + 2 × 6 K/V values) = 342
    # decode: linear 3 tokens × 28 outputs × (2 groups × 2 + 1) = 420; attention K̂ 12 + scores 24 + rowsum 6
    #         + values 24 + zero-point subtraction 12 = 78
    assert spiking == {"linear": 0, "attention_scores": 0, "attention_values": 0, "softmax": 120, "rope": 108,
                       "norm": 180, "silu": 144, "gating": 36, "residual": 48, "encode": 684, "decode": 996,
                       "lm_head": 0}
    ternary = tiny_shape(code_kind="ternary")
    spiking = block_ops(ternary, ternary.layers[0], batch=1, q_len=3, kv_len=3, spiking=True)
    # no zero points: 2 ops per encoded value; linear 3 × 28 × (2 + 1), attention K̂ 6 + scores 12 + values 12
    assert (spiking["encode"], spiking["decode"]) == (228, 252 + 30)
    assert head_ops(shape, batch=2, q_len=3) == {**dict.fromkeys(dense, 0), "norm": 2 * 3 * 15, "lm_head": 2 * 3 * 20}


def test_floating_point_parts_count_as_dense():
    shape = tiny_shape(attention_spiking=False)
    layer = shape.layers[0]
    layer = dataclasses.replace(layer, linears=tuple(dataclasses.replace(linear, spiking=linear.name != "mlp.up_proj")
                                                     for linear in layer.linears))
    dense = block_ops(shape, layer, 1, 3, 3, spiking=False)
    spiking = block_ops(shape, layer, 1, 3, 3, spiking=True)
    assert spiking["attention_scores"] == dense["attention_scores"] == 24
    assert spiking["linear"] == 3 * 4 * 6  # up_proj's inputs do not spike


def test_dense_macs_match_torch_flop_counter():
    """torch counts every matmul of the FP model: linear layers, lm_head and both attention products over
    the full N×N score matrix (2 FLOPs per MAC); ours count only the causal pairs of the products."""
    cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).eval()
    shape = ModelShape.from_model(model)
    batch, n = 2, 7
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randint(0, 96, (batch, n)), use_cache=False)
    blocks = [block_ops(shape, layer, batch, n, n, spiking=False) for layer in shape.layers]
    linear = sum(ops["linear"] for ops in blocks) + head_ops(shape, batch, n)["lm_head"]
    products = sum(ops["attention_scores"] + ops["attention_values"] for ops in blocks)
    assert products == shape.num_layers * 2 * batch * shape.heads * causal_pairs(n, n) * shape.head_dim
    full_products = shape.num_layers * 2 * batch * shape.heads * n * n * shape.head_dim
    assert counter.get_total_flops() == 2 * (linear + full_products)

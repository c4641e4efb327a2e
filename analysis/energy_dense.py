"""The dense models (``dense_int``, ``dense_isobit``, ``dense_fp16``) of a block or of the head::

    dense_int  = int MACs·(E_mult(A×W) + E_add) + float MACs·E_mac + FP ops·E_mac + M_int
    dense_fp16 = dense MACs·E_ann_mac + M_fp

``M`` under the ``no-reuse`` dataflow is the per-MAC rule (a weight per MAC from the core-local memory,
partial sums through the register file, activations through the local buffer); under any other dataflow
it is the GEMMs' memory traffic of :func:`analysis.dataflow.gemm_memory`. Plus the DRAM stream of the
weights when they do not fit on chip.
"""
from __future__ import annotations

from analysis import dataflow as df
from analysis.energy_choices import BITS, Options
from analysis.energy_terms import zero_terms
from analysis.energy_widths import site_neurons
from analysis.hardware import Hardware
from analysis.ops import causal_pairs
from analysis.shape import LayerShape, ModelShape


def dense_gemms(shape: ModelShape, layer: LayerShape | None, batch: int, q_len: int, kv_len: int, which: str,
           abits: int, wbits: int, word: int) -> list[df.Gemm]:
    """The GEMMs of a block (or of the head, ``layer=None``) that run on the dense accelerator:
    ``which`` = ``float`` (linears whose inputs do not spike; ``lm_head``), ``spiking`` (the spike-driven
    linears, as the dense-int model runs them), ``all`` (every linear, the fp16 model), and the attention
    products ``attention`` (K and V codes at ``abits``) / ``attention_fp`` (at ``word``)."""
    n = batch * q_len
    if layer is None:
        return [df.Gemm(n, shape.hidden, shape.vocab, word, word)] if which in ("float", "all") else []
    out = []
    if which in ("float", "spiking", "all"):
        for linear in layer.linears:
            if which == "float" and linear.spiking or which == "spiking" and not linear.spiking:
                continue
            integer = linear.integer_weights and shape.weight_bits and which != "all"
            out.append(df.Gemm(n, linear.in_features, linear.out_features, wbits if integer else word,
                               abits if which == "spiking" else word))
        return out
    bits = abits if which == "attention" else word
    pairs = causal_pairs(q_len, kv_len, layer.window)
    for _ in range(2):  # QKᵀ (K stationary) and P·V (V stationary), every query head of every sample
        out.append(df.Gemm(q_len, shape.head_dim, kv_len, bits, bits,
                           macs=pairs * shape.head_dim).scaled(batch * shape.heads))
    return out


def dataflow_memory(gemms: list[df.Gemm], hw: Hardware, opt: Options, psum_bits: int, in_dram: bool) -> dict:
    total = {"weights": 0.0, "operands": 0.0, "activations": 0.0, "dram": 0.0}
    for g in gemms:
        m = df.gemm_memory(g, hw, opt.dataflow, psum_bits, in_dram)
        total["weights"] += (m["weight_j"] + m["rf_j"] + m["sram_j"]) * g.count
        total["activations"] += m["local_j"] * g.count
        total["dram"] += m["dram_j"] * g.count
    return total


def dense_row(sites, spiking_ops, dense_ops, driven, stream, shape, layer, hw, abits, memory, opt, record,
               model) -> dict:
    """Energy terms of a dense model (``dense_int``/``dense_isobit`` at ``abits``, or ``dense_fp16``)."""
    part = zero_terms(model)
    wbits = opt.weight_bits or shape.weight_bits or hw.word_bits
    word = hw.word_bits
    batch, q_len, kv_len = (record.batch, record.q_len, record.kv_len) if record is not None else (1, 0, 0)
    if model == "dense_fp16":
        part["mac_j"] = sum(dense_ops.values()) * hw.ann_mac_j
    else:
        remainder = sum(spiking_ops.values())
        kv_bits = 8 if driven.get("kv_int8") else abits
        part["int_mac_j"] = (driven["linear_int"] * (hw.mult_j(abits, wbits) + hw.add_j)
                             + driven["attention_scores"] * (hw.mult_j(kv_bits, kv_bits) + hw.add_j))
        part["fp_j"] = (remainder + driven["linear_float"] + driven["attention_values"]) * hw.mac_j
    if not memory:
        return part
    values = sum(site_neurons(site) for site in sites)
    if opt.dataflow == "no-reuse":  # the per-MAC rule
        if model == "dense_fp16":
            part["mem_accumulator_j"] = 2 * sum(dense_ops[k] for k in ("linear", "lm_head", "attention_scores",
                                                                         "attention_values")) * word / BITS * hw.rf_j
        else:
            part["mem_accumulator_j"] = 2 * (
                (driven["linear_int"] + driven["attention_scores"]) * hw.psum_bits
                + (driven["linear_float"] + driven["attention_values"] + spiking_ops["linear"] + spiking_ops["lm_head"]
                   + spiking_ops["attention_scores"] + spiking_ops["attention_values"]) * word) / BITS * hw.rf_j
        if driven.get("kv_int8") and model != "dense_fp16":
            part["mem_operands_j"] += 2 * driven["kv_int8"] * 8 / BITS * hw.memory_j
        if model == "dense_fp16":
            part["mem_weights_j"], part["mem_operands_j"] = float_memory(dense_ops, hw)
            part["mem_activations_j"] = 2 * values * word / BITS * hw.memory_j
        else:
            weights, operands = float_memory(spiking_ops, hw)
            part["mem_weights_j"] = weights + (driven["linear_int"] * wbits + driven["linear_float"] * word) \
                / BITS * hw.weight_read_j
            part["mem_operands_j"] = operands + (0 if driven.get("kv_int8") else (
                driven["attention_scores"] + driven["attention_values"]) * abits / BITS * hw.memory_j)
            part["mem_activations_j"] = 2 * values * abits / BITS * hw.memory_j
    else:
        in_dram = stream > 0
        psum = hw.psum_bits if model != "dense_fp16" else max(word, 16)
        if model == "dense_fp16":
            gemms = dense_gemms(shape, layer, batch, q_len, kv_len, "all", abits, wbits, word)
            attention = dense_ops["attention_scores"] > 0
            if layer is not None and attention:
                gemms += dense_gemms(shape, layer, batch, q_len, kv_len, "attention_fp", abits, wbits, word)
        else:
            gemms = (dense_gemms(shape, layer, batch, q_len, kv_len, "float", abits, wbits, word)
                     + dense_gemms(shape, layer, batch, q_len, kv_len, "spiking", abits, wbits, word))
            if layer is not None:
                which = "attention" if driven["attention_scores"] else "attention_fp"
                if driven["attention_scores"] or spiking_ops["attention_scores"]:
                    gemms += dense_gemms(shape, layer, batch, q_len, kv_len, which,
                                    8 if driven.get("kv_int8") else abits, wbits, word)
        m = dataflow_memory(gemms, hw, opt, psum, in_dram)
        part["mem_weights_j"] = m["weights"]
        part["mem_activations_j"] = m["activations"]
        part["mem_dram_j"] = m["dram"]
    part["mem_dram_j"] += stream / BITS * hw.dram_j
    return part


def float_memory(ops: dict, hw: Hardware) -> tuple[float, float]:
    """(weights, operands) of floating-point MACs under the per-MAC (no-reuse) rule: a float weight per
    linear/lm_head MAC from the core-local weight memory, a float operand per attention MAC from the local
    buffer."""
    weights = (ops["linear"] + ops["lm_head"]) * hw.word_bits / BITS * hw.weight_read_j
    operands = (ops["attention_scores"] + ops["attention_values"]) * hw.word_bits / BITS * hw.memory_j
    return weights, operands

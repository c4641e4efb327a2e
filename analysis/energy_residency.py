"""Where the weights live: stored bits, whether they fit on chip, and the DRAM stream when they do not.

Stored bits of a block = ``Σ_linears in·out·(W if integer codes else word) + out·word`` (biases); the head
is ``vocab·hidden·word``. A dense model whose weights exceed ``onchip_bytes`` streams every weight from DRAM
once per pass; the spiking chip streams its synapses when they exceed one chip (placement ``stream``), else
holds them on ``chips_needed`` chips (:func:`analysis.dataflow.placement`).
"""
from __future__ import annotations

from analysis import dataflow as df
from analysis.energy_choices import MODELS, Options
from analysis.energy_widths import layer_shape
from analysis.hardware import Hardware
from analysis.records import Recording
from analysis.shape import LayerShape, ModelShape


def weight_bits(shape: ModelShape, layer: LayerShape, hw: Hardware, floating: bool, wbits: int | None = None) -> int:
    """Stored bits of one block's weights: integer codes at ``weight_bits`` (``wbits`` if given), float
    weights and biases at ``word_bits``; all at ``word_bits`` in the floating-point model (``floating``)."""
    code_bits = wbits or shape.weight_bits
    total = 0
    for linear in layer.linears:
        integer = linear.integer_weights and shape.weight_bits and not floating
        total += linear.in_features * linear.out_features * (code_bits if integer else hw.word_bits)
        total += linear.out_features * hw.word_bits if linear.bias else 0
    return total


def head_weight_bits(shape: ModelShape, hw: Hardware) -> int:
    return shape.vocab * shape.hidden * hw.word_bits


def fits_on_chip(shape: ModelShape, hw: Hardware, floating: bool, wbits: int | None = None) -> bool:
    """The whole model's weights fit the dense accelerator's on-chip SRAM (``onchip_bytes``)."""
    bits = sum(weight_bits(shape, layer, hw, floating, wbits) for layer in shape.layers) + head_weight_bits(shape, hw)
    return bits / 8 <= hw.onchip_bytes


def spiking_weight_bytes(recording: Recording, hw: Hardware, wbits: int | None) -> float:
    shape = recording.shape
    return sum(weight_bits(shape, layer, hw, False, wbits) for layer in shape.layers) / 8


def weight_streams(recording: Recording, hw: Hardware, memory: bool, opt: Options = Options()):
    """Bits streamed from DRAM per block and for the head, per model (0 where the weights stay on chip). The
    dense models stream every weight once per pass when the model exceeds the accelerator's SRAM; the spiking
    chip streams its synapses when they exceed one chip (placement ``stream``), else holds them on
    ``chips_needed`` chips; its ``lm_head`` runs on the dense accelerator."""
    shape = recording.shape
    wb = opt.weight_bits
    fits = {"dense_int": fits_on_chip(shape, hw, False, wb), "dense_fp16": fits_on_chip(shape, hw, True)}
    place = df.placement(spiking_weight_bytes(recording, hw, wb), hw, opt.placement)
    fits["spiking"] = not place["streamed"]
    floating = {"spiking": False, "dense_int": False, "dense_fp16": True}
    layers = []
    for layer in recording.layers:
        ls = layer_shape(recording, layer)
        layers.append({m: 0 if (fits[m] or not memory) else weight_bits(shape, ls, hw, floating[m], wb)
                       for m in MODELS})
    head = {m: 0 if (fits["dense_int" if m == "spiking" else m] or not memory) else head_weight_bits(shape, hw)
            for m in MODELS}
    return layers, head, {**fits, "placement": place}

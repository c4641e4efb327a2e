"""``convert(model, SpikeConfig)``: a Hugging Face LLaMA-family model → its spiking twin.

Swapped: the seven linear layers of every block (→ :class:`SpikingLinear`: integer weight codes,
spike-encoded inputs) and the attention products (→ :class:`SpikingAttention`, through the
``transformers`` attention interface). Kept in floating point: embeddings, RMSNorm, RoPE, SiLU, the
gate⊙up product, softmax, residual adds, the KV cache and ``lm_head``. The result still answers
``forward`` and ``generate``.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from neuro_llm import quant
from neuro_llm.blocks import LINEAR_NAMES, decoder_layers
from neuro_llm.config import MODES, SpikeConfig
from neuro_llm.saliency import allocate_steps, linear_input_saliency
from neuro_llm.spiking_attention import ATTENTION_NAME, SpikingAttention, register_attention
from neuro_llm.spiking_linear import SpikingLinear


def calibration_windows(tokenizer, config: SpikeConfig, data_dir=None) -> torch.Tensor:
    """``config.calib_windows`` random windows of ``config.calib_seqlen`` tokens of WikiText-2 valid."""
    from neuro_llm.data import load_tokens

    tokens = load_tokens(tokenizer, "wikitext2", "valid", data_dir)
    span = tokens.numel() - config.calib_seqlen
    generator = torch.Generator().manual_seed(config.seed)
    starts = torch.randint(0, span, (config.calib_windows,), generator=generator)
    return torch.stack([tokens[s: s + config.calib_seqlen] for s in starts.tolist()])


@torch.no_grad()
def convert(model: nn.Module, config: SpikeConfig, tokenizer=None, calibration: torch.Tensor | None = None,
            inplace: bool = False, progress: bool = True, data_dir=None) -> nn.Module:
    """Return the spiking (or quantized) version of ``model`` described by ``config``.

    Saliency-based step allocation needs calibration text: pass ``calibration`` (``[n, seqlen]`` ids) or a
    ``tokenizer`` (``load_model`` attaches one to the model)."""
    layers = decoder_layers(model)
    if not inplace:
        model = copy.deepcopy(model)
        layers = decoder_layers(model)
    model.neuro_llm_config = config
    if config.method == "fp":
        return model

    saliency = {}
    if config.uses_saliency:
        if calibration is None:
            tokenizer = tokenizer or getattr(model, "neuro_llm_tokenizer", None)
            if tokenizer is None:
                raise ValueError("salient channels need calibration text: pass tokenizer= or calibration=")
            calibration = calibration_windows(tokenizer, config, data_dir)
        saliency = linear_input_saliency(model, calibration, progress=progress)

    code = config.code if config.quantizes_activations else None
    for i, layer in enumerate(layers):
        for name in LINEAR_NAMES:
            site = f"layers.{i}.{name}"
            parent_name, attr = name.rsplit(".", 1)
            parent = layer.get_submodule(parent_name)
            linear = getattr(parent, attr)
            weight = linear.weight.detach().float()
            if config.quantizes_weights:
                codes, scale = quant.rtn_weight(weight, config.wbits)
            else:
                codes, scale = weight, None
            steps = None
            if code is not None:
                steps = torch.full((linear.in_features,), config.base_steps, dtype=torch.long)
                if site in saliency:
                    steps = allocate_steps(saliency[site], config.salient_fraction, config.base_steps,
                                           config.salient_steps)
            setattr(parent, attr, SpikingLinear.from_linear(linear, codes, scale, code=code, channel_steps=steps,
                                                            site=site, layer=i))
        if code is not None and config.quantize_attention:
            layer.self_attn.spiking = SpikingAttention(code, config.base_steps, site=f"layers.{i}.self_attn", layer=i)
    register_attention()
    model.config._attn_implementation = ATTENTION_NAME
    set_mode(model, config.mode)
    return model


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every spiking module of ``model`` to ``explicit`` or ``collapsed`` execution."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: accepted {', '.join(MODES)}")
    for module in model.modules():
        if isinstance(module, (SpikingLinear, SpikingAttention)):
            module.mode = mode
    return model


def is_spiking(model: nn.Module) -> bool:
    return any(isinstance(m, (SpikingLinear, SpikingAttention)) and m.code is not None for m in model.modules())

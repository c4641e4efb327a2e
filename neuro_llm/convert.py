"""``convert(model, SpikeConfig)``: a Hugging Face LLaMA-family model → its spiking twin.

Swapped: the seven linear layers of every block (→ :class:`SpikingLinear`: integer weight codes,
spike-encoded inputs) and the attention products (→ :class:`SpikingAttention`, through the
``transformers`` attention interface). Kept in floating point: embeddings, RMSNorm, RoPE, SiLU, the
gate⊙up product, softmax, residual adds, the KV cache and ``lm_head``. The result is a
:class:`~neuro_llm.spiking_model.SpikingModel`: the converted Hugging Face model (``.hf_model``) with its
``SpikeConfig`` (``.spec``), tokenizer, source and execution mode; it answers ``forward``, ``generate`` and
``save``. ``set_mode`` / ``is_spiking`` stay importable here, deprecated (``snn.set_mode``, ``snn.is_spiking``).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from neuro_llm.arch import LINEAR_NAMES, decoder_layers
from neuro_llm.calibrate import calibrate_blocks, make_calibrator
from neuro_llm.config import SpikeConfig
from neuro_llm.eval.data import leading_bos, load_tokens
from neuro_llm.io.models import load_tokenizer
from neuro_llm.calibrate.saliency import allocate_steps, second_order_saliency
from neuro_llm.spiking.attention import SpikingAttention, use_spiking_attention
from neuro_llm.spiking.linear import SpikingLinear
from neuro_llm.spiking.mode import set_mode as set_layer_modes
from neuro_llm.spiking_model import SpikingModel, is_spiking, set_mode  # noqa: F401  (deprecated public names)


def calibration_windows(tokenizer, config: SpikeConfig, data_dir=None, bos: int | None = None) -> torch.Tensor:
    """``config.calib_windows`` random windows of ``config.calib_seqlen`` tokens of WikiText-2 valid (each
    starting with ``bos`` where the family expects one)."""
    tokens = load_tokens(tokenizer, "wikitext2", "valid", data_dir)
    length = config.calib_seqlen - (bos is not None)
    span = tokens.numel() - length
    if span < 1:
        from neuro_llm.eval.data import text_path
        raise ValueError(f"the calibration text {text_path('wikitext2', 'valid', data_dir)} has {tokens.numel()} tokens, "
                         f"too few for windows of --calib-seqlen {config.calib_seqlen}: use WikiText-2's valid split "
                         f"(--data-dir) or --calib-seqlen {max(2, tokens.numel() - 1)} or less")
    generator = torch.Generator().manual_seed(config.seed)
    starts = torch.randint(0, span, (config.calib_windows,), generator=generator)
    rows = [tokens[s: s + length] for s in starts.tolist()]
    if bos is not None:
        rows = [torch.cat([torch.tensor([bos], dtype=row.dtype), row]) for row in rows]
    return torch.stack(rows)


@torch.no_grad()
def convert(model: nn.Module, config: SpikeConfig, tokenizer=None, calibration: torch.Tensor | None = None,
            inplace: bool = False, progress: bool = True, data_dir=None, device=None,
            num_blocks: int | None = None, block_loader=None) -> SpikingModel:
    """Return the spiking (or quantized) version of ``model`` (a Hugging Face model, or the ``SpikingModel`` of
    an ``fp`` conversion) described by ``config``, as a :class:`SpikingModel` in the execution mode
    ``config.mode``. ``method="fp"`` gives a ``SpikingModel`` around the unchanged model (a copy unless
    ``inplace``): every method returns the same kind of object.

    Methods that learn from data (GPTQ, OmniQuant) and saliency-based step allocation need calibration
    text: pass ``calibration`` (``[n, seqlen]`` ids) or a ``tokenizer``; without either, the tokenizer of the
    model's source (``model.config.name_or_path``, which ``load_model`` sets to the name it was given) is
    loaded. Calibration runs block by block (:mod:`neuro_llm.calibrate.loop`) on ``device``.
    ``num_blocks``: convert only the first ``num_blocks`` blocks, the rest stay FP (simulating blocks
    ``0..k`` needs only ``k + 1``). ``block_loader(i, block, device)``: blocks built on the ``meta`` device
    are filled one at a time just before conversion (see :func:`neuro_llm.calibrate.loop.calibrate_blocks`)."""
    if isinstance(model, SpikingModel):
        if model.is_spiking or model.weight_bits is not None:
            raise ValueError("convert() takes a Hugging Face model (or an fp SpikingModel); this one is already "
                             f"converted with {model.spec.method}")
        tokenizer = tokenizer if tokenizer is not None else model.tokenizer
        model = model.hf_model
    source = getattr(getattr(model, "config", None), "name_or_path", None) or None
    blocks = decoder_layers(model)
    if num_blocks is not None and not 1 <= num_blocks <= len(blocks):
        raise ValueError(f"num_blocks must be in 1..{len(blocks)}, got {num_blocks}")
    if not inplace:
        model = copy.deepcopy(model)
    if config.method == "fp":
        return SpikingModel(model, config, tokenizer, source=source)

    method = make_calibrator(config)
    second_order = config.uses_saliency and config.saliency == "second"
    needs_data = method.needs_data or config.uses_saliency
    if needs_data and calibration is None:
        tokenizer = tokenizer if tokenizer is not None else source_tokenizer(source)
        if tokenizer is None:
            raise ValueError("this configuration needs calibration text: pass tokenizer= or calibration=")
        calibration = calibration_windows(tokenizer, config, data_dir, leading_bos(model, tokenizer))
    if not needs_data:
        calibration = None

    code = config.code if config.quantizes_activations else None

    def build_block(block: nn.Module, index: int, weights: dict, stats: dict) -> None:
        for name in LINEAR_NAMES:
            parent_name, attr = name.rsplit(".", 1)
            parent = block.get_submodule(parent_name)
            linear = getattr(parent, attr)
            w = weights.pop(name)   # dropped once its layer is built: one layer's codes in flight at a time
            steps = None
            if code is not None:
                steps = torch.full((linear.in_features,), config.base_steps, dtype=torch.long)
                if config.uses_saliency:
                    score = (second_order_saliency(w, stats[name].mean_hessian) if second_order
                             else stats[name].saliency)
                    steps = allocate_steps(score.cpu(), config.salient_fraction, config.base_steps,
                                           config.salient_steps)
            bias = w.bias if w.bias is not None else linear.bias
            setattr(parent, attr, SpikingLinear(w.codes, w.scale, bias, code=code, channel_steps=steps,
                                                site=f"layers.{index}.{name}", layer=index).to(linear.weight.device))
        if code is not None and config.quantize_attention:
            k_steps = v_steps = None
            if "attention" in stats:
                k_steps, v_steps = (allocate_steps(score.cpu(), config.salient_fraction, config.base_steps,
                                                   config.salient_steps)
                                    for score in (stats["attention"].k, stats["attention"].v))
            block.self_attn.spiking = SpikingAttention(code, config.base_steps, site=f"layers.{index}.self_attn",
                                                       layer=index, k_steps=k_steps, v_steps=v_steps,
                                                       key_scale=config.key_scale).to(linear.weight.device)

    use_spiking_attention(model)
    weights = calibrate_blocks(model, method, config, calibration, build_block, device=device, progress=progress,
                     collect_hessian=second_order,
                     attention_saliency=config.uses_saliency and config.quantize_attention, num_blocks=num_blocks,
                     block_loader=block_loader)
    sizes = [size for block in weights.values() for size in block.values()]
    weight_bits = sum(n * b for n, b in sizes) / sum(n for n, _ in sizes)  # storage bits per weight
    set_layer_modes(model, config.mode)
    return SpikingModel(model, config, tokenizer, source=source, weight_bits=weight_bits)


def source_tokenizer(source: str | None):
    """The tokenizer of the model ``source`` names (``None`` if it names nothing :func:`load_model` reads)."""
    if not source:
        return None
    try:
        return load_tokenizer(source)
    except (ValueError, OSError):
        return None

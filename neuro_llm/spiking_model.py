"""``SpikingModel``: what :func:`neuro_llm.convert.convert` returns — a Hugging Face model and what made it.

It holds the converted Hugging Face model (``.hf_model``, whose linear layers and attention the converter
swapped), its :class:`~neuro_llm.config.SpikeConfig` (``.spec``), the tokenizer, where it came from
(``.source``: the model name or path it was converted from; ``.saved_from``: the directory it was loaded
from) and its execution mode. Nothing of this is stored on the Hugging Face model itself.

The execution mode (``explicit``: time-stepped spike trains; ``collapsed``: the equal quantized
computation) is switched on the object, for good or for a block of code::

    snn.set_mode("explicit")
    with snn.mode("collapsed"):   # the previous mode comes back after the block
        logits = snn(ids).logits

It answers what a user asks of a model — ``snn(ids)`` / ``forward`` (the Hugging Face forward),
``generate`` (:func:`neuro_llm.generation.generate`: the KV cache holds encoded K and V), ``save(dir)``
(:func:`neuro_llm.io.saving.save_spiking_model`), ``.device``, ``.eval()``, ``.to()``, ``parameters()``,
``modules()`` — and every function of the package that takes a model takes it or a plain Hugging Face
model (:func:`hf_model_of`). ``convert(model, SpikeConfig(method="fp"))`` returns a ``SpikingModel`` too,
around the untouched model (``is_spiking`` is then ``False``): one kind of result for every method.

Other attributes (``snn.config``, ``snn.lm_head``, ...) still reach the Hugging Face model, with a
:class:`HFAttributeDeprecation` warning: until this release ``convert`` returned the Hugging Face model.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from neuro_llm import generation
from neuro_llm.config import SpikeConfig
from neuro_llm.io import writer
from neuro_llm.spiking import mode as modes


class HFAttributeDeprecation(DeprecationWarning):
    """An attribute of the Hugging Face model read through the ``SpikingModel`` (use ``.hf_model``), or an
    old name (``neuro_llm_config``, ``set_mode(model, mode)``, ...)."""


_RENAMED = {"neuro_llm_config": "spec", "neuro_llm_tokenizer": "tokenizer", "neuro_llm_source": "source",
            "neuro_llm_saved": "saved_from", "neuro_llm_weight_bits": "weight_bits"}


class SpikingModel:
    """A converted Hugging Face causal LM with its spec, tokenizer, provenance and execution mode."""

    def __init__(self, hf_model: nn.Module, spec: SpikeConfig, tokenizer=None, source: str | None = None,
                 saved_from: str | None = None, weight_bits: float | None = None):
        if isinstance(hf_model, SpikingModel):
            raise TypeError("SpikingModel(hf_model=...) takes the Hugging Face model, not another SpikingModel")
        self.hf_model, self.spec, self.tokenizer = hf_model, spec, tokenizer
        self.source, self.saved_from = source, saved_from
        self.weight_bits = weight_bits   # storage bits per weight of the converted linear layers (None: not quantized)

    # ------------------------------------------------------------------ execution mode
    @property
    def execution_mode(self) -> str:
        """``explicit`` or ``collapsed``: how the spiking layers run now (``spec.mode`` follows it)."""
        return self.spec.mode

    def set_mode(self, mode: str) -> "SpikingModel":
        """Run every spiking layer in ``mode`` from now on; returns ``self``."""
        modes.set_mode(self.hf_model, mode)
        if mode != self.spec.mode:
            self.spec = replace(self.spec, mode=mode)
        return self

    @contextlib.contextmanager
    def mode(self, mode: str):
        """``with snn.mode("explicit"): ...``: ``mode`` inside the block, the previous mode after it."""
        previous = self.execution_mode
        self.set_mode(mode)
        try:
            yield self
        finally:
            self.set_mode(previous)

    @property
    def is_spiking(self) -> bool:
        """Whether any layer encodes its inputs as spikes (``False`` for the FP and weight-only baselines)."""
        return modes.is_spiking(self.hf_model)

    # ------------------------------------------------------------------ running
    def forward(self, *args, **kwargs):
        """The Hugging Face forward (``snn(input_ids).logits``)."""
        return self.hf_model(*args, **kwargs)

    __call__ = forward

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 32, sampling: generation.Sampling | None = None,
                 streamer=None, eos_token_id: int | None = None, output_logits: bool = False,
                 do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0, seed: int = 0):
        """Continue ``input_ids`` with the KV cache (:func:`neuro_llm.generation.generate`): greedy unless
        ``sampling`` (or ``do_sample=True`` with ``temperature`` / ``top_p`` / ``seed``) says otherwise; stops
        at ``eos_token_id`` (default: the model's generation config). Returns the ids ``[batch, S + n]``."""
        if sampling is None:
            sampling = generation.Sampling(temperature, top_p, seed) if do_sample else generation.Sampling()
        if eos_token_id is None:
            eos_token_id = getattr(getattr(self.hf_model, "generation_config", None), "eos_token_id", None)
        return generation.generate(self.hf_model, input_ids, max_new_tokens, sampling, streamer=streamer,
                                   eos_token_id=eos_token_id, output_logits=output_logits)

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | os.PathLike, tokenizer=None, run_config: dict | None = None) -> Path:
        """Write the model to ``directory`` (:func:`neuro_llm.io.saving.save_spiking_model`); ``load_model``
        reads it back as a ``SpikingModel`` without calibrating."""
        return writer.save_spiking_model(self, directory, tokenizer=tokenizer, run_config=run_config)

    # ------------------------------------------------------------------ torch-module manners
    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.hf_model.get_input_embeddings().weight.dtype

    def eval(self) -> "SpikingModel":
        self.hf_model.eval()
        return self

    def to(self, *args, **kwargs) -> "SpikingModel":
        self.hf_model.to(*args, **kwargs)
        return self

    def parameters(self, recurse: bool = True):
        return self.hf_model.parameters(recurse)

    def named_parameters(self, *args, **kwargs):
        return self.hf_model.named_parameters(*args, **kwargs)

    def buffers(self, recurse: bool = True):
        return self.hf_model.buffers(recurse)

    def modules(self):
        return self.hf_model.modules()

    def named_modules(self, *args, **kwargs):
        return self.hf_model.named_modules(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return self.hf_model.state_dict(*args, **kwargs)

    def __repr__(self) -> str:
        return (f"SpikingModel({type(self.hf_model).__name__}, method={self.spec.method!r}, "
                f"mode={self.execution_mode!r}, source={self.source!r})")

    # ------------------------------------------------------------------ old names (one release)
    def __getattr__(self, name: str):
        if name.startswith("__") or name == "hf_model":   # copy / pickle probes; not yet built
            raise AttributeError(name)
        if name in _RENAMED:
            warnings.warn(f"SpikingModel.{name} is deprecated: use .{_RENAMED[name]}", HFAttributeDeprecation,
                          stacklevel=2)
            return getattr(self, _RENAMED[name])
        value = getattr(self.hf_model, name)   # AttributeError: neither has it
        warnings.warn(f"SpikingModel.{name} reaches the Hugging Face model: use .hf_model.{name} (convert returns a "
                      "SpikingModel now)", HFAttributeDeprecation, stacklevel=2)
        return value


def hf_model_of(model) -> nn.Module:
    """The Hugging Face model of a :class:`SpikingModel`, or ``model`` itself (a plain Hugging Face model)."""
    return model.hf_model if isinstance(model, SpikingModel) else model


def spec_of(model) -> SpikeConfig | None:
    """The :class:`SpikeConfig` a model was converted with (``None`` for a plain Hugging Face model)."""
    return model.spec if isinstance(model, SpikingModel) else None


def switch_mode(model, mode: str | None):
    """Run ``model`` (a :class:`SpikingModel` or a Hugging Face model holding spiking layers) in ``mode`` from
    now on (``None``: leave it); returns ``model``."""
    if mode is None:
        return model
    if isinstance(model, SpikingModel):
        return model.set_mode(mode)
    modes.set_mode(model, mode)
    return model


def set_mode(model, mode: str):
    """Deprecated: ``snn.set_mode(mode)`` or ``with snn.mode(mode):``. Switches ``model`` (a
    :class:`SpikingModel` or a Hugging Face model) to ``mode`` and returns it."""
    warnings.warn("neuro_llm.set_mode(model, mode) is deprecated: call model.set_mode(mode) or use "
                  "`with model.mode(mode):`", HFAttributeDeprecation, stacklevel=2)
    return switch_mode(model, mode)


def is_spiking(model) -> bool:
    """Deprecated: ``snn.is_spiking``. Whether ``model`` (either kind) holds a layer that encodes spikes."""
    warnings.warn("neuro_llm.is_spiking(model) is deprecated: read model.is_spiking", HFAttributeDeprecation,
                  stacklevel=2)
    return modes.is_spiking(hf_model_of(model))

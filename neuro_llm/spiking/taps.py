"""What calibration asks of an attention module while it runs, without attributes set on the model.

Calibration runs the model's own (FP) attention: OmniQuant fake-quantizes its Q, K, V as the spiking attention
will encode them (:func:`fake_quantizing`), the block loop captures them for attention saliency
(:func:`capturing`). Both are context variables keyed by the attention module (identity), read by
:func:`neuro_llm.spiking.attention.spiking_attention_forward`; nothing is stored on the Hugging Face model.
"""
from __future__ import annotations

import contextlib
import contextvars

_FAKE_QUANT: contextvars.ContextVar[tuple] = contextvars.ContextVar("neuro_llm_attention_fake_quant", default=())
_CAPTURE: contextvars.ContextVar[tuple] = contextvars.ContextVar("neuro_llm_attention_capture", default=())


@contextlib.contextmanager
def _bound(var: contextvars.ContextVar, module, value):
    token = var.set(var.get() + ((module, value),))
    try:
        yield value
    finally:
        var.reset(token)


def _lookup(var: contextvars.ContextVar, module):
    for bound, value in reversed(var.get()):
        if bound is module:
            return value
    return None


def fake_quantizing(attention, quantize):
    """Inside: ``attention``'s eager forward runs on ``quantize(query, key, value)``."""
    return _bound(_FAKE_QUANT, attention, quantize)


def capturing(attention, capture):
    """Inside: ``attention``'s eager forward hands Q, K, V and its weights to ``capture.add``."""
    return _bound(_CAPTURE, attention, capture)


def fake_quant_of(attention):
    """The fake quantizer bound to ``attention`` (``None``: none)."""
    return _lookup(_FAKE_QUANT, attention)


def capture_of(attention):
    """The capture bound to ``attention`` (``None``: none)."""
    return _lookup(_CAPTURE, attention)

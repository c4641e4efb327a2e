"""The registry of methods: one small spec a method (``fp``, the quantization baselines, the spiking methods).

A spec says what the method is (full precision, spiking, which options it owns) and which spike code it builds,
so that :class:`~neuro_llm.config.SpikeConfig` and the modules above ask it instead of comparing names. A new
method is a :class:`Method` passed to :func:`register_method` (and, for its weights, a calibrator registered in
:mod:`neuro_llm.calibrate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from neuro_llm.core.modes import SpikeTrain


@dataclass(frozen=True)
class Method:
    name: str
    full_precision: bool = False      # nothing quantized (the FP16/FP32 reference)
    spiking: bool = False             # activations become spike trains
    own_weights: bool = False         # calibrates its own weights (rtn, gptq, omniquant, pbllm)
    weight_method: bool = False       # may also calibrate a spiking method's weights (--weight-method)
    binary_weights: bool = False      # binarized weights (--wbits 1 only)
    ternary_weight_spikes: bool = False   # accepts --weight-spikes ternary
    adaptive_options: bool = False    # owns --threshold, --threshold-k, --count-cap, --spike-train (sdllm)
    signed_code: bool = False         # its activation code is signed (symmetric counts, no zero point)
    default_salient: float = 0.0      # fraction of salient channels when --salient is not given
    default_extra_steps: int = 0      # their extra steps when --extra-steps is not given
    default_weights: str = "rtn"      # a spiking method's weight calibration when --weight-method is not given
    code: Callable | None = None      # config -> registry name of its activation spike code (None: "gif")

    def code_name(self, config) -> str:
        """The registry name (:mod:`neuro_llm.spiking.codes`) of the code that encodes ``config``'s activations."""
        return "gif" if self.code is None else self.code(config)


_METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    if method.name in _METHODS:
        raise ValueError(f"method {method.name!r} is already registered")
    _METHODS[method.name] = method
    return method


def method_spec(name: str) -> Method:
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}: accepted {', '.join(_METHODS)}") from None


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def methods() -> tuple[Method, ...]:
    return tuple(_METHODS.values())


def _sdllm_code(config) -> str:
    if not config.adaptive:
        return "ternary"                 # the max-scaled comparison code
    return "bitwise" if SpikeTrain(config.spike_train) is SpikeTrain.BITWISE else "adaptive-ternary"


for _method in (
    Method("fp", full_precision=True),
    Method("rtn", own_weights=True, weight_method=True),
    Method("gptq", own_weights=True, weight_method=True),
    Method("omniquant", own_weights=True, weight_method=True),
    Method("spikellm", spiking=True, ternary_weight_spikes=True, default_salient=0.10, default_extra_steps=1),
    Method("sdllm", spiking=True, adaptive_options=True, signed_code=True, code=_sdllm_code),
    Method("pbllm", own_weights=True, binary_weights=True),
):
    register_method(_method)

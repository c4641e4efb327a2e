"""Calibration methods (one module each) and the shared block-by-block loop that drives them."""
from __future__ import annotations

from neuro_llm.calibrate.base import BlockCalibrator, BlockContext, LinearWeights
from neuro_llm.calibrate.loop import LinearInputStats, calibrate_blocks
from neuro_llm.calibrate.rtn import RTN


def make_calibrator(config) -> BlockCalibrator:
    """The weight calibration ``config`` asks for (the method, or a spiking method's ``weight_method``)."""
    name = config.weights_from
    if name == "rtn":
        return RTN()
    if name == "gptq":
        from neuro_llm.calibrate.gptq import GPTQ
        return GPTQ()
    if name == "omniquant":
        from neuro_llm.calibrate.omniquant import OmniQuant
        return OmniQuant()
    if name == "pbllm":
        from neuro_llm.calibrate.pbllm import PBLLM
        return PBLLM()
    if name == "ternary":
        from neuro_llm.calibrate.ternary import SparseTernary
        return SparseTernary()
    raise ValueError(f"weight method {name!r} is not available")


__all__ = ["BlockCalibrator", "BlockContext", "LinearWeights", "LinearInputStats", "calibrate_blocks",
           "make_calibrator", "RTN"]

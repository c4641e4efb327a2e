"""Calibration methods (one module each) and the shared block-by-block loop that drives them."""
from __future__ import annotations

from neuro_llm.calibrate.base import BlockCalibrator, BlockContext, LinearWeights
from neuro_llm.calibrate.loop import LinearInputStats, calibrate_blocks
from neuro_llm.calibrate.rtn import RTN


# weight calibrations by name: "module:Class", imported on first use (the heavier methods pull in more)
CALIBRATORS = {
    "rtn": "neuro_llm.calibrate.rtn:RTN",
    "gptq": "neuro_llm.calibrate.gptq:GPTQ",
    "omniquant": "neuro_llm.calibrate.omniquant:OmniQuant",
    "pbllm": "neuro_llm.calibrate.pbllm:PBLLM",
    "ternary": "neuro_llm.calibrate.ternary:SparseTernary",
}


def register_calibrator(name: str, target: str) -> None:
    """Add a calibration method: ``target`` is ``"package.module:Class"`` (a :class:`BlockCalibrator`)."""
    CALIBRATORS[name] = target


def make_calibrator(config) -> BlockCalibrator:
    """The weight calibration ``config`` asks for (the method, or a spiking method's ``weight_method``)."""
    from importlib import import_module

    name = config.weights_from
    if name not in CALIBRATORS:
        raise ValueError(f"weight method {name!r} is not available: registered {', '.join(CALIBRATORS)}")
    module, cls = CALIBRATORS[name].split(":")
    return getattr(import_module(module), cls)()


__all__ = ["BlockCalibrator", "BlockContext", "LinearWeights", "LinearInputStats", "calibrate_blocks",
           "make_calibrator", "register_calibrator", "CALIBRATORS", "RTN"]

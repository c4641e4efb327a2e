"""neuro-llm: spiking LLaMA-family language models, simulated step by step.

The flow, one subpackage a stage: ``io`` (load a model) → ``convert`` (with ``calibrate`` and ``arch``,
the per-family adapters) → ``spiking`` (codes, spiking linear/attention layers, observers) →
``simulator`` (layer by layer) → ``analysis`` (recordings, op counts, energy) and ``eval`` (perplexity,
zero-shot).
"""
import sys
import types
from neuro_llm.core.version import __version__  # defined once, in pyproject.toml

# the public names load on first use (PEP 562), so that `neuro-llm --help` does not import torch
_EXPORTS = {"SpikeConfig": "neuro_llm.config", "convert": "neuro_llm.convert", "SpikingModel": "neuro_llm.spiking_model",
            "set_mode": "neuro_llm.spiking_model", "is_spiking": "neuro_llm.spiking_model",   # both deprecated
            "evaluate_ppl": "neuro_llm.eval.perplexity",
            "load_model": "neuro_llm.io.models", "LayerByLayerSimulator": "neuro_llm.simulator",
            "SpikeStats": "neuro_llm.spiking.observe", "observing": "neuro_llm.spiking.observe"}

__all__ = ["SpikeConfig", "convert", "SpikingModel", "set_mode", "is_spiking", "load_model", "evaluate_ppl",
           "LayerByLayerSimulator", "SpikeStats", "observing", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neuro_llm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing the submodule ``neuro_llm.convert`` must not replace the function ``neuro_llm.convert``
    (the eager ``from neuro_llm.convert import convert`` used to rebind it; the submodule stays in sys.modules)."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

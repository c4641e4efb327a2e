"""neuro-llm: spiking LLaMA-family language models, simulated step by step.

The flow, one subpackage a stage: ``io`` (load a model) → ``convert`` (with ``calibrate`` and ``arch``,
the per-family adapters) → ``spiking`` (codes, spiking linear/attention layers, observers) →
``simulator`` (layer by layer) → ``analysis`` (recordings, op counts, energy) and ``eval`` (perplexity,
zero-shot).
"""
from neuro_llm.core.version import __version__  # defined once, in pyproject.toml
from neuro_llm.config import SpikeConfig  # noqa: E402
from neuro_llm.convert import convert, is_spiking, set_mode  # noqa: E402
from neuro_llm.eval.perplexity import evaluate_ppl  # noqa: E402
from neuro_llm.io.models import load_model  # noqa: E402
from neuro_llm.simulator import LayerByLayerSimulator  # noqa: E402
from neuro_llm.spiking.observe import SpikeStats, observing  # noqa: E402

__all__ = ["SpikeConfig", "convert", "set_mode", "is_spiking", "load_model", "evaluate_ppl",
           "LayerByLayerSimulator", "SpikeStats", "observing", "__version__"]

"""neuro-llm: spiking LLaMA-family language models, simulated step by step."""
__version__ = "0.1.0"

from neuro_llm.config import SpikeConfig
from neuro_llm.convert import convert, is_spiking, set_mode
from neuro_llm.models import load_model
from neuro_llm.observe import SpikeStats, observing
from neuro_llm.perplexity import evaluate_ppl
from neuro_llm.simulator import LayerByLayerSimulator

__all__ = ["SpikeConfig", "convert", "set_mode", "is_spiking", "load_model", "evaluate_ppl",
           "LayerByLayerSimulator", "SpikeStats", "observing", "__version__"]

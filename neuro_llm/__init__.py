"""neuro-llm: spiking LLaMA-family language models."""
from neuro_llm.models import load_model

__version__ = "0.1.0"
__all__ = ["load_model", "__version__"]

"""Core pieces that import nothing else of neuro-llm: specs, errors, provenance."""

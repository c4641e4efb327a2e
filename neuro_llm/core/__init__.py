"""The ground floor: what every other part of neuro-llm may import (it imports nothing of ours)."""

"""Shared fixtures: tiny random LLaMA-family models and (once per session) the real SmolLM2."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARCHITECTURES = ("llama", "mistral", "qwen2")


def tiny_model(arch: str = "llama", seed: int = 0, layers: int = 2, vocab: int = 96):
    """A random model of the given architecture with grouped-query attention (4 query / 2 kv heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

    classes = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
               "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
    config_cls, model_cls = classes[arch]
    config = config_cls(vocab_size=vocab, hidden_size=64, intermediate_size=112, num_hidden_layers=layers,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                        tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    if arch == "qwen2":  # q/k/v biases are zero at init: make them matter
        with torch.no_grad():
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.5)
    return model


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M (loaded once; about half a minute on a CPU)."""
    from neuro_llm import load_model

    return load_model("smollm2-135m")

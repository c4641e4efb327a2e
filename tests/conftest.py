"""Shared fixtures: tiny random LLaMA-family models and (once per session) the real SmolLM2."""
from __future__ import annotations

import os

import pytest
import torch   # torch does not import triton: TRITON_INTERPRET is still free to choose below
from hypothesis import HealthCheck, settings


def gpu_session(markexpr: str) -> bool:
    """Whether this session is the GPU tier: ``-m`` selects ``gpu`` (and not ``not gpu``) on a CUDA machine."""
    words = markexpr.replace("(", " ").replace(")", " ").split()
    selects = any(w == "gpu" and (i == 0 or words[i - 1] != "not") for i, w in enumerate(words))
    return selects and torch.cuda.is_available()


def pytest_configure(config):
    """Triton mode, decided once before any test module is collected (Triton reads TRITON_INTERPRET when a
    kernel is first defined). The CPU suite runs the kernels through Triton's interpreter on CPU tensors; the
    GPU tier (``python -m pytest -m gpu`` on a CUDA machine) leaves TRITON_INTERPRET unset so the kernels are
    compiled for the device. An explicit TRITON_INTERPRET in the environment is kept either way."""
    if not gpu_session(config.getoption("markexpr") or ""):
        os.environ.setdefault("TRITON_INTERPRET", "1")


def load_or_skip(name: str):
    """``load_model(name)``; where its packages are missing, skip saying so — or fail under
    ``NEURO_LLM_REQUIRE_MODELS=1`` (CI sets it: there a missing model is a broken install, not a choice)."""
    from neuro_llm import load_model

    try:
        return load_model(name)
    except FileNotFoundError as err:
        if os.environ.get("NEURO_LLM_REQUIRE_MODELS") == "1":
            pytest.fail(f"NEURO_LLM_REQUIRE_MODELS=1 but {name} is not installed: {err}", pytrace=False)
        pytest.skip(f"{name} is not installed (its packages are missing): {err}")

# Hypothesis profiles: "ci" (default), "dev" (quick) and "thorough"; choose with HYPOTHESIS_PROFILE=...
# Tests that set their own max_examples keep it; deadlines are off everywhere (CPU-shared machines).
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARCHITECTURES = ("llama", "mistral", "qwen2")
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma3")   # every supported family (tiny configs)


def tiny_model(arch: str = "llama", seed: int = 0, layers: int = 2, vocab: int = 96, sliding_window: int | None = None):
    """A random model of the given family with grouped-query attention (4 query / 2 kv heads).

    ``gemma3`` alternates sliding (window 6) and full layers; ``sliding_window`` sets Mistral's window, or
    makes Qwen2/Qwen3 alternate sliding and full layers."""
    import transformers as tf

    classes = {"llama": ("LlamaConfig", "LlamaForCausalLM"), "mistral": ("MistralConfig", "MistralForCausalLM"),
               "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"), "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
               "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM")}
    config_cls, model_cls = (getattr(tf, name) for name in classes[arch])
    extra = {}
    if arch == "mistral":
        extra = dict(sliding_window=sliding_window)
    elif arch in ("qwen2", "qwen3") and sliding_window:
        extra = dict(use_sliding_window=True, sliding_window=sliding_window, max_window_layers=1,
                     layer_types=["full_attention" if i % 2 else "sliding_attention" for i in range(layers)])
    elif arch == "gemma3":
        extra = dict(sliding_window=sliding_window or 6, head_dim=16, query_pre_attn_scalar=16,
                     layer_types=["full_attention" if i % 2 else "sliding_attention" for i in range(layers)])
    if arch == "qwen3":
        extra["head_dim"] = 16
    config = config_cls(vocab_size=vocab, hidden_size=64, intermediate_size=112, num_hidden_layers=layers,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                        tie_word_embeddings=False, **extra)
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    if arch in ("qwen3", "gemma3"):   # norms start at the identity: make q/k norms and (1 + w) norms matter
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name:
                    p.normal_(0, 0.3) if arch == "gemma3" else p.uniform_(0.5, 1.5)
    if arch == "qwen2":  # q/k/v biases are zero at init: make them matter
        with torch.no_grad():
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.5)
    return model


@pytest.fixture(autouse=True)
def _seeded_generators():
    """Every test starts from one fixed state of the global generators (torch, NumPy, ``random``), whatever
    ran before it and whichever tests were chosen: an unseeded draw in a test reproduces like a seeded one."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M (loaded once; about half a minute on a CPU)."""
    return load_or_skip("smollm2-135m")

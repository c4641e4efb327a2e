"""The test tiers: which sessions compile Triton (the GPU tier) and which interpret it (everything else)."""
import os

import pytest

import conftest


@pytest.mark.parametrize("markexpr, cuda, want", [
    ("gpu", True, True), ("gpu and not slow", True, True), ("(gpu)", True, True),
    ("gpu", False, False), ("not gpu", True, False), ("", True, False), ("slow", True, False)])
def test_only_a_gpu_session_on_cuda_compiles_triton(markexpr, cuda, want, monkeypatch):
    monkeypatch.setattr(conftest.torch.cuda, "is_available", lambda: cuda)
    assert conftest.gpu_session(markexpr) == want


def test_this_cpu_session_interprets_triton():
    if not conftest.gpu_session(""):
        assert os.environ.get("TRITON_INTERPRET") == "1"


def test_missing_models_fail_when_required(monkeypatch):
    import neuro_llm

    def missing(name):
        raise FileNotFoundError(f"{name}: install its packages")

    monkeypatch.setattr(neuro_llm, "load_model", missing)
    monkeypatch.setenv("NEURO_LLM_REQUIRE_MODELS", "1")
    with pytest.raises(pytest.fail.Exception, match="NEURO_LLM_REQUIRE_MODELS=1"):
        conftest.load_or_skip("no-such-model-alias-xyz")
    monkeypatch.delenv("NEURO_LLM_REQUIRE_MODELS")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        conftest.load_or_skip("no-such-model-alias-xyz")

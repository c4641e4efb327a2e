"""Causality: no spike encoder lets a later token change an earlier token's logits.

Two inputs of the same length that agree on positions ``0..i-1`` and differ after give bit-identical logits
at positions ``< i`` (the FP model does: exactly 0 difference), for every method, spike code, K threshold
(``key_scale``) and execution mode, on tiny random models of every family; and the prefix alone gives the
same logits up to float summation noise (different sequence lengths take different kernels' blockings).
"""
import pytest
import torch

from conftest import FAMILIES, tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.config import KEY_SCALES, MODES
from neuro_llm.spiking.attention import SpikingAttention

METHODS = {  # name: SpikeConfig overrides; every method and spike code
    "fp": dict(method="fp"),
    "rtn": dict(method="rtn", abits=4),
    "gptq": dict(method="gptq", abits=4),
    "omniquant": dict(method="omniquant", abits=4, epochs=1),
    "pbllm": dict(method="pbllm", wbits=1, abits=4),
    "spikellm-t1": dict(method="spikellm", abits=4, salient=0.0, extra_steps=0),
    "spikellm-t2": dict(method="spikellm", abits=4, salient=0.2, extra_steps=1),
    "spikellm-binary-IF": dict(method="spikellm", abits=4, spike_levels=2, salient=0.1, extra_steps=1),
    "spikellm-ternary-weights": dict(method="spikellm", wbits=2, abits=4, weight_spikes="ternary"),
    "spikellm-omniquant": dict(method="spikellm", abits=4, weight_method="omniquant", epochs=1),
    "sdllm": dict(method="sdllm"),
    "sdllm-bitwise": dict(method="sdllm", spike_train="bitwise"),
    "sdllm-cap-t2": dict(method="sdllm", count_cap=3, salient=0.2, extra_steps=1),
    "sdllm-max-scaled": dict(method="sdllm", threshold="max", abits=4),
}
SEQ, SPLIT = 24, 11   # inputs of 24 tokens that agree on positions 0..10
PREFIX_TOLERANCE = 1e-4   # measured: at most ~1e-5 of the logits' scale (float32 summation order)


def twin_inputs(vocab: int = 96, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ``[2, SEQ]`` inputs equal on positions ``< SPLIT`` and different at every position after."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(0, vocab, (2, SEQ), generator=generator)
    b = a.clone()
    b[:, SPLIT:] = (a[:, SPLIT:] + 1 + torch.randint(0, vocab - 1, (2, SEQ - SPLIT), generator=generator)) % vocab
    assert bool((a[:, SPLIT:] != b[:, SPLIT:]).all())
    return a, b


def set_key_scale(model, key_scale: str) -> None:
    for module in model.modules():
        if isinstance(module, SpikingAttention):
            module.key_scale = key_scale


def assert_causal(model, a: torch.Tensor, b: torch.Tensor, label: str) -> None:
    with torch.no_grad():
        la, lb = model(a).logits, model(b).logits
        prefix = model(a[:, :SPLIT]).logits
    assert torch.equal(la[:, :SPLIT], lb[:, :SPLIT]), (
        f"{label}: later tokens changed earlier logits by {float((la[:, :SPLIT] - lb[:, :SPLIT]).abs().max()):.3g}")
    assert not torch.equal(la[:, SPLIT:], lb[:, SPLIT:]), f"{label}: the differing tokens changed nothing"
    scale = float(la[:, :SPLIT].abs().max())
    difference = float((la[:, :SPLIT] - prefix).abs().max())
    assert difference <= PREFIX_TOLERANCE * scale, f"{label}: prefix alone differs by {difference:.3g}"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", list(METHODS))
def test_later_tokens_never_change_earlier_logits(family, method):
    model = tiny_model(family, seed=7)
    calib = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    overrides = dict(METHODS[method])
    overrides.setdefault("wbits", 4)
    key_scales = KEY_SCALES if overrides.get("method") != "fp" else ("token",)
    a, b = twin_inputs()
    for key_scale in key_scales:
        # OmniQuant trains against the K threshold it will meet: convert per key_scale; the others only read it
        if key_scale == key_scales[0] or "omniquant" in method:
            snn = convert(model, SpikeConfig(key_scale=key_scale, **overrides), calibration=calib, progress=False)
        set_key_scale(snn, key_scale)
        for mode in MODES:
            snn.set_mode(mode)
            assert_causal(snn, a, b, f"{family} {method} key_scale={key_scale} {mode}")


def test_the_test_catches_a_non_causal_key_encoder(monkeypatch):
    """The check fails for K encoded per channel over the whole window (the encoder main used to have)."""
    model = tiny_model("llama", seed=7)
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4, salient=0.0, extra_steps=0),
                  progress=False)

    def window_keys(self, key, value):
        k_hat = self.encode(key.float(), -2, "k", self.k_steps).to(key.dtype)
        return k_hat, self.encode(value.float(), -1, "v", self.v_steps).to(value.dtype)

    monkeypatch.setattr(SpikingAttention, "encode_kv", window_keys)
    with pytest.raises(AssertionError, match="later tokens changed earlier logits"):
        assert_causal(snn, *twin_inputs(), "window K")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spikellm", "sdllm"])
def test_spiking_smollm2_is_causal(smollm2, method):
    model, tok = smollm2
    overrides = dict(method="spikellm", wbits=4, abits=4) if method == "spikellm" else dict(method="sdllm", wbits=4)
    snn = convert(model, SpikeConfig(calib_windows=1, calib_seqlen=64, **overrides), tokenizer=tok, progress=False)
    text = "The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest"
    a = tok(text, return_tensors="pt").input_ids[:, :20]
    b = a.clone()
    b[:, 12:] = torch.flip(a[:, 12:], dims=[1]) + 7
    with torch.no_grad():
        for mode in MODES:
            snn.set_mode(mode)
            la, lb = snn(a).logits, snn(b).logits
            assert torch.equal(la[:, :12], lb[:, :12]), f"{method} {mode}"
            prefix = snn(a[:, :12]).logits
            assert float((la[:, :12] - prefix).abs().max()) <= PREFIX_TOLERANCE * float(la.abs().max())

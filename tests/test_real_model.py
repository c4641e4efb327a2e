"""The real SmolLM2-135M (GQA: 9 query heads, 3 key/value heads): loading, perplexity, and the spiking
model's explicit spike trains against its collapsed twin on a few hundred WikiText-2 tokens."""
import pytest
import torch

from neuro_llm import SpikeConfig, SpikeStats, convert, evaluate_ppl, observing
from neuro_llm.eval.data import load_tokens

pytestmark = pytest.mark.slow   # real model / notebooks / lm-eval: minutes on a CPU; CI runs them

ENCODINGS = {
    "t1": dict(method="spikellm", wbits=4, abits=4, salient=0.0, extra_steps=0),
    "t2": dict(method="spikellm", wbits=4, abits=4, salient=0.1, extra_steps=1),
    "t4": dict(method="spikellm", wbits=4, abits=8, salient=0.1, extra_steps=2),
    "ternary": dict(method="sdllm", wbits=4, abits=4, spike_train="ternary"),   # bitwise is the default now
}


@pytest.fixture(scope="module")
def tokens(smollm2):
    _, tok = smollm2
    return load_tokens(tok, "wikitext2", "test")


def test_model_is_the_expected_llama(smollm2):
    model, tok = smollm2
    c = model.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size) == ("llama", 30, 576)
    assert (c.num_attention_heads, c.num_key_value_heads) == (9, 3)
    assert tok.decode(tok("Hello world").input_ids) == "Hello world"


def test_fp_perplexity_is_near_20(smollm2):
    model, tok = smollm2
    result = evaluate_ppl(model, tok, seqlen=512, max_windows=2, progress=False)
    assert result["tokens"] == 2 * 511
    assert 10 < result["ppl"] < 40
    assert "firing_rate" not in result


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_spiking_smollm2_explicit_equals_collapsed(smollm2, tokens, encoding):
    model, tok = smollm2
    calibration = tokens[1000:1256].view(1, -1)
    snn = convert(model, SpikeConfig(**ENCODINGS[encoding]), calibration=calibration, progress=False)
    # SDLLM's uncapped trains run to thousands of steps on outliers: fewer tokens keep explicit mode in memory
    ids = tokens[: 64 if encoding == "ternary" else 300].view(1, -1)
    stats = {}
    logits = {}
    with torch.no_grad():
        for mode in ("collapsed", "explicit"):
            snn.set_mode(mode)
            stats[mode] = SpikeStats()
            with observing(stats[mode]):
                logits[mode] = snn(ids).logits
    err = (logits["explicit"] - logits["collapsed"]).abs().max() / logits["collapsed"].abs().max()
    assert err <= 1e-5 and torch.equal(logits["explicit"], logits["collapsed"])
    assert stats["explicit"].summary() == stats["collapsed"].summary()
    # the spiking model still predicts text better than a uniform guess (NLL ln 49152 ≈ 10.8)
    nll = torch.nn.functional.cross_entropy(logits["explicit"][0, :-1], ids[0, 1:])
    assert nll < 10.0

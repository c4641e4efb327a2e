"""Generation with the encoded KV cache equals re-running the full forward at every step.

Greedy tokens are identical; the per-step logits agree up to float summation order (a decode step attends one
query over the cached rows, the full forward all queries at once). Bound measured on these tiny float32 models:
at most ~4e-7 of the logits' scale (llama, gemma3; spikellm and sdllm; both modes); asserted at 1e-5.
"""
import pytest
import torch

from conftest import FAMILIES, tiny_model
from neuro_llm import SpikeConfig, SpikeStats, convert, observing
from neuro_llm.config import MODES
from neuro_llm.generation import Sampling, generate, generate_by_full_forward, new_cache
from neuro_llm.spiking.cache import EncodedCache

LOGIT_BOUND = 1e-5   # relative to the largest |logit|
CONFIGS = {
    "spikellm-t2": dict(method="spikellm", wbits=4, abits=4, salient=0.2, extra_steps=1),
    "sdllm": dict(method="sdllm", wbits=4),
    "sdllm-bitwise": dict(method="sdllm", wbits=4, spike_train="bitwise"),
    "rtn": dict(method="rtn", wbits=4, abits=4),
}


def spiking(family: str, config: str, key_scale: str = "token"):
    model = tiny_model(family, seed=7)
    calib = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    return convert(model, SpikeConfig(key_scale=key_scale, **CONFIGS[config]), calibration=calib, progress=False)


def prompt(batch: int = 2, length: int = 9) -> torch.Tensor:
    return torch.randint(0, 96, (batch, length), generator=torch.Generator().manual_seed(5))


CASES = ([(family, config, "token") for family in FAMILIES for config in CONFIGS]
         + [(family, config, "running") for family in ("llama", "gemma3") for config in ("spikellm-t2", "sdllm")])


@pytest.mark.parametrize("family, config, key_scale", CASES)
def test_cached_generation_equals_full_forward(family, config, key_scale):
    """Every family and code with per-token K; the running K threshold (carried across steps by the cache) on
    llama and on gemma3, whose sliding-window layers drop old rows from the cache."""
    snn = spiking(family, config, key_scale)
    ids = prompt()
    for mode in MODES:
        snn.set_mode(mode)
        cached, cached_logits = generate(snn, ids, 10, output_logits=True)   # 10 > gemma3's sliding window 6
        full, full_logits = generate_by_full_forward(snn, ids, 10)
        assert torch.equal(cached, full), f"{mode}: the cached decode chose other tokens"
        error = float((cached_logits - full_logits).abs().max() / full_logits.abs().max())
        assert error <= LOGIT_BOUND, f"{mode}: logits differ by {error:.3g} of their scale"


def test_a_spiking_model_decodes_with_the_encoded_cache():
    snn = spiking("llama", "spikellm-t2")
    assert isinstance(new_cache(snn), EncodedCache)
    assert new_cache(tiny_model("llama")) is None


def test_a_decode_step_encodes_only_its_new_token():
    """With the encoded cache, the spike statistics of a decode count each token's K/V spikes once: K/V values
    encoded over prompt + new tokens equal those of one forward over the whole sequence."""
    snn = spiking("llama", "spikellm-t2")
    ids = prompt(batch=1)
    stats = SpikeStats()
    with observing(stats):
        out = generate(snn, ids, 6)
    kv_values = sum(e["values"] for site, e in stats.per_site.items() if site.endswith((".k", ".v")))
    whole = SpikeStats()
    with torch.no_grad(), observing(whole):
        snn(out[:, :-1])   # the last token is generated, never fed back
    whole_kv = sum(e["values"] for site, e in whole.per_site.items() if site.endswith((".k", ".v")))
    assert kv_values == whole_kv > 0


def test_sampling_is_seeded_and_checked():
    snn = spiking("llama", "spikellm-t2")
    ids = prompt(batch=1)
    a = generate(snn, ids, 8, Sampling(temperature=1.0, top_p=0.9, seed=3))
    b = generate(snn, ids, 8, Sampling(temperature=1.0, top_p=0.9, seed=3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(temperature=1.0, top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        Sampling(temperature=-1.0)


def test_generative_tasks_decode_with_the_cache_as_without():
    """lm-eval's generate_until path (greedy_generate) uses the encoded cache and gives the full forward's text."""
    from tiny_tasks import tiny_llama, tiny_tokenizer

    from neuro_llm.eval.tasks.generation import greedy_generate

    tok = tiny_tokenizer()
    model = tiny_llama(len(tok))
    calib = torch.randint(0, len(tok), (2, 32), generator=torch.Generator().manual_seed(1))
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4), calibration=calib, progress=False)
    context = "The quick brown fox"
    text = greedy_generate(snn, tok, context, stop=["\n\n"], max_new_tokens=12)
    ids = torch.tensor([tok.encode(context)])
    full, _ = generate_by_full_forward(snn, ids, 12)
    reference = full[0, ids.shape[1]:].tolist()
    if tok.eos_token_id in reference:
        reference = reference[:reference.index(tok.eos_token_id)]
    expected = tok.decode(reference)
    assert text == expected[:len(text)] and (text == expected or "\n\n" in expected)


def test_generate_command_writes_what_the_full_forward_decodes(tmp_path, capsys):
    """`neuro-llm generate` on a saved spiking model: the JSON's tokens are the full forward's greedy tokens."""
    import json

    from tiny_tasks import tiny_llama, tiny_tokenizer

    from neuro_llm.cli import main as cli
    from neuro_llm.io.saving import load_spiking_model, save_spiking_model

    tok = tiny_tokenizer()
    calib = torch.randint(0, len(tok), (2, 32), generator=torch.Generator().manual_seed(1))
    snn = convert(tiny_llama(len(tok)), SpikeConfig(method="spikellm", wbits=4, abits=4), calibration=calib,
                  progress=False)
    save_spiking_model(snn, tmp_path / "snn", tokenizer=tok, run_config={"command": "convert"})
    out = tmp_path / "gen.json"
    code = cli.main(["generate", "--model", str(tmp_path / "snn"), "--prompt", "The quick brown fox",
                     "--max-new-tokens", "6", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"prompt", "text", "tokens", "tokens_per_second", "spike_events", "provenance"} <= set(result)
    loaded = load_spiking_model(tmp_path / "snn")[0]
    ids = torch.tensor([tok.encode("The quick brown fox")])
    full, _ = generate_by_full_forward(loaded, ids, 6)
    expected = full[0, ids.shape[1]:].tolist()
    assert result["tokens"] == expected[:len(result["tokens"])] and len(result["tokens"]) >= 1
    assert "tokens/s" in capsys.readouterr().err

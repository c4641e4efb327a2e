"""The second real model, Gemma 3 270M (Q4_K_M GGUF assembled from four packages): a different block family
(sliding/full attention pattern, GeGLU, (1 + w) norms, q/k norms, scaled embeddings) through the whole
pipeline on real weights."""
import pytest
import torch

from conftest import load_or_skip
from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert
from neuro_llm.eval.data import leading_bos, load_tokens

pytestmark = pytest.mark.slow   # real model: minutes on a CPU; CI runs it


@pytest.fixture(scope="module")
def gemma():
    return load_or_skip("gemma3-270m")   # fails instead under NEURO_LLM_REQUIRE_MODELS=1 (CI)


def ids(tokenizer, model, n=48):
    text = load_tokens(tokenizer, "wikitext2", "test")[: n - 1]
    return torch.cat([torch.tensor([leading_bos(model, tokenizer)]), text]).view(1, -1)


def test_gemma3_loads_as_gemma3_with_its_layer_pattern(gemma):
    model, tok = gemma
    assert model.config.model_type == "gemma3_text" and model.config.num_hidden_layers == 18
    assert model.config.layer_types.count("full_attention") == 3          # 5 sliding : 1 full
    assert leading_bos(model, tok) == tok.bos_token_id


@pytest.mark.parametrize("method", ["spikellm", "sdllm"])
def test_gemma3_spiking_explicit_equals_collapsed_and_the_simulator(gemma, method):
    model, tok = gemma
    snn = convert(model, SpikeConfig(method=method, wbits=4, abits=4, calib_windows=1, calib_seqlen=64),
                  tokenizer=tok, progress=False)
    x = ids(tok, model)
    with torch.no_grad():
        collapsed = snn.set_mode("collapsed")(x).logits
        explicit = snn.set_mode("explicit")(x).logits
        simulated = LayerByLayerSimulator(snn, progress=False).run(x)
        dense = model(x).logits
    assert torch.isfinite(collapsed).all()
    assert torch.equal(explicit, collapsed) and torch.equal(simulated, explicit)
    # still a language model: its next-token NLL is far below a uniform guess over the vocabulary
    nll = torch.nn.functional.cross_entropy(collapsed[0, :-1].float(), x[0, 1:])
    uniform = torch.log(torch.tensor(float(model.config.vocab_size)))
    assert nll < uniform - 2, (float(nll), float(uniform))

"""Every supported family (Llama, Mistral, Qwen2, Qwen3, Gemma 3) through the adapters, on tiny random
configs with sliding windows and Gemma 3's sliding/full layer pattern: the layer-by-layer simulator equals
the model's own forward (FP and spiking), explicit equals collapsed bit for bit, every calibration pipeline
runs, and OmniQuant's folds leave the FP block unchanged before quantization."""
import copy

import pytest
import torch

from conftest import FAMILIES, tiny_model
from neuro_llm import LayerByLayerSimulator, SpikeConfig, convert
from neuro_llm.arch import SLIDING, adapter_for
from neuro_llm.calibrate.base import BlockContext
from neuro_llm.calibrate.omniquant import BlockTransform, activation_maxima
from neuro_llm.spiking.attention import use_spiking_attention

WINDOW = 4
IDS = torch.randint(0, 96, (2, 20), generator=torch.Generator().manual_seed(2))
CALIB = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(1))
PIPELINES = {
    "rtn": dict(method="rtn"),
    "gptq": dict(method="gptq"),
    "omniquant": dict(method="omniquant", epochs=1),
    "spikellm": dict(method="spikellm"),
    "sdllm": dict(method="sdllm"),
    "pbllm": dict(method="pbllm", wbits=1, abits=16),
    "sparse-ternary": dict(method="spikellm", wbits=2, abits=16, weight_spikes="ternary", salient=0.0, extra_steps=0),
}


def family_model(family, layers=3):
    """Sliding windows everywhere they exist: Mistral (all layers), Qwen2/Qwen3 (alternating), Gemma 3
    (its own alternating pattern, window 6)."""
    return tiny_model(family, layers=layers, sliding_window=None if family in ("llama", "gemma3") else WINDOW)


@pytest.mark.parametrize("family", FAMILIES)
def test_simulator_equals_the_models_forward(family):
    model = family_model(family)
    with torch.no_grad():
        reference = model(IDS).logits
        simulated = LayerByLayerSimulator(model, progress=False).run(IDS)
    assert torch.equal(simulated, reference)


@pytest.mark.parametrize("family", ["mistral", "qwen2", "gemma3"])
def test_the_sliding_windows_are_real(family):
    """The windows change the output (so the test above would catch a simulator that ignores them)."""
    model = family_model(family)
    full = tiny_model(family, layers=3, sliding_window=64)   # the same weights, a window wider than the text
    assert SLIDING in adapter_for(model).layer_types(model.config)
    with torch.no_grad():
        assert (model(IDS).logits - full(IDS).logits).abs().max() > 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_spiking_model_explicit_equals_collapsed_and_the_simulator(family):
    snn = convert(family_model(family), SpikeConfig(method="spikellm", wbits=4, abits=4, calib_windows=2,
                                                   calib_seqlen=16), calibration=CALIB, progress=False)
    with torch.no_grad():
        collapsed = snn.set_mode("collapsed")(IDS).logits
        explicit = snn.set_mode("explicit")(IDS).logits
        simulated = LayerByLayerSimulator(snn, progress=False).run(IDS)
    assert torch.isfinite(collapsed).all()
    assert torch.equal(explicit, collapsed)
    assert torch.equal(simulated, explicit)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("family", FAMILIES)
def test_every_calibration_pipeline_runs(family, pipeline):
    model = family_model(family, layers=2)
    options = dict(wbits=4, abits=4, calib_windows=2, calib_seqlen=16) | PIPELINES[pipeline]
    snn = convert(model, SpikeConfig(**options), calibration=CALIB, progress=False)
    with torch.no_grad():
        logits = snn(IDS).logits
        dense = model(IDS).logits
    assert torch.isfinite(logits).all()
    assert not torch.equal(logits, dense)    # it did quantize something


@pytest.mark.parametrize("family", FAMILIES)
def test_omniquant_folds_leave_the_fp_block_unchanged(family):
    model = family_model(family, layers=1)
    block = model.model.layers[0]
    with torch.no_grad():   # larger weights: attention far from uniform, so a wrong q/k or v/o scale shows
        for p in block.parameters():
            if p.dim() == 2:
                p.mul_(4)
    arch = adapter_for(model)
    use_spiking_attention(model)
    config = SpikeConfig(method="omniquant", wbits=16, abits=16)   # only the transformation
    with torch.no_grad():
        x = arch.embeddings(model)(IDS).float()
        ctx = BlockContext(0, config, arch.block_inputs(model, x[:1]).kwargs(0), arch)
        reference = torch.cat([ctx.run(block, x[j: j + 1]) for j in range(x.shape[0])])
    update = (reference - x).abs().max()
    transform = BlockTransform(block, config, activation_maxima(block, x, ctx), arch)
    assert ("qk" in transform.let) == arch.qk_scale_folds          # no q/k fold through q/k norms
    with torch.no_grad():
        for p in transform.let.values():
            p.uniform_(0.3, 3.0, generator=torch.Generator().manual_seed(1))
        assert float((transform(x, ctx) - reference).abs().max() / update) < 1e-5
    folded = copy.deepcopy(block)
    transform.fold_into(folded)
    for fold in arch.folds:
        assert not torch.equal(folded.get_submodule(fold.norm).weight, block.get_submodule(fold.norm).weight)
    with torch.no_grad():
        out = torch.cat([ctx.run(folded, x[j: j + 1]) for j in range(x.shape[0])])
    assert float((out - reference).abs().max() / update) < 1e-5


def test_gemma3_folds_go_through_one_plus_w_norms():
    """Gemma's RMSNorm multiplies by (1 + w): a scale s folds as w' = (1 + w)/s - 1, not w/s."""
    arch = adapter_for(tiny_model("gemma3", layers=1))
    assert arch.norm_offset == 1.0
    assert [f.norm for f in arch.folds] == ["input_layernorm", "pre_feedforward_layernorm"]


def test_unsupported_family_is_a_one_line_error():
    from transformers import GPT2Config

    with pytest.raises(ValueError, match=r"'gpt2' is not supported; supported families: Llama, Mistral, Qwen2, Qwen3, Gemma 3") as err:
        adapter_for(GPT2Config())
    assert "\n" not in str(err.value)


def test_gemma_windows_start_with_bos_and_predict_as_many_tokens():
    from types import SimpleNamespace

    from neuro_llm.eval.data import leading_bos, model_windows

    tokenizer = SimpleNamespace(bos_token_id=2)
    assert leading_bos(tiny_model("llama", layers=1), tokenizer) is None
    bos = leading_bos(tiny_model("gemma3", layers=1), tokenizer)
    assert bos == 2
    tokens = torch.arange(10, 60)
    plain, with_bos = model_windows(tokens, 8, 3), model_windows(tokens, 8, 3, bos)
    assert plain.shape == with_bos.shape == (3, 8)
    assert torch.equal(with_bos[:, 0], torch.full((3,), 2)) and torch.equal(with_bos[0, 1:], torch.arange(10, 17))
    assert torch.equal(with_bos[1, 1:], torch.arange(17, 24))      # consecutive, nothing skipped

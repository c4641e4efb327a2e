"""``SpikingModel``: what ``convert`` returns. It holds the Hugging Face model without gluing anything onto it,
switches execution modes on itself (for good or for a ``with`` block), saves and loads back bit for bit,
generates, and keeps the old names working with a deprecation warning."""
import warnings
import zlib

import pytest
import torch
from torch import nn

import neuro_llm
from conftest import tiny_model
from neuro_llm import SpikeConfig, convert, load_model
from neuro_llm.generation import generate_by_full_forward
from neuro_llm.spiking_model import HFAttributeDeprecation, SpikingModel

SPIKELLM = dict(method="spikellm", wbits=4, abits=4, salient=0.2, extra_steps=1)


def seed(name: str) -> int:
    return zlib.crc32(name.encode()) % 1000   # fixed across runs (hash() is not: PYTHONHASHSEED)


def converted(name: str = "llama", **overrides) -> SpikingModel:
    calibration = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    return convert(tiny_model(name, seed=seed(name)), SpikeConfig(**{**SPIKELLM, **overrides}),
                   calibration=calibration, progress=False)


def ids(batch: int = 2, length: int = 24) -> torch.Tensor:
    return torch.randint(0, 96, (batch, length), generator=torch.Generator().manual_seed(2))


def glued(hf_model: nn.Module) -> list[str]:
    """Attributes of ours (``neuro_llm_*``) on the model or any submodule other than an attention module's."""
    found = [f"<model>.{k}" for k in vars(hf_model) if k.startswith("neuro_llm")]
    for name, module in hf_model.named_modules():
        found += [f"{name}.{k}" for k in vars(module) if k.startswith("neuro_llm")
                  and k not in ("neuro_llm_fake_quant", "neuro_llm_capture")]   # calibration's, another change
    return found


def test_convert_returns_a_spiking_model_holding_the_hf_model():
    hf = tiny_model("llama", seed=seed("llama"))
    snn = convert(hf, SpikeConfig(**SPIKELLM), calibration=torch.randint(0, 96, (2, 32)), progress=False, inplace=True)
    assert isinstance(snn, SpikingModel) and snn.hf_model is hf
    assert snn.spec == SpikeConfig(**SPIKELLM) and snn.is_spiking and snn.execution_mode == "collapsed"
    assert snn.weight_bits is not None and snn.tokenizer is None and snn.source is None
    assert glued(snn.hf_model) == []
    assert snn.device == torch.device("cpu") and snn.dtype == torch.float32
    assert snn.eval() is snn and snn.to("cpu") is snn
    assert [p.shape for p in snn.parameters()] == [p.shape for p in hf.parameters()]
    with torch.no_grad():
        assert torch.equal(snn(ids()).logits, hf(ids()).logits)
        assert torch.equal(snn.forward(input_ids=ids()).logits, hf(ids()).logits)


def test_fp_is_a_spiking_model_around_the_untouched_model():
    hf = tiny_model("llama")
    fp = convert(hf, SpikeConfig(method="fp"))
    assert isinstance(fp, SpikingModel) and not fp.is_spiking and fp.weight_bits is None
    assert fp.hf_model is not hf and glued(fp.hf_model) == []   # a copy, unless inplace
    with torch.no_grad():
        assert torch.equal(fp(ids()).logits, hf(ids()).logits)
    rtn = convert(fp, SpikeConfig(method="rtn", wbits=4, abits=4), progress=False)   # an fp result converts on
    assert rtn.weight_bits is not None
    with pytest.raises(ValueError, match="already converted"):
        convert(rtn, SpikeConfig(method="rtn"), progress=False)


@pytest.mark.parametrize("name, overrides", [("llama", {}), ("qwen2", dict(method="sdllm")),
                                             ("gemma3", dict(spike_levels=2))])
def test_mode_block_is_bit_identical_and_restores(name, overrides):
    snn = converted(name, **overrides)
    with torch.no_grad():
        collapsed = snn(ids()).logits
        with snn.mode("explicit") as inside:
            assert inside is snn and snn.execution_mode == "explicit" == snn.spec.mode
            explicit = snn(ids()).logits
        assert snn.execution_mode == "collapsed"
        assert all(m.mode == "collapsed" for m in snn.modules() if hasattr(m, "code") and hasattr(m, "mode"))
    assert torch.equal(explicit, collapsed)
    with pytest.raises(RuntimeError), snn.mode("explicit"):
        raise RuntimeError("the previous mode comes back on errors too")
    assert snn.execution_mode == "collapsed"
    assert snn.set_mode("explicit") is snn and snn.execution_mode == "explicit"
    with pytest.raises(ValueError, match="unknown mode"):
        snn.set_mode("fast")


def test_save_and_load_give_a_spiking_model_with_identical_logits(tmp_path):
    snn = converted("llama").set_mode("explicit")
    saved = snn.save(tmp_path / "saved")
    loaded, tokenizer = load_model(saved)
    assert isinstance(loaded, SpikingModel) and tokenizer is None and loaded.spec == snn.spec
    assert loaded.saved_from == str(saved) and loaded.execution_mode == "explicit"
    assert glued(loaded.hf_model) == []
    with torch.no_grad():
        for mode in ("explicit", "collapsed"):
            with loaded.mode(mode), snn.mode(mode):
                assert torch.equal(loaded(ids()).logits, snn(ids()).logits), mode


def test_generate_uses_the_encoded_cache_and_matches_full_forwards():
    snn = converted("llama")
    prompt = ids(batch=1, length=9)
    out = snn.generate(prompt, max_new_tokens=6, eos_token_id=None)
    full, _ = generate_by_full_forward(snn, prompt, 6)
    assert out.shape == (1, 15) and torch.equal(out, full)
    assert torch.equal(snn.generate(prompt, max_new_tokens=6, do_sample=False), out)   # Hugging Face's words


def test_functions_take_either_kind(tmp_path):
    from neuro_llm.eval.perplexity import windows_ppl
    from neuro_llm.simulator import LayerByLayerSimulator

    snn = converted("llama")
    chunks = ids(batch=2, length=16)
    assert windows_ppl(snn, chunks, progress=False) == windows_ppl(snn.hf_model, chunks, progress=False)
    hidden = LayerByLayerSimulator(snn, layers=[0], progress=False).run(chunks[:1])
    assert torch.equal(hidden, LayerByLayerSimulator(snn.hf_model, layers=[0], progress=False).run(chunks[:1]))


def test_the_source_is_the_hf_configs_name_or_path(tmp_path):
    """``load_model`` sets ``config.name_or_path`` to the name it was given (Hugging Face's own field, which
    ``from_pretrained`` sets to the directory); ``convert`` records it as the source."""
    hf = tiny_model("llama")
    hf.save_pretrained(tmp_path / "tiny")
    snn = convert(type(hf).from_pretrained(tmp_path / "tiny"), SpikeConfig(method="rtn"), progress=False)
    assert snn.source == str(tmp_path / "tiny") and glued(snn.hf_model) == []


def test_old_names_warn_and_still_work():
    snn = converted("llama")
    with pytest.warns(HFAttributeDeprecation):
        assert neuro_llm.set_mode(snn, "explicit") is snn
    assert snn.execution_mode == "explicit"
    with pytest.warns(HFAttributeDeprecation):
        assert neuro_llm.is_spiking(snn) and neuro_llm.is_spiking(snn.hf_model)
    with pytest.warns(HFAttributeDeprecation):
        neuro_llm.set_mode(snn.hf_model, "collapsed")   # a bare Hugging Face model: its layers switch
    assert {m.mode for m in snn.hf_model.modules() if hasattr(m, "code") and hasattr(m, "mode")} == {"collapsed"}
    with pytest.warns(HFAttributeDeprecation, match="use .spec"):
        assert snn.neuro_llm_config is snn.spec
    with pytest.warns(HFAttributeDeprecation, match="hf_model.config"):
        assert snn.config is snn.hf_model.config
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            snn.no_such_attribute

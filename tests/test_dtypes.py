"""Half precision end to end: convert (with calibration), run, save and load tiny models in bfloat16 and
float16 on the CPU; explicit and collapsed stay bit-identical in every dtype; int8 weight codes."""
import json

import pytest
import torch

from checkpoints import make_checkpoint
from conftest import tiny_model
from neuro_llm import SpikeConfig, SpikeStats, convert, observing
from neuro_llm.cli import main as cli
from neuro_llm.io.models import check_dtype, parse_dtype
from neuro_llm.io.saving import MANIFEST, load_spiking_model, save_spiking_model
from neuro_llm.spiking.linear import SpikingLinear

HALF = [torch.bfloat16, torch.float16]
CONFIGS = {
    "spikellm-t2": dict(method="spikellm", abits=4, salient=0.2, extra_steps=1),
    "spikellm-t4-gptq": dict(method="spikellm", abits=4, salient=0.2, extra_steps=2, weight_method="gptq"),
    "omniquant": dict(method="omniquant", abits=4, epochs=1),
    "sdllm": dict(method="sdllm", abits=4),
    "binary-IF": dict(method="spikellm", abits=4, spike_levels=2, salient=0.1, extra_steps=1),
}


def in_dtype(model, dtype):
    """``model`` in ``dtype`` as ``load_model(dtype=...)`` builds it: the rotary frequencies stay float32."""
    inv_freq = model.model.rotary_emb.inv_freq.clone()
    model.to(dtype)
    model.model.rotary_emb.inv_freq = inv_freq
    return model


def calibration():
    return torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))


def both_modes(snn, ids):
    out = {}
    with torch.no_grad():
        for mode in ("collapsed", "explicit"):
            snn.set_mode(mode)
            stats = SpikeStats()
            with observing(stats):
                out[mode] = (snn(ids).logits, stats.summary())
    return out


@pytest.mark.parametrize("dtype", HALF + [torch.float32])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_half_precision_converts_and_modes_are_bit_identical(dtype, config):
    model = in_dtype(tiny_model("qwen2" if "gptq" in config else "llama", seed=3), dtype)
    snn = convert(model, SpikeConfig(wbits=4, **CONFIGS[config]), calibration=calibration(), progress=False)
    ids = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(2))
    out = both_modes(snn, ids)
    (collapsed, stats_c), (explicit, stats_e) = out["collapsed"], out["explicit"]
    assert collapsed.dtype == dtype and torch.isfinite(collapsed).all()
    assert torch.equal(explicit, collapsed)
    assert stats_c == stats_e
    for layer in snn.modules():
        if isinstance(layer, SpikingLinear):
            assert layer.codes.dtype == torch.int8 and layer.weight_scale.dtype == torch.float32
            assert all(plan.accumulate == torch.float32 for plan in layer.plans)  # W4A4: exact in float32


def test_half_model_tracks_its_float32_twin():
    ids = torch.randint(0, 96, (1, 24), generator=torch.Generator().manual_seed(4))
    logits = {}
    for dtype in (torch.float32, torch.bfloat16):
        snn = convert(in_dtype(tiny_model("llama"), dtype), SpikeConfig(method="spikellm", wbits=8, abits=8, salient=0.1),
                      calibration=calibration(), progress=False)
        with torch.no_grad():
            logits[dtype] = snn(ids).logits.float()
    error = (logits[torch.bfloat16] - logits[torch.float32]).abs().max() / logits[torch.float32].abs().max()
    assert error < 0.1


def test_int8_codes_take_about_half_the_fp16_bytes():
    snn = convert(in_dtype(tiny_model("llama"), torch.bfloat16), SpikeConfig(method="spikellm", salient=0.1),
                  calibration=calibration(), progress=False)
    layers = [m for m in snn.modules() if isinstance(m, SpikingLinear)]
    fp16 = sum(2 * m.in_features * m.out_features for m in layers)
    codes = sum(m.codes.numel() * m.codes.element_size() for m in layers)
    assert codes == fp16 // 2


def test_saved_half_model_reloads_bit_for_bit_and_casts_on_request(tmp_path):
    snn = convert(in_dtype(tiny_model("mistral"), torch.float16), SpikeConfig(method="spikellm", salient=0.2),
                  calibration=calibration(), progress=False)
    ids = torch.randint(0, 96, (1, 20))
    save_spiking_model(snn, tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / MANIFEST).read_text())["dtype"] == "float16"
    loaded, _ = load_spiking_model(tmp_path / "saved")
    assert loaded.hf_model.model.embed_tokens.weight.dtype == torch.float16
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, snn(ids).logits)
    as_bf16, _ = load_spiking_model(tmp_path / "saved", dtype=torch.bfloat16)
    layer = as_bf16.hf_model.model.layers[0].mlp.down_proj
    assert layer.codes.dtype == torch.int8 and layer.weight_scale.dtype == torch.float32
    out = both_modes(as_bf16, ids)
    assert out["collapsed"][0].dtype == torch.bfloat16 and torch.equal(out["collapsed"][0], out["explicit"][0])


def test_directories_saved_with_float_codes_still_load(tmp_path):
    """Older saved models kept float32 codes in memory and wrote them as int8 with a cast back recorded."""
    snn = convert(tiny_model("llama"), SpikeConfig(method="spikellm", salient=0.0, extra_steps=0), progress=False)
    save_spiking_model(snn, tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / MANIFEST).read_text())
    manifest["int8_codes"] = {f"{name}.codes": "float32" for name in manifest["linears"]}
    (tmp_path / "saved" / MANIFEST).write_text(json.dumps(manifest))
    loaded, _ = load_spiking_model(tmp_path / "saved")
    assert loaded.hf_model.model.layers[0].self_attn.q_proj.codes.dtype == torch.int8
    ids = torch.randint(0, 96, (1, 16))
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, snn(ids).logits)


def test_dtype_names_and_device_check():
    assert parse_dtype("bfloat16") is torch.bfloat16 and parse_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="accepted bfloat16, float16, float32"):
        parse_dtype("float64")
    for name in ("bfloat16", "float16", "float32"):
        assert check_dtype(name, "cpu") == parse_dtype(name)


def test_check_dtype_names_what_works_when_the_device_cannot(monkeypatch):
    import neuro_llm.io.models as models

    def refuse(*args, **kwargs):
        raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'\nmore')

    monkeypatch.setattr(torch.Tensor, "__matmul__", refuse)
    with pytest.raises(ValueError) as error:
        models.check_dtype("float16", "cpu")
    message = str(error.value)
    assert "\n" not in message and "cannot compute in float16" in message and "--dtype bfloat16 or float32" in message


def test_cli_eval_in_bfloat16_saves_and_reloads(smollm2, tmp_path, capsys):
    model_dir = make_checkpoint(tmp_path / "tiny", smollm2[1])
    common = ["--calib-windows", "1", "--calib-seqlen", "32", "--seqlen", "32", "--max-windows", "1"]
    out = tmp_path / "a.json"
    assert cli.main(["eval", "--model", str(model_dir), "--method", "spikellm", "--dtype", "bfloat16", *common,
                     "--save", str(tmp_path / "saved"), "--json", str(out)]) == 0
    first = json.loads(out.read_text())
    assert first["run_config"]["dtype"] == "bfloat16"
    assert json.loads((tmp_path / "saved" / MANIFEST).read_text())["dtype"] == "bfloat16"
    assert cli.main(["eval", "--model", str(tmp_path / "saved"), "--mode", "explicit", "--seqlen", "32",
                     "--max-windows", "1", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["ppl"] == first["ppl"]
    assert cli.main(["info", "--model", str(tmp_path / "saved"), "--dtype", "float16", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["dtype"] == "float16"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "--model", str(model_dir), "--dtype", "float64"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err

"""Saved spiking models (`eval --save DIR`, `--model DIR`): save → load gives bit-identical logits without
calibrating, for every method; the directory is written whole or not at all and refused when foreign."""
import importlib
import json
import sys

import pytest
import torch
from safetensors import safe_open

from checkpoints import make_checkpoint
from conftest import tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.cli import main as cli
from neuro_llm.io.saving import MANIFEST, WEIGHTS, is_saved_model, load_spiking_model, save_spiking_model
from neuro_llm.spiking.linear import SpikingLinear

CONFIGS = {
    "fp": dict(method="fp"),
    "rtn-w4a16": dict(method="rtn", wbits=4, abits=16),
    "rtn-w4a4": dict(method="rtn", wbits=4, abits=4),
    "gptq": dict(method="gptq", wbits=3, abits=4, group_size=32),
    "omniquant": dict(method="omniquant", wbits=4, abits=4, epochs=1),
    "pbllm": dict(method="pbllm", wbits=1, abits=16),
    "spikellm-t2": dict(method="spikellm", wbits=4, abits=4, salient=0.2, extra_steps=1),
    "spikellm-t4-binary": dict(method="spikellm", wbits=4, abits=4, salient=0.1, extra_steps=2, spike_levels=2),
    "spikellm-w4a16": dict(method="spikellm", wbits=4, abits=16),
    "spikellm-ternary-weights": dict(method="spikellm", wbits=2, abits=4, weight_spikes="ternary"),
    "sdllm": dict(method="sdllm", wbits=4, abits=4),
}


def logits(model, ids, mode=None):
    if mode is not None:
        model.set_mode(mode)
    with torch.no_grad():
        return model(ids).logits


@pytest.fixture
def no_calibration(monkeypatch):
    """Loading must not calibrate: any call of the calibration loop fails the test."""
    loop = sys.modules["neuro_llm.calibrate.loop"]
    monkeypatch.setattr(loop, "calibrate_blocks", lambda *a, **k: pytest.fail("calibrated while loading"))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_save_load_is_bit_identical(name, tmp_path, request):
    arch = "qwen2" if name in ("gptq", "sdllm") else "llama"  # q/k/v biases too
    model = tiny_model(arch, seed=len(name))
    calibration = torch.randint(0, 96, (2, 48), generator=torch.Generator().manual_seed(1))
    snn = convert(model, SpikeConfig(**CONFIGS[name]), calibration=calibration, progress=False)
    save_spiking_model(snn, tmp_path / "saved")
    request.getfixturevalue("no_calibration")
    loaded, tokenizer = load_spiking_model(tmp_path / "saved")
    assert tokenizer is None and loaded.spec == snn.spec
    ids = torch.randint(0, 96, (2, 40), generator=torch.Generator().manual_seed(2))
    for mode in ("collapsed", "explicit"):
        assert torch.equal(logits(loaded, ids, mode), logits(snn, ids, mode)), mode
    assert [type(m).__name__ for m in loaded.modules()] == [type(m).__name__ for m in snn.modules()]
    assert torch.equal(loaded.generate(ids[:1, :8], max_new_tokens=4, do_sample=False),
                       snn.generate(ids[:1, :8], max_new_tokens=4, do_sample=False))


def test_load_model_reads_a_saved_spiking_model(tmp_path, no_calibration):
    from neuro_llm import load_model

    model = tiny_model("llama", seed=3)
    snn = convert(model, SpikeConfig(method="rtn", wbits=4, abits=4), progress=False)
    save_spiking_model(snn, tmp_path / "saved")
    loaded, tokenizer = load_model(tmp_path / "saved")
    assert tokenizer is None and loaded.spec == snn.spec
    ids = torch.randint(0, 96, (1, 24), generator=torch.Generator().manual_seed(4))
    assert torch.equal(logits(loaded, ids, "collapsed"), logits(snn, ids, "collapsed"))


def test_tied_embeddings_are_stored_once_and_tied_again(tmp_path, no_calibration):
    model = tiny_model("llama")
    model.config.tie_word_embeddings = True
    model.lm_head.weight = model.model.embed_tokens.weight
    snn = convert(model, SpikeConfig(method="sdllm"), calibration=torch.randint(0, 96, (1, 32)), progress=False)
    save_spiking_model(snn, tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / MANIFEST).read_text())
    assert manifest["shared_tensors"] == {"lm_head.weight": "model.embed_tokens.weight"}
    loaded, _ = load_spiking_model(tmp_path / "saved")
    assert loaded.hf_model.lm_head.weight is loaded.hf_model.model.embed_tokens.weight
    ids = torch.randint(0, 96, (1, 24))
    assert torch.equal(logits(loaded, ids), logits(snn, ids))


def test_integer_codes_are_stored_as_int8(tmp_path):
    snn = convert(tiny_model("llama"), SpikeConfig(method="spikellm", salient=0.0, extra_steps=0), progress=False)
    save_spiking_model(snn, tmp_path / "saved")
    with safe_open(str(tmp_path / "saved" / WEIGHTS), "pt") as f:
        dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}
    codes = [key for key in dtypes if key.endswith(".codes")]
    assert len(codes) == 14 and all(dtypes[key] == "I8" for key in codes)
    loaded, _ = load_spiking_model(tmp_path / "saved")
    for a, b in zip(loaded.modules(), snn.modules()):
        if isinstance(a, SpikingLinear):
            assert a.codes.dtype == b.codes.dtype and torch.equal(a.codes, b.codes) and torch.equal(a.perm, b.perm)


def test_directory_is_replaced_whole_and_foreign_ones_are_refused(tmp_path):
    snn = convert(tiny_model("llama"), SpikeConfig(method="rtn"), progress=False)
    target = tmp_path / "saved"
    target.mkdir()  # an empty folder may be filled
    save_spiking_model(snn, target, run_config={"command": "eval", "seed": 1})
    assert is_saved_model(target) and json.loads((target / MANIFEST).read_text())["run_config"]["seed"] == 1
    other = convert(tiny_model("llama", seed=5), SpikeConfig(method="rtn", wbits=3), progress=False)
    save_spiking_model(other, target)  # a saved model is replaced
    assert load_spiking_model(target)[0].spec.wbits == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        save_spiking_model(snn, foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    with pytest.raises(ValueError, match="was not converted"):
        save_spiking_model(tiny_model("llama"), tmp_path / "plain")


def test_damaged_directories_are_one_line_errors(tmp_path):
    snn = convert(tiny_model("llama"), SpikeConfig(method="rtn"), progress=False)
    target = save_spiking_model(snn, tmp_path / "saved")
    weights = (target / WEIGHTS).read_bytes()
    (target / WEIGHTS).write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match="damaged"):
        load_spiking_model(target)
    (target / WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        load_spiking_model(target)
    with pytest.raises(FileNotFoundError, match="not a saved neuro-llm model"):
        load_spiking_model(tmp_path)


# ----------------------------------------------------------------------------- the command line
def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_save_then_model_dir_reloads_without_calibrating(capsys, smollm2, tmp_path, monkeypatch):
    tiny = make_checkpoint(tmp_path / "tiny", smollm2[1], tie=True)
    common = ["--seqlen", "64", "--max-windows", "2"]
    code, _, err = run(capsys, "eval", "--model", tiny, "--method", "spikellm", "--calib-windows", "1",
                       "--calib-seqlen", "48", *common, "--save", tmp_path / "saved", "--json", tmp_path / "a.json")
    assert code == 0, err
    a = json.loads((tmp_path / "a.json").read_text())
    manifest = json.loads((tmp_path / "saved" / MANIFEST).read_text())
    assert a["saved"] == str(tmp_path / "saved") and manifest["run_config"] == a["run_config"]
    assert manifest["source_model"] == str(tiny.resolve()) and manifest["neuro_llm_version"] == cli._version()

    monkeypatch.setattr(importlib.import_module("neuro_llm.convert"), "convert", lambda *a, **k: pytest.fail("converted again"))
    code, _, err = run(capsys, "eval", "--model", tmp_path / "saved", *common, "--json", tmp_path / "b.json")
    assert code == 0, err
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["ppl"] == a["ppl"] and b["spike_events"] == a["spike_events"] and b["config"] == a["config"]
    code, _, err = run(capsys, "eval", "--model", tmp_path / "saved", "--mode", "explicit", *common,
                       "--json", tmp_path / "c.json")
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text())["ppl"] == a["ppl"]  # explicit == collapsed
    code, _, err = run(capsys, "eval", "--model", tmp_path / "saved", "--method", "sdllm", "--wbits", "4", *common)
    assert code == 2 and "--method differ from what it was saved with" in err
    code, out, err = run(capsys, "info", "--model", tmp_path / "saved")
    assert code == 0 and json.loads(out)["saved_from"] == str(tiny.resolve())
    # the saved model records how it was made: --config DIR calibrates the same model again
    args = cli._parse(cli.build_parser(), ["eval", "--config", str(tmp_path / "saved")])
    assert (args.model, args.method, args.calib_seqlen, args.seqlen) == (str(tiny), "spikellm", 48, 64)


def test_config_from_a_model_saved_in_python_is_refused(capsys, tmp_path):
    save_spiking_model(convert(tiny_model("llama"), SpikeConfig(method="rtn"), progress=False), tmp_path / "saved")
    with pytest.raises(SystemExit):
        cli._parse(cli.build_parser(), ["eval", "--config", str(tmp_path / "saved")])
    assert "holds no run_config" in capsys.readouterr().err


def test_real_model_save_load_same_perplexity(smollm2, tmp_path, request):
    """SmolLM2-135M (tied embeddings, 30 blocks): the reloaded spiking model gives the same perplexity."""
    from neuro_llm import evaluate_ppl
    from neuro_llm.eval.data import load_tokens

    model, tok = smollm2
    calibration = load_tokens(tok, "wikitext2", "valid")[:64].view(1, -1)
    snn = convert(model, SpikeConfig(method="spikellm", wbits=4, abits=4), calibration=calibration, progress=False)
    save_spiking_model(snn, tmp_path / "saved", tokenizer=tok)
    request.getfixturevalue("no_calibration")
    loaded, loaded_tok = load_spiking_model(tmp_path / "saved")
    assert loaded_tok("Spiking language models").input_ids == tok("Spiking language models").input_ids
    before = evaluate_ppl(snn, tok, seqlen=128, max_windows=1, progress=False)
    after = evaluate_ppl(loaded, loaded_tok, seqlen=128, max_windows=1, progress=False)
    assert after == before and 5 < before["ppl"] < 200   # measured 103 (one 128-token window, 64 calibration tokens)

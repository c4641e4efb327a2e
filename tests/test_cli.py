"""The command line, audited for bad input: every user mistake ends in one line and a non-zero exit before
any long work starts, an interrupt exits 130 leaving no output file, and nothing already on disk is damaged."""
import importlib
import json
import os
import sys

import h5py
import pytest

from checkpoints import make_checkpoint
from neuro_llm.cli import main as cli


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_exit(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_line_error(code, err, message):
    """Exit status 2 and one error line (progress bars of the work done before it may precede it)."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and message in lines[0], err
    assert err.rstrip().endswith(lines[0].rstrip()), err


@pytest.fixture(scope="module")
def tiny(smollm2, tmp_path_factory):
    """A 2-block random Llama with the real tokenizer, as a Hugging Face model directory."""
    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "model", smollm2[1])


@pytest.fixture(scope="module")
def recording(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "r.h5"
    assert cli.main(["simulate", "--model", str(tiny), "--method", "sdllm", "--tokens", "24", "--calib-windows", "1", "--calib-seqlen",
                     "32", "--record", str(path)]) == 0
    return path


# ----------------------------------------------------------------------------- no model needed
@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["eval", "--model", "x.gguf"], "unknown model"),
    (["info", "--model", "no/such/dir"], "unknown model"),
    (["eval", "--method", "rtn", "--salient", "0.2"], "spiking methods"),
    (["eval", "--seqlen", "0"], "--seqlen must be at least 2"),
    (["eval", "--seqlen", "1"], "--seqlen must be at least 2"),
    (["eval", "--max-windows", "0"], "--max-windows must be at least 1"),
    (["eval", "--limit", "0"], "--limit must be at least 1"),
    (["eval", "--wbits", "0"], "wbits must be an integer in 1..16"),
    (["eval", "--abits", "17"], "abits must be an integer in 1..16"),
    (["eval", "--salient", "1.5"], "salient must be a fraction"),
    (["eval", "--extra-steps", "9"], "extra_steps must be an integer in 0..4"),
    (["eval", "--calib-windows", "0"], "calib_windows must be >= 1"),
    (["eval", "--method", "spikellm", "--abits", "3", "--spike-levels", "4"], "does not tile"),
    (["eval", "--method", "sdllm", "--threshold", "max", "--abits", "1"], "ternary spikes need abits >= 2"),
    (["eval", "--method", "sdllm", "--threshold", "max", "--abits", "3", "--spike-levels", "2"], "must divide 3"),
    (["eval", "--method", "sdllm", "--abits", "8"], "bound them with --count-cap 127"),
    (["eval", "--method", "sdllm", "--threshold-k", "0"], "threshold_k must be a positive number"),
    (["eval", "--method", "sdllm", "--threshold-k", "-1.5"], "threshold_k must be a positive number"),
    (["eval", "--method", "sdllm", "--threshold-k", "nan"], "threshold_k must be a positive number"),
    (["eval", "--method", "sdllm", "--count-cap", "0"], "count_cap must be an integer >= 1"),
    (["eval", "--method", "spikellm", "--count-cap", "7"], "sdllm options, not for method 'spikellm'"),
    (["eval", "--method", "sdllm", "--threshold", "max", "--threshold-k", "2"], "not of the max-scaled"),
    (["eval", "--method", "sdllm", "--spike-train", "bitwise", "--spike-levels", "3"], "drop --spike-levels"),
    (["eval", "--method", "pbllm", "--wbits", "4"], "use --wbits 1"),
    (["eval", "--method", "sdllm", "--weight-spikes", "ternary", "--wbits", "2"], "belong to spikellm"),
    (["eval", "--method", "rtn", "--weight-method", "gptq"], "its own weight method"),
    (["eval", "--tasks", "piqa,nosuch"], "unknown task 'nosuch'"),
    (["eval", "--tasks", ","], "--tasks is empty"),
    (["eval", "--device", "tpu"], "expected cpu, cuda or cuda:N"),
    (["eval", "--stream", "--windows-per-pass", "0"], "--windows-per-pass must be at least 1"),
    (["eval", "--stream", "--tasks", "piqa"], "drop --stream (perplexity only) or --tasks"),
    (["eval", "--cuda-graphs"], "use --device cuda, or drop --cuda-graphs on cpu"),
    (["eval", "--cuda-graphs", "--stream"], "drop --stream (a streamed block is a new copy every pass)"),
    (["eval", "--json", "/no/such/folder/out.json"], "does not exist"),
    (["eval", "--json", "."], "is a directory"),
    (["eval", "--save", "a-file"], "exists and is not a directory"),
    (["eval", "--save", "foreign"], "refusing to overwrite"),
    (["simulate", "--tokens", "0", "--record", "r.h5"], "--tokens must be at least 1"),
    (["simulate", "--record", "/no/such/folder/r.h5"], "does not exist"),
    (["simulate", "--record", "."], "is a directory"),
    (["simulate", "--method", "rtn", "--record", "r.h5"], "needs a spiking method"),
    (["simulate", "--layers", "3-1", "--record", "r.h5"], "expected ranges like 0-3"),
    (["simulate", "--layers", "one", "--record", "r.h5"], "expected ranges like 0-3"),
    (["energy", "missing.h5"], "no such recording file"),
    (["energy", "missing.h5", "--hardware", "tpu"], "unknown hardware 'tpu'"),
    (["energy", "a-file", "--hardware", "preset.txt"], "unknown hardware"),
    (["energy", "a-file"], "is not an HDF5 file"),
    (["plot", "a-file", "--out-dir", "figs"], "is not an HDF5 file"),
])
def test_user_mistakes_end_in_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a recording")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    code, out, err = run(capsys, *argv)
    one_line_error(code, err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "foreign"]  # nothing written
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


def test_cuda_without_a_gpu_is_one_line(capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(*run(capsys, "eval", "--device", "cuda")[::2], "no CUDA device is available")


@pytest.mark.parametrize("argv, message", [
    (["eval", "--method", "magic"], "invalid choice: 'magic'"),
    (["eval", "--mode", "fast"], "invalid choice: 'fast'"),
    (["eval", "--wbits", "four"], "invalid int value: 'four'"),
    (["eval", "--count-cap", "lots"], "expected an integer or none"),
    (["eval", "--spike-train", "morse"], "invalid choice: 'morse'"),
    (["eval", "--no-such-flag"], "unrecognized arguments"),
    (["eval", "--conf", "x.yaml"], "unrecognized arguments"),  # no abbreviations: --config is found before parsing
    (["frobnicate"], "invalid choice"),
    (["simulate"], "--record"),
    (["energy", "r.h5", "--hardware"], "expected one argument"),
])
def test_argument_errors_are_one_line(capsys, argv, message):
    code, out, err = run_exit(capsys, *argv)
    one_line_error(code, err, message)


def test_every_command_has_help(capsys):
    for command in ("info", "eval", "simulate", "energy", "plot"):
        code, out, _ = run_exit(capsys, command, "--help")
        assert code == 0 and "usage: neuro-llm " + command in out and "--config" in out


def test_every_spike_config_field_is_an_option():
    """A run is described completely by its options: each SpikeConfig field has a flag (and a config key)."""
    parser = cli.build_parser()
    for command in ("eval", "simulate"):
        dests = {a.dest for a in parser.commands[command]._actions}
        assert set(cli.SPIKE_FIELDS) <= dests, set(cli.SPIKE_FIELDS) - dests


# ----------------------------------------------------------------------------- a recording on disk
def _damage(path, target, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # overwrite metadata in the middle of the file
        data[len(data) // 3: len(data) // 3 + 4000] = b"\xab" * 4000
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("how", ["truncated", "scrambled"])
@pytest.mark.parametrize("command", ["energy", "plot"])
def test_corrupt_recording_is_one_line(capsys, recording, tmp_path, how, command):
    bad = _damage(recording, tmp_path / "bad.h5", how)
    extra = ["--out-dir", tmp_path / "figs"] if command == "plot" else []
    code, _, err = run(capsys, command, bad, *extra)
    one_line_error(code, err, "bad.h5")
    assert not (tmp_path / "figs").exists() or not any((tmp_path / "figs").iterdir())


def test_foreign_and_future_hdf5_are_refused(capsys, recording, tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = [1, 2, 3]
    one_line_error(*run(capsys, "energy", foreign)[::2], "is not a neuro-llm recording")
    future = tmp_path / "future.h5"
    future.write_bytes(recording.read_bytes())
    with h5py.File(future, "a") as f:
        f.attrs["schema_version"] = 99
    one_line_error(*run(capsys, "energy", future)[::2], "schema version 99")


def test_energy_and_plot_record_their_configuration(capsys, recording, tmp_path):
    out = tmp_path / "energy.json"
    code, stdout, err = run(capsys, "energy", recording, "--hardware", "loihi", "--memory", "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["run_config"] == {"command": "energy", "recording": str(recording), "hardware": "loihi",
                                    "payload_sops": False, "memory": True, "binary_spikes": "unary",
                                    "convention": "ours", "dataflow": "weight-stationary",
                                    "neuron_policy": "lockstep", "placement": "stream", "kv": "spiking",
                                    "weight_bits": None, "dense_abits": "carried", "sweep": False, "plot": None}
    assert result["neuro_llm_version"] == cli._version() and result["ratio"] > 0
    code, _, err = run(capsys, "plot", recording, "--out-dir", tmp_path / "figs", "--json", tmp_path / "plot.json")
    assert code == 0, err
    assert json.loads((tmp_path / "plot.json").read_text())["run_config"]["command"] == "plot"


# ----------------------------------------------------------------------------- a model on disk (tiny)
def test_layers_out_of_range_fail_before_calibration(capsys, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("neuro_llm.convert"), "convert", lambda *a, **k: pytest.fail("calibrated before checking"))
    code, _, err = run(capsys, "simulate", "--model", tiny, "--layers", "0-5", "--record", tmp_path / "r.h5")
    one_line_error(code, err, "the model has layers 0-1, not [2, 3, 4, 5]")
    assert list(tmp_path.iterdir()) == []


def test_nan_during_calibration_is_one_line_and_writes_nothing(capsys, smollm2, tmp_path):
    poisoned = make_checkpoint(tmp_path / "poisoned", smollm2[1], poison=True)
    (tmp_path / "out").mkdir()
    code, _, err = run(capsys, "eval", "--model", poisoned, "--method", "spikellm", "--calib-windows", "1",
                       "--calib-seqlen", "32", "--seqlen", "64", "--json", tmp_path / "out" / "r.json",
                       "--save", tmp_path / "out" / "saved")
    one_line_error(code, err, "NaN/Inf activations on the calibration text")
    assert list((tmp_path / "out").iterdir()) == []


def test_interrupted_simulation_leaves_no_file_and_keeps_the_old_one(capsys, tiny, tmp_path, monkeypatch):
    from analysis.store import RecordingWriter

    target = tmp_path / "r.h5"
    target.write_bytes(b"an earlier recording")
    write_layer = RecordingWriter.write_layer

    def interrupted(self, record):  # Ctrl-C while the second block is being written
        write_layer(self, record)
        if record.layer == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(RecordingWriter, "write_layer", interrupted)
    code, _, err = run(capsys, "simulate", "--model", tiny, "--method", "sdllm", "--tokens", "16", "--calib-windows", "1",
                       "--calib-seqlen", "32", "--record", target, "--json", tmp_path / "r.json")
    assert code == 130 and err.rstrip().splitlines()[-1] == "neuro-llm simulate: interrupted; no output was left half-written"
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]  # no temporary file, no JSON
    assert target.read_bytes() == b"an earlier recording"


def test_interrupted_eval_writes_neither_json_nor_model(capsys, tiny, tmp_path, monkeypatch):
    import neuro_llm.eval.perplexity

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(neuro_llm.eval.perplexity, "evaluate_ppl", interrupted)
    code, _, err = run(capsys, "eval", "--model", tiny, "--method", "rtn", "--json", tmp_path / "r.json",
                       "--save", tmp_path / "saved")
    assert code == 130 and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_save_keeps_the_saved_model_already_there(capsys, tiny, tmp_path, monkeypatch):
    import safetensors.torch

    saved = tmp_path / "saved"
    args = ["eval", "--model", tiny, "--method", "rtn", "--seqlen", "64", "--max-windows", "1", "--save", saved]
    assert run(capsys, *args)[0] == 0
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    save_file = safetensors.torch.save_file

    def interrupted(tensors, path, metadata=None):
        save_file(dict(list(tensors.items())[:3]), path, metadata)  # part of the tensors are on disk
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted)
    code, _, err = run(capsys, *args[:-2], "--wbits", "3", "--save", saved)
    assert code == 130
    assert [p.name for p in tmp_path.iterdir()] == ["saved"]  # no temporary folder left
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before


def test_saved_model_of_another_version_is_refused(capsys, tiny, tmp_path):
    saved = tmp_path / "saved"
    assert run(capsys, "eval", "--model", tiny, "--method", "rtn", "--seqlen", "64", "--max-windows", "1",
               "--save", saved)[0] == 0
    manifest = saved / "neuro_llm.json"
    data = json.loads(manifest.read_text())
    data["neuro_llm_version"] = "0.0.1"
    manifest.write_text(json.dumps(data))
    before = manifest.read_bytes()
    for command in (["eval"], ["simulate", "--record", tmp_path / "r.h5"], ["info"]):
        code, _, err = run(capsys, *command, "--model", saved)
        one_line_error(code, err, "was saved by neuro-llm 0.0.1")
    assert manifest.read_bytes() == before and not (tmp_path / "r.h5").exists()
    data.update(neuro_llm_version=cli._version(), schema="something-else")
    manifest.write_text(json.dumps(data))
    one_line_error(*run(capsys, "eval", "--model", saved)[::2], "is not a neuro-llm saved model")
    manifest.write_text("{not json")
    one_line_error(*run(capsys, "eval", "--model", saved)[::2], "cannot parse")


def test_failed_run_leaves_an_existing_output_alone(capsys, tiny, tmp_path):
    out = tmp_path / "r.json"
    out.write_text('{"ppl": 12.5}')
    code, _, err = run(capsys, "simulate", "--model", tiny, "--layers", "7", "--record", tmp_path / "r.h5",
                       "--json", out)
    assert code == 2
    assert out.read_text() == '{"ppl": 12.5}' and not (tmp_path / "r.h5").exists()


def test_missing_data_dir_is_named(capsys, tmp_path, tiny):
    code, _, err = run(capsys, "eval", "--model", tiny, "--method", "fp", "--data-dir", tmp_path,
                       "--max-windows", "1")
    one_line_error(code, err, "wikitext-2/test.txt not found")


def test_eval_fp_writes_the_contract_json(capsys, tmp_path):
    out = tmp_path / "fp.json"
    code, stdout, err = run(capsys, "eval", "--method", "fp", "--seqlen", "256", "--max-windows", "2", "--json", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    for key in ("model", "method", "wbits", "abits", "dataset", "seqlen", "windows", "tokens", "ppl", "seconds"):
        assert key in result
    assert result["windows"] == 2 and result["tokens"] == 2 * 255
    assert 5 < result["ppl"] < 60
    assert result["run_config"]["command"] == "eval" and result["run_config"]["method"] == "fp"
    assert result["neuro_llm_version"] == cli._version() and "torch" in result["versions"]
    assert [p.name for p in tmp_path.iterdir()] == ["fp.json"]  # no temporary file left behind
    assert oct(os.stat(out).st_mode & 0o777) != oct(0o600)


def test_streamed_eval_gives_the_resident_result(capsys, tiny, tmp_path):
    """``eval --stream``: the same perplexity and spike statistics as the resident run; the JSON says so."""
    common = ["eval", "--model", tiny, "--method", "spikellm", "--seqlen", "32", "--max-windows", "3",
              "--calib-windows", "1", "--calib-seqlen", "32"]
    assert run(capsys, *common, "--json", tmp_path / "resident.json")[0] == 0
    assert run(capsys, *common, "--stream", "--windows-per-pass", "1", "--json", tmp_path / "streamed.json")[0] == 0
    resident, streamed = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("resident", "streamed"))
    assert streamed["streamed"] is True and streamed["windows_per_pass"] == 1 and "streamed" not in resident
    for key in ("ppl", "nll", "tokens", "windows", "firing_rate", "avg_spike_bits", "spike_events"):
        assert streamed[key] == resident[key], key

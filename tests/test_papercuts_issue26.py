"""Papercuts of issue #26: --help without torch, outputs checked by creating a file, eval --tasks without a
perplexity, saved files' permissions, no FutureWarning, clear labels and text checks, energy figure axes."""
import os
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from conftest import tiny_model
from neuro_llm import SpikeConfig, convert
from neuro_llm.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
CALIB = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["export-nir", "--help"], ["energy", "--help"],
                                  ["convert", "--help"]])
def test_help_imports_neither_torch_nor_transformers(argv):
    code = ("import sys\nfrom neuro_llm.cli.main import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'h5py') if m in sys.modules))" % argv)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-300:]
    print(f"{' '.join(argv)}: {seconds:.2f} s")


def test_json_into_an_unwritable_folder_fails_before_any_work(capsys):
    # /proc passes os.access(W_OK) for root; creating a file there fails
    assert cli.main(["info", "--json", "/proc/out.json"]) == 2
    err = capsys.readouterr().err
    assert "cannot write /proc/out.json" in err and len(err.strip().splitlines()) == 1


def test_saved_model_files_all_have_the_usual_permissions(tmp_path):
    from neuro_llm.io.saving import save_spiking_model

    snn = convert(tiny_model("llama"), SpikeConfig(method="rtn", wbits=4, abits=4), progress=False)
    saved = save_spiking_model(snn, tmp_path / "saved")
    mask = os.umask(0)
    os.umask(mask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in saved.iterdir() if p.is_file()}
    assert "model.safetensors" in modes and set(modes.values()) == {0o666 & ~mask}, modes


def test_conversion_and_forward_raise_no_future_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        snn = convert(tiny_model("llama"), SpikeConfig(method="spikellm"), calibration=CALIB, progress=False)
        snn(torch.randint(0, 96, (1, 12)))


def test_eval_tasks_skips_the_perplexity_unless_asked(tmp_path, capsys, monkeypatch):
    import neuro_llm.eval.perplexity as perplexity
    import neuro_llm.eval.tasks as tasks
    from neuro_llm.io.saving import save_spiking_model

    saved = save_spiking_model(convert(tiny_model("llama"), SpikeConfig(method="rtn", wbits=4, abits=4),
                                       progress=False), tmp_path / "saved")
    monkeypatch.setattr(perplexity, "evaluate_ppl", lambda *a, **k: pytest.fail("measured a perplexity"))
    monkeypatch.setattr(tasks, "evaluate_tasks", lambda *a, **k: {"tasks": {"piqa": {"acc": 0.5, "n": 20}},
                                                                   "avg_acc": 0.5, "predictions": {}})
    assert cli.main(["eval", "--model", str(saved), "--tasks", "piqa", "--limit", "20",
                     "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "piqa: acc 0.500" in out and "ppl" not in out.split("no perplexity")[0]
    assert cli.main(["eval", "--model", str(saved), "--ppl"]) == 2   # --ppl goes with --tasks


def test_labels_name_what_ran():
    assert cli._label(SpikeConfig(method="fp", mode="explicit")) == "fp (the model as loaded, not quantized)"
    assert cli._label(SpikeConfig(method="spikellm", mode="explicit")) == "spikellm W4A4 (explicit)"
    assert "(" not in cli._label(SpikeConfig(method="rtn", wbits=4, abits=16))


def test_empty_calibration_text_is_one_line_before_loading(tmp_path, capsys):
    data = tmp_path / "data" / "wikitext-2"
    data.mkdir(parents=True)
    (data / "test.txt").write_text("some test text\n" * 20)
    (data / "valid.txt").write_text("\n")
    assert cli.main(["eval", "--method", "spikellm", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert "calibration text" in err and "is empty" in err and len(err.splitlines()) == 1


def test_short_calibration_text_names_the_fix(tmp_path):
    from neuro_llm.convert import calibration_windows

    data = tmp_path / "wikitext-2"
    data.mkdir()
    (data / "valid.txt").write_text("only a few words\n")

    class Tok:   # a character-level tokenizer is enough here
        def __call__(self, text, **kwargs):
            from types import SimpleNamespace
            return SimpleNamespace(input_ids=[ord(c) for c in text])

    with pytest.raises(ValueError, match="too few for windows of --calib-seqlen 512"):
        calibration_windows(Tok(), SpikeConfig(method="spikellm"), data_dir=tmp_path)


def test_abits_16_with_a_spiking_method_gets_a_hint(capsys):
    cli.main(["eval", "--method", "spikellm", "--abits", "16", "--model", "no-such-model"])
    assert "encodes no spikes" in capsys.readouterr().err
    assert cli.main(["simulate", "--method", "spikellm", "--abits", "16", "--record", "/tmp/x.h5"]) == 2

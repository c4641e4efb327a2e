"""Data parallelism under torchrun (gloo, 2 CPU processes) against the same command in one process:
perplexity, spike statistics, zero-shot predictions, calibration (first-order and attention saliency,
GPTQ Hessians, SDLLM activation samples, OmniQuant gradients) and recordings are equal bit for bit, with
world sizes that do not divide the work; a failing rank ends the job with one line on rank 0 and no output."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from checkpoints import make_checkpoint
from tiny_tasks import tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DATA = []   # the data_dir fixture's folder (set by the autouse fixture below)
DIFFERS = {"seconds", "world_size", "saved", "versions", "command", "provenance"}   # of a run, not of its result


def torchrun(nproc: int, argv, tmp_path, env=None, script=None, logs=None) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node N`` of ``neuro-llm ARGV`` (or of ``script``) from this checkout;
    ``logs``: a folder for each rank's stderr (``--redirects``)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                                            os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", **(env or {})}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    if logs is not None:
        launcher += ["--log-dir", str(logs), "--redirects", "2"]
    command = [str(script)] if script else ["--no-python", sys.executable, "-m", "neuro_llm.cli.main"]
    return subprocess.run(launcher + command + [str(a) for a in argv], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A 2-block random Llama with a tiny byte-level BPE tokenizer, as a model directory."""
    return make_checkpoint(tmp_path_factory.mktemp("dist") / "model", tiny_tokenizer())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The first lines of WikiText-2 valid and test (tokenized in a blink by every rank)."""
    from neuro_llm.eval.data import text_path

    folder = tmp_path_factory.mktemp("data")
    (folder / "wikitext-2").mkdir()
    for split in ("valid", "test"):
        try:
            text = text_path("wikitext2", split).read_text(encoding="utf-8")[:20000]
        except FileNotFoundError:   # no WikiText-2 here: any English text does for equality checks
            text = (ROOT / "README.md").read_text(encoding="utf-8") * 4
        (folder / "wikitext-2" / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _data(data_dir):
    DATA[:] = [data_dir]


def run_both(tmp_path, argv, one_args=()):
    argv = [*argv, "--data-dir", DATA[0]]
    """The same command in one process (with ``one_args`` added) and on 2 ranks: (1-process dir, 2-rank dir)."""
    out = {}
    for nproc in (1, 2):
        folder = tmp_path / f"np{nproc}"
        folder.mkdir()
        done = torchrun(nproc, [*argv, *one_args] if nproc == 1 else argv, folder)
        assert done.returncode == 0, done.stderr[-3000:]
        out[nproc] = folder
    return out[1], out[2]


def result(folder: Path) -> dict:
    data = json.loads((folder / "out.json").read_text())
    return {k: v for k, v in data.items() if k not in DIFFERS}


def same_tensors(a: Path, b: Path) -> None:
    one, two = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert one.keys() == two.keys()
    for name in one:
        assert torch.equal(one[name], two[name]), name


def test_eval_perplexity_tasks_and_calibration_equal_one_process(model_dir, tmp_path):
    # 3 perplexity windows and 2 calibration windows on 2 ranks; GPTQ weights (Hessians), first-order and
    # attention saliency; 2 zero-shot tasks of 5 items in batches of 2 (5 and 10 requests: uneven shares)
    argv = ["eval", "--model", model_dir, "--method", "spikellm", "--weight-method", "gptq", "--calib-windows", 2,
            "--calib-seqlen", 32, "--seqlen", 32, "--max-windows", 3, "--tasks", "piqa,boolq", "--ppl", "--limit", 5,
            "--batch-size", 2, "--predictions", "--json", "out.json", "--save", "saved"]
    one, two = run_both(tmp_path, argv)
    r1, r2 = result(one), result(two)
    assert json.loads((two / "out.json").read_text())["world_size"] == 2
    assert r1["windows"] == 3 and r1["spike_events"] > 0
    assert repr(r1["ppl"]) == repr(r2["ppl"]) and r1["nll"] == r2["nll"]       # to the last digit
    for key in ("tokens", "values", "spike_events", "neuron_steps", "spike_payload", "avg_spike_bits", "firing_rate"):
        assert r1[key] == r2[key], key
    assert r1["tasks"] == {k: {**v, "seconds": r1["tasks"][k]["seconds"]} for k, v in r2["tasks"].items()}
    assert r1["predictions"] == r2["predictions"] and len(r1["predictions"]["boolq"]) == 5
    assert r1 == {**r2, "tasks": r1["tasks"]}
    same_tensors(one / "saved", two / "saved")
    assert sorted(p.name for p in two.iterdir()) == ["out.json", "saved"]    # rank 0 wrote, nobody else


def test_omniquant_gradients_are_averaged_as_one_process_does(model_dir, tmp_path):
    # 3 calibration windows on 2 ranks: steps of 2 windows (one a rank) then 1; the one-process run takes
    # the same steps (--omniquant-batch 2); 1 perplexity window: rank 1 has none
    argv = ["eval", "--model", model_dir, "--method", "omniquant", "--wbits", 4, "--abits", 8, "--epochs", 2,
            "--calib-windows", 3, "--calib-seqlen", 24, "--seqlen", 24, "--max-windows", 1, "--json", "out.json",
            "--save", "saved"]
    one, two = run_both(tmp_path, argv, one_args=["--omniquant-batch", 2])
    assert repr(result(one)["ppl"]) == repr(result(two)["ppl"])
    same_tensors(one / "saved", two / "saved")


def h5_items(path: Path) -> dict:
    items = {}
    with h5py.File(path) as f:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key not in ("created", "command", "run_config", "versions", "provenance"):
                    items[f"{name}@{key}"] = value
            if isinstance(obj, h5py.Dataset):
                items[name] = obj[()]
        f.visititems(visit)
        for key, value in f.attrs.items():
            if key not in ("created", "command", "run_config", "versions", "provenance"):
                items[f"@{key}"] = value
    return items


def test_recording_equals_one_process(model_dir, tmp_path):
    # SDLLM: clipping factors from activation samples, first-order saliency from 3 windows; 2 blocks, 2 ranks
    argv = ["simulate", "--model", model_dir, "--method", "sdllm", "--calib-windows", 3, "--calib-seqlen", 16,
            "--tokens", 20, "--record", "r.h5", "--json", "out.json"]
    one, two = run_both(tmp_path, argv)
    a, b = h5_items(one / "r.h5"), h5_items(two / "r.h5")
    assert a.keys() == b.keys() and "layers/001/sites/mlp.down_proj/raster" in a and "head/ops" in a
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    r1, r2 = result(one), result(two)
    assert {k: v for k, v in r1.items() if k not in ("path", "bytes")} == \
        {k: v for k, v in r2.items() if k not in ("path", "bytes")}
    assert sorted(p.name for p in two.iterdir()) == ["out.json", "r.h5"]


def test_a_failing_rank_ends_the_job_with_one_line_and_no_output(model_dir, data_dir, tmp_path):
    argv = ["eval", "--model", model_dir, "--method", "rtn", "--seqlen", 32, "--max-windows", 3, "--json", "out.json",
            "--data-dir", data_dir]
    work = tmp_path / "work"
    work.mkdir()
    (work / "out.json").write_text("{}")   # an earlier result stays as it was
    done = torchrun(2, argv, work, env={"NEURO_LLM_TEST_FAIL_RANK": "1"}, script=ROOT / "tests" / "dist_fail.py",
                    logs=tmp_path / "logs")
    assert done.returncode != 0     # torchrun reports the failed job (its own summary) and exits non-zero
    rank0, rank1 = (next((tmp_path / "logs").rglob(f"attempt_0/{r}/stderr.log")).read_text() for r in (0, 1))
    errors = [line for line in rank0.replace("\r", "\n").splitlines() if "error" in line.lower()]
    assert errors == ["neuro-llm eval: error: rank 1: injected failure of this rank"], rank0
    assert "Traceback" not in rank0 + rank1 and "error" not in rank1.lower(), rank1
    assert sorted(p.name for p in work.iterdir()) == ["out.json"]
    assert (work / "out.json").read_text() == "{}"

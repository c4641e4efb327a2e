"""Two runs of the same configuration on the CPU give identical numbers: in one process (conversion with its
calibration, then perplexity and spike totals), and as two separate `neuro-llm eval` processes (every key of
the JSON but the run's own: seconds, provenance's timestamp)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_model

ROOT = Path(__file__).resolve().parents[1]


def run(spec: dict) -> dict:
    from neuro_llm import SpikeConfig, convert
    from neuro_llm.eval.perplexity import windows_ppl

    torch.manual_seed(0)
    calibration = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    snn = convert(tiny_model("llama"), SpikeConfig(**spec), calibration=calibration, progress=False)
    chunks = torch.randint(0, 96, (3, 40), generator=torch.Generator().manual_seed(2))
    return {mode: windows_ppl(snn, chunks, progress=False) for mode in ("collapsed",)}


@pytest.mark.parametrize("spec", [dict(method="spikellm", salient=0.25, extra_steps=1), dict(method="sdllm", wbits=4)],
                         ids=["spikellm-t2", "sdllm"])
def test_two_runs_in_one_process_are_identical(spec):
    first, second = run(spec), run(spec)
    assert first == second and repr(first) == repr(second)   # every float to the last bit


@pytest.mark.slow
def test_two_cli_processes_write_identical_results(tmp_path):
    from checkpoints import make_checkpoint
    from tiny_tasks import tiny_tokenizer

    model = make_checkpoint(tmp_path / "model", tiny_tokenizer())
    data = tmp_path / "data" / "wikitext-2"
    data.mkdir(parents=True)
    for split in ("valid", "test"):
        (data / f"{split}.txt").write_text((ROOT / "README.md").read_text(encoding="utf-8") * 2, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    results = []
    for n in range(2):
        folder = tmp_path / f"run{n}"          # the same command line, each run in its own folder
        folder.mkdir()
        out = folder / "out.json"
        argv = ["eval", "--model", model, "--method", "spikellm", "--calib-windows", 2, "--calib-seqlen", 32,
                "--seqlen", 32, "--max-windows", 3, "--data-dir", tmp_path / "data", "--json", "out.json"]
        done = subprocess.run([sys.executable, "-m", "neuro_llm.cli.main", *map(str, argv)], env=env, cwd=folder,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        data = json.loads(out.read_text())
        data.pop("seconds")
        data["provenance"].pop("created")
        results.append(data)
    a, b = results
    assert a["ppl"] == b["ppl"] and a["spike_events"] == b["spike_events"]
    differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert not differ, {k: (a.get(k), b.get(k)) for k in differ}

"""Merge rows measured on the GPU device (``benchmarks/device_*.sh``; raw copies in ``benchmarks/device_runs/``)
into the results JSON, each row stamped with the provenance of the run that made it.

    python benchmarks/import_device_rows.py

The device's copy of the tree has no usable git, so the commit is the one named when the run was started
(``bash benchmarks/device_ppl.sh COMMIT ...``), and the versions are the device's (read there:
torch 2.11.0+cu130, transformers 5.17.0, triton 3.6.0). Rows of the same (preset, seqlen, max_windows) are
replaced; rows measured before the causality fix (a97dbb6) whose numbers it changes and that were not re-run
are dropped (listed in docs/results.md).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from neuro_llm.core.provenance import write_result  # noqa: E402

RUNS = HERE / "device_runs"
RESULTS = HERE / "results"
DEVICE_VERSIONS = {"torch": "2.11.0+cu130", "transformers": "5.17.0", "triton": "3.6.0", "snntorch": "1.0.0",
                   "python": "3.12"}
PRESETS_PPL_1 = ("fp rtn-w4a4 spikellm-rtn-w4a4-t2 spikellm-rtn-w4a4-t2-krunning sdllm-w4 sdllm-w4-krunning "
                 "spikellm-w4a4-t2 spikellm-w4a4-t2-krunning omniquant-w4a4")
RUN_FILES = {  # raw rows: (commit, command)
    "perplexity_rows_a97dbb6.json": ("a97dbb6", f"bash benchmarks/device_ppl.sh a97dbb6 {PRESETS_PPL_1}"),
    "perplexity_rows_d1cb17b.json": ("d1cb17b", "bash benchmarks/device_batch2.sh d1cb17b"),
    "zeroshot_rows_d1cb17b.json": ("d1cb17b", "bash benchmarks/device_batch2.sh d1cb17b"),
    "perplexity_gemma_rows_a97dbb6.json": ("a97dbb6", "bash benchmarks/device_gemma.sh a97dbb6 fp rtn-w4a4 "
                                           "spikellm-rtn-w4a4-t2 spikellm-rtn-w4a4-t2-krunning sdllm-w4 sdllm-w4-krunning"),
}
CAUSALITY_FIX = "a97dbb6"
UNCHANGED_BY_FIX = 16   # abits 16: no activation (and no K) is encoded, so the fix changes nothing


def provenance(commit: str, command: str, dtype: str = "float32") -> dict:
    return {"schema": 1, "commit": commit, "dirty": False, "device": "NVIDIA H200", "dtype": dtype, "seed": 0,
            "command": command, "versions": DEVICE_VERSIONS, "note": "run on the GPU device from a copy of the tree "
            "at this commit; merged by benchmarks/import_device_rows.py"}


def rows(name: str) -> list[dict]:
    commit, command = RUN_FILES[name]
    out = json.loads((RUNS / name).read_text())
    for row in out:
        row["provenance"] = provenance(commit, command)
    return out


def with_stderr(row: dict) -> dict:
    """Zero-shot rows from before the stderr field: the sample standard error sqrt(p(1-p)/(n-1)) (lm-eval's)."""
    for task in row["tasks"].values():
        for key in ("acc", "acc_norm"):
            if key in task and f"{key}_stderr" not in task and task.get("n", 0) > 1:
                task[f"{key}_stderr"] = math.sqrt(task[key] * (1 - task[key]) / (task["n"] - 1))
    return row


def key(row: dict) -> tuple:
    return row["preset"], row.get("seqlen"), row.get("max_windows")


def main() -> None:
    new = rows("perplexity_rows_a97dbb6.json") + rows("perplexity_rows_d1cb17b.json")
    new_keys = {key(r) for r in new}
    old = json.loads((RESULTS / "perplexity.json").read_text())
    kept = [r for r in old if key(r) not in new_keys and r["config"]["abits"] >= UNCHANGED_BY_FIX]
    dropped = sorted({r["preset"] for r in old if key(r) not in new_keys and r["config"]["abits"] < UNCHANGED_BY_FIX})
    write_result(RESULTS / "perplexity.json", kept + new)
    print(f"perplexity.json: {len(new)} device rows, {len(kept)} kept (abits 16), dropped (not re-run): {dropped}")

    gemma = rows("perplexity_gemma_rows_a97dbb6.json")
    for row in gemma:
        row["note"] = ("key_scale comparison on the GPU device; its transformers 5.17 loads this GGUF differently "
                       "from 5.25 on the CPU (FP 112.8 here against 43.2): compare rows within this file only")
    write_result(RESULTS / "key_scale_gemma3-270m_cuda.json", gemma)

    zero = [with_stderr(r) for r in rows("zeroshot_rows_d1cb17b.json")]
    for row in zero:
        row["device"] = "NVIDIA H200"
        missing = [t for t in ("piqa", "arc_easy", "arc_challenge", "boolq", "hellaswag", "winogrande")
                   if t not in row["tasks"]]
        if missing:
            row["note"] = f"cut by the 550 s limit of the device call: {', '.join(missing)} not scored"
    zero_presets = {r["preset"] for r in zero}
    old = json.loads((RESULTS / "zeroshot.json").read_text())
    kept = [with_stderr(r) for r in old if r["preset"] == "fp"]   # FP: no spike encoder, unchanged by the fix
    dropped = sorted({r["preset"] for r in old if r["preset"] != "fp" and r["preset"] not in zero_presets})
    write_result(RESULTS / "zeroshot.json", kept + zero)
    print(f"zeroshot.json: {len(zero)} device rows; dropped (not re-run): {dropped}")

    decode = json.loads((RESULTS / "decode_cuda.json").read_text())
    if "provenance" not in decode:   # written on the device before the provenance writer was merged
        decode["provenance"] = provenance("d1cb17b", "cd benchmarks && python3 decode.py --device cuda", "bfloat16")
        write_result(RESULTS / "decode_cuda.json", decode, keep_provenance=True)


if __name__ == "__main__":
    main()

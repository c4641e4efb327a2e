"""Run the GPU test tier and record it: ``benchmarks/results/gpu_tier.json`` (commit, device, pass/fail per test).

    python benchmarks/gpu_tier.py                 # on a CUDA machine, from the checkout's root
    python benchmarks/gpu_tier.py -- -k float8    # extra pytest arguments after --

Runs ``python -m pytest -m gpu`` in this process (``tests/conftest.py`` leaves Triton compiled in a ``-m gpu``
session on a CUDA machine) with a small plugin that keeps each test's outcome, duration and (for a skip or a
failure) its one-line reason, then writes them with the run's provenance. Without a CUDA device it refuses to
overwrite the record (every test would only skip) unless ``--out`` names another file. Exit status: pytest's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECORD = HERE / "results" / "gpu_tier.json"
sys.path.insert(0, str(ROOT))   # this checkout's neuro_llm, whatever is installed


class Recorder:
    """A pytest plugin: ``tests[nodeid] = {"outcome", "seconds", "reason"?}``."""

    def __init__(self):
        self.tests: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
        entry["seconds"] = round(entry["seconds"] + report.duration, 3)
        if report.when == "call" or report.outcome != "passed":
            if report.outcome == "skipped":
                longrepr = report.longrepr
                reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                entry.update(outcome="skipped", reason=reason.removeprefix("Skipped: "))
            elif report.outcome == "failed":
                entry.update(outcome="failed" if report.when == "call" else f"error in {report.when}",
                             reason=str(report.longrepr).strip().splitlines()[-1][:500])
            elif entry["outcome"] == "passed":
                entry["outcome"] = "passed"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help=f"record (default {RECORD.relative_to(ROOT)})")
    args = parser.parse_args(argv)

    import pytest
    import torch

    if not torch.cuda.is_available() and args.out is None:
        print("gpu_tier: no CUDA device here: every test would skip; not overwriting "
              f"{RECORD.relative_to(ROOT)} (pass --out FILE for a dry run)", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    from neuro_llm.core.provenance import git_state
    git_state()   # the commit (and dirty flag) as the tier starts
    recorder = Recorder()
    start = time.time()
    status = int(pytest.main(["-m", "gpu", "-q", "-p", "no:cacheprovider", *extra], plugins=[recorder]))
    seconds = time.time() - start
    counts: dict[str, int] = {}
    for entry in recorder.tests.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    cuda = torch.cuda.is_available()
    from neuro_llm.core.provenance import write_result

    out = write_result(args.out or RECORD, {
        "pytest_exit_status": status, "seconds": round(seconds, 1), "counts": counts,
        "triton_interpret": os.environ.get("TRITON_INTERPRET"),
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "capability": list(torch.cuda.get_device_capability()) if cuda else None,
        "pytest_args": ["-m", "gpu", *extra], "tests": dict(sorted(recorder.tests.items()))},
        device="cuda" if cuda else "cpu")
    print(f"gpu_tier: {counts} in {seconds:.0f} s -> {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())

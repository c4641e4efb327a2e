"""What the benchmark scripts share: the device's name, the best of repeated timings, and results written as
JSON with its provenance (whole or not at all, :func:`neuro_llm.core.provenance.write_result`)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def device_name(device: str | torch.device) -> str:
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"


def stem(name: str, device: str, tiny: bool = False) -> str:
    """``<name>_<device type>[_tiny]``: the results file of one benchmark run."""
    return f"{name}_{torch.device(device).type}{'_tiny' if tiny else ''}"


def synchronizer(device: str | torch.device):
    """``torch.cuda.synchronize`` on CUDA, nothing elsewhere."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


def best_seconds(run, repeats: int, sync) -> float:
    """The fastest of ``repeats`` calls of ``run()``, each timed to ``sync()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def write_json(path: Path, result: dict, **provenance) -> Path:
    """``result`` with its ``provenance`` (commit, versions, device, ...; kwargs as
    :func:`neuro_llm.core.provenance.provenance`'s) as ``path``, whole or not at all."""
    from neuro_llm.core.provenance import write_result

    return write_result(path, result, **provenance)


def write_report(stem: str, result: dict, table: str, **provenance) -> Path:
    """``results/<stem>.json`` (with its provenance); prints the table (``docs/results.md`` renders it from the
    JSON with the script's ``markdown(result)``: no table is kept beside the JSON, where it could be edited)."""
    out = write_json(RESULTS / f"{stem}.json", result, **provenance)
    print(table)
    return out

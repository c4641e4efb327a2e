"""Where a result came from: commit, package versions, device, dtype, seed and command line.

Every JSON that a command or a benchmark writes goes through :func:`write_result`, which adds one
``provenance`` key (never renaming the result's own keys)::

    {"provenance": {"commit": "3f2a…", "dirty": false, "versions": {"torch": "2.13.0", ...},
                    "device": "CPU (2 cores)", "dtype": "float32", "seed": 0,
                    "command": "python benchmarks/golden.py", "created": "2025-…Z", "schema": 1}, ...}

``commit`` is ``None`` outside a git checkout (an installed wheel); ``dirty`` is true when tracked files
differ from that commit (untracked files do not count). Result files that are lists of rows merged over
many runs (``perplexity.json``, ``sdllm_curve.json``, ``zeroshot.json``) keep one ``provenance`` per row
(:func:`stamp` each new row): rows of one file may come from different commits.

This module imports nothing of neuro-llm at import time (the version is read from the installed
distribution; :func:`write_result` uses :mod:`neuro_llm.core.atomic`).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as _dist_version
from pathlib import Path

SCHEMA = 1
ROOT = Path(__file__).resolve().parents[2]   # the checkout (or site-packages, where git finds nothing)
PACKAGES = ("torch", "transformers", "triton", "snntorch", "neuro-llm")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def git_state() -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout this module lives in."""
    if os.environ.get("NEURO_LLM_COMMIT"):   # a copy run elsewhere (a GPU device): the commit it was copied from
        return {"commit": os.environ["NEURO_LLM_COMMIT"], "dirty": None, "given_by": "NEURO_LLM_COMMIT"}
    if not (ROOT / ".git").exists():
        return {"commit": None, "dirty": None}
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions() -> dict:
    """Installed versions of the packages that decide the numbers (``None``: not installed), and Python's."""
    out = {}
    for name in PACKAGES:
        try:
            out[name.replace("-", "_")] = _dist_version(name)
        except PackageNotFoundError:
            out[name.replace("-", "_")] = None
    out["python"] = platform.python_version()
    return out


def device_description(device=None) -> str:
    """``"NVIDIA H200"``-style for a CUDA device, ``"CPU (N cores)"`` otherwise (``device=None``: CPU)."""
    text = str(device) if device is not None else "cpu"
    if text.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(torch.device(text))
        except Exception:   # noqa: BLE001 - a description must never fail a run
            pass
        return text
    return f"CPU ({os.cpu_count()} cores)"


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed: ``python script.py args`` for a script, the console name for an entry point."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    head = Path(argv[0]).name
    if head.endswith(".py"):
        argv[0] = os.path.relpath(argv[0], ROOT) if os.path.isabs(argv[0]) else argv[0]
        argv = ["python", *argv]
    elif head == "-c" or head == "":
        argv = ["python", *argv]
    else:
        argv[0] = head
    return shlex.join(argv)


def provenance(*, device=None, dtype=None, seed=None, command: str | None = None, **extra) -> dict:
    """The ``provenance`` record of a result produced now, in this process."""
    dtype = None if dtype is None else str(dtype).removeprefix("torch.")
    record = {**git_state(), "versions": package_versions(), "device": device_description(device),
              "dtype": dtype, "seed": seed, "command": command if command is not None else command_line(),
              "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "schema": SCHEMA}
    record.update({k: v for k, v in extra.items() if v is not None})
    return record


def stamp(row: dict, **kwargs) -> dict:
    """``row`` with a fresh ``provenance`` key (kwargs go to :func:`provenance`): call it when the row is
    measured, not when an old row is merged again."""
    return {**row, "provenance": provenance(**kwargs)}


def write_result(path, data, **kwargs) -> Path:
    """Write a result as JSON, whole or not at all (temporary name, then rename); creates the folder.

    The one writer of every result file. A dict gets a fresh ``provenance`` key (kwargs ``device``,
    ``dtype``, ``seed``, ``command`` go to :func:`provenance`); a list of rows is written as it is, each
    row carrying the provenance :func:`stamp` gave it when it was measured (old rows keep theirs, or none)."""
    from neuro_llm.core.atomic import write_json_atomic

    path = Path(path)
    if str(path.parent) not in ("", "."):
        path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict) and kwargs.pop("keep_provenance", False) and "provenance" in data:
        return write_json_atomic(path, data)   # measured elsewhere (a device run), stamped where it was measured
    return write_json_atomic(path, stamp(data, **kwargs) if isinstance(data, dict) else list(data))


def of(data) -> dict | None:
    """The ``provenance`` record of a loaded result (or row), ``None`` if it has none."""
    return data.get("provenance") if isinstance(data, dict) else None

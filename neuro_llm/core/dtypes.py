"""The compute dtypes a model may run in, by the names the command line and saved models use."""
from __future__ import annotations

import torch

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` / ``"float16"`` / ``"float32"`` (or a ``torch.dtype``, or ``None``) → ``torch.dtype``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        if dtype is not None and dtype not in DTYPES.values():
            raise ValueError(f"dtype {dtype}: accepted {', '.join(DTYPES)}")
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: accepted {', '.join(DTYPES)}")
    return DTYPES[name]

"""Files written whole or not at all: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

RUN_STARTED = time.time()   # temporary files of ours older than this belong to runs that died


def remove_stale_temporaries(folder: str | os.PathLike, pattern: str) -> list[Path]:
    """Delete our own temporary files/folders matching ``pattern`` in ``folder`` that were last written
    before this process started (left by a run that was killed before it could clean up)."""
    removed = []
    for path in Path(folder or ".").glob(pattern):
        try:
            if path.stat().st_mtime >= RUN_STARTED:
                continue            # a live writer's (ours, or a concurrent run's)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before hours of work) when ``path``'s folder does not exist or cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    try:   # os.access says yes to root everywhere (/proc too): create and remove a file there instead
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as err:
        raise PermissionError(f"cannot write {path}: folder {folder} is not writable (creating a file there failed: {err.strerror or err}; "
                              "choose another folder)") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """``write(temporary name)`` beside ``path``, then rename it to ``path`` with the usual permissions (``0666``
    less the umask; ``mkstemp`` makes ``0600`` files): whole or not at all."""
    path = check_writable(path)
    remove_stale_temporaries(path.parent, f".{path.name}.*.tmp")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, data: dict) -> Path:
    def dump(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=str)
            f.write("\n")

    return write_atomic(path, dump)

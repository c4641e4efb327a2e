"""The first hour without papercuts: checks that run before long work, only the blocks a simulation
needs, stale temporaries of killed runs removed, a content-keyed model cache, precise messages."""
import importlib
import json
import os
import sys
import time

import h5py
import pytest
import torch

from checkpoints import make_checkpoint
from neuro_llm.cli import main as cli
from test_cli import one_line_error, run


@pytest.fixture(scope="module")
def tiny(smollm2, tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "model", smollm2[1], layers=3)


def test_seqlen_longer_than_the_text_fails_before_calibration(capsys, tiny, tmp_path, monkeypatch):
    data = tmp_path / "data" / "wikitext-2"
    data.mkdir(parents=True)
    (data / "test.txt").write_text("a short test text of a few words\n")
    (data / "valid.txt").write_text("valid text\n" * 50)
    monkeypatch.setattr(importlib.import_module("neuro_llm.convert"), "convert", lambda *a, **k: pytest.fail("calibrated first"))
    code, _, err = run(capsys, "eval", "--model", tiny, "--method", "spikellm", "--seqlen", "64",
                       "--data-dir", tmp_path / "data")
    one_line_error(code, err, "--seqlen 64 is longer than the wikitext2 test text")


def test_simulate_calibrates_only_the_blocks_it_simulates(capsys, tiny, tmp_path, monkeypatch):
    import neuro_llm.calibrate.loop as loop

    calibrated = []
    original = loop.calibrate_blocks

    def spy(model, *args, **kwargs):
        result = original(model, *args, **kwargs)
        calibrated.extend(result)
        return result

    monkeypatch.setattr(importlib.import_module("neuro_llm.convert"), "calibrate_blocks", spy)
    code, _, err = run(capsys, "simulate", "--model", tiny, "--method", "spikellm", "--layers", "0-1",
                       "--tokens", "16", "--calib-windows", "1", "--calib-seqlen", "32", "--record", tmp_path / "r.h5")
    assert code == 0, err
    assert calibrated == [0, 1]           # block 2 of 3 was not calibrated
    with h5py.File(tmp_path / "r.h5") as f:
        assert sorted(f["layers"]) == ["000", "001"]
    _run_schema_snippet(tmp_path / "r.h5", monkeypatch)


def _run_schema_snippet(recording, monkeypatch):
    """docs/hdf5_schema.md's "reading it without neuro-llm" snippet runs on a real recording."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "hdf5_schema.md").read_text()
    snippet = re.search(r"## Reading it without neuro-llm\s+```python\n(.*?)```", doc, re.S).group(1)
    monkeypatch.chdir(recording.parent)
    scope = {}
    exec(compile(snippet.replace('"r.h5"', repr(recording.name)), "hdf5_schema.md", "exec"), scope)
    assert 0 < scope["rate"] <= 1 and scope["raster"].ndim == 3


def test_stale_temporaries_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    from neuro_llm.io.atomic import RUN_STARTED, write_json_atomic

    stale = tmp_path / ".out.json.abc123.tmp"        # what write_json_atomic leaves when killed
    live = tmp_path / ".out.json.def456.tmp"
    other = tmp_path / ".other.json.abc.tmp"          # another target's: not ours to touch
    for path in (stale, live, other):
        path.write_text("{")
    os.utime(stale, (RUN_STARTED - 60, RUN_STARTED - 60))
    os.utime(other, (RUN_STARTED - 60, RUN_STARTED - 60))
    write_json_atomic(tmp_path / "out.json", {"a": 1})
    assert not stale.exists() and live.exists() and other.exists()
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": 1}


def test_stale_recording_temporaries_are_removed(tmp_path):
    from analysis.shape import ModelShape
    from analysis.store import RecordingWriter
    from neuro_llm.io.atomic import RUN_STARTED

    stale = tmp_path / "r.h5.tmp-0badf00d"
    stale.write_bytes(b"partial")
    os.utime(stale, (RUN_STARTED - 60, RUN_STARTED - 60))
    shape = ModelShape(8, 16, 2, 1, 4, 10, "gif", 4, ())
    with RecordingWriter(tmp_path / "r.h5", {}, shape):
        pass
    assert not stale.exists() and (tmp_path / "r.h5").is_file()


def test_the_model_cache_is_keyed_by_content_and_prunes_old_copies(tmp_path, monkeypatch):
    from neuro_llm.io import models

    monkeypatch.setenv("NEURO_LLM_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 100)
    key = models._gguf_cache_dir(gguf)
    os.utime(gguf, (time.time() + 1000, time.time() + 1000))   # a reinstall: new mtime, same content
    assert models._gguf_cache_dir(gguf) == key
    gguf.write_bytes(b"GGUF" + b"\1" * 100)                    # new content: a new key
    assert models._gguf_cache_dir(gguf) != key
    old = key
    old.mkdir(parents=True)
    new = models._gguf_cache_dir(gguf)
    new.mkdir()
    models._prune(new.parent, f"{new.name.rsplit('-', 1)[0]}-*", keep=new)
    assert not old.exists() and new.exists()


def test_truncated_recording_is_named_as_such(tmp_path):
    from analysis.store import read_recording

    with h5py.File(tmp_path / "full.h5", "w") as f:
        f["x"] = torch.arange(100000).numpy()
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated or damaged HDF5 file"):
        read_recording(tmp_path / "cut.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        read_recording(tmp_path / "text.h5")


def test_uncreatable_plot_folder_is_named_not_errno(capsys, tmp_path, monkeypatch):
    from analysis import plots

    blocker = tmp_path / "file"
    blocker.write_text("x")
    recording = type("R", (), {"layers": [object()], "path": "r.h5"})()
    with pytest.raises(ValueError, match=r"--out-dir .*file/figs: cannot create it .*choose a writable folder"):
        plots.plot_all(recording, blocker / "figs", hardware=None)


def test_out_of_memory_is_one_line_saying_what_would_work(capsys, tiny, monkeypatch):
    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.75 GiB")

    monkeypatch.setattr(importlib.import_module("neuro_llm.convert"), "convert", exhausted)
    code, _, err = run(capsys, "eval", "--model", tiny, "--method", "spikellm", "--seqlen", "32")
    one_line_error(code, err, "out of memory on cpu")
    assert "--dtype bfloat16" in err and "streams one block at a time" in err and code != 0

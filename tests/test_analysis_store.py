"""The HDF5 store: round trip, schema attributes, compression, atomic writes, refusal of foreign files."""
import dataclasses
import json
import os
import stat

import h5py
import numpy as np
import pytest

import neuro_llm
from analysis.ops import CATEGORIES
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import LayerShape, LinearShape, ModelShape
from analysis.store import SCHEMA, SCHEMA_VERSION, RecordingWriter, read_recording

SHAPE = ModelShape(hidden=4, intermediate=6, heads=2, kv_heads=1, head_dim=2, vocab=5, code_kind="gif",
                   weight_bits=4, layers=(LayerShape((LinearShape("self_attn.q_proj", 4, 4, False, True, 2, True),),
                                                     True),) * 2)
META = {"model": "tiny", "method": "spikellm", "config": {"wbits": 4, "abits": 4}, "command": "neuro-llm simulate"}


def site(name, seed):
    rng = np.random.default_rng(seed)
    return SiteRecord(
        name=name, kind="linear", code_kind="gif", per_step=15, rows=6, sops=int(rng.integers(1e6)),
        sops_payload=int(rng.integers(1e7)), channel_steps=np.array([1, 2, 1, 1]),
        channel_events=rng.integers(0, 6, 4), channel_payload=rng.integers(0, 90, 4),
        step_events=np.array([20, 3]), step_neuron_steps=np.array([24, 6]), level_values=np.arange(16),
        level_freq=rng.integers(0, 5, 16), count_values=np.arange(31), count_freq=rng.integers(0, 5, 31),
        raster=rng.integers(0, 16, (3, 2, 4)).astype(np.int8), raster_rows=np.array([0, 2, 5]),
        raster_channels=np.arange(4))


def layer(index):
    ops = dict(zip(CATEGORIES, range(1, len(CATEGORIES) + 1)))
    return LayerRecord(layer=index, batch=2, q_len=3, kv_len=3,
                       sites={"self_attn.q_proj": site("self_attn.q_proj", index),
                              "mlp.up_proj": site("mlp.up_proj", 9)},
                       spiking_ops=ops, dense_ops={k: 10 * v for k, v in ops.items()})


def write(path, layers=(0, 1), head=True):
    with RecordingWriter(path, META, SHAPE, np.arange(6).reshape(2, 3)) as writer:
        for i in layers:
            writer.write_layer(layer(i))
        if head:
            writer.write_head(dict.fromkeys(CATEGORIES, 7))


def test_round_trip(tmp_path):
    path = tmp_path / "r.h5"
    write(path)
    got = read_recording(path)
    assert got.shape == SHAPE
    assert got.head_ops == dict.fromkeys(CATEGORIES, 7)
    assert np.array_equal(got.input_ids, np.arange(6).reshape(2, 3))
    assert {k: got.metadata[k] for k in META} == META
    assert got.metadata["schema_version"] == SCHEMA_VERSION
    assert got.metadata["neuro_llm_version"] == neuro_llm.__version__
    for i, stored in enumerate(got.layers):
        want = layer(i)
        assert (stored.layer, stored.batch, stored.q_len, stored.kv_len) == (want.layer, 2, 3, 3)
        assert stored.spiking_ops == want.spiking_ops and stored.dense_ops == want.dense_ops
        assert list(stored.sites) == ["self_attn.q_proj", "mlp.up_proj"]  # insertion order kept
        for name, s in stored.sites.items():
            for f in dataclasses.fields(s):
                assert np.array_equal(getattr(s, f.name), getattr(want.sites[name], f.name)), f.name
    assert read_recording(path, rasters=False).layers[0].sites["mlp.up_proj"].raster.size == 0


def test_file_layout_attributes_and_compression(tmp_path):
    path = tmp_path / "r.h5"
    write(path)
    with h5py.File(path) as f:
        assert f.attrs["schema"] == SCHEMA and f.attrs["schema_version"] == SCHEMA_VERSION
        assert json.loads(f.attrs["config"]) == META["config"]
        assert f.attrs["command"] == META["command"] and f.attrs["model"] == "tiny"
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert datasets and all(d.chunks is not None and d.compression == "gzip" for d in datasets)
        raster = f["layers/001/sites/self_attn.q_proj/raster"]
        assert raster.shape == (3, 2, 4) and raster.dtype == np.int8  # tokens × steps × neurons


def test_the_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write(tmp_path / "r.h5")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "r.h5").stat().st_mode) == 0o644


def test_a_crash_leaves_no_file(tmp_path):
    path = tmp_path / "r.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with RecordingWriter(path, META, SHAPE) as writer:
            writer.write_layer(layer(0))
            assert list(tmp_path.iterdir()) == [tmp_path / writer.tmp.split("/")[-1]]
            assert ".tmp-" in writer.tmp and not path.exists()
            raise RuntimeError("boom")
    assert not list(tmp_path.iterdir())


def test_an_existing_file_is_replaced_only_when_complete(tmp_path):
    path = tmp_path / "r.h5"
    write(path, layers=(0,))
    with pytest.raises(RuntimeError):
        with RecordingWriter(path, META, SHAPE) as writer:
            writer.write_layer(layer(0))
            writer.write_layer(layer(1))
            raise RuntimeError
    assert len(read_recording(path).layers) == 1  # the old recording is untouched
    write(path)
    assert len(read_recording(path).layers) == 2


def test_refuses_other_versions_and_foreign_files(tmp_path):
    path = tmp_path / "r.h5"
    write(path)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match=f"r.h5 has recording schema version {SCHEMA_VERSION + 1}.*reads version "
                                         f"{SCHEMA_VERSION}"):
        read_recording(path)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match=f"foreign.h5 is not a neuro-llm recording.*version {SCHEMA_VERSION}"):
        read_recording(foreign)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.h5 is not an HDF5 file"):
        read_recording(text)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        read_recording(tmp_path / "missing.h5")


def test_writer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with RecordingWriter(tmp_path / "no" / "r.h5", META, SHAPE):
            pass
    with pytest.raises(ValueError, match="reserved"):
        RecordingWriter(tmp_path / "r.h5", {"schema": "mine"}, SHAPE)


def test_in_memory_recording_is_a_sink():
    recording = Recording({}, SHAPE)
    recording.write_layer(layer(0))
    recording.write_head(dict.fromkeys(CATEGORIES, 1))
    assert recording.ops("dense")["linear"] == 10 + 1
    assert recording.total("sops") == sum(s.sops for s in layer(0).sites.values())


def test_a_failing_header_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):
        with RecordingWriter(tmp_path / "r.h5", {"model": "tiny"}, SHAPE, input_ids=[object()]):
            pass
    assert not list(tmp_path.iterdir())

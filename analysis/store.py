"""The HDF5 store of recordings: the only module that touches h5py. Schema: docs/hdf5_schema.md.

:class:`RecordingWriter` streams: each block is written as it arrives, into ``path + ".tmp-XXXX"``,
renamed to ``path`` (``os.replace``) only when the run ends without an exception; on an exception the
temporary file is removed, so a file at ``path`` is always whole. :func:`read_recording` refuses files of
another schema or version with a ``ValueError`` naming the file.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
from importlib.metadata import PackageNotFoundError, version as _dist_version
from pathlib import Path

import h5py
import numpy as np

from analysis.ops import CATEGORIES
from analysis.records import LayerRecord, Recording, SiteRecord
from analysis.shape import ModelShape
from neuro_llm.io.atomic import check_writable, remove_stale_temporaries

SCHEMA = "neuro-llm-recording"
SCHEMA_VERSION = 1
SITE_ARRAYS = ("channel_steps", "channel_events", "channel_payload", "step_events", "step_neuron_steps",
               "level_values", "level_freq", "count_values", "count_freq", "raster", "raster_rows",
               "raster_channels")
SITE_ATTRS = ("kind", "code_kind", "per_step", "rows", "sops", "sops_payload", "bitwise", "token_neuron_steps")
OPTIONAL_ATTRS = {"bitwise": False, "token_neuron_steps": -1}   # attributes files written before they existed lack (read as the default)


def _package_version() -> str:
    """neuro-llm's version, read from the installed metadata (analysis does not import neuro_llm for it)."""
    try:
        return _dist_version("neuro-llm")
    except PackageNotFoundError:
        return "0+unknown"


RESERVED = ("schema", "schema_version", "neuro_llm_version", "created", "model_shape", "op_categories",
            "json_attrs")


def _dataset(group: h5py.Group, name: str, data) -> None:
    """Every dataset is chunked and gzip-compressed (with byte shuffling)."""
    group.create_dataset(name, data=np.asarray(data), chunks=True, compression="gzip", shuffle=True)


def _ops_array(ops: dict[str, int]) -> np.ndarray:
    return np.array([ops[key] for key in CATEGORIES], np.int64)


class RecordingWriter:
    """``with RecordingWriter(path, metadata, shape, input_ids) as w: w.write_layer(record) ...``

    ``metadata`` values are stored as root attributes: numbers and strings as they are, dicts and lists as
    JSON (``config``, ...)."""

    def __init__(self, path: str | os.PathLike, metadata: dict, shape: ModelShape, input_ids=None):
        self.path = Path(path)
        bad = sorted(set(metadata) & set(RESERVED))
        if bad:
            raise ValueError(f"metadata keys {bad} are reserved by the recording schema")
        self.metadata, self.shape, self.input_ids = metadata, shape, input_ids
        self.tmp: str | None = None
        self.file: h5py.File | None = None

    def __enter__(self) -> "RecordingWriter":
        check_writable(self.path)
        remove_stale_temporaries(self.path.parent, f"{self.path.name}.tmp-*")   # left by killed runs
        # not mkstemp: its 0600 mode would survive the rename; "x" refuses an existing name instead
        self.tmp = str(self.path.with_name(f"{self.path.name}.tmp-{secrets.token_hex(4)}"))
        try:
            self.file = h5py.File(self.tmp, "x", libver=("v110", "latest"))
            self._write_header()
        except BaseException:
            self._close(commit=False)
            raise
        return self

    def _write_header(self) -> None:
        attrs = self.file.attrs
        attrs["schema"] = SCHEMA
        attrs["schema_version"] = SCHEMA_VERSION
        attrs["neuro_llm_version"] = _package_version()
        attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        attrs["model_shape"] = json.dumps(self.shape.to_dict())
        attrs["op_categories"] = list(CATEGORIES)
        encoded = [key for key, value in self.metadata.items() if not isinstance(value, (str, int, float))]
        for key, value in self.metadata.items():
            attrs[key] = json.dumps(value) if key in encoded else value
        attrs["json_attrs"] = encoded
        if self.input_ids is not None:
            _dataset(self.file, "input_ids", np.asarray(self.input_ids, dtype=np.int64))
        self.file.create_group("layers")

    def write_layer(self, record: LayerRecord) -> None:
        group = self.file["layers"].create_group(f"{record.layer:03d}", track_order=True)
        for key in ("layer", "batch", "q_len", "kv_len"):
            group.attrs[key] = getattr(record, key)
        _dataset(group, "spiking_ops", _ops_array(record.spiking_ops))
        _dataset(group, "dense_ops", _ops_array(record.dense_ops))
        sites = group.create_group("sites", track_order=True)
        for name, site in record.sites.items():
            sg = sites.create_group(name)
            for key in SITE_ATTRS:
                sg.attrs[key] = getattr(site, key)
            for key in SITE_ARRAYS:
                _dataset(sg, key, getattr(site, key))
        self.file.flush()

    def write_head(self, ops: dict[str, int]) -> None:
        _dataset(self.file.create_group("head"), "ops", _ops_array(ops))

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._close(commit=exc_type is None)
        return False

    def _close(self, commit: bool) -> None:
        """Close; rename the temporary file to ``path`` if ``commit``, else (or if that fails) delete it."""
        if self.file is None:  # the temporary file was never created (or is not ours)
            return
        try:
            self.file.close()
            if commit:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _check(path: Path, file: h5py.File) -> None:
    expected = f"expected a neuro-llm recording (schema {SCHEMA!r}, version {SCHEMA_VERSION})"
    schema = file.attrs.get("schema")
    if schema != SCHEMA:
        raise ValueError(f"{path} is not a neuro-llm recording (schema attribute {schema!r}); {expected}")
    version = int(file.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path} has recording schema version {version}; this neuro-llm "
                         f"{_package_version()} reads version {SCHEMA_VERSION} only")


def _ops(dataset: h5py.Dataset, categories: list[str]) -> dict[str, int]:
    return {key: int(value) for key, value in zip(categories, dataset[()])}


def _site(name: str, group: h5py.Group, rasters: bool) -> SiteRecord:
    fields = {key: _scalar(group.attrs[key]) for key in SITE_ATTRS if key in group.attrs or key not in OPTIONAL_ATTRS}
    for key in SITE_ARRAYS:
        if key == "raster" and not rasters:
            fields[key] = np.zeros((0, 0, 0), group[key].dtype)
        else:
            fields[key] = group[key][()]
    return SiteRecord(name=name, **fields)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _unreadable(path: Path) -> str:
    """Why h5py could not open ``path``: not HDF5 at all, or an HDF5 file cut short."""
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head == HDF5_SIGNATURE:
        return (f"{path} is a truncated or damaged HDF5 file ({path.stat().st_size} bytes; a copy cut short?): "
                "record it again with `neuro-llm simulate --record`")
    if not head:
        return f"{path} is empty: record it again with `neuro-llm simulate --record`"
    return f"{path} is not an HDF5 file; expected a neuro-llm recording (schema {SCHEMA!r}, version {SCHEMA_VERSION})"


def read_recording(path: str | os.PathLike, rasters: bool = True) -> Recording:
    """Load a recording (``rasters=False`` skips the raster arrays)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recording file")
    try:
        file = h5py.File(path, "r")
    except OSError:
        raise ValueError(_unreadable(path)) from None
    with file:
        _check(path, file)
        attrs = dict(file.attrs)
        categories = [str(c) for c in attrs["op_categories"]]
        if categories != list(CATEGORIES):
            raise ValueError(f"{path}: operation categories {categories} differ from this version's {list(CATEGORIES)}")
        json_attrs = {str(k) for k in attrs["json_attrs"]}
        metadata = {key: json.loads(value) if key in json_attrs else _scalar(value)
                    for key, value in attrs.items() if key not in RESERVED}
        for key in ("schema_version", "neuro_llm_version", "created"):
            metadata[key] = _scalar(attrs[key])
        shape = ModelShape.from_dict(json.loads(attrs["model_shape"]))
        layers = []
        for key in sorted(file["layers"]):
            group = file["layers"][key]
            sites = {name: _site(name, group["sites"][name], rasters) for name in group["sites"]}
            layers.append(LayerRecord(**{k: int(group.attrs[k]) for k in ("layer", "batch", "q_len", "kv_len")},
                                      sites=sites, spiking_ops=_ops(group["spiking_ops"], categories),
                                      dense_ops=_ops(group["dense_ops"], categories)))
        head = _ops(file["head"]["ops"], categories) if "head" in file else None
        input_ids = file["input_ids"][()] if "input_ids" in file else None
    return Recording(metadata=metadata, shape=shape, layers=layers, head_ops=head, input_ids=input_ids,
                     path=str(path))

"""``simulate_to_hdf5``: run a converted model block by block with a recorder streaming into HDF5."""
from __future__ import annotations

import os
import shlex
import sys
import time

import torch
from torch import nn

from analysis.recorder import Recorder
from analysis.shape import ModelShape
from analysis.store import RecordingWriter, read_recording
from neuro_llm.convert import is_spiking
from neuro_llm.simulator import LayerByLayerSimulator, parse_layers


def default_metadata(model: nn.Module) -> dict:
    """``model``, ``method`` and ``config`` from the converted model, ``command`` from ``sys.argv``."""
    config = getattr(model, "neuro_llm_config", None)
    name = getattr(model, "neuro_llm_source", None) or getattr(model.config, "_name_or_path", "")
    return {"model": str(name or type(model).__name__),
            "method": config.method if config is not None else "unknown",
            "config": config.to_dict() if config is not None else {},
            "command": shlex.join(sys.argv)}


def simulate_to_hdf5(model: nn.Module, input_ids: torch.Tensor, path: str | os.PathLike,
                     layers: str | list[int] | None = None, device: str | torch.device = "cpu",
                     metadata: dict | None = None, max_neurons: int = 128, max_tokens: int = 64,
                     progress: bool = True) -> dict:
    """Simulate ``layers`` (``"0-3"``, ``[0, 1]``, None = all) of the spiking ``model`` on ``input_ids``
    (``[n]`` or ``[B, n]``), recording into ``path``. Returns a summary: path, bytes, seconds, tokens,
    layers, firing rate, spike events, neuron-steps, SOPs (both counts) and MACs (spiking and dense)."""
    if not is_spiking(model):
        raise ValueError("the model does not spike: convert it with a spiking method (spikellm, sdllm) first")
    if input_ids.dim() not in (1, 2) or input_ids.is_floating_point() or input_ids.numel() == 0:
        raise ValueError(f"input_ids must be token ids of shape [n] or [B, n], got a {input_ids.dtype} "
                         f"tensor of shape {tuple(input_ids.shape)}")
    shape = ModelShape.from_model(model)
    if not isinstance(layers, (str, type(None))):
        layers = ",".join(str(int(i)) for i in layers)
    chosen = parse_layers(layers, shape.num_layers)
    input_ids = input_ids.view(1, -1) if input_ids.dim() == 1 else input_ids
    meta = {**default_metadata(model), **(metadata or {}),
            "layers": chosen, "max_neurons": max_neurons, "max_tokens": max_tokens}
    start = time.perf_counter()
    with RecordingWriter(path, meta, shape, input_ids.cpu().numpy()) as writer:
        recorder = Recorder(shape, writer, max_neurons=max_neurons, max_tokens=max_tokens)
        LayerByLayerSimulator(model, device, chosen, observers=[recorder], progress=progress).run(input_ids)
        recorder.finish(head=max(chosen) == shape.num_layers - 1)
    seconds = time.perf_counter() - start
    recording = read_recording(path, rasters=False)
    return {"path": str(path), "bytes": os.path.getsize(path), "seconds": seconds,
            "tokens": int(input_ids.numel()), "layers": chosen, "firing_rate": recording.firing_rate,
            "spike_events": recording.total("events"), "neuron_steps": recording.total("neuron_steps"),
            "sops": recording.total("sops"), "sops_payload": recording.total("sops_payload"),
            "macs": sum(recording.ops("spiking").values()), "ann_macs": sum(recording.ops("dense").values())}

"""``simulate_to_hdf5``: run a converted model block by block with a recorder streaming into HDF5."""
from __future__ import annotations

import os
import shlex
import sys
import time

import numpy as np
import torch
from torch import nn

from analysis.recorder import Recorder
from analysis.records import Recording
from analysis.shape import ModelShape
from analysis.store import RecordingWriter, read_recording
from neuro_llm import distributed
from neuro_llm.arch import adapter_for
from neuro_llm.spiking.mode import is_spiking, set_mode
from neuro_llm.simulator import LayerByLayerSimulator, parse_layers
from neuro_llm.spiking_model import SpikingModel, hf_model_of, spec_of


def default_metadata(model: SpikingModel | nn.Module) -> dict:
    """``model``, ``method`` and ``config`` from the converted model, ``command`` from ``sys.argv``."""
    config = spec_of(model)
    hf = hf_model_of(model)
    name = (model.source if isinstance(model, SpikingModel) else None) or getattr(hf.config, "_name_or_path", "")
    return {"model": str(name or type(hf).__name__),
            "method": config.method if config is not None else "unknown",
            "config": config.to_dict() if config is not None else {},
            "command": shlex.join(sys.argv)}


def simulate_to_hdf5(model: SpikingModel | nn.Module, input_ids: torch.Tensor, path: str | os.PathLike,
                     layers: str | list[int] | None = None, device: str | torch.device = "cpu",
                     metadata: dict | None = None, max_neurons: int = 128, max_tokens: int = 64,
                     progress: bool = True) -> dict:
    """Simulate ``layers`` (``"0-3"``, ``[0, 1]``, None = all) of the spiking ``model`` on ``input_ids``
    (``[n]`` or ``[B, n]``), recording into ``path``. Returns a summary: path, bytes, seconds, tokens,
    layers, firing rate, spike events, neuron-steps, SOPs (both counts) and MACs (spiking and dense).

    Under torchrun the chosen blocks are split over the ranks and rank 0 writes the one file
    (docs/hdf5_schema.md, "Data-parallel runs")."""
    if not is_spiking(hf_model_of(model)):
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
    if distributed.active():
        return _simulate_parallel(model, input_ids, path, chosen, device, meta, shape, max_neurons, max_tokens,
                                  progress, start)
    with RecordingWriter(path, meta, shape, input_ids.cpu().numpy()) as writer:
        recorder = Recorder(shape, writer, max_neurons=max_neurons, max_tokens=max_tokens)
        LayerByLayerSimulator(model, device, chosen, observers=[recorder], progress=progress).run(input_ids)
        recorder.finish(head=max(chosen) == shape.num_layers - 1)
    return _summary(path, input_ids, chosen, start)


def _summary(path, input_ids: torch.Tensor, chosen: list[int], start: float) -> dict:
    seconds = time.perf_counter() - start
    recording = read_recording(path, rasters=False)
    return {"path": str(path), "bytes": os.path.getsize(path), "seconds": seconds,
            "tokens": int(input_ids.numel()), "layers": chosen, "firing_rate": recording.firing_rate,
            "spike_events": recording.total("events"), "neuron_steps": recording.total("neuron_steps"),
            "sops": recording.total("sops"), "sops_payload": recording.total("sops_payload"),
            "macs": sum(recording.ops("spiking").values()), "ann_macs": sum(recording.ops("dense").values())}


def _simulate_parallel(model, input_ids, path, chosen, device, meta, shape, max_neurons, max_tokens, progress,
                       start) -> dict:
    """Under torchrun: rank ``r`` records the ``r``-th contiguous run of the chosen blocks, running the blocks
    before it collapsed (bit-identical to explicit) and unobserved; rank 0 writes every rank's blocks into
    the one file (atomically, after all ranks delivered theirs). Returns rank 0's summary on every rank."""
    runs = [list(part) for part in np.array_split(np.array(chosen), distributed.world_size())]
    mine = [int(i) for i in runs[distributed.rank()]]
    hf = hf_model_of(model)
    blocks = adapter_for(hf).decoder_layers(hf)

    def simulate(sink) -> None:
        if not mine:
            return
        for i in range(mine[0]):   # blocks before this rank's own: collapsed (bit-identical), for speed
            set_mode(blocks[i], "collapsed")
        try:
            recorder = Recorder(shape, sink, max_neurons=max_neurons, max_tokens=max_tokens)
            LayerByLayerSimulator(model, device, mine, observers=[recorder],
                                  progress=progress and distributed.is_main()).run(input_ids)
            recorder.finish(head=mine[-1] == shape.num_layers - 1)
        finally:
            for i in range(mine[0]):
                set_mode(blocks[i], "explicit")

    if distributed.is_main():
        with RecordingWriter(path, meta, shape, input_ids.cpu().numpy()) as writer:
            simulate(writer)
            for part in distributed.gather(None)[1:]:
                for layer in part.layers:
                    writer.write_layer(layer)
                if part.head_ops is not None:
                    writer.write_head(part.head_ops)
        summary = _summary(path, input_ids, chosen, start)
    else:
        own = Recording(metadata={}, shape=shape)
        simulate(own)
        distributed.gather(own)
        summary = None
    return distributed.gather(summary)[0]

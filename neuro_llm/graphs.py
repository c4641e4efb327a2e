"""Replay a model's forward for one input shape as a CUDA graph.

A spiking layer launches more, smaller kernels than a dense one (encoders, per-group GEMMs, epilogues);
at a few thousand tokens the host's Python and launch overhead, not the GPU, can set the pace. The
spiking forward has no host synchronisation and no host-made device tensors, so it can be captured once
per input shape and replayed: the same kernels on the same inputs, so the same bits (the benchmark in
``benchmarks/gpu_layer.py`` asserts it on the device).

Observers active when the graph is built are captured with it if they can be (``SpikeStats``: its
per-encoder tallies are device work, recorded once and credited after every replay, see
:meth:`SpikeStats.recording`); an observer that needs Python per call (recorders of spike trains) cannot be,
and is refused in one line.
"""
from __future__ import annotations

import contextlib

import torch

from neuro_llm.spiking import observe
from neuro_llm.spiking_model import hf_model_of

Tensor = torch.Tensor


class GraphedForward:
    """``graphed = GraphedForward(model, input_ids)``; ``graphed(ids)`` → logits for any ``ids`` of that shape.

    The returned logits live in the graph's static output buffer: the next call overwrites them (clone to keep).
    The observers active at construction (``SpikeStats`` only) are credited with every call."""

    def __init__(self, model, example_ids: Tensor, warmup: int = 2):
        if not example_ids.is_cuda:
            raise ValueError("GraphedForward needs the input on a CUDA device (CUDA graphs); run the model eagerly "
                             "on other devices")
        self.observers = observe.current()
        refused = unreplayable(self.observers)
        if refused:
            raise ValueError(f"observer {', '.join(refused)} runs Python on every encoder call, which a CUDA graph "
                             "cannot replay: run the model eagerly while it observes (only SpikeStats replays)")
        self.model = model = hf_model_of(model)   # a SpikingModel or a Hugging Face model
        self.static_ids = example_ids.clone()
        side = torch.cuda.Stream(example_ids.device)
        side.wait_stream(torch.cuda.current_stream(example_ids.device))
        scratch = [type(o)() for o in self.observers]   # the warm-up runs the observers' code, counted nowhere
        with torch.cuda.stream(side), torch.no_grad(), observe.replaced(*scratch):
            for _ in range(warmup):   # Triton compiles, cuBLAS picks, caches fill
                model(input_ids=self.static_ids, use_cache=False)
        torch.cuda.current_stream(example_ids.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(self.graph), contextlib.ExitStack() as stack:
            self.recordings = [stack.enter_context(o.recording()) for o in self.observers]
            self.logits = model(input_ids=self.static_ids, use_cache=False).logits

    def __call__(self, input_ids: Tensor) -> Tensor:
        if input_ids.shape != self.static_ids.shape:
            raise ValueError(f"this graph was captured for input shape {tuple(self.static_ids.shape)}, got "
                             f"{tuple(input_ids.shape)}: capture another GraphedForward for that shape")
        self.static_ids.copy_(input_ids)
        self.graph.replay()
        for observer, recording in zip(self.observers, self.recordings):
            observer.credit(recording)
        return self.logits


def replayable(observer) -> bool:
    """Whether ``observer`` can be captured into a CUDA graph (it records device tallies and is credited per
    replay: ``recording()`` and ``credit()``)."""
    return hasattr(observer, "recording") and hasattr(observer, "credit")


def unreplayable(observers) -> list[str]:
    """The class names of those ``observers`` that cannot be captured into a CUDA graph (sorted, once each)."""
    return sorted({type(o).__name__ for o in observers if not replayable(o)})

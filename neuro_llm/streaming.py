"""Streaming decoder blocks through one accelerator: at most two blocks' weights on the device.

The host keeps every block (pinned when the device is CUDA, so copies are asynchronous). Block ``i + 1``
is copied to the device on a side stream while block ``i`` computes; after use, a block's parameters and
buffers are pointed back at their host tensors — the device copy is dropped, nothing is copied back
(the weights did not change). On the CPU the same bookkeeping runs with plain copies, so the mechanism is
tested without a GPU.
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor


def _tensors(block: nn.Module):
    """``(module, "_parameters" | "_buffers", name, tensor)`` for every tensor the block owns."""
    for module in block.modules():
        for kind in ("_parameters", "_buffers"):
            for name, tensor in getattr(module, kind).items():
                if tensor is not None:
                    yield module, kind, name, tensor


def _device_form(module: nn.Module, kind: str, name: str, copy: Tensor) -> Tensor:
    """What the block computes with on the device: packed weight codes unpacked (see ``SpikingLinear``)."""
    unpack = getattr(module, "unpack_transfer", None)
    return copy if unpack is None or kind != "_buffers" else unpack(name, copy)


class BlockStreamer:
    """``with streamer.on_device(i): block_i(...)`` runs block ``i`` on ``device`` and prefetches ``i + 1``."""

    def __init__(self, blocks, device: torch.device | str, prefetch: bool = True, pack: bool = False):
        self.blocks, self.device, self.prefetch = blocks, torch.device(device), prefetch
        # opt-in: 4-bit weight codes on the host (half the bytes over PCIe), unpacked on the device as they arrive
        self.pack = pack
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._pending: dict[int, tuple[list, object]] = {}
        self._pinned: set[int] = set()
        self.copy_resident = False   # tests: stream even blocks already on the device (exercises the CPU path)

    def _is_resident(self, i: int) -> bool:
        if self.copy_resident:
            return False
        return all(t.device == self.device for *_, t in _tensors(self.blocks[i]))

    def _pin(self, i: int) -> None:
        """Once per block: lay its host tensors out for the device (float8 weight codes where it runs exact
        float8 GEMMs), pack 4-bit codes two to a byte (``pack``), and pin them on CUDA (replacing them, so host
        memory is not doubled)."""
        if i in self._pinned:
            return
        for module in self.blocks[i].modules():
            if hasattr(module, "prepare_for"):
                module.prepare_for(self.device)
            if self.pack and hasattr(module, "pack_codes"):
                module.pack_codes()
        if not self.cuda:
            self._pinned.add(i)
            return
        for module, kind, name, tensor in _tensors(self.blocks[i]):
            if tensor.device.type == "cpu" and not tensor.is_pinned():
                pinned = tensor.pin_memory()
                if kind == "_parameters":
                    tensor.data = pinned
                else:
                    module._buffers[name] = pinned
        self._pinned.add(i)

    def fetch(self, i: int) -> None:
        """Start copying block ``i`` to the device (asynchronous on CUDA)."""
        if i in self._pending or i >= len(self.blocks) or self._is_resident(i):
            return
        self._pin(i)
        entries = list(_tensors(self.blocks[i]))
        if self.cuda:
            with torch.cuda.stream(self.stream):
                copies = [_device_form(module, kind, name, t.to(self.device, non_blocking=True))
                          for module, kind, name, t in entries]
            event = torch.cuda.Event()
            event.record(self.stream)
        else:
            copies = [_device_form(module, kind, name, t.to(self.device, copy=True)) for module, kind, name, t in entries]
            event = None
        self._pending[i] = (entries, copies, event)

    class _OnDevice:
        def __init__(self, streamer: "BlockStreamer", i: int):
            self.streamer, self.i, self.entries = streamer, i, None

        def __enter__(self):
            s, i = self.streamer, self.i
            if s._is_resident(i):
                return s.blocks[i]
            s.fetch(i)
            entries, copies, event = s._pending.pop(i)
            if event is not None:
                torch.cuda.current_stream(s.device).wait_event(event)
            self.entries = []
            for (module, kind, name, tensor), device_copy in zip(entries, copies):
                if kind == "_parameters":
                    host, tensor.data = tensor.data, device_copy
                else:
                    host, module._buffers[name] = module._buffers[name], device_copy
                self.entries.append((module, kind, name, host, device_copy))
            if s.prefetch:
                s.fetch(i + 1)
            return s.blocks[i]

        def __exit__(self, *exc):
            if self.entries is None:
                return False
            s = self.streamer
            for module, kind, name, host, device_copy in self.entries:   # point back at the host tensors
                if kind == "_parameters":
                    module._parameters[name].data = host
                else:
                    module._buffers[name] = host
                if s.cuda:   # the copy may still be read by queued kernels: free it after them
                    device_copy.record_stream(torch.cuda.current_stream(s.device))
            self.entries = None
            return False

    def on_device(self, i: int) -> "_OnDevice":
        return self._OnDevice(self, i)

"""Layer-by-layer simulation: run a (spiking) model one decoder block at a time.

Only the block being simulated (and the next one, prefetched) sits on ``device``; the rest stays where it
is, normally the host (:mod:`neuro_llm.streaming`: pinned host memory, a side-stream prefetch, nothing
copied back), so a model larger than the accelerator still simulates. Observers see every encoder (``on_encode``, through
:mod:`neuro_llm.spiking.observe`), every time step (``on_step(layer, site, t, spikes_t)``) and every block output
(``on_layer(layer, hidden)``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from neuro_llm.spiking import observe
from neuro_llm.arch import adapter_for
from neuro_llm.spiking_model import hf_model_of
from neuro_llm.streaming import BlockStreamer

Tensor = torch.Tensor


@dataclass
class _StepRelay:
    """Turns encoder events into per-step ``on_step`` calls (explicit mode only: collapsed has no steps)."""
    on_step: object

    def on_encode(self, event: observe.Encoded) -> None:
        if event.spikes is not None:
            for t in range(event.spikes.shape[0]):
                self.on_step(event.layer, event.site, t, event.spikes[t])


def parse_layers(spec: str | None, num_layers: int) -> list[int]:
    """``"0-3"``, ``"5"``, ``"0,2,4-6"`` or ``None`` (all) → sorted layer indices, checked against the model."""
    if spec is None or spec == "all":
        return list(range(num_layers))
    chosen = set()
    try:
        for part in str(spec).split(","):
            lo, _, hi = part.strip().partition("-")
            lo, hi = int(lo), int(hi or lo)
            if lo > hi:
                raise ValueError
            chosen.update(range(lo, hi + 1))
    except ValueError:
        raise ValueError(f"--layers {spec!r}: expected ranges like 0-3 or 0,2,5-7") from None
    bad = [i for i in chosen if not 0 <= i < num_layers]
    if bad:
        raise ValueError(f"--layers {spec!r}: the model has layers 0-{num_layers - 1}, not {sorted(bad)}")
    return sorted(chosen)


def place_outside_blocks(model: nn.Module, device: str | torch.device) -> nn.Module:
    """Move every parameter and buffer of ``model`` that no decoder block owns (embeddings, final norm,
    ``lm_head``, rotary tables) to ``device``, in place; the blocks stay where they are (to be streamed)."""
    device = torch.device(device)
    model = hf_model_of(model)
    blocks = adapter_for(model).decoder_layers(model)
    inside = {id(t) for block in blocks for t in [*block.parameters(), *block.buffers()]}
    moved: dict[int, Tensor] = {}   # one copy per tensor: ties (embeddings = lm_head) stay ties
    for module in model.modules():
        for kind in ("_parameters", "_buffers"):
            table = getattr(module, kind)
            for name, tensor in list(table.items()):
                if tensor is None or id(tensor) in inside or tensor.device == device:
                    continue
                if id(tensor) not in moved:
                    copy = tensor.detach().to(device)
                    moved[id(tensor)] = nn.Parameter(copy, tensor.requires_grad) if kind == "_parameters" else copy
                table[name] = moved[id(tensor)]
    return model


class LayerByLayerSimulator:
    """``run(input_ids)`` → logits (or the last simulated block's hidden state) of ``model`` (a ``SpikingModel``
    or a Hugging Face model), in its execution mode."""

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu", layers: list[int] | None = None,
                 on_step=None, on_layer=None, observers=(), offload: bool = True, progress: bool = True,
                 prefetch: bool = True, pack_codes: bool = False):
        self.model, self.device, self.offload, self.progress = model, torch.device(device), offload, progress
        self.prefetch, self.pack_codes = prefetch, pack_codes
        self.model = model = hf_model_of(model)
        self.arch = adapter_for(model)
        self.blocks = self.arch.decoder_layers(model)
        self.layers = list(range(len(self.blocks))) if layers is None else list(layers)
        self.on_layer = on_layer
        self.observers = tuple(observers) + ((_StepRelay(on_step),) if on_step else ())

    @torch.no_grad()
    def run(self, input_ids: Tensor) -> Tensor:
        if input_ids.dim() == 1:
            input_ids = input_ids.view(1, -1)
        embed = self.arch.embeddings(self.model)
        hidden = embed(input_ids.to(embed.weight.device)).to(self.device)
        inputs = self.arch.block_inputs(self.model, hidden)   # per-layer masks (sliding windows) and RoPE
        last = max(self.layers)
        streamer = BlockStreamer(self.blocks, self.device, prefetch=self.prefetch, pack=self.pack_codes)
        if not self.offload:   # blocks stay on the device once there
            for block in self.blocks[: last + 1]:
                block.to(self.device)
        with observe.observing(*self.observers):
            for i in tqdm(range(last + 1), desc="simulating blocks", disable=not self.progress):
                # blocks before the first simulated one run unobserved
                with streamer.on_device(i) as block, \
                        contextlib.nullcontext() if i in self.layers else observe.silenced():
                    hidden = block(hidden, **inputs.kwargs(i))
                if self.on_layer is not None and i in self.layers:
                    self.on_layer(i, hidden)
        if last < len(self.blocks) - 1:
            return hidden
        return self.arch.logits(self.model, hidden)

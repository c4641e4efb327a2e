"""Perplexity over non-overlapping windows: ``exp(Σ NLL / Σ predicted tokens)``."""
from __future__ import annotations

import contextlib
import math
import warnings

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neuro_llm import distributed
from neuro_llm.eval.data import leading_bos, load_tokens, model_windows
from neuro_llm.graphs import GraphedForward, unreplayable
from neuro_llm.simulator import LayerByLayerSimulator, place_outside_blocks
from neuro_llm.spiking import observe
from neuro_llm.spiking.mode import is_spiking
from neuro_llm.spiking.observe import SpikeStats, observing
from neuro_llm.spiking_model import hf_model_of, switch_mode


@torch.no_grad()
def window_nll(model, window: torch.Tensor, forward=None) -> tuple[float, int]:
    """Summed next-token NLL of one ``[seqlen]`` window, and the number of predicted tokens; ``forward``
    (``ids → logits``, e.g. a :class:`GraphedForward`) replaces ``model(ids).logits``."""
    device = next(model.parameters()).device
    ids = window.view(1, -1).to(device)
    logits = (model(input_ids=ids, use_cache=False).logits if forward is None else forward(ids)).float()
    if not torch.isfinite(logits).all():
        raise FloatingPointError("the model produced NaN/Inf logits: check the quantization settings")
    nll = F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum")
    return float(nll), ids.shape[1] - 1


def evaluate_ppl(model, tokenizer, dataset: str = "wikitext2", seqlen: int = 2048,
                 max_windows: int | None = None, data_dir=None, progress: bool = True,
                 mode: str | None = None, stream_to=None, windows_per_pass: int = 4,
                 cuda_graphs: bool | None = None) -> dict:
    """WikiText-2 test perplexity of ``model`` (a ``SpikingModel`` or a Hugging Face model); ``mode`` switches a
    spiking model's execution mode (``model.set_mode(mode)``: it stays in that mode afterwards).

    ``stream_to`` (a device): the decoder blocks stay in host memory and stream through that device one
    at a time, ``windows_per_pass`` windows through each block per pass (:class:`LayerByLayerSimulator`;
    a block's copy is paid once per pass) — for a model that does not fit the device.

    ``cuda_graphs``: replay each window's forward as a CUDA graph (:class:`GraphedForward`, the spike
    statistics captured with it) instead of launching its kernels from Python — the same kernels, so the same
    logits and totals, without the host's launch overhead. ``None`` (default): for a resident spiking model
    on CUDA whose codes and observers can be captured (not SDLLM's adaptive code), else eager; ``True``:
    required (an error says why not); ``False``: eager.

    Returns ``{"ppl", "windows", "tokens", "nll"}``, plus ``firing_rate`` and ``avg_spike_bits`` (and the
    raw spike totals) for a spiking model. Under torchrun the windows are split over the ranks and the
    result is the one-process result (:mod:`neuro_llm.distributed`)."""
    switch_mode(model, mode)
    model = hf_model_of(model)
    chunks = model_windows(load_tokens(tokenizer, dataset, "test", data_dir), seqlen, max_windows,
                           leading_bos(model, tokenizer))
    return windows_ppl(model, chunks, progress=progress, desc=f"perplexity ({dataset}, {seqlen})",
                       stream_to=stream_to, windows_per_pass=windows_per_pass, cuda_graphs=cuda_graphs)


def windows_ppl(model, chunks: torch.Tensor, progress: bool = True, desc: str = "perplexity", stream_to=None,
                windows_per_pass: int = 4, cuda_graphs: bool | None = None) -> dict:
    """:func:`evaluate_ppl` of ``[n, seqlen]`` token windows (any text). Data-parallel under torchrun:
    window ``j`` on rank ``j mod N``, the per-window sums gathered and added in window order."""
    if windows_per_pass < 1:
        raise ValueError(f"windows_per_pass must be at least 1, got {windows_per_pass}")
    model = hf_model_of(model)
    mine = distributed.shard(len(chunks))   # data-parallel: windows j ≡ rank (mod world size); else all
    stats = local = SpikeStats()
    per_window, forward = {}, None
    with observing(local) if is_spiking(model) else contextlib.nullcontext():
        if stream_to is None:
            forward = graphed_window_forward(model, chunks, cuda_graphs) if len(mine) else None
            for j in tqdm(mine, desc=desc, disable=not progress or not distributed.is_main()):
                per_window[j] = window_nll(model, chunks[j], forward)
        else:
            per_window = streamed_nll(model, chunks, list(mine), stream_to, windows_per_pass,
                                      progress=progress and distributed.is_main(), desc=desc)
    total_nll, total_tokens = 0.0, 0
    for nll, count in distributed.gather_indexed(per_window, len(chunks)):   # window order: one process's sums
        total_nll += nll
        total_tokens += count
    if distributed.active():
        stats = SpikeStats()
        for part in distributed.gather(local):
            stats.merge(part)   # integer totals: exact in any order
    result = {"ppl": math.exp(total_nll / total_tokens), "windows": len(chunks),
              "tokens": total_tokens, "nll": total_nll}
    if stats.values:
        result.update(stats.summary())
    result["cuda_graphs"] = forward is not None   # whether the windows were replayed as a CUDA graph
    return result


def graph_obstacle(model) -> str | None:
    """Why a forward of ``model`` cannot be captured into a CUDA graph here (``None``: it can)."""
    model = hf_model_of(model)
    adaptive = [name for name, m in model.named_modules() if getattr(getattr(m, "code", None), "adaptive", False)]
    if adaptive:
        return (f"{adaptive[0]} uses an adaptive spike code (SDLLM), whose train length is read on the host "
                "per call")
    devices = {p.device for p in model.parameters()} | {b.device for b in model.buffers()}
    if len(devices) > 1:
        return f"the model spans several devices ({', '.join(sorted(map(str, devices)))}); one graph runs on one"
    device = devices.pop()
    if device.type != "cuda":
        return f"the model is on {device}, not a CUDA device"
    refused = unreplayable(observe.current())
    if refused:
        return f"observer {', '.join(refused)} runs Python per encoder call"
    return None


def graphed_window_forward(model, chunks: torch.Tensor, cuda_graphs: bool | None):
    """A :class:`GraphedForward` of ``[1, seqlen]`` windows, or ``None`` for eager (see :func:`evaluate_ppl`)."""
    model = hf_model_of(model)
    if cuda_graphs is False or (cuda_graphs is None and not is_spiking(model)):
        return None
    obstacle = graph_obstacle(model)
    if obstacle is not None:
        if cuda_graphs:
            raise ValueError(f"cannot replay the forward as a CUDA graph: {obstacle}; run eagerly (cuda_graphs=False, "
                             "CLI --no-cuda-graphs)")
        return None
    example = chunks[:1].to(next(model.parameters()).device)
    try:
        return GraphedForward(model, example)
    except RuntimeError as err:   # a kernel or library that refuses capture: fall back, loudly
        if cuda_graphs:
            raise
        warnings.warn(f"CUDA-graph capture failed ({str(err).splitlines()[0]}); evaluating eagerly", stacklevel=2)
        return None


@torch.no_grad()
def streamed_nll(model, chunks: torch.Tensor, indices: list[int], device, windows_per_pass: int,
                 progress: bool = True, desc: str = "perplexity") -> dict[int, tuple[float, int]]:
    """:func:`window_nll` of windows ``indices``, the decoder blocks streamed from host memory through
    ``device`` (everything else is moved there), ``windows_per_pass`` windows a pass."""
    place_outside_blocks(model, device)
    simulator = LayerByLayerSimulator(model, device=device, progress=False)
    out = {}
    for start in tqdm(range(0, len(indices), windows_per_pass), desc=f"{desc}, streamed", disable=not progress):
        group = indices[start:start + windows_per_pass]
        ids = chunks[group].to(device)
        logits = simulator.run(ids).float()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("the model produced NaN/Inf logits: check the quantization settings")
        for row, j in enumerate(group):
            nll = F.cross_entropy(logits[row, :-1], ids[row, 1:], reduction="sum")
            out[j] = float(nll), ids.shape[1] - 1
    return out

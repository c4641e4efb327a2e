"""What :class:`~neuro_llm.spiking.observe.SpikeStats` tallies of one spike event, computed on the event's device.

``[events, payload, Σ token steps, max token steps]`` (float64) and the histogram of the signed counts (integers),
from the trains where an event carries them, else from the counts through the code's accounting (``events``,
``payload``, ``token_steps``); codes with ``fused_count_stats`` go through one fused kernel pass where the
kernels run (:func:`kernels.count_stats`, tested against :func:`count_stats_reference`).
"""
from __future__ import annotations

import torch

from neuro_llm.spiking import kernels
from neuro_llm.spiking.codes.gif import GIFCode
from neuro_llm.spiking.events import Encoded

Tensor = torch.Tensor
HISTOGRAM_LIMIT = 64   # count histograms keep -64..64; larger |counts| land in the end bins ±65


def device_tallies(e: Encoded) -> tuple[Tensor, Tensor, int]:
    """``[events, payload, Σ token steps, max token steps]`` (float64), the count histogram (integers) — both
    computed on the event's device, not read back — and the number of tokens. Unit-train codes' counts
    (or operands) go through one fused pass where the kernels run (:func:`kernels.count_stats`)."""
    limit = HISTOGRAM_LIMIT + 1
    shape = e.shape
    source = e.operand[0] if e.count is None else e.count
    if e.spikes is None and e.code.fused_count_stats and len(shape) and kernels.enabled(source):
        if e.count is None:
            x, tiles, width, _ = e.operand
        else:
            x, tiles, width = e.count.reshape(-1, shape[-1]), 1, shape[-1]
            x = x if x.stride(-1) == 1 else x.contiguous()
        tallies, binned = kernels.count_stats(x, e.code.per_step, limit, tiles, width, shape[-1])
        return tallies, binned, x.shape[0]
    count = e.counts()
    if e.spikes is not None:
        events = torch.count_nonzero(e.spikes)
        payload = e.spikes.abs().sum(dtype=torch.float64)
    else:
        events = e.code.events(count).sum(dtype=torch.float64)
        payload = e.code.payload(count).sum(dtype=torch.float64)
    token_steps = e.code.token_steps(count)
    largest = token_steps.max() if token_steps.numel() else torch.zeros((), device=count.device)
    # float64 holds every integer below 2^53 exactly: events, payloads and step sums of any real run
    tallies = torch.stack([events.to(torch.float64), payload.to(torch.float64),
                           token_steps.sum(dtype=torch.float64), largest.to(torch.float64)])
    bins = (count.clamp(-limit, limit) + limit).to(torch.int64).flatten()   # integer counts: one bin each
    binned = torch.zeros(2 * limit + 1, dtype=torch.int64, device=count.device).index_add_(
        0, bins, torch.ones_like(bins))   # exact integers (histc's float32 bins stop counting at 2^24)
    return tallies, binned, token_steps.numel()


def count_stats_reference(x: Tensor, per_step: int, limit: int, tiles: int = 1, width: int | None = None,
                          columns: int | None = None) -> tuple[Tensor, Tensor]:
    """The torch definition :func:`kernels.count_stats` is tested against: :class:`SpikeStats`' torch tallies of the
    counts summed from ``x`` (GIF code with ``per_step``; the histogram limit must be SpikeStats')."""
    if limit != HISTOGRAM_LIMIT + 1:
        raise ValueError(f"count_stats_reference: the histogram limit is {HISTOGRAM_LIMIT + 1}, not {limit}")
    width = x.shape[1] // tiles if width is None else width
    columns = width if columns is None else columns
    event = Encoded("", -1, GIFCode(per_step), None, tiles, operand=(x, tiles, width, (x.shape[0], columns)))
    with kernels.disabled():
        tallies, binned, _ = device_tallies(Encoded("", -1, event.code, event.counts(), tiles))
    return tallies, binned.to(torch.float64)

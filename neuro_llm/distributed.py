"""Data parallelism on ``torch.distributed``, as ``torchrun`` launches it (no scheduler of our own).

``torchrun --nproc-per-node N --no-python neuro-llm eval|simulate ...`` starts ``N`` copies of the command;
:func:`init` joins them from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``PORT``) with ``gloo`` on the CPU or ``nccl`` on CUDA (rank ``r`` on ``cuda:LOCAL_RANK``).
Every rank loads the whole model; the work is split and the results are reduced *exactly*:

* **Perplexity**: window ``j`` goes to rank ``j mod N``. The per-window NLLs (and token counts) are gathered
  and summed in window order in float64, the very additions one process makes, so ``ppl`` is equal to the
  last digit. Spike statistics are integer sums (``SpikeStats``), exact in any order.
* **Zero-shot**: the scoring batches (formed identically on every rank, longest first) go to rank
  ``b mod N``; every request is scored in the same batch as in one process and the results are gathered
  by request index.
* **Calibration**: calibration window ``j`` goes to rank ``j mod N``; each rank runs its windows through
  the block. First-order Optimal Brain Spiking terms and attention saliencies (vectors) are gathered per
  window and summed in window order (exact); activation samples are the first rows in window order
  (exact); Hessians (matrices, too large to gather per window) are summed over ranks in rank order: equal
  to one process when no rank but rank 0 holds more than one window, otherwise within float32
  re-association (relative ≈ windows · 2⁻²⁴). OmniQuant's activation maxima are exact maxima; its
  gradients are summed over the ranks in rank order and divided by the windows of the step (DDP's mean).
* **Recordings**: the recorded blocks are split into contiguous runs, one per rank; a rank runs the blocks
  before its own collapsed (bit-identical to explicit) and unrecorded, records its own, and rank 0 writes
  all of them into one HDF5 file (atomically).

Failure protocol: every collective begins with :func:`agree`, an exchange of "did anyone fail?". A rank
that fails anywhere calls :func:`announce` (the same exchange, carrying its error), so the others raise
:class:`RankFailed` at their next collective instead of waiting forever; rank 0 prints the one-line error,
all ranks meet at a final barrier and exit non-zero, and nothing is written (outputs are written by rank 0
after the last agreement, atomically).
"""
from __future__ import annotations

import os
from datetime import timedelta

import torch

from neuro_llm.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, USER_ERRORS

Tensor = torch.Tensor
_STATE = {"announced": False, "owned": False}


# ----------------------------------------------------------------------------- process group
def launched() -> bool:
    """Whether this process was started by torchrun (or anything that sets its variables) with N > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def active() -> bool:
    import torch.distributed as dist
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    import torch.distributed as dist
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init(device: str = "cpu", timeout_s: float = 1800.0) -> str:
    """Join torchrun's process group (once); return the device string this rank should use.

    Without torchrun (or with one process) nothing happens and ``device`` is returned unchanged. With
    ``cuda``, rank ``r`` uses ``cuda:LOCAL_RANK`` (set as the current device, so ``"cuda"`` means it)."""
    import torch.distributed as dist

    if not launched() or (dist.is_available() and dist.is_initialized()):
        return device
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise ValueError(f"--device {device}: under torchrun give --device cuda; rank r uses cuda:LOCAL_RANK")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"torchrun started local rank {local}, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    _STATE.update(announced=False, owned=True)
    return device


def shutdown() -> None:
    """Meet the other ranks (so that rank 0's last words are out before anyone exits) and leave the group."""
    import torch.distributed as dist

    if not (_STATE["owned"] and dist.is_available() and dist.is_initialized()):
        return
    try:
        dist.barrier()
    except Exception:   # a broken group (a rank died): torchrun ends the job anyway
        pass
    finally:
        dist.destroy_process_group()
        _STATE["owned"] = False


# ----------------------------------------------------------------------------- failures
class RankFailed(RuntimeError):
    """Another rank failed; ``exit_code`` is what that rank's error means (2 usage, 1 failure, 130 interrupt)."""

    def __init__(self, failed_rank: int, message: str, exit_code: int):
        super().__init__(f"rank {failed_rank}: {message}")
        self.failed_rank, self.exit_code = failed_rank, exit_code


def _summary(error: BaseException) -> tuple[str, int]:
    message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(error, USER_ERRORS):
        return message, EXIT_USAGE
    if isinstance(error, OSError):
        return message, EXIT_FAILURE
    return f"{type(error).__name__}: {message}", EXIT_FAILURE


def _exchange(status):
    import torch.distributed as dist

    statuses = [None] * world_size()
    dist.all_gather_object(statuses, status)
    return statuses


def agree() -> None:
    """Every rank learns whether any rank failed; if one did, raise :class:`RankFailed` (first failing rank)."""
    if not active():
        return
    for r, status in enumerate(_exchange(None)):
        if status is not None:
            _STATE["announced"] = True
            raise RankFailed(r, *status)


def announce(error: BaseException) -> None:
    """Tell the other ranks (waiting in, or on their way to, :func:`agree`) that this rank failed."""
    if not active() or isinstance(error, RankFailed) or _STATE["announced"]:
        return
    _STATE["announced"] = True
    try:
        _exchange(_summary(error))
    except Exception:   # the group itself is broken: nothing more to tell
        pass


# ----------------------------------------------------------------------------- work split
def shard(n: int) -> list[int]:
    """The items ``0..n-1`` of this rank: ``j`` with ``j mod world_size == rank`` (all of them in one process)."""
    return list(range(rank(), n, world_size()))


def gather_indexed(local: dict, n: int) -> list:
    """``{index: value}`` of every rank → ``[value_0, ..., value_{n-1}]`` on every rank (picklable values)."""
    if not active():
        return [local[j] for j in range(n)]
    agree()
    merged = {}
    for part in _exchange(local):
        merged.update(part)
    return [merged[j] for j in range(n)]


def gather(value) -> list:
    """``value`` of every rank, in rank order (a picklable object; tensors travel on the CPU)."""
    if not active():
        return [value]
    agree()
    return _exchange(value)


def sum_in_rank_order(tensor: Tensor | None, shape, dtype, device) -> Tensor:
    """``Σ_r tensor_r`` added in rank order (``((t_0 + t_1) + t_2) ...``), the same bits on every rank;
    ``None`` counts as zeros of ``shape``."""
    import torch.distributed as dist

    local = torch.zeros(shape, dtype=dtype, device=device) if tensor is None else tensor.contiguous()
    if not active():
        return local
    agree()
    parts = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(parts, local)
    total = parts[0].clone()
    for part in parts[1:]:
        total += part
    return total


def _cpu(value):
    return value.detach().cpu() if isinstance(value, Tensor) else value


def sum_in_window_order(terms: dict[int, Tensor], device) -> Tensor | None:
    """``{window: term}`` of every rank → ``((t_0 + t_1) + t_2) ...`` over all windows in order: the very
    additions one process makes (exact)."""
    merged = {}
    for part in gather({j: _cpu(t) for j, t in terms.items()}):
        merged.update(part)
    total = None
    for j in sorted(merged):
        t = merged[j].to(device)
        total = t if total is None else total + t
    return total


# ----------------------------------------------------------------------------- calibration statistics
def reduce_calibration_stats(stats: dict, windows: list[int], rows_per_window: int, keep: int, hessian: bool,
                             linears) -> None:
    """Make this rank's block statistics (``name -> LinearInputStats`` and ``"attention"`` ->
    ``AttentionSaliency``, accumulated over ``windows``, each window's first-order term kept in ``terms``)
    the statistics of all windows of all ranks, in place. ``linears``: ``name -> nn.Linear`` (shapes and
    device for a rank without windows). Every rank calls it with the same names, ``keep`` and ``hessian``."""
    if not active():
        return
    for name, s in stats.items():
        if name == "attention":
            s.k = sum_in_window_order(dict(zip(windows, (t[0] for t in s.terms))), _device(linears))
            s.v = sum_in_window_order(dict(zip(windows, (t[1] for t in s.terms))), _device(linears))
            s.tokens = sum(gather(s.tokens))
            s.terms = []
            continue
        linear = linears[name]
        s.first_order = sum_in_window_order(dict(zip(windows, s.terms)), _device(linears))
        s.terms = []
        if hessian:
            s.hessian = sum_in_rank_order(s.hessian, (linear.in_features,) * 2, torch.float32, _device(linears))
        if keep:
            s.samples = _first_rows(s.samples, windows, rows_per_window, keep, _device(linears))
        s.tokens = sum(gather(s.tokens))


def _device(linears) -> torch.device:
    return next(iter(linears.values())).weight.device


def _first_rows(samples: Tensor | None, windows: list[int], rows: int, keep: int, device) -> Tensor | None:
    """The first ``keep`` rows of all windows in window order, from each rank's first rows of its windows."""
    pieces = {}
    if samples is not None:
        for m, j in enumerate(windows):
            piece = samples[m * rows:(m + 1) * rows]
            if piece.shape[0]:
                pieces[j] = piece.cpu()
    merged = {}
    for part in gather(pieces):
        merged.update(part)
    if not merged:
        return None
    return torch.cat([merged[j] for j in sorted(merged)])[:keep].to(device)


def reduce_max(values: dict[str, Tensor]) -> dict[str, Tensor]:
    """Element-wise maxima of every rank's ``{name: tensor}`` (exact; a rank may hold none)."""
    if not active():
        return values
    device = next(iter(values.values())).device if values else None
    out = {}
    for part in gather({k: _cpu(v) for k, v in values.items()}):
        for k, v in part.items():
            out[k] = torch.maximum(out[k], v) if k in out else v
    return {k: v.to(device) if device is not None else v for k, v in out.items()}


def average_gradients(params: list, count: int) -> None:
    """``p.grad ← (Σ_r p.grad_r) / count`` (summed in rank order; a missing gradient is zero): the gradient
    of the mean loss over the ``count`` windows of an optimizer step, as DDP averages it."""
    if not params:
        return
    if not active():
        if count != 1:
            for p in params:
                if p.grad is not None:
                    p.grad.div_(count)
        return
    has = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params] + [has])
    total = sum_in_rank_order(flat, flat.shape, flat.dtype, flat.device)
    grads, has = total[:-len(params)] / count, total[-len(params):]
    start = 0
    for p, used in zip(params, has.tolist()):
        # a parameter no rank reached keeps no gradient (AdamW skips it, as in one process)
        p.grad = grads[start:start + p.numel()].view_as(p).clone() if used else None
        start += p.numel()

"""Fused GPU encoder of the GIF code (Triton): quantize one row and emit its spikes in one pass.

The reference is the pure-torch path it replaces, :meth:`GIFCode.scale_zero` /
:meth:`GIFCode.count` / :meth:`GIFCode.spikes` (:mod:`neuro_llm.spiking.codes.gif`) (:mod:`neuro_llm.spiking.quant`,
:mod:`neurons.functional`); the kernel computes the same float32 operations in the same order, with
correctly rounded division (``div_rn``) and the exact ``round_half_up`` (``floor(v)`` plus one where
``v - floor(v) ≥ 1/2``, both exact), so its output equals the reference bit for bit::

    Δ = max((max_c x - min_c x) / n, 1e-5),   z = round(-min_c x / Δ),   q_c = clamp(round(x_c/Δ + z), 0, n)
    S[t]_c = clamp(q_c - t·(L-1), 0, L-1)                                   (the drain of a charged GIF neuron)

per row (token) over the columns ``cols`` of one channel group (``n = T·(L-1)``). It writes, per row,
either the ``T`` spike rows ``out[m, t, j] = S[t]_{cols[j]}`` (explicit mode: ``[M, T·C]`` is the left
operand of one GEMM against the ``T``-times tiled weight codes, so time is summed inside the GEMM) or the
count ``out[m, j] = q_{cols[j]}`` (collapsed mode), in ``out``'s dtype (int8 for storage, bf16/fp16 when
it feeds a GEMM: small integers are exact in every one of them), plus ``Δ`` and ``z`` per row.

Used on CUDA when Triton imports; everywhere else (CPU, other codes) the torch path runs. Tests run the
kernel on the CPU with Triton's interpreter (``TRITON_INTERPRET=1``) inside :func:`forced`.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os

import torch

from neuro_llm.spiking.codes.gif import GIFCode

Tensor = torch.Tensor
_FORCED: contextvars.ContextVar[bool] = contextvars.ContextVar("neuro_llm_triton_forced", default=False)
_DISABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("neuro_llm_triton_disabled", default=False)
BLOCK = 1024   # columns a step of the GIF encoder's loops over a row (measured on an H200: a row of 4096
               # held in registers in one 4096-wide tile, read once, was slower: 70 µs against 60 µs)


def available() -> bool:
    """Whether Triton imports (and ``NEURO_LLM_TRITON`` is not ``0``), outside :func:`disabled`."""
    return not _DISABLED.get() and _importable()


@functools.lru_cache(maxsize=None)
def _importable() -> bool:
    if os.environ.get("NEURO_LLM_TRITON", "1") == "0":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def enabled(x: Tensor) -> bool:
    """Use the kernel for ``x``: on CUDA when Triton is available; on other devices only inside :func:`forced`."""
    return (x.is_cuda or _FORCED.get()) and available()  # Triton is not even imported for CPU runs


@contextlib.contextmanager
def disabled():
    """Run the torch path even on CUDA (the reference the kernels are checked against on the device); a
    context variable, like :func:`forced`: the process environment is left alone."""
    token = _DISABLED.set(True)
    try:
        yield
    finally:
        _DISABLED.reset(token)


@contextlib.contextmanager
def forced():
    """Run the kernel on CPU tensors too (with ``TRITON_INTERPRET=1`` set before the first use): tests."""
    token = _FORCED.set(True)
    try:
        yield
    finally:
        _FORCED.reset(token)


@functools.lru_cache(maxsize=None)
def _kernel():
    from neuro_llm.spiking import _triton_gif  # imported on first use: TRITON_INTERPRET is read then

    return _triton_gif.gif_encode_kernel


def gif_encode(x: Tensor, per_step: int, steps: int, spikes: bool, cols: Tensor | None = None,
               out_dtype: torch.dtype = torch.int8, width: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``x[M, K]`` (rows contiguous) → ``(out, scale [M, 1], zero [M, 1])`` for the GIF code with ``per_step =
    L-1`` and ``steps`` steps over the columns ``cols`` (int32; all columns in order if ``None``).

    ``out`` is ``[M, steps·W]`` (spikes, step-major within a row) when ``spikes`` else ``[M, W]`` (counts), with
    ``W = width`` (default ``C``): columns ``C..W-1`` of every step are zeros (GEMM operands padded to a multiple
    of 16 columns, against zero weight columns)."""
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError("gif_encode expects a 2-D tensor with contiguous rows")
    rows = x.shape[0]
    n_cols = x.shape[1] if cols is None else cols.numel()
    width = n_cols if width is None else width
    if not n_cols <= width < n_cols + 16:
        raise ValueError(f"gif_encode: width {width} must hold the {n_cols} encoded columns plus fewer than 16 "
                         "pad columns")
    total = steps * width if spikes else width
    out = torch.empty(rows, total, dtype=out_dtype, device=x.device)   # the kernel writes the pad columns' zeros
    scale = torch.empty(rows, 1, dtype=torch.float32, device=x.device)
    zero = torch.empty(rows, 1, dtype=torch.float32, device=x.device)
    if rows == 0:
        return out, scale, zero
    block = min(BLOCK, max(16, 1 << (n_cols - 1).bit_length()))
    _kernel()[(rows,)](x, x.stride(0), x if cols is None else cols, n_cols, out, out.stride(0), width, scale, zero,
                       float(steps * per_step), float(per_step), T_OUT=steps, SPIKES=spikes,
                       GATHER=cols is not None, BLOCK=block, PAD=width > n_cols, num_warps=4 if block >= 512 else 2)
    return out, scale, zero


def linear_epilogue(acc: Tensor, scale: Tensor, zero: Tensor, rowsum: Tensor, partial: Tensor | None,
                    out: Tensor | None, weight_scale: Tensor | None, bias: Tensor | None,
                    second: tuple[Tensor, Tensor, Tensor, Tensor] | None = None) -> Tensor:
    """One group's ``Δ (acc - z · rowsum)`` into ``partial`` (``None``: this is the first group, ``acc`` becomes
    the partial sum in place); with ``out`` given (the last group) ``(partial + term) · s + b`` is written to
    ``out`` instead. ``second = (acc, scale, zero, rowsum)`` of a second group (with ``partial=None`` and
    ``out``): ``(term₁ + term₂) · s + b`` in one pass. Returns the tensor written. Float32 operations in the
    order of the torch path."""
    from neuro_llm.spiking._triton_gif import linear_epilogue_kernel

    rows, cols = acc.shape
    first, last = partial is None, out is not None
    if second is not None and not (first and last):
        raise ValueError("linear_epilogue: a second group's accumulator needs partial=None and out")
    part = acc if first else partial
    target = out if last else part
    if last and _interpreted() and out.dtype != torch.float32:  # the interpreter's half casts truncate
        wide = linear_epilogue(acc, scale, zero, rowsum, partial, torch.empty_like(out, dtype=torch.float32),
                               weight_scale, bias, second)
        return out.copy_(wide)
    acc2, scale2, zero2, rowsum2 = second if second is not None else (acc, scale, zero, rowsum)
    grid = (triton_cdiv(rows, 32), triton_cdiv(cols, 128))
    linear_epilogue_kernel[grid](acc, acc.stride(0), part, part.stride(0), target, target.stride(0), scale, zero,
                                 rowsum, acc if weight_scale is None else weight_scale, acc if bias is None else bias,
                                 rows, cols, acc2, acc2.stride(0), scale2, zero2, rowsum2,
                                 FIRST=first, LAST=last, PAIR=second is not None, HAS_WS=weight_scale is not None,
                                 HAS_BIAS=bias is not None, BLOCK_M=32, BLOCK_N=128, num_warps=4,
                                 **({} if _interpreted() else {"enable_fp_fusion": False}))
    return target


def attention_encode(x: Tensor, dim: int, per_step: int, steps: int, channel_steps: Tensor | None, explicit: bool,
                     out_dtype: torch.dtype, counts: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """``x̂ = Δ (q - z)`` of the GIF code for one attention operand ``x [B, H, S, D]`` (any strides), in one pass:
    per (token, head) over ``D`` (``dim = -1``: Q, V) or per (head, channel) over the ``S`` tokens (``dim = -2``:
    K), with ``n = T(L-1)``: ``T = channel_steps[c]`` per channel when given (``steps`` is then their maximum),
    else ``steps``. Explicit mode forms the ``steps`` GIF spikes of every neuron and integrates them (in
    registers; observers that need the trains get them from the torch path). Returns a contiguous
    ``[B, H, S, D]`` tensor — and, with ``counts``, the integer counts ``q`` as float32 of that shape — equal
    to :func:`attention_encode_reference` bit for bit."""
    from neuro_llm.spiking import _triton_gif

    if x.dim() != 4 or dim not in (-1, -2, 2, 3):
        raise ValueError("attention_encode expects [batch, heads, tokens, head_dim] and dim -1 or -2")
    B, H, S, D = x.shape
    if _interpreted() and out_dtype != torch.float32:   # the interpreter's half casts truncate
        wide = attention_encode(x, dim, per_step, steps, channel_steps, explicit, torch.float32, counts)
        return (wide[0].to(out_dtype), wide[1]) if counts else wide.to(out_dtype)
    out = torch.empty(B, H, S, D, dtype=out_dtype, device=x.device)
    count = torch.empty(B, H, S, D, dtype=torch.float32, device=x.device) if counts else None
    if out.numel() == 0:
        return (out, count) if counts else out
    capacity = None if channel_steps is None else channel_steps.to(torch.float32) * per_step   # T_c (L-1), exact
    block_d = max(16, 1 << (D - 1).bit_length())
    args = (x, *x.stride(), H, S, D, x if capacity is None else capacity, float(steps * per_step), out,
            out if count is None else count, float(per_step))
    meta = dict(T_OUT=steps, EXPLICIT=explicit, PER_CHANNEL=capacity is not None, COUNTS=counts)
    if dim in (-1, 3):
        block_s = max(1, min(64, 4096 // block_d))
        _triton_gif.attention_rows_kernel[(B * H, triton_cdiv(S, block_s))](*args, **meta, BLOCK_S=block_s,
                                                                            BLOCK_D=block_d, num_warps=4)
    else:
        block_d = min(block_d, 32)
        _triton_gif.attention_columns_kernel[(B * H, triton_cdiv(D, block_d))](*args, **meta, BLOCK_S=64,
                                                                               BLOCK_D=block_d, num_warps=4)
    return (out, count) if counts else out


def attention_encode_reference(x: Tensor, dim: int, per_step: int, steps: int, channel_steps: Tensor | None,
                               explicit: bool, out_dtype: torch.dtype,
                               counts: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The torch definition :func:`attention_encode` is tested against (``SpikingAttention``'s torch path)."""
    code = GIFCode(per_step)
    xs = x.float()
    n = steps if channel_steps is None else channel_steps.to(torch.float32)
    scale, zero = code.scale_zero(xs, n, dim)
    if explicit:
        count = code.integrate(code.spikes(xs, scale, zero, n, steps))
    else:
        count = code.count(xs, scale, zero, n)
    out = (scale * (count - zero)).to(out_dtype).contiguous()
    return (out, count.contiguous()) if counts else out


def unpack_nibbles(packed: Tensor, floor: Tensor, out_dtype: torch.dtype) -> Tensor:
    """``packed [rows, K/2]`` (uint8, low nibble first) and ``floor [rows, 1]`` → codes ``[rows, K]`` in
    ``out_dtype``, in one pass (what :meth:`SpikingLinear.unpack_transfer` computes with torch ops)."""
    from neuro_llm.spiking._triton_gif import unpack_nibbles_kernel

    packed = packed.contiguous()
    rows, half = packed.shape
    out = torch.empty(rows, 2 * half, dtype=out_dtype, device=packed.device)
    if out.numel():
        unpack_nibbles_kernel[(rows, triton_cdiv(half, 1024))](packed, floor.contiguous(), out, half, BLOCK=1024,
                                                               num_warps=4)
    return out


STATS_BINS = 256   # histogram lanes of count_stats (a power of two; 2·limit + 1 used, the last one for masked lanes)


def count_stats(x: Tensor, per_step: int, limit: int, tiles: int = 1, width: int | None = None,
                columns: int | None = None) -> tuple[Tensor, Tensor]:
    """Spike statistics of the integer counts ``q[m, c] = Σ_{t<tiles} x[m, t·width + c]`` (``c < columns``) in one
    pass over ``x [M, tiles·width]`` (rows contiguous, any dtype: an encoder's GEMM operand, spikes step-major
    or counts, read where it lies): ``([Σ ⌈|q|/k⌉, Σ |q|, Σ_m ⌈max_c |q| / k⌉, max_m ⌈max_c |q| / k⌉]`` as float64,
    the histogram of ``clamp(q, ±limit)`` as float64 ``[2·limit + 1]``) with ``k = per_step`` — what
    :class:`SpikeStats` tallies per event, equal to :func:`observe.count_stats_reference` (integers: exactly)."""
    from neuro_llm.spiking._triton_stats import count_stats_kernel

    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError("count_stats expects a 2-D tensor with contiguous rows")
    width = x.shape[1] // tiles if width is None else width
    columns = width if columns is None else columns
    if not (columns <= width and tiles * width <= x.shape[1]) or 2 * limit + 2 > STATS_BINS or per_step < 1:
        raise ValueError(f"count_stats: {tiles} tiles of {columns}/{width} columns do not fit {tuple(x.shape)}, or "
                         f"limit {limit} / per_step {per_step} out of range")
    rows = x.shape[0]
    block_c = min(1024, max(16, 1 << (max(columns, 1) - 1).bit_length()))   # 4 rows × 1024: fastest measured
    block_m = max(1, min(64, 4096 // block_c))
    out = torch.zeros(4 + 2 * limit + 1, dtype=torch.int64, device=x.device)
    if rows and columns:
        count_stats_kernel[(triton_cdiv(rows, block_m),)](x, x.stride(0), rows, columns, width, out, PER_STEP=per_step,
                                                          TILES=tiles, LIMIT=limit, BINS=STATS_BINS, BLOCK_M=block_m,
                                                          BLOCK_C=block_c, num_warps=4)
    flat = out.to(torch.float64)   # integers below 2^53: exact
    return flat[:4], flat[4:]


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def gif_encode_reference(x: Tensor, per_step: int, steps: int, spikes: bool, cols: Tensor | None = None,
                         out_dtype: torch.dtype = torch.int8, width: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The torch definition :func:`gif_encode` is tested against: ``GIFCode(per_step)`` on the
    float32 columns, the spikes laid out ``[M, T·W]`` step-major (each step zero-padded to ``width``)."""
    code = GIFCode(per_step)
    xs = x.float() if cols is None else x.float()[:, cols.long()]
    scale, zero = code.scale_zero(xs, steps, dim=-1)
    pad = 0 if width is None else width - xs.shape[1]
    if spikes:
        out = torch.nn.functional.pad(code.spikes(xs, scale, zero, steps), (0, pad))
        out = out.permute(1, 0, 2).reshape(xs.shape[0], -1)
    else:
        out = torch.nn.functional.pad(code.count(xs, scale, zero, steps), (0, pad))
    return out.to(out_dtype), scale, zero

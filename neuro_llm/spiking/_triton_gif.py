"""Triton kernels of :mod:`neuro_llm.spiking.kernels` (imported only when Triton is available)."""
import triton
import triton.language as tl


@triton.jit
def round_half_up(v):
    """``floor(v + 1/2)`` exactly (``v - floor(v)`` is exact), as :func:`neurons.functional.round_half_up`."""
    f = tl.floor(v)
    return f + ((v - f) >= 0.5).to(tl.float32)


@triton.jit
def load_columns(x_row, cols_ptr, start, n_cols, GATHER: tl.constexpr, BLOCK: tl.constexpr):
    """Columns ``start .. start+BLOCK`` of one row as float32 — through the gather index ``cols`` when
    ``GATHER`` — with their offsets and in-range mask (masked lanes read 0)."""
    offs = start + tl.arange(0, BLOCK)
    mask = offs < n_cols
    if GATHER:
        cols = tl.load(cols_ptr + offs, mask=mask, other=0)
    else:
        cols = offs
    x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
    return x, offs, mask


@triton.jit
def gif_encode_kernel(x_ptr, stride_xm, cols_ptr, n_cols, out_ptr, stride_om, step_stride, scale_ptr, zero_ptr,
                      n, per_step, T_OUT: tl.constexpr, SPIKES: tl.constexpr, GATHER: tl.constexpr,
                      BLOCK: tl.constexpr, PAD: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_xm
    lo = tl.full((BLOCK,), float("inf"), tl.float32)
    hi = tl.full((BLOCK,), float("-inf"), tl.float32)
    for start in range(0, n_cols, BLOCK):
        x, offs, mask = load_columns(x_row, cols_ptr, start, n_cols, GATHER, BLOCK)
        lo = tl.minimum(lo, tl.where(mask, x, float("inf")))
        hi = tl.maximum(hi, tl.where(mask, x, float("-inf")))
    xmin = tl.min(lo, axis=0)
    xmax = tl.max(hi, axis=0)
    scale = tl.maximum(tl.div_rn(xmax - xmin, n), 1e-5)
    zero = round_half_up(tl.div_rn(-xmin, scale))
    tl.store(scale_ptr + row, scale)
    tl.store(zero_ptr + row, zero)
    out_row = out_ptr + row * stride_om
    for start in range(0, n_cols, BLOCK):
        x, offs, mask = load_columns(x_row, cols_ptr, start, n_cols, GATHER, BLOCK)
        q = round_half_up(tl.div_rn(x, scale) + zero)
        q = tl.minimum(tl.maximum(q, 0.0), n)
        if SPIKES:
            for t in tl.static_range(T_OUT):
                s = tl.minimum(tl.maximum(q - t * per_step, 0.0), per_step)
                tl.store(out_row + t * step_stride + offs, s.to(out_ptr.dtype.element_ty), mask=mask)
        else:
            tl.store(out_row + offs, q.to(out_ptr.dtype.element_ty), mask=mask)
    if PAD:   # the zero pad columns n_cols .. width-1 of every step (fewer than 16: one masked store a step)
        offs = n_cols + tl.arange(0, 16)
        mask = offs < step_stride
        zeros = tl.zeros((16,), tl.float32).to(out_ptr.dtype.element_ty)
        if SPIKES:
            for t in tl.static_range(T_OUT):
                tl.store(out_row + t * step_stride + offs, zeros, mask=mask)
        else:
            tl.store(out_row + offs, zeros, mask=mask)


@triton.jit
def linear_epilogue_kernel(acc_ptr, stride_acc, part_ptr, stride_part, out_ptr, stride_out, scale_ptr, zero_ptr,
                           rowsum_ptr, ws_ptr, bias_ptr, M, N, acc2_ptr, stride_acc2, scale2_ptr, zero2_ptr,
                           rowsum2_ptr, FIRST: tl.constexpr, LAST: tl.constexpr, PAIR: tl.constexpr,
                           HAS_WS: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr,
                           BLOCK_N: tl.constexpr):
    """One channel group's term ``Δ (acc_g - z_g · rowsum_g)`` added to the partial sum (``PAIR``: the first
    group's term plus the second's, from two accumulators, with no partial sum in memory); the last group
    also applies the row scale ``s`` and the bias and writes the output dtype (same float32 operations, in
    the same order, as the torch path of :class:`SpikingLinear`)."""
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (m < M)[:, None] & (n < N)[None, :]
    m64 = m.to(tl.int64)
    acc = tl.load(acc_ptr + m64[:, None] * stride_acc + n[None, :], mask=mask, other=0.0)
    z = tl.load(zero_ptr + m, mask=m < M, other=0.0)
    s = tl.load(scale_ptr + m, mask=m < M, other=0.0)
    r = tl.load(rowsum_ptr + n, mask=n < N, other=0).to(tl.float32)
    term = s[:, None] * (acc - z[:, None] * r[None, :])
    if PAIR:
        acc2 = tl.load(acc2_ptr + m64[:, None] * stride_acc2 + n[None, :], mask=mask, other=0.0)
        z2 = tl.load(zero2_ptr + m, mask=m < M, other=0.0)
        s2 = tl.load(scale2_ptr + m, mask=m < M, other=0.0)
        r2 = tl.load(rowsum2_ptr + n, mask=n < N, other=0).to(tl.float32)
        term = term + s2[:, None] * (acc2 - z2[:, None] * r2[None, :])
    elif not FIRST:
        term = tl.load(part_ptr + m64[:, None] * stride_part + n[None, :], mask=mask, other=0.0) + term
    if LAST:
        if HAS_WS:
            term = term * tl.load(ws_ptr + n, mask=n < N, other=0.0)[None, :]
        if HAS_BIAS:
            term = term + tl.load(bias_ptr + n, mask=n < N, other=0.0).to(tl.float32)[None, :]
        tl.store(out_ptr + m64[:, None] * stride_out + n[None, :], term.to(out_ptr.dtype.element_ty), mask=mask)
    else:
        tl.store(part_ptr + m64[:, None] * stride_part + n[None, :], term, mask=mask)


@triton.jit
def gif_count(x, scale, zero, n, per_step, T_OUT: tl.constexpr, EXPLICIT: tl.constexpr):
    """The count ``q`` of charges ``x`` (float32): ``clamp(round(x/Δ + z), 0, n)`` (collapsed), or, explicit,
    the ``T_OUT`` drained GIF spikes ``S[t] = clamp(q - t(L-1), 0, L-1)`` formed and integrated one step at a
    time (a channel whose ``n`` holds fewer steps is silent in the later ones)."""
    q = round_half_up(tl.div_rn(x, scale) + zero)
    q = tl.minimum(tl.maximum(q, 0.0), n)
    if EXPLICIT:
        integrated = tl.zeros_like(q)
        for t in tl.static_range(T_OUT):
            integrated += tl.minimum(tl.maximum(q - t * per_step, 0.0), per_step)
        q = integrated
    return q


@triton.jit
def gif_range(xmin, xmax, cap_ptr, n, d, D, PER_CHANNEL: tl.constexpr):
    """``(n, Δ, z)`` of the asymmetric GIF code over ``[xmin, xmax]``: ``n = T(L-1)``, per channel ``d`` (read
    from ``cap_ptr``) when ``PER_CHANNEL``; ``Δ = max((max - min)/n, 1e-5)``, ``z = round(-min/Δ)``."""
    if PER_CHANNEL:
        cap = tl.load(cap_ptr + d, mask=d < D, other=1.0)[None, :]
    else:
        cap = n
    scale = tl.maximum(tl.div_rn(xmax - xmin, cap), 1e-5)
    zero = round_half_up(tl.div_rn(-xmin, scale))
    return cap, scale, zero


@triton.jit
def fire_and_store(x, scale, zero, cap, per_step, out_ptr, count_ptr, bh, S, D, s, d, mask, T_OUT: tl.constexpr,
                   EXPLICIT: tl.constexpr, COUNTS: tl.constexpr):
    """Charge and fire one tile of an attention operand (:func:`gif_count`) and store ``x̂ = Δ (q - z)`` at
    tokens ``s``, channels ``d`` of head row ``bh`` in the contiguous ``[B·H, S, D]`` output (and ``q``)."""
    q = gif_count(x, scale, zero, cap, per_step, T_OUT, EXPLICIT)
    rows = (bh.to(tl.int64) * S + s.to(tl.int64))[:, None] * D
    tl.store(out_ptr + rows + d[None, :], (scale * (q - zero)).to(out_ptr.dtype.element_ty), mask=mask)
    if COUNTS:
        tl.store(count_ptr + rows + d[None, :], q, mask=mask)


@triton.jit
def attention_rows_kernel(x_ptr, stride_b, stride_h, stride_s, stride_d, H, S, D, cap_ptr, n, out_ptr, count_ptr,
                          per_step, T_OUT: tl.constexpr, EXPLICIT: tl.constexpr, PER_CHANNEL: tl.constexpr,
                          COUNTS: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr):
    """Q / V of ``[B, H, S, D]``: every (token, head) row over its ``D`` channels; ``n`` per channel when
    ``PER_CHANNEL`` (then so are ``Δ`` and ``z``). Writes ``x̂`` contiguous in ``out``'s dtype (and the
    counts, float32, when ``COUNTS``)."""
    bh = tl.program_id(0)
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    s = tl.program_id(1) * BLOCK_S + tl.arange(0, BLOCK_S)
    d = tl.arange(0, BLOCK_D)
    mask = (s < S)[:, None] & (d < D)[None, :]
    x = tl.load(x_ptr + b * stride_b + h * stride_h + s.to(tl.int64)[:, None] * stride_s + d[None, :] * stride_d,
                mask=mask, other=0.0).to(tl.float32)
    xmin = tl.min(tl.where(mask, x, float("inf")), axis=1)[:, None]
    xmax = tl.max(tl.where(mask, x, float("-inf")), axis=1)[:, None]
    cap, scale, zero = gif_range(xmin, xmax, cap_ptr, n, d, D, PER_CHANNEL)
    fire_and_store(x, scale, zero, cap, per_step, out_ptr, count_ptr, bh, S, D, s, d, mask, T_OUT, EXPLICIT, COUNTS)


@triton.jit
def attention_columns_kernel(x_ptr, stride_b, stride_h, stride_s, stride_d, H, S, D, cap_ptr, n, out_ptr,
                             count_ptr, per_step, T_OUT: tl.constexpr, EXPLICIT: tl.constexpr,
                             PER_CHANNEL: tl.constexpr, COUNTS: tl.constexpr, BLOCK_S: tl.constexpr,
                             BLOCK_D: tl.constexpr):
    """K of ``[B, H, S, D]``: every (head, channel) over the ``S`` tokens — two passes over the tokens
    (range, then charge and fire). Writes ``x̂`` contiguous in ``out``'s dtype (and the counts, float32,
    when ``COUNTS``)."""
    bh = tl.program_id(0)
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    base = x_ptr + b * stride_b + h * stride_h + d[None, :] * stride_d
    lo = tl.full((BLOCK_S, BLOCK_D), float("inf"), tl.float32)
    hi = tl.full((BLOCK_S, BLOCK_D), float("-inf"), tl.float32)
    for start in range(0, S, BLOCK_S):
        s = start + tl.arange(0, BLOCK_S)
        mask = (s < S)[:, None] & (d < D)[None, :]
        x = tl.load(base + s.to(tl.int64)[:, None] * stride_s, mask=mask, other=0.0).to(tl.float32)
        lo = tl.minimum(lo, tl.where(mask, x, float("inf")))
        hi = tl.maximum(hi, tl.where(mask, x, float("-inf")))
    xmin = tl.min(lo, axis=0)[None, :]
    xmax = tl.max(hi, axis=0)[None, :]
    cap, scale, zero = gif_range(xmin, xmax, cap_ptr, n, d, D, PER_CHANNEL)
    for start in range(0, S, BLOCK_S):
        s = start + tl.arange(0, BLOCK_S)
        mask = (s < S)[:, None] & (d < D)[None, :]
        x = tl.load(base + s.to(tl.int64)[:, None] * stride_s, mask=mask, other=0.0).to(tl.float32)
        fire_and_store(x, scale, zero, cap, per_step, out_ptr, count_ptr, bh, S, D, s, d, mask, T_OUT, EXPLICIT,
                       COUNTS)


@triton.jit
def unpack_nibbles_kernel(packed_ptr, floor_ptr, out_ptr, half_cols, BLOCK: tl.constexpr):
    """``out[r, 2j] = (p & 15) + floor_r``, ``out[r, 2j+1] = (p >> 4) + floor_r`` with ``p = packed[r, j]``:
    4-bit codes two to a byte back to one code per element, in ``out``'s dtype (exact small integers)."""
    row = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = j < half_cols
    p = tl.load(packed_ptr + row * half_cols + j, mask=mask, other=0).to(tl.int32)
    floor = tl.load(floor_ptr + row).to(tl.int32)
    out_row = out_ptr + row * (2 * half_cols)
    tl.store(out_row + 2 * j, ((p & 15) + floor).to(tl.float32).to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(out_row + 2 * j + 1, ((p >> 4) + floor).to(tl.float32).to(out_ptr.dtype.element_ty), mask=mask)

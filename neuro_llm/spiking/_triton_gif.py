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
                      BLOCK: tl.constexpr):
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


@triton.jit
def linear_epilogue_kernel(acc_ptr, stride_acc, part_ptr, stride_part, out_ptr, stride_out, scale_ptr, zero_ptr,
                           rowsum_ptr, ws_ptr, bias_ptr, M, N, FIRST: tl.constexpr, LAST: tl.constexpr,
                           HAS_WS: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr,
                           BLOCK_N: tl.constexpr):
    """One channel group's term ``Δ_g (acc_g - z_g · rowsum_g)`` added to the partial sum; the last group
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
    if not FIRST:
        term = tl.load(part_ptr + m64[:, None] * stride_part + n[None, :], mask=mask, other=0.0) + term
    if LAST:
        if HAS_WS:
            term = term * tl.load(ws_ptr + n, mask=n < N, other=0.0)[None, :]
        if HAS_BIAS:
            term = term + tl.load(bias_ptr + n, mask=n < N, other=0.0).to(tl.float32)[None, :]
        tl.store(out_ptr + m64[:, None] * stride_out + n[None, :], term.to(out_ptr.dtype.element_ty), mask=mask)
    else:
        tl.store(part_ptr + m64[:, None] * stride_part + n[None, :], term, mask=mask)

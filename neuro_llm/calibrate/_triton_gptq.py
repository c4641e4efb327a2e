"""Triton kernel of :func:`neuro_llm.calibrate.gptq.gptq_quantize_rows` (imported only when Triton is available).

One launch quantizes one block of up to ``BLOCK_C`` columns: each program owns ``BLOCK_R`` rows (rows are
independent in GPTQ), keeps their block in registers and runs the column loop of the reference::

    q_i = s (clamp(round(w_i / s + z), 0, n) - z),   e_i = (w_i - q_i) / U_ii,   w_{k≥i} -= e_i U_{i,k}
"""
import triton
import triton.language as tl


@triton.jit
def _round_half_up(v):
    f = tl.floor(v)
    return f + ((v - f) >= 0.5).to(tl.float32)


@triton.jit
def gptq_block_kernel(w_ptr, stride_w, q_ptr, stride_q, e_ptr, stride_e, u_ptr, stride_u, scale_ptr, zero_ptr,
                      rows, start, width, n, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    c = tl.arange(0, BLOCK_C)
    row_ok = r < rows
    col_ok = c < width
    r64 = r.to(tl.int64)
    tile = tl.load(w_ptr + r64[:, None] * stride_w + (start + c)[None, :],
                   mask=row_ok[:, None] & col_ok[None, :], other=0.0)
    s = tl.load(scale_ptr + r, mask=row_ok, other=1.0)
    z = tl.load(zero_ptr + r, mask=row_ok, other=0.0)
    for i in range(0, width):
        w_i = tl.sum(tl.where(c[None, :] == i, tile, 0.0), axis=1)
        count = tl.minimum(tl.maximum(_round_half_up(tl.div_rn(w_i, s) + z), 0.0), n)
        q_i = s * (count - z)
        d = tl.load(u_ptr + (start + i).to(tl.int64) * stride_u + start + i)
        err = tl.div_rn(w_i - q_i, d)
        u_row = tl.load(u_ptr + (start + i).to(tl.int64) * stride_u + start + c, mask=col_ok & (c >= i), other=0.0)
        tile = tile - err[:, None] * u_row[None, :]
        tl.store(q_ptr + r64 * stride_q + start + i, q_i, mask=row_ok)
        tl.store(e_ptr + r64 * stride_e + i, err, mask=row_ok)

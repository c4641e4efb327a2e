"""Triton kernel of :func:`neuro_llm.spiking.kernels.count_stats` (imported only when Triton is available)."""
import triton
import triton.language as tl


@triton.jit
def count_stats_kernel(x_ptr, stride_xm, n_rows, n_cols, tile_stride, out_ptr, PER_STEP: tl.constexpr,
                       TILES: tl.constexpr, LIMIT: tl.constexpr, BINS: tl.constexpr, BLOCK_M: tl.constexpr,
                       BLOCK_C: tl.constexpr):
    """Rows ``BLOCK_M·pid ..`` of ``q = Σ_t x[:, t·tile_stride + c]`` (``c < n_cols``), added into ``out`` (int64,
    zeroed by the caller) with integer atomics (exact in any order): ``out[0:3] +=`` Σ events ``⌈|q|/PER_STEP⌉``,
    Σ ``|q|``, Σ over rows of ``⌈max_c |q| / PER_STEP⌉``; ``out[3] = max`` of the latter; ``out[4 + b] +=`` the
    histogram of ``b = clamp(q, ±LIMIT) + LIMIT`` (masked lanes land in lane ``BINS - 1``, never added). Integer
    arithmetic in int32 per value (``|q| < 2^24``: exact float32 sums), int64 sums; ``PER_STEP`` is a
    constant, so its division is a multiply (measured on an H200: int64 division by a runtime value, and
    wide row blocks, made the pass 6× slower)."""
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < n_rows
    base = x_ptr + rows.to(tl.int64)[:, None] * stride_xm
    largest = tl.zeros((BLOCK_M,), tl.int32)
    events = tl.zeros((BLOCK_M,), tl.int64)
    payload = tl.zeros((BLOCK_M,), tl.int64)
    hist = tl.zeros((BINS,), tl.int32)
    for start in range(0, n_cols, BLOCK_C):
        cols = start + tl.arange(0, BLOCK_C)
        ok = row_ok[:, None] & (cols < n_cols)[None, :]
        q = tl.zeros((BLOCK_M, BLOCK_C), tl.float32)
        for t in tl.static_range(TILES):   # integer spikes: float32 sums are exact below 2^24
            q += tl.load(base + t * tile_stride + cols[None, :], mask=ok, other=0.0).to(tl.float32)
        qi = q.to(tl.int32)
        magnitude = tl.abs(qi)
        largest = tl.maximum(largest, tl.max(magnitude, axis=1))
        events += tl.sum(((magnitude + PER_STEP - 1) // PER_STEP).to(tl.int64), axis=1)
        payload += tl.sum(magnitude.to(tl.int64), axis=1)
        index = tl.where(ok, tl.minimum(tl.maximum(qi, -LIMIT), LIMIT) + LIMIT, BINS - 1)
        hist += tl.histogram(tl.reshape(index, (BLOCK_M * BLOCK_C,)), BINS)
    steps = ((largest + PER_STEP - 1) // PER_STEP).to(tl.int64)
    tl.atomic_add(out_ptr, tl.sum(events, axis=0))
    tl.atomic_add(out_ptr + 1, tl.sum(payload, axis=0))
    tl.atomic_add(out_ptr + 2, tl.sum(steps, axis=0))
    tl.atomic_max(out_ptr + 3, tl.max(steps, axis=0))
    bins = tl.arange(0, BINS)
    tl.atomic_add(out_ptr + 4 + bins, hist.to(tl.int64), mask=bins < 2 * LIMIT + 1)

"""Every Triton kernel compiles for a Hopper GPU (sm_90) — checked without a GPU, so CI (which runs the
kernels only through Triton's interpreter) also catches code the real compiler rejects."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

SCRIPT = r'''
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from neuro_llm.spiking import _triton_gif as k, _triton_stats as stats

target = GPUTarget("cuda", 90, 32)


def compile_(fn, signature, constexprs, options=None):
    signature = {**signature, **{name: "constexpr" for name in constexprs}}
    triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs), target=target, options=options)


encoder = {"x_ptr": "*bf16", "stride_xm": "i32", "cols_ptr": "*i32", "n_cols": "i32", "out_ptr": "*fp8e4nv",
           "stride_om": "i32", "step_stride": "i32", "scale_ptr": "*fp32", "zero_ptr": "*fp32", "n": "fp32",
           "per_step": "fp32"}
for spikes in (False, True):
    for gather in (False, True):
        for pad in (False, True):
            compile_(k.gif_encode_kernel, encoder,
                     {"T_OUT": 2, "SPIKES": spikes, "GATHER": gather, "BLOCK": 1024, "PAD": pad})
epilogue = {"acc_ptr": "*fp32", "stride_acc": "i32", "part_ptr": "*fp32", "stride_part": "i32", "out_ptr": "*bf16",
            "stride_out": "i32", "scale_ptr": "*fp32", "zero_ptr": "*fp32", "rowsum_ptr": "*i32", "ws_ptr": "*fp32",
            "bias_ptr": "*bf16", "M": "i32", "N": "i32", "acc2_ptr": "*fp32", "stride_acc2": "i32",
            "scale2_ptr": "*fp32", "zero2_ptr": "*fp32", "rowsum2_ptr": "*i32"}
for first, last, pair in ((True, False, False), (False, True, False), (True, True, True)):
    compile_(k.linear_epilogue_kernel, epilogue, {"FIRST": first, "LAST": last, "PAIR": pair, "HAS_WS": True,
                                                  "HAS_BIAS": True, "BLOCK_M": 32, "BLOCK_N": 128},
             {"enable_fp_fusion": False})
attention = {"x_ptr": "*bf16", "stride_b": "i32", "stride_h": "i32", "stride_s": "i32", "stride_d": "i32", "H": "i32",
             "S": "i32", "D": "i32", "cap_ptr": "*fp32", "n": "fp32", "out_ptr": "*bf16", "count_ptr": "*fp32",
             "per_step": "fp32"}
for explicit in (False, True):
    for per_channel in (False, True):
        for counts in (False, True):
            meta = {"T_OUT": 2, "EXPLICIT": explicit, "PER_CHANNEL": per_channel, "COUNTS": counts}
            compile_(k.attention_rows_kernel, attention, {**meta, "BLOCK_S": 32, "BLOCK_D": 128})
            compile_(k.attention_columns_kernel, attention, {**meta, "BLOCK_S": 64, "BLOCK_D": 32})
compile_(k.unpack_nibbles_kernel, {"packed_ptr": "*u8", "floor_ptr": "*i8", "out_ptr": "*fp8e4nv", "half_cols": "i32"},
         {"BLOCK": 1024})
for dtype in ("fp8e4nv", "bf16", "fp32"):
    for tiles in (1, 2):
        compile_(stats.count_stats_kernel, {"x_ptr": f"*{dtype}", "stride_xm": "i32", "n_rows": "i32", "n_cols": "i32",
                                            "tile_stride": "i32", "out_ptr": "*i64"},
                 {"PER_STEP": 15, "TILES": tiles, "LIMIT": 65, "BINS": 256, "BLOCK_M": 4, "BLOCK_C": 1024})
print("compiled")
'''


@pytest.mark.slow
def test_every_kernel_compiles_for_sm90():
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}   # the real compiler
    env["PYTHONPATH"] = str(Path(__file__).parents[1])
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    # skip only where Triton's CUDA backend itself is missing; any other import error (ours) fails
    backend_missing = ("ptxas" in out.stderr and "not found" in out.stderr
                       or "No module named 'triton.backends.nvidia" in out.stderr)
    if out.returncode and backend_missing:
        pytest.skip("Triton's CUDA backend (ptxas) is not available here: " + out.stderr.strip().splitlines()[-1])
    assert out.returncode == 0 and "compiled" in out.stdout, out.stderr[-3000:]

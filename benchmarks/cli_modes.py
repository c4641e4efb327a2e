"""Wall time of the README's ``neuro-llm eval`` in ``explicit`` vs ``collapsed`` mode, and whether the two
perplexities agree → ``benchmarks/results/cli_modes_<device>.json``.

    python benchmarks/cli_modes.py                      # spikellm W4A8, seqlen 1024, 4 windows, CPU

Each mode runs as its own ``neuro-llm eval`` process (model load and calibration included, as a user sees it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def significant_digits_agreeing(a: float, b: float) -> int:
    """How many leading significant digits ``a`` and ``b`` share (15 when equal)."""
    if a == b:
        return 15
    return max(0, math.floor(-math.log10(abs(a - b) / abs(a))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--args", default="--model smollm2-135m --method spikellm --wbits 4 --abits 8 "
                                          "--seqlen 1024 --max-windows 4", help="neuro-llm eval arguments")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("collapsed", "explicit"):
            out = Path(tmp) / f"{mode}.json"
            cmd = ["neuro-llm", "eval", *args.args.split(), "--mode", mode, "--device", args.device, "--json", str(out)]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
            result = json.loads(out.read_text())
            rows[mode] = {"seconds": time.perf_counter() - start, "ppl": result["ppl"],
                          "avg_spike_bits": result.get("avg_spike_bits"), "firing_rate": result.get("firing_rate")}
            print(f"{mode}: ppl {result['ppl']:.6f} in {rows[mode]['seconds']:.0f} s", file=sys.stderr)
    report = {"command": f"neuro-llm eval {args.args} --mode MODE --device {args.device}",
              "device": f"CPU ({os.cpu_count()} cores)" if args.device == "cpu" else args.device, **rows,
              "explicit_vs_collapsed_time": rows["explicit"]["seconds"] / rows["collapsed"]["seconds"],
              "significant_digits_agreeing": significant_digits_agreeing(rows["collapsed"]["ppl"], rows["explicit"]["ppl"])}
    out = RESULTS / f"cli_modes_{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    from neuro_llm.core.provenance import write_result
    write_result(out, report, device=args.device)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

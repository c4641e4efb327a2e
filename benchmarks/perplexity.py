"""WikiText-2 test perplexity of every method on SmolLM2-135M → ``benchmarks/results/perplexity.json``.

    python benchmarks/perplexity.py --device cuda --seqlen 2048               # every preset, all windows
    python benchmarks/perplexity.py --presets fp rtn-w4a4 --seqlen 1024 --max-windows 16
    python benchmarks/perplexity.py --model gemma3-270m --presets fp rtn-w4a4 ...   # → perplexity_gemma3-270m.json

Each preset is converted (calibrated on WikiText-2 valid) and evaluated in ``collapsed`` mode (equal to
``explicit``, see tests); ``--explicit`` also evaluates the explicit spike trains and records both.
Rows are merged into the JSON by (preset, seqlen, max_windows); ``benchmarks/write_results.py`` turns
the JSON files into ``docs/results.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from presets import CALIBRATION, PRESETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "perplexity.json"


def evaluate(preset: str, seqlen: int, max_windows: int | None, device: str, explicit: bool, budget: str,
             note: str | None = None, model_name: str = "smollm2-135m") -> dict:
    from neuro_llm import SpikeConfig, convert, evaluate_ppl, load_model

    model, tok = load_model(model_name, device=device)
    settings = PRESETS[preset]
    config = SpikeConfig(**settings, **(CALIBRATION[budget] if settings["method"] != "fp" else {}))
    start = time.time()
    model = convert(model, config, tokenizer=tok, inplace=True)
    calibration_seconds = time.time() - start
    row = {"preset": preset, **({"model": model_name} if model_name != "smollm2-135m" else {}), "config": config.to_dict(), "seqlen": seqlen, "max_windows": max_windows, "budget": budget,
           "calibration_seconds": calibration_seconds, "device": _device_name(device),
           "weight_bits": model.weight_bits, **({"note": note} if note else {})}
    for mode in ("collapsed", "explicit") if explicit and config.method != "fp" else ("collapsed",):
        start = time.time()
        result = evaluate_ppl(model, tok, seqlen=seqlen, max_windows=max_windows, mode=None if config.method == "fp" else mode)
        result["seconds"] = time.time() - start
        row[mode] = result
    from neuro_llm.core.provenance import stamp
    return stamp(row, device=device, dtype="float32", seed=config.seed)


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"


def merge(rows: list[dict], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {(r["preset"], r["seqlen"], r["max_windows"]) for r in rows}
    merged = [r for r in old if (r["preset"], r["seqlen"], r["max_windows"]) not in keys] + rows
    from neuro_llm.core.provenance import write_result
    write_result(path, merged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--seqlen", type=int, default=2048)
    parser.add_argument("--max-windows", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--explicit", action="store_true", help="also evaluate explicit spike trains")
    parser.add_argument("--budget", choices=list(CALIBRATION), default="cpu", help="calibration budget")
    parser.add_argument("--model", default="smollm2-135m", help="model alias (default smollm2-135m)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON to merge into (default: results/perplexity.json, or perplexity_MODEL.json)")
    parser.add_argument("--note", default=None, help="remark stored with each row (e.g. how the device was shared)")
    args = parser.parse_args()
    if args.out is None:
        args.out = RESULTS if args.model == "smollm2-135m" else RESULTS.with_name(f"perplexity_{args.model}.json")
    rows = []
    for preset in args.presets:
        row = evaluate(preset, args.seqlen, args.max_windows, args.device, args.explicit, args.budget, args.note,
                       args.model)
        rows.append(row)
        merge([row], args.out)  # keep finished presets even if a later one is interrupted
        summary = {m: round(row[m]["ppl"], 3) for m in ("collapsed", "explicit") if m in row}
        print(f"{preset}: {summary}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

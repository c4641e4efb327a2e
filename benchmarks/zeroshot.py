"""Zero-shot accuracy (PIQA, ARC-e, ARC-c, BoolQ, HellaSwag, Winogrande) of chosen presets on SmolLM2-135M
→ ``benchmarks/results/zeroshot.json``.

    python benchmarks/zeroshot.py --device cuda --presets fp rtn-w4a4 spikellm-w4a4-t2 sdllm-w4a4
    python benchmarks/zeroshot.py --presets fp --limit 200          # CPU-sized
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from presets import CALIBRATION, PRESETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "zeroshot.json"


def main() -> None:
    from neuro_llm import SpikeConfig, convert, load_model
    from neuro_llm.tasks import DEFAULT_TASKS, evaluate_tasks

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["fp", "rtn-w4a4", "spikellm-w4a4-t2", "sdllm-w4a4"],
                        choices=list(PRESETS))
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: the whole validation set)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--budget", choices=list(CALIBRATION), default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    base, tok = load_model("smollm2-135m", device=args.device)
    for preset in args.presets:
        settings = PRESETS[preset]
        config = SpikeConfig(**settings, **(CALIBRATION[args.budget] if settings["method"] != "fp" else {}))
        model = convert(base, config, tokenizer=tok)
        start = time.time()
        report = evaluate_tasks(model, tok, tasks=DEFAULT_TASKS, limit=args.limit, batch_size=args.batch_size)
        report.pop("predictions", None)
        row = {"preset": preset, "config": config.to_dict(), "limit": args.limit, "budget": args.budget,
               "seconds": time.time() - start, **report}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(args.out.read_text()) if args.out.exists() else []
        old = [r for r in old if (r["preset"], r["limit"]) != (preset, args.limit)] + [row]
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(old, indent=2) + "\n")
        os.replace(tmp, args.out)
        print(preset, {k: round(v["acc"], 3) for k, v in report["tasks"].items()}, file=sys.stderr, flush=True)
        del model


if __name__ == "__main__":
    main()

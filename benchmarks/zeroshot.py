"""Zero-shot accuracy (PIQA, ARC-e, ARC-c, BoolQ, HellaSwag, Winogrande) of chosen presets on SmolLM2-135M
→ ``benchmarks/results/zeroshot.json``.

    python benchmarks/zeroshot.py --device cuda --budget gpu --presets fp rtn-w4a4 spikellm-w4a4-t2 sdllm-w4
    python benchmarks/zeroshot.py --presets fp --limit 200          # CPU-sized

Resumable: the JSON is rewritten after every task, and a rerun skips the (preset, limit, task) triples it
already holds, so a run cut short (a time limit, Ctrl-C) goes on where it stopped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from presets import CALIBRATION, PRESETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "zeroshot.json"
BASELINES = RESULTS.with_name("zeroshot_baselines.json")   # chance and majority-class rates (no model needed)


def read_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def write_row(path: Path, row: dict) -> None:
    """Replace the row of the same (preset, limit) in ``path`` (temp file + rename)."""
    rows = [r for r in read_rows(path) if (r["preset"], r["limit"]) != (row["preset"], row["limit"])] + [row]
    from neuro_llm.core.provenance import write_result
    write_result(path, rows)


def averages(tasks: dict) -> dict:
    """Mean ``acc`` and mean ``acc_norm`` (``acc`` where a task has none) over the finished tasks."""
    return {"avg_acc": float(np.mean([r["acc"] for r in tasks.values()])),
            "avg_acc_norm": float(np.mean([r.get("acc_norm", r["acc"]) for r in tasks.values()]))}


def calibrated(base, tok, config, saved: Path | None):
    """``convert(base, config)``, read from / written to the saved-model directory ``saved`` when given."""
    from neuro_llm import convert
    from neuro_llm.io.saving import is_saved_model, load_spiking_model, save_spiking_model

    if config.method == "fp":
        return base
    if saved is not None and is_saved_model(saved):
        model, _ = load_spiking_model(saved, device=base.device)
        if model.spec.to_dict() == config.to_dict():
            return model
    model = convert(base, config, tokenizer=tok)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        save_spiking_model(model, saved, tok)
    return model


def main() -> None:
    from neuro_llm import SpikeConfig, load_model
    from neuro_llm.core.provenance import stamp
    from neuro_llm.eval.tasks import DEFAULT_TASKS, evaluate_task

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["fp", "rtn-w4a4", "spikellm-w4a4-t2", "sdllm-w4a4"],
                        choices=list(PRESETS))
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), choices=list(DEFAULT_TASKS))
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: the whole validation set)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--budget", choices=list(CALIBRATION), default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="keep each calibrated model here (DIR/<preset>-<budget>) and reuse it on a rerun")
    parser.add_argument("--baselines", action="store_true",
                        help=f"only write each task's chance and majority-class rates to {BASELINES.name} (no model)")
    args = parser.parse_args()
    if args.baselines:
        from neuro_llm.core.provenance import write_result
        from neuro_llm.eval.tasks.evaluate import baselines
        write_result(BASELINES, {"limit": args.limit, "tasks": {name: baselines(name, args.limit) for name in args.tasks}})
        print(f"wrote {BASELINES}")
        return
    base, tok = load_model("smollm2-135m", device=args.device)
    for preset in args.presets:
        settings = PRESETS[preset]
        config = SpikeConfig(**settings, **(CALIBRATION[args.budget] if settings["method"] != "fp" else {}))
        old = [r for r in read_rows(args.out) if (r["preset"], r["limit"]) == (preset, args.limit)]
        row = old[0] if old and old[0]["config"] == config.to_dict() else {
            "preset": preset, "config": config.to_dict(), "limit": args.limit, "budget": args.budget, "tasks": {}}
        todo = [name for name in args.tasks if name not in row["tasks"]]
        if not todo:
            continue
        start = time.time()
        model = calibrated(base, tok, config, args.models_dir / f"{preset}-{args.budget}" if args.models_dir else None)
        row.setdefault("calibration_seconds", time.time() - start)
        for name in todo:
            metrics, _ = evaluate_task(model, tok, name, args.limit, args.batch_size)
            row["tasks"][name] = metrics
            row.update(averages(row["tasks"]), **stamp({}, device=args.device, seed=config.seed))
            write_row(args.out, row)
            print(preset, name, {k: round(v, 3) for k, v in metrics.items() if k.startswith("acc")},
                  file=sys.stderr, flush=True)
        del model


if __name__ == "__main__":
    main()

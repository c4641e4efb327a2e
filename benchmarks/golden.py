"""Golden real-model numbers: the README quick-start run and two more, pinned by ``tests/test_golden.py``.

    python benchmarks/golden.py            # rewrites benchmarks/results/golden.json (about 3-10 min on a CPU)

Runs on the CPU, float32, SmolLM2-135M, WikiText-2 test, 4 windows of 1024 tokens (what the README's
command runs), each configuration calibrated as ``neuro-llm eval`` calibrates it (``torch.manual_seed(seed)``,
then ``convert(model, config, tokenizer=tok)``):

- ``spikellm-w4a4-t2``: the README quick start (W4A4, 10 % salient channels at 2 GIF steps), in explicit
  *and* collapsed mode; the script fails unless the two agree bit for bit (perplexity and spike totals);
- ``sdllm-w4``: SDLLM's default ternary code on the same RTN W4 weights (collapsed; equal to explicit);
- ``fp``: the floating-point model.

Tolerance: half a unit of the last digit that ``neuro-llm eval`` prints (ppl and spike bits to 3 decimals,
firing rate to 4, events per activation to 3); integer spike totals exactly. The script also measures the
variation it allows for: the spikellm collapsed run again with one torch thread (a different reduction
order in CPU GEMMs) — it fails if that moves any pinned number by more than the tolerance. Regenerate this
file whenever a change moves the numbers on purpose (e.g. after a fix in the spiking layers), then
``python benchmarks/write_results.py`` (README and docs read their quick-start numbers from it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

GOLDEN = HERE / "results" / "golden.json"
SEQLEN, WINDOWS, SEED = 1024, 4, 0
RUNS = {
    "spikellm-w4a4-t2": dict(method="spikellm", wbits=4, abits=4, salient=0.10, extra_steps=1),
    "sdllm-w4": dict(method="sdllm", wbits=4, abits=4),
    "fp": dict(method="fp"),
}
MODES = {"spikellm-w4a4-t2": ("explicit", "collapsed"), "sdllm-w4": ("collapsed",), "fp": (None,)}
# |measured - golden| <= tolerance: half a unit of the digit the CLI prints
TOLERANCE = {"ppl": 5e-4, "avg_spike_bits": 5e-4, "events_per_activation": 5e-4, "firing_rate": 5e-5,
             "spike_events": 0, "values": 0, "tokens": 0, "windows": 0}
COMMAND = ("neuro-llm eval --model smollm2-135m --method spikellm --wbits 4 --abits 4 --mode explicit "
           "--seqlen 1024 --max-windows 4")   # the README's quick start (its --json left out)


def pinned(result: dict) -> dict:
    """The numbers a golden entry keeps from an ``evaluate_ppl`` result."""
    out = {k: result[k] for k in ("ppl", "tokens", "windows") if k in result}
    for k in ("avg_spike_bits", "firing_rate", "spike_events", "values"):
        if k in result:
            out[k] = result[k]
    if "spike_events" in result and result.get("values"):
        out["events_per_activation"] = result["spike_events"] / result["values"]
    return out


def load():
    from neuro_llm import load_model

    return load_model("smollm2-135m")


def measure(name: str, base=None, modes=None) -> dict:
    """``{mode: pinned numbers}`` of one golden configuration (``base``: a loaded ``(model, tokenizer)``)."""
    import torch

    from neuro_llm import SpikeConfig, convert, evaluate_ppl

    model, tok = base if base is not None else load()
    config = SpikeConfig(**RUNS[name])
    torch.manual_seed(config.seed)
    snn = convert(model, config, tokenizer=tok, progress=False)
    out = {}
    for mode in modes or MODES[name]:
        start = time.time()
        r = evaluate_ppl(snn, tok, seqlen=SEQLEN, max_windows=WINDOWS, progress=False, mode=mode)
        out[mode or "fp"] = {**pinned(r), "seconds": round(time.time() - start, 1)}
    return out


def compare(measured: dict, golden: dict, tolerance: dict = TOLERANCE) -> list[str]:
    """Differences beyond the tolerance, one line each (empty: they agree)."""
    bad = []
    for key, want in golden.items():
        if key not in tolerance:
            continue
        got = measured.get(key)
        if got is None or abs(got - want) > tolerance[key]:
            bad.append(f"{key}: measured {got!r}, golden {want!r} (tolerance {tolerance[key]})")
    return bad


def main(argv=None) -> None:
    import torch

    from neuro_llm.core.provenance import git_state, write_result

    git_state()   # the commit (and dirty flag) as the run starts: what the numbers were computed with
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(2, torch.get_num_threads()))
    base = load()
    runs = {}
    for name in RUNS:
        runs[name] = measure(name, base)
        print(name, runs[name], flush=True)
    spk = runs["spikellm-w4a4-t2"]
    same = {k: v for k, v in spk["explicit"].items() if k != "seconds"} == \
           {k: v for k, v in spk["collapsed"].items() if k != "seconds"}
    if not same:
        raise SystemExit(f"explicit != collapsed on the quick-start run: {spk}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    again = measure("spikellm-w4a4-t2", base, modes=("collapsed",))["collapsed"]
    torch.set_num_threads(threads)
    variation = {k: abs(again[k] - spk["collapsed"][k]) for k in TOLERANCE if k in again}
    print("variation (1 thread vs", threads, "):", variation, flush=True)
    over = compare(again, spk["collapsed"])
    if over:
        raise SystemExit("one-thread run moved past the tolerance: " + "; ".join(over))
    write_result(args.out, {"model": "smollm2-135m", "dataset": "wikitext2", "seqlen": SEQLEN, "max_windows": WINDOWS,
                            "readme_command": COMMAND, "configs": RUNS, "runs": runs,
                            "explicit_equals_collapsed": same, "tolerance": TOLERANCE,
                            "measured_variation": {"what": f"spikellm-w4a4-t2 collapsed, 1 torch thread vs {threads}",
                                                   **variation}},
                 device="cpu", dtype="float32", seed=SEED)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

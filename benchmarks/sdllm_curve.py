"""SDLLM's perplexity against spike events per activation, over its threshold ``k`` (and the count cap),
with SpikeLLM t1/t2/t4 on the same weights → ``benchmarks/results/sdllm_curve.json`` and
``docs/img/sdllm_curve.png``.

    python benchmarks/sdllm_curve.py --device cuda --seqlen 2048 --calib gpu          # all windows, RTN + OmniQuant
    python benchmarks/sdllm_curve.py --seqlen 1024 --max-windows 4 --weights rtn \\
        --k 1 2 3 4 6 --caps none                                                      # CPU-sized

Every point is SmolLM2-135M with W4 weights from the same method (``--weights``: RTN, identical tensors
for every point; or OmniQuant, trained per point with that point's activation quantizer in the loop, as
``spikellm-w4a4-t2`` is), evaluated on WikiText-2 test in ``collapsed`` mode (bit-identical to
``explicit``, see tests). A row records the perplexity and the spike accounting of ``SpikeStats``
(events and unit spikes per activation, clip rate, steps per token, count histogram).

Resumable: a point already in the JSON (same weights, settings, seqlen, windows and calibration budget)
is skipped, and the JSON is rewritten (temp file + rename) after every point. ``--plot-only`` redraws
the figure from the JSON. ``benchmarks/write_results.py`` renders the table into docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from presets import CALIBRATION, T2, T4  # noqa: E402

RESULTS = HERE / "results" / "sdllm_curve.json"
FIGURE = HERE.parent / "docs" / "img" / "sdllm_curve.png"
HISTOGRAM = HERE.parent / "docs" / "img" / "sdllm_counts.png"
SPIKELLM = {"t1": dict(salient=0.0, extra_steps=0), "t2": T2, "t4": T4}


def points(weights: list[str], ks: list[float], caps: list[int | None], trains: list[str],
           spikellm: list[str]) -> list[dict]:
    """The SpikeConfig settings of every point, SpikeLLM first (the reference), in sweep order."""
    out = []
    for w in weights:
        for name in spikellm:
            out.append(dict(method="spikellm", weight_method=w, wbits=4, abits=4, **SPIKELLM[name]))
        for train in trains:
            for cap in caps:
                for k in ks:
                    out.append(dict(method="sdllm", weight_method=w, wbits=4, threshold_k=float(k), count_cap=cap,
                                    spike_train=train))
    return out


def label(settings: dict) -> str:
    if settings["method"] == "spikellm":
        t = {0: "t1", 1: "t2", 2: "t4"}[settings.get("extra_steps", 0)]
        return f"spikellm-{settings['weight_method']}-w4a4-{t}"
    cap = "none" if settings["count_cap"] is None else settings["count_cap"]
    return (f"sdllm-{settings['weight_method']}-w4-k{settings['threshold_k']:g}-cap{cap}"
            + ("-bitwise" if settings["spike_train"] == "bitwise" else ""))


def key(row: dict) -> tuple:
    return row["label"], row["seqlen"], row["max_windows"], row["budget"]


def read_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def write_row(path: Path, row: dict) -> None:
    """Replace the row with the same key in ``path`` (temp file + rename)."""
    rows = [r for r in read_rows(path) if key(r) != key(row)] + [row]
    from neuro_llm.core.provenance import write_result
    write_result(path, rows)


def evaluate(settings: dict, seqlen: int, max_windows: int | None, device: str, budget: str) -> dict:
    import torch

    from neuro_llm import SpikeConfig, convert, evaluate_ppl, load_model

    torch.manual_seed(0)
    model, tok = load_model("smollm2-135m", device=device)
    config = SpikeConfig(**settings, **CALIBRATION[budget])
    start = time.time()
    model = convert(model, config, tokenizer=tok, inplace=True, progress=False)
    calibration_seconds = time.time() - start
    start = time.time()
    result = evaluate_ppl(model, tok, seqlen=seqlen, max_windows=max_windows, mode="collapsed", progress=False)
    accounting = result.pop("spike_accounting")
    from neuro_llm.core.provenance import stamp
    return stamp({"label": label(settings), "settings": settings, "config": config.to_dict(), "seqlen": seqlen,
            "max_windows": max_windows, "budget": budget, "device": _device_name(device),
            "calibration_seconds": calibration_seconds, "eval_seconds": time.time() - start,
            "ppl": result["ppl"], "windows": result["windows"], "tokens": result["tokens"],
            "events_per_activation": result["spike_events"] / result["values"],
            "unit_spikes_per_activation": result["spike_payload"] / result["values"],
            "avg_spike_bits": result["avg_spike_bits"], "spike_events": result["spike_events"],
            "values": result["values"], "accounting": accounting}, device=device, dtype="float32", seed=0)


def _device_name(device: str) -> str:
    import torch
    return torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"


def series_name(row: dict) -> str:
    s = row["settings"]
    if s["method"] == "spikellm":
        return f"spikellm ({s['weight_method']} W4A4, t1/t2/t4)"
    cap = "no cap" if s["count_cap"] is None else f"cap {s['count_cap']}"
    return f"sdllm {s['spike_train']} ({s['weight_method']} W4, {cap}; k swept)"


def plot(rows: list[dict], path: Path = FIGURE) -> Path | None:
    """Perplexity (log) against spike events per activation, one line per series, per (seqlen, windows)."""
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["seqlen"], r["max_windows"] or 0, r["budget"]) for r in rows}, key=lambda g: (-g[0], -g[1]))
    seqlen, windows, budget = groups[0]  # the largest run drawn
    chosen = [r for r in rows if (r["seqlen"], r["max_windows"] or 0, r["budget"]) == (seqlen, windows, budget)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in sorted({series_name(r) for r in chosen}):
        pts = sorted((r["events_per_activation"], r["ppl"], r) for r in chosen if series_name(r) == name)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        spiking = name.startswith("spikellm")
        ax.plot(xs, ys, marker="s" if spiking else "o", linestyle="--" if spiking else "-", label=name)
        for x, y, r in pts:
            s = r["settings"]
            tag = {0: "t1", 1: "t2", 2: "t4"}[s.get("extra_steps", 0)] if spiking else f"k={s['threshold_k']:g}"
            ax.annotate(tag, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axvline(3.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("spike events per activation")
    ax.set_ylabel("WikiText-2 perplexity")
    windows_text = "all windows" if windows == 0 else f"{windows} windows"
    ax.set_title(f"SmolLM2-135M, seqlen {seqlen}, {windows_text} ({chosen[0]['device']})", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_histogram(row: dict, path: Path = HISTOGRAM) -> Path:
    """The signed-count histogram of one point (all encoders), log frequency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = row["accounting"]["count_histogram"]
    end = hist["end_bins"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    total = sum(hist["freq"])
    ax.bar(hist["counts"], [f / total for f in hist["freq"]], width=0.9,
           color=["tab:red" if abs(c) == end else "tab:blue" for c in hist["counts"]])
    ax.set_yscale("log")
    ax.set_xlabel(f"signed count q (red: |q| ≥ {end})")
    ax.set_ylabel("fraction of activations")
    ax.set_title(f"{row['label']}: counts of every encoder (seqlen {row['seqlen']}, "
                 f"{row['windows']} windows)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _cap(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seqlen", type=int, default=2048)
    parser.add_argument("--max-windows", type=int, default=None, help="default: all windows")
    parser.add_argument("--calib", choices=list(CALIBRATION), default="cpu", help="calibration budget (presets.py)")
    parser.add_argument("--weights", nargs="+", choices=["rtn", "omniquant"], default=["rtn", "omniquant"])
    parser.add_argument("--k", nargs="+", type=float, default=[1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    parser.add_argument("--caps", nargs="+", type=_cap, default=[None, 15], help="count caps; 'none' = no cap")
    parser.add_argument("--trains", nargs="+", choices=["ternary", "bitwise"], default=["ternary"])
    parser.add_argument("--spikellm", nargs="*", choices=list(SPIKELLM), default=list(SPIKELLM))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plot-only", action="store_true", help="redraw docs/img/sdllm_curve.png from the JSON")
    parser.add_argument("--histogram-of", default=None, help="label of the point whose count histogram is drawn")
    args = parser.parse_args(argv)
    if not args.plot_only:
        if any(k <= 0 for k in args.k):
            parser.error("--k values must be positive")
        if any(c is not None and c < 1 for c in args.caps):
            parser.error("--caps must be at least 1 (or none)")
        done = {key(r) for r in read_rows(args.out)}
        todo = points(args.weights, args.k, args.caps, args.trains, args.spikellm)
        for settings in todo:
            k = (label(settings), args.seqlen, args.max_windows, args.calib)
            if k in done:
                print(f"{k[0]}: already in {args.out}, skipped", file=sys.stderr)
                continue
            row = evaluate(settings, args.seqlen, args.max_windows, args.device, args.calib)
            write_row(args.out, row)
            print(f"{row['label']}: ppl {row['ppl']:.3f}, {row['events_per_activation']:.3f} events/activation, "
                  f"{row['unit_spikes_per_activation']:.3f} unit spikes, clip rate "
                  f"{row['accounting'].get('clip_rate', 0):.2e}, {row['calibration_seconds'] + row['eval_seconds']:.0f} s",
                  file=sys.stderr, flush=True)
    rows = read_rows(args.out)
    if plot(rows):
        print(f"wrote {FIGURE}", file=sys.stderr)
    wanted = [r for r in rows if r["label"] == args.histogram_of] if args.histogram_of else []
    if wanted:
        print(f"wrote {plot_histogram(max(wanted, key=lambda r: (r['seqlen'], r['max_windows'] or 10**9)))}",
              file=sys.stderr)


if __name__ == "__main__":
    main()

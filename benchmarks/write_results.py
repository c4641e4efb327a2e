"""Turn ``benchmarks/results/*.json`` into ``docs/results.md`` (no numbers are typed by hand).

    python benchmarks/write_results.py
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from presets import PRESETS  # noqa: E402

RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "results.md"


def load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.3g}"
    return str(value)


def preset_order(row) -> int:
    """Rows in the order of ``benchmarks/presets.py`` (unknown presets last)."""
    names = list(PRESETS)
    return names.index(row["preset"]) if row["preset"] in names else len(names)


def perplexity_section(rows) -> list[str]:
    out = []
    groups = sorted({(r["seqlen"], r["max_windows"], r.get("budget", "cpu"), r.get("device", "?")) for r in rows},
                    key=lambda g: (-g[0], str(g[1]), g[2] != "gpu", g[2], g[3]))
    for seqlen, max_windows, budget, device in groups:
        chosen = sorted((r for r in rows if (r["seqlen"], r["max_windows"], r.get("budget", "cpu"), r.get("device", "?"))
                         == (seqlen, max_windows, budget, device)), key=preset_order)
        windows = chosen[0]["collapsed"]["windows"]
        out += [f"### seqlen {seqlen}, {windows} windows ({chosen[0]['collapsed']['tokens']} predicted tokens), "
                f"calibration budget `{budget}`, {device}", "",
                "| preset | method | weights | W/A | weight bits | avg spike bits | firing rate | ppl collapsed | ppl explicit | calibration s |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in chosen:
            c, col, exp = r["config"], r["collapsed"], r.get("explicit", {})
            bits = "FP32" if c["method"] == "fp" else f"W{c['wbits']}A{c['abits']}"
            weights = "–" if c["method"] == "fp" else c.get("weight_method", "rtn")
            out.append(f"| {r['preset']} | {c['method']} | {weights} | {bits} | {fmt(r.get('weight_bits'), 2)} | "
                       f"{fmt(col.get('avg_spike_bits'))} | {fmt(col.get('firing_rate'), 4)} | {fmt(col['ppl'])} | "
                       f"{fmt(exp.get('ppl'))} | {fmt(r['calibration_seconds'], 1)} |")
        notes = sorted({r["note"] for r in chosen if r.get("note")})
        out += ["", *(f"Note on some rows: {n.replace('-', ' ')} (their calibration seconds are upper bounds)."
                      for n in notes)]
        out.append("")
    return out


def targets_section(rows) -> list[str]:
    best = {}
    for r in rows:
        if r["seqlen"] == 2048 and r["max_windows"] is None:
            best[r["preset"]] = r
    out = ["## Targets (issue 4), measured", ""]

    def ppl(name):
        return best[name]["collapsed"]["ppl"] if name in best else None

    s, o, rt = ppl("spikellm-w4a4-t2"), ppl("omniquant-w4a4"), ppl("rtn-w4a4")
    if s and o:
        bits = best["spikellm-w4a4-t2"]["collapsed"]["avg_spike_bits"]
        out.append(f"- spikellm W4A4 t2 vs omniquant W4A4: {s:.2f} vs {o:.2f} ({100 * (1 - s / o):+.1f} % lower; "
                   f"target ≥ 25 %) at {bits:.3f} average spike bits (target ≤ 4.5).")
    if o and rt:
        out.append(f"- omniquant W4A4 vs rtn W4A4: {o:.2f} vs {rt:.2f}.")
    t, p = ppl("spikellm-ternary-w2a16"), ppl("pbllm-w1a16")
    if t and p:
        wt, wp = best["spikellm-ternary-w2a16"].get("weight_bits"), best["pbllm-w1a16"].get("weight_bits")
        out.append(f"- spikellm sparse-ternary weights vs pbllm (both W·A16): {t:.2f} vs {p:.2f} at {fmt(wt, 3)} vs "
                   f"{fmt(wp, 3)} average weight bits.")
    for a, b in (("sdllm-w4", "spikellm-rtn-w4a4-t2"), ("sdllm-omniquant-w4", "spikellm-w4a4-t2"),
                 ("sdllm-max-gamma-w4a4", "rtn-w4a4"), ("sdllm-max-gamma-w4a4-t2", "spikellm-rtn-w4a4-t2"),
                 ("sdllm-max-gamma-w4a8", "rtn-w4a8"), ("sdllm-max-gamma-omniquant-w4a8", "spikellm-w4a8-t2")):
        if a in best and b in best:
            ea, eb = best[a]["collapsed"], best[b]["collapsed"]
            out.append(f"- {a} vs {b}: {ea['spike_events'] / ea['values']:.3f} vs {eb['spike_events'] / eb['values']:.3f} "
                       f"spike events per activation, {ea['spike_payload'] / ea['values']:.2f} vs "
                       f"{eb['spike_payload'] / eb['values']:.2f} unit spikes per activation (a level-k spike counts k); "
                       f"perplexity {ea['ppl']:.2f} vs {eb['ppl']:.2f}.")
    out.append("")
    return out


def sdllm_curve_section(rows) -> list[str]:
    """``benchmarks/sdllm_curve.py``: perplexity against spike events per activation, and the issue-11 check."""
    out = ["Every point: SmolLM2-135M, W4 weights from the named method, WikiText-2 test (collapsed mode, equal to "
           "explicit). *events* = non-zero spikes per activation (a graded GIF spike counts once); *unit spikes* = "
           "Σ|spike| per activation; *steps/token* = the steps each token's largest count needs (mean / max); "
           "*clipped* = fraction of activations whose count the cap cut. Figure: "
           "[img/sdllm_curve.png](img/sdllm_curve.png); count histogram: [img/sdllm_counts.png](img/sdllm_counts.png).", ""]
    groups = sorted({(r["seqlen"], r["max_windows"], r["budget"], r["device"]) for r in rows},
                    key=lambda g: (-g[0], str(g[1]), g[2], g[3]))
    for seqlen, max_windows, budget, device in groups:
        chosen = [r for r in rows if (r["seqlen"], r["max_windows"], r["budget"], r["device"])
                  == (seqlen, max_windows, budget, device)]
        chosen.sort(key=lambda r: (r["settings"]["weight_method"], r["settings"]["method"] != "spikellm",
                                   r["settings"].get("spike_train", ""), str(r["settings"].get("count_cap")),
                                   r["events_per_activation"]))
        out += [f"### seqlen {seqlen}, {chosen[0]['windows']} windows ({chosen[0]['tokens']} predicted tokens), "
                f"calibration budget `{budget}`, {device}", "",
                "| point | weights | k | cap | train | events / act. | unit spikes / act. | steps/token mean / max "
                "| clipped | ppl |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in chosen:
            st, acc = r["settings"], r["accounting"]
            spiking = st["method"] == "spikellm"
            k = "–" if spiking else f"{st['threshold_k']:g}"
            cap = "–" if spiking else ("none" if st["count_cap"] is None else str(st["count_cap"]))
            train = "gif" if spiking else st["spike_train"]
            out.append(f"| {r['label']} | {st['weight_method']} | {k} | {cap} | {train} | "
                       f"{r['events_per_activation']:.3f} | {r['unit_spikes_per_activation']:.3f} | "
                       f"{acc['token_steps_mean']:.1f} / {acc['token_steps_max']} | {acc['clip_rate']:.2e} | "
                       f"{fmt(r['ppl'])} |")
        out.append("")
        for weights in sorted({r["settings"]["weight_method"] for r in chosen}):
            ref = [r for r in chosen if r["settings"]["weight_method"] == weights and r["settings"]["method"] == "spikellm"
                   and r["settings"].get("extra_steps") == 1]
            for train in ("ternary", "bitwise"):
                cands = [r for r in chosen if r["settings"]["weight_method"] == weights
                         and r["settings"]["method"] == "sdllm" and r["settings"]["spike_train"] == train
                         and r["events_per_activation"] <= 3.0]
                if not ref or not cands:
                    continue
                best = min(cands, key=lambda r: r["ppl"])
                verdict = "met" if best["ppl"] <= ref[0]["ppl"] else "not met"
                out.append(f"- {weights} weights, {train} trains: best sdllm point at ≤ 3 spike events per activation "
                           f"is {best['label']} ({best['events_per_activation']:.2f} events, ppl {best['ppl']:.2f}) vs "
                           f"spikellm t2 ({ref[0]['events_per_activation']:.2f} events, ppl {ref[0]['ppl']:.2f}): "
                           f"perplexity criterion {verdict}.")
        out.append("")
    return out


def forward_section() -> list[str]:
    out = []
    for path in sorted(RESULTS.glob("forward_*.json")):
        r = json.loads(path.read_text())
        out += [f"### {r['target']}, {r['tokens']} tokens, W{r['wbits']}A{r['abits']}, {r['device']}", "",
                "| config | time / FP | peak memory / FP |", "|---|---|---|"]
        out += [f"| {row['config']} | {row['time_vs_fp']:.2f} | {row['memory_vs_fp']:.2f} |" for row in r["rows"]]
        out.append("")
    if out:
        out += ["Peak memory: GPU, `torch.cuda.max_memory_allocated` over the timed forwards (weights included); CPU, "
                "the process's max RSS (model load and conversion included). Each configuration runs in its own "
                "process; times are the best of the repeats.", ""]
    return out


def cli_section() -> list[str]:
    out = []
    for path in sorted(RESULTS.glob("cli_modes_*.json")):
        r = json.loads(path.read_text())
        c, e = r["collapsed"], r["explicit"]
        out += [f"`{r['command']}` on {r['device']}, each mode a fresh process (model load and calibration included):", "",
                "| mode | perplexity | avg spike bits | firing rate | wall s |", "|---|---|---|---|---|",
                f"| collapsed | {c['ppl']:.6f} | {fmt(c['avg_spike_bits'])} | {fmt(c['firing_rate'], 4)} | {c['seconds']:.0f} |",
                f"| explicit | {e['ppl']:.6f} | {fmt(e['avg_spike_bits'])} | {fmt(e['firing_rate'], 4)} | {e['seconds']:.0f} |",
                "", f"Explicit / collapsed wall time: {r['explicit_vs_collapsed_time']:.2f}; the perplexities agree to "
                f"{r['significant_digits_agreeing']} significant digits (15 = identical).", ""]
    return out


def energy_section() -> list[str]:
    out = []
    for path in sorted(RESULTS.glob("energy_*.json")):
        r = json.loads(path.read_text())
        out.append(f"| {r['hardware']} | {r['sops']:.3e} | {r['macs']:.3e} | {r['energy_j']:.4g} | "
                   f"{r['ann_energy_j']:.4g} | {r['ratio']:.3f} |")
    if out:
        out = ["| hardware | SOPs | remaining FP MACs | spiking J | dense J | spiking / dense |",
               "|---|---|---|---|---|---|"] + out + [""]
    return out


def zeroshot_section(rows) -> list[str]:
    if not rows:
        return []
    tasks = list(dict.fromkeys(t for r in rows for t in r["tasks"]))
    out = ["| preset | items/task | " + " | ".join(tasks) + " | avg acc | avg acc_norm |",
           "|---|---|" + "---|" * (len(tasks) + 2)]
    counts = {}
    for r in rows:
        cells = []
        for t in tasks:
            v = r["tasks"].get(t)
            if v is None:
                cells.append("not run")
                continue
            counts.setdefault(t, set()).add(v["n"])
            cells.append(f"{v['acc']:.3f}" + (f" / {v['acc_norm']:.3f}" if "acc_norm" in v else ""))
        n = "all" if r["limit"] is None else str(r["limit"])
        partial = "" if len(r["tasks"]) == len(tasks) else " (tasks run only)"
        out.append(f"| {r['preset']} | {n} | " + " | ".join(cells)
                   + f" | {r['avg_acc']:.3f}{partial} | {r['avg_acc_norm']:.3f}{partial} |")
    return out + ["", "Cells: acc / acc_norm (acc_norm where lm-evaluation-harness reports it). Items per task: "
                  + ", ".join(f"{t} {'/'.join(map(str, sorted(counts[t])))}" for t in tasks if t in counts) + "."]


def render() -> str:
    """The whole of docs/results.md, from the JSON files under ``benchmarks/results``."""
    lines = ["# Results", "",
             "Generated by `python benchmarks/write_results.py` from `benchmarks/results/*.json`; the numbers come from",
             "`benchmarks/perplexity.py`, `benchmarks/sdllm_curve.py`, `benchmarks/forward_modes.py`, `benchmarks/zeroshot.py`",
             "and `neuro-llm energy`",
             "(see each script's docstring for the command). Model: SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantized to",
             "fp32; already 4-bit upstream). Perplexity: WikiText-2 test, non-overlapping windows; calibration:",
             "WikiText-2 valid.", ""]
    ppl = load("perplexity.json")
    if ppl:
        lines += ["## Perplexity", ""] + perplexity_section(ppl) + targets_section(ppl)
    curve = load("sdllm_curve.json")
    if curve:
        lines += ["## SDLLM (adaptive threshold) against SpikeLLM: perplexity vs spike events", ""] + sdllm_curve_section(curve)
    fwd = forward_section()
    if fwd:
        lines += ["## Forward time and peak memory (ratios from one run)", ""] + fwd
    cli = cli_section()
    if cli:
        lines += ["## The README's eval, explicit vs collapsed", ""] + cli
    energy = energy_section()
    if energy:
        lines += ["## Energy: spikellm W4A4 (t2) on SmolLM2, 256 WikiText-2 tokens, all 30 blocks", ""] + energy
    zs = load("zeroshot.json")
    if zs:
        lines += ["## Zero-shot accuracy", ""] + zeroshot_section(zs)
    return "\n".join(lines) + "\n"


def main() -> None:
    tmp = DOC.with_suffix(".md.tmp")
    DOC.parent.mkdir(exist_ok=True)
    tmp.write_text(render())
    os.replace(tmp, DOC)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()

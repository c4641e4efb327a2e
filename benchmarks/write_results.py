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
sys.path.insert(1, str(HERE.parent))  # this checkout's analysis package (the Pareto table)
from presets import PRESETS  # noqa: E402

ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "results.md"


def load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


CODE = ("neuro_llm", "neurons", "analysis")   # what the results measure: a change here makes them stale
STALE = "> **Stale"                           # flag lines: from git, so tests compare the doc without them


def _git(*args) -> str | None:
    import subprocess
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def stale_flag(commits: set) -> list[str]:
    """A ``> **Stale**`` line when the code under :data:`CODE` changed after any of ``commits`` (or a commit is not
    in this checkout's history); nothing outside a git checkout."""
    if not (ROOT / ".git").exists() or _git("rev-parse", "HEAD") is None:
        return []
    notes = []
    for commit in sorted(c for c in commits if c):
        if _git("cat-file", "-e", f"{commit}^{{commit}}") is None:
            notes.append(f"commit {commit[:7]} is not in this checkout's history")
            continue
        changed = _git("rev-list", "--count", f"{commit}..HEAD", "--", *CODE)
        if changed and int(changed):
            notes.append(f"{'/, '.join(CODE)}/ changed in {changed} commit(s) since {commit[:7]}")
    if not notes:
        return []
    return [f"{STALE}:** " + "; ".join(notes) + " — regenerate this table's JSON (its script's docstring gives "
            "the command), then `python benchmarks/write_results.py`.", ""]


def _describe(prov: dict) -> str:
    versions = prov.get("versions") or {}
    text = f"commit `{(prov.get('commit') or 'unknown')[:7]}`" + (" (uncommitted changes)" if prov.get("dirty") else "")
    text += f", {prov.get('device')}" if prov.get("device") else ""
    text += f", {prov['dtype']}" if prov.get("dtype") else ""
    text += f", torch {versions['torch']}" if versions.get("torch") else ""
    return text + (f", `{prov['command']}`" if prov.get("command") else "")


def source(name: str, data) -> list[str]:
    """``Source:`` line of a table: the JSON and the commit (and versions, device, command) that produced it."""
    link = f"[`benchmarks/results/{name}`](../benchmarks/results/{name})"
    prov = data.get("provenance") if isinstance(data, dict) else None
    if prov is None:
        return [f"Source: {link}, written before results recorded their commit (**provenance unknown**: "
                "regenerate it to date it).", ""]
    return [f"Source: {link}: {_describe(prov)}.", "", *stale_flag({prov.get("commit")})]


def source_rows(names, rows) -> list[str]:
    """``Source:`` of a table whose rows carry their own provenance (merged row files), or several files."""
    names = [names] if isinstance(names, str) else list(names)
    links = ", ".join(f"[`benchmarks/results/{n}`](../benchmarks/results/{n})" for n in names)
    commits, unknown = {}, 0
    for r in rows:
        prov = r.get("provenance") if isinstance(r, dict) else None
        if prov and prov.get("commit"):
            key = prov["commit"][:7] + (" (uncommitted changes)" if prov.get("dirty") else "")
            commits.setdefault(key, [0, prov["commit"]])[0] += 1
        else:
            unknown += 1
    parts = [f"commit `{k}` ({n} row{'s' if n > 1 else ''})" for k, (n, _) in sorted(commits.items())]
    if unknown:
        parts.append(f"**provenance unknown** for {unknown} row{'s' if unknown > 1 else ''} (written before results "
                     "recorded their commit: regenerate them to date them)")
    return [f"Source: {links}: " + "; ".join(parts) + ".", "", *stale_flag({c for _, c in commits.values()})]


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
                *source(path.name, r),
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
        out += [*source(path.name, r),
                f"`{r['command']}` on {r['device']}, each mode a fresh process (model load and calibration included):", "",
                "| mode | perplexity | avg spike bits | firing rate | wall s |", "|---|---|---|---|---|",
                f"| collapsed | {c['ppl']:.6f} | {fmt(c['avg_spike_bits'])} | {fmt(c['firing_rate'], 4)} | {c['seconds']:.0f} |",
                f"| explicit | {e['ppl']:.6f} | {fmt(e['avg_spike_bits'])} | {fmt(e['firing_rate'], 4)} | {e['seconds']:.0f} |",
                "", f"Explicit / collapsed wall time: {r['explicit_vs_collapsed_time']:.2f}; the perplexities agree to "
                f"{r['significant_digits_agreeing']} significant digits (15 = identical).", ""]
    return out


PRESET_NAMES = ["45nm-fp32", "45nm-fp16", "45nm-int8", "loihi", "loihi2", "truenorth", "spinnaker2"]
MODES = {"memory": "on", "no_memory": "off", "bitplane": "on, bit-planes"}


def _energy_cell(summary: dict, key: str) -> str:
    value = summary.get(key)
    if value is None:
        return "–"
    text = f"{value:.3g}"
    if key in summary.get("range", {}):
        low, high = summary["range"][key]
        if f"{low:.3g}" != f"{high:.3g}":
            text += f" ({low:.3g}–{high:.3g})"
    return text


def _per_token(summary: dict, key: str) -> str:
    value = summary.get(key)
    return "–" if value is None else f"{value:.3g}"


def _budget_table(entry: dict) -> list[str]:
    out = ["| preset | memory | spiking J/token | dense-int J/token | dense-fp16 J/token | spiking / dense-int | "
           "spiking / dense-fp16 |", "|---|---|---|---|---|---|---|"]
    for preset in PRESET_NAMES:
        for mode, label in MODES.items():
            s = entry["presets"].get(preset, {}).get(mode)
            if s is None:
                continue
            out.append(f"| {preset} | {label} | {_per_token(s, 'energy_per_token_j')} | "
                       f"{_per_token(s, 'dense_int_energy_per_token_j')} | {_per_token(s, 'dense_fp16_energy_per_token_j')} | "
                       f"{_energy_cell(s, 'ratio_vs_dense_int')} | {_energy_cell(s, 'ratio_vs_dense_fp16')} |")
    return out + [""]


def _order(labels) -> list[str]:
    return sorted(labels, key=lambda name: (not name.startswith("spikellm"), name))


def _verdict(label: str, entry: dict) -> str:
    wins_int, par, loses, wins_fp = [], [], [], []
    for preset in PRESET_NAMES:
        s = entry["presets"][preset]["memory"]
        ratio = s["ratio_vs_dense_int"]
        (wins_int if ratio < 0.95 else par if ratio <= 1.05 else loses).append(f"{preset} ({ratio:.2f})")
        if s["ratio_vs_dense_fp16"] < 1:
            wins_fp.append(f"{preset} ({s['ratio_vs_dense_fp16']:.2f})")
    return (f"- {label}, memory on, against the same model run densely in integers: cheaper on "
            f"{', '.join(wins_int) or 'no preset'}; within 5 % on {', '.join(par) or 'no preset'}; dearer on "
            f"{', '.join(loses) or 'no preset'}. Against the fp16 model it is cheaper on "
            f"{', '.join(wins_fp) or 'no preset'}.")


def _pareto_section(data) -> list[str]:
    from analysis.plots import pareto_front
    from energy import pareto_points

    presets = ("45nm-fp16", "loihi2")
    points = {preset: pareto_points(data, preset) for preset in presets}
    if not points[presets[0]]:
        return []
    baselines = data.get("baselines") or {}
    seqlen = sorted({f"{b['windows']} × {b['seqlen']}" for b in baselines.values() if b})
    out = ["", "### Energy per token vs perplexity (memory on)", "",
           "Perplexity: WikiText-2 test, " + (", ".join(seqlen) or "see each entry") + " tokens, CPU, each "
           "configuration calibrated as its recording was (`neuro-llm eval`); the dense points take their energies "
           f"from `{data.get('dense_reference')}` (its dense-int model is the W4A4 integer model; fp16 is the floating-point model, evaluated in fp32 and priced "
           "as fp16). ◆ = on the "
           "Pareto front (no other point is both cheaper and better).", "",
           "| model | perplexity | " + " | ".join(f"J/token, {p}" for p in presets) + " |",
           "|---|---|" + "---|" * len(presets)]
    fronts = {p: {q["label"] for q in pareto_front(points[p])} for p in presets}
    for k, point in enumerate(points[presets[0]]):
        cells = []
        for p in presets:
            q = points[p][k]
            cells.append(f"{q['energy_per_token_j']:.3g}" + (" ◆" if q["label"] in fronts[p] else ""))
        out.append(f"| {point['label']} | {point['ppl']:.2f} | " + " | ".join(cells) + " |")
    return out + [""]


def energy_section(data) -> list[str]:
    if not data or not data.get("recordings"):
        return []
    recs = data["recordings"]
    out = ["Generated by `benchmarks/energy.py` (its docstring gives the commands) with `neuro-llm energy`'s model",
           "(docs/energy.md): for each recording, the spiking model, the same quantized model run densely with",
           "integer MACs, and the fp16 model, on every preset, with memory traffic (default) and without; binary-spike",
           "chips carry a level-k spike as k binary spikes (unary, default) and, in the `bit-planes` rows, as its set bits.",
           "A range in brackets comes from provisional constants (DRAM's 1.3–2.6 nJ, loihi2, spinnaker2).", ""]
    for label in _order(recs):
        e = recs[label]
        ppl = e.get("ppl")
        ppl_text = (f"; perplexity {ppl['ppl']:.2f} (WikiText-2 test, {ppl['windows']} × {ppl['seqlen']} tokens"
                    + (f"; {ppl['note']}" if ppl.get("note") else "") + ")" if ppl else "")
        out += [f"### {label}: {e['tokens']} WikiText-2 tokens, {e['blocks']} blocks", "", f"`{e['command']}`", "",
                f"Firing rate {e['firing_rate']:.4f}; {e['events_per_activation']:.3f} spike events and "
                f"{e['unit_spikes_per_activation']:.2f} unit spikes per activation{ppl_text}.", ""]
        out += _budget_table(e)
    out += ["### Where spiking wins and where it loses", ""]
    out += [_verdict(label, recs[label]) for label in _order(recs)]
    out += ["", "### Published conventions beside ours (total J, 256 tokens)", "",
            "| recording | ours, 45nm-fp16, memory | snn-paper | snn-paper, k-ops | spikingbrain | spikingbrain: unit spikes "
            "/ activation, pJ per MAC-equivalent, × below the FP16 MAC |", "|---|---|---|---|---|---|"]
    for label in _order(recs):
        c, ours = recs[label]["conventions"], recs[label]["presets"]["45nm-fp16"]["memory"]
        sb = c["spikingbrain"]
        out.append(f"| {label} | {ours['energy_j']:.3g} | {c['snn-paper']['energy_j']:.3g} | "
                   f"{c['snn-paper-kops']['energy_j']:.3g} | {sb['energy_j']:.3g} | {sb['spikes_per_activation']:.2f}, "
                   f"{sb['mac_equivalent_j'] / 1e-12:.4f} pJ, {sb['mac_equivalent_ratio']:.1f}× |")
    sdllm = [label for label in _order(recs) if label.startswith("sdllm")]
    spikellm = [label for label in _order(recs) if label.startswith("spikellm")]
    if sdllm and spikellm:
        columns = [("ours 45nm-fp16", lambda e: e["presets"]["45nm-fp16"]["memory"]["energy_j"]),
                   ("ours 45nm-fp16, no memory", lambda e: e["presets"]["45nm-fp16"]["no_memory"]["energy_j"]),
                   ("ours loihi", lambda e: e["presets"]["loihi"]["memory"]["energy_j"]),
                   ("ours loihi2", lambda e: e["presets"]["loihi2"]["memory"]["energy_j"]),
                   ("snn-paper", lambda e: e["conventions"]["snn-paper"]["energy_j"]),
                   ("snn-paper, k-ops", lambda e: e["conventions"]["snn-paper-kops"]["energy_j"]),
                   ("spikingbrain", lambda e: e["conventions"]["spikingbrain"]["energy_j"])]
        out += ["", "### SDLLM vs SpikeLLM: SpikeLLM's energy / SDLLM's (above 1: SDLLM cheaper)", "",
                "| pair | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
        for a in sdllm:
            for b in spikellm:
                cells = [f"{get(recs[b]) / get(recs[a]):.2f}" for _, get in columns]
                out.append(f"| {b} / {a} | " + " | ".join(cells) + " |")
    projections = data.get("projections") or {}
    for label in _order(projections):
        p = projections[label]
        out += ["", f"### Projection (not a measurement): LLaMA-2-7B shape × the firing of {label}", "",
                f"Op counts of a {p['layers']}-block, d = {p['hidden']}, f = {p['intermediate']}, {p['heads']}-head "
                f"model over the same {p['tokens']} tokens; every site fires as {label} fired on average over its "
                f"blocks ({p['events_per_activation']:.3f} events, {p['unit_spikes_per_activation']:.2f} unit spikes "
                "per activation over the 7B sites: the mix differs from the measured one, e.g. 7B has as many K and V channels as Q "
                "channels). Its weights do not fit on any chip: they stream from DRAM once per pass.", ""]
        out += _budget_table(p)
    out += _pareto_section(data)
    if (ROOT / "docs" / "img" / "energy_pareto_45nm-fp16.png").exists():
        out += ["", "![energy per token vs perplexity, 45nm-fp16](img/energy_pareto_45nm-fp16.png)", "",
                "![energy per token vs perplexity, loihi2](img/energy_pareto_loihi2.png)", ""]
    for path in sorted((ROOT / "docs" / "img").glob("energy_layers_*.png")):
        out += [f"![per-block energy breakdown: {path.stem}](img/{path.name})", ""]
    return out


EXAMPLE_START = ("<!-- worked example: generated by `python benchmarks/write_results.py` from "
                 "benchmarks/results/energy_smollm2.json; do not edit by hand -->")
EXAMPLE_END = "<!-- end of the worked example -->"
EXAMPLE_LABEL = "spikellm-w4a4-t2"
TERMS = {"synaptic_j": "synaptic compute", "neuron_j": "neuron updates", "hop_j": "spike hops",
         "int_mac_j": "integer MACs", "mac_j": "fp16 MACs", "fp_j": "floating-point remainder",
         "mem_weights_j": "memory: weights (synapse reads per op; dense: by its dataflow)",
         "mem_accumulator_j": "memory: accumulator registers", "mem_operands_j": "memory: attention operands",
         "mem_spikes_j": "memory: spikes", "mem_activations_j": "memory: activations",
         "mem_membrane_j": "memory: membranes", "mem_dram_j": "memory: DRAM weight stream"}


def energy_example(data) -> str:
    """docs/energy.md's worked example: the spikellm t2 recording on 45nm-fp16 with memory, term by term."""
    if not data or not data.get("recordings"):
        return ""
    recs = data["recordings"]
    label = EXAMPLE_LABEL if EXAMPLE_LABEL in recs else _order(recs)[0]
    e = recs[label]
    s = e["presets"]["45nm-fp16"]["memory"]
    t, tokens = s["terms"], e["tokens"]
    a, w = s.get("dense_int_abits", 4), s.get("wbits") or 4   # the dense-int width (carried) and weight bits
    lines = [EXAMPLE_START, "", f"Recording `{label}` ({e['tokens']} tokens, {e['blocks']} blocks; `{e['command']}`), "
             "`--hardware 45nm-fp16`, memory on. Counts (exact, from the recording):", "",
             "| count | value |", "|---|---|",
             f"| spike events / unit spikes / activations | {e['spike_events']:.4g} / {e['unit_spikes']:.4g} / "
             f"{e['activations']:.4g} |",
             f"| synaptic ops (events × fan-out) | {s['sops']:.4g} |",
             f"| neuron-steps | {s['neuron_steps']:.4g} |",
             f"| floating-point ops left in the spiking model | {s['macs']:.4g} |",
             f"| dense-int: integer MACs / floating-point MACs | {s['int_macs']:.4g} / {s['float_macs']:.4g} |",
             f"| dense fp16 MACs | {s['ann_macs']:.4g} |", "",
             "Energy, term by term (J over the recording; per token divide by " + str(tokens) + "):", "",
             "| term | spiking | dense int | dense fp16 |", "|---|---|---|---|"]
    for key, name in TERMS.items():
        cells = [t[m].get(key) for m in ("spiking", "dense_int", "dense_fp16")]
        if all(c is None for c in cells):
            continue
        lines.append(f"| {name} | " + " | ".join("–" if c is None else f"{c:.4g}" for c in cells) + " |")
    lines += [f"| **total** | **{s['energy_j']:.4g}** | **{s['dense_int_energy_j']:.4g}** | "
              f"**{s['dense_fp16_energy_j']:.4g}** |", "",
              "By hand from the counts: dense fp16 compute = "
              f"{s['ann_macs']:.4g} MACs × 1.5 pJ = {s['ann_macs'] * 1.5e-12:.4g} J; the spiking model's remainder = "
              f"{s['macs']:.4g} × 1.5 pJ = {s['macs'] * 1.5e-12:.4g} J; its neuron updates = {s['neuron_steps']:.4g} × "
              f"0.1 pJ = {s['neuron_steps'] * 0.1e-12:.4g} J; the dense-int integer MACs ({a}×{w}-bit multiply "
              f"{0.2 * a * w / 64:.4g} pJ + int32 add 0.1 pJ) = {s['int_macs']:.4g} × {0.2 * a * w / 64 + 0.1:.4g} pJ = "
              f"{s['int_macs'] * (0.2 * a * w / 64 + 0.1) * 1e-12:.4g} J.", "",
              f"Ratios: spiking / dense int = {s['ratio_vs_dense_int']:.3f}, spiking / dense fp16 = "
              f"{s['ratio_vs_dense_fp16']:.3f}; per token {s['energy_per_token_j']:.3g} J, "
              f"{s['dense_int_energy_per_token_j']:.3g} J and {s['dense_fp16_energy_per_token_j']:.3g} J.", "",
              EXAMPLE_END]
    return "\n".join(lines)


def update_energy_doc(doc: Path) -> bool:
    """Replace the worked example between its markers in ``doc``; True if the file changed."""
    block = energy_example(load("energy_smollm2.json"))
    text = doc.read_text()
    if not block or EXAMPLE_START not in text:
        return False
    head, rest = text.split(EXAMPLE_START, 1)
    tail = rest.split(EXAMPLE_END, 1)[1]
    new = head + block + tail
    if new != text:
        doc.write_text(new)
    return new != text


def _se(acc: float, n: int) -> float:
    """lm-eval's standard error of an accuracy over ``n`` items (the files written before it was stored)."""
    return (acc * (1 - acc) / (n - 1)) ** 0.5 if n > 1 else float("nan")


def above_chance(rows, baselines) -> list[str]:
    """Tasks where the FP row beats a uniform guess by more than two standard errors."""
    fp = next((r for r in rows if r["preset"] == "fp"), None)
    if fp is None or not baselines:
        return []
    out = []
    for t, v in fp["tasks"].items():
        b = baselines.get("tasks", {}).get(t)
        if b is not None and v["acc"] - b["chance"] > 2 * v.get("acc_stderr", _se(v["acc"], v["n"])):
            out.append(t)
    return out


def zeroshot_section(rows, baselines=None) -> list[str]:
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
            se = v.get("acc_stderr", _se(v["acc"], v["n"]))
            cells.append(f"{v['acc']:.3f} ± {se:.3f}" + (f" / {v['acc_norm']:.3f}" if "acc_norm" in v else ""))
        n = "all" if r["limit"] is None else str(r["limit"])
        partial = "" if len(r["tasks"]) == len(tasks) else " (tasks run only)"
        out.append(f"| {r['preset']} | {n} | " + " | ".join(cells)
                   + f" | {r['avg_acc']:.3f}{partial} | {r['avg_acc_norm']:.3f}{partial} |")
    known = (baselines or {}).get("tasks", {})
    if known:
        for key, name in (("chance", "chance (uniform guess)"), ("majority", "majority class (most frequent answer)")):
            cells = [f"{known[t][key]:.3f}" if t in known else "–" for t in tasks]
            out.append(f"| *{name}* | all | " + " | ".join(cells) + " | | |")
    notes = [f"{r['preset']}: {r['note']}." for r in rows if r.get("note")]
    out += ["", "Cells: acc ± its standard error (lm-evaluation-harness's: sqrt(acc (1 − acc) / (n − 1))) / acc_norm "
            "(where lm-evaluation-harness reports it). Items per task: "
            + ", ".join(f"{t} {'/'.join(map(str, sorted(counts[t])))}" for t in tasks if t in counts) + "."
            + ("" if not notes else " " + " ".join(notes))]
    kept = above_chance(rows, baselines)
    if kept:
        out += ["", f"Average acc over the tasks where FP beats a uniform guess by more than two standard errors "
                f"({', '.join(kept)}; the others are at or below chance for the FP model, so they cannot rank its "
                "quantized versions):", "", "| preset | avg acc (those tasks) |", "|---|---|"]
        for r in rows:
            if all(t in r["tasks"] for t in kept):
                out.append(f"| {r['preset']} | {sum(r['tasks'][t]['acc'] for t in kept) / len(kept):.3f} |")
    fp = next((r for r in rows if r["preset"] == "fp"), None)
    for t in tasks:
        if fp and t in fp["tasks"] and t in known and fp["tasks"][t]["acc"] < known[t]["majority"]:
            out += ["", f"{t}: the FP model ({fp['tasks'][t]['acc']:.3f}) scores below always giving the most frequent "
                    f"answer ({known[t]['majority']:.3f}): the all-task averages include {t}, the average over tasks above "
                    "chance leaves it out."]
    return out


GPU_LAYER_COLUMNS = (
    "Columns: *ms* — the forward launched from Python (eager; at 2048 tokens partly bound by the host, which "
    "moves it between runs and machines); *graphed ms* — the same forward replayed as a CUDA graph (the GPU's "
    "work; replayed logits equal the eager ones bit for bit for every spiking row); *observed ms* — eager under "
    "a `SpikeStats` observer; *observed graphed ms* — the forward and its `SpikeStats` tallies replayed as one "
    "CUDA graph, which is what `neuro-llm eval` runs on a GPU (the script asserts that a replay counts exactly "
    "what an eager forward counts, and that the kernels' statistics equal the torch path's).")


def scale_section() -> list[str]:
    """The GPU benchmarks at the papers' scale (tables written by their scripts, streaming from its JSON)."""
    import calibration
    import encoder
    import eval_speed
    import gpu_layer

    out = []
    for name, script, title in (
            ("gpu_layer_cuda.json", gpu_layer, "One decoder layer, 7B- and 70B-shaped (`benchmarks/gpu_layer.py`)"),
            ("eval_speed_cuda.json", eval_speed, "What `eval` spends per perplexity window (`benchmarks/eval_speed.py`)"),
            ("encoder_cuda.json", encoder, "The spike encoder alone (`benchmarks/encoder.py`)"),
            ("encoder_cuda_rerun.json", encoder, "The spike encoder alone, re-run (the current kernel)"),
            ("calibration_cuda.json", calibration, "Calibration time per 7B-shaped block (`benchmarks/calibration.py`)")):
        data = load(name)
        if data:
            out += [f"### {title}", "", *source(name, data), script.markdown(data).strip(), ""]
            if data.get("note"):
                out += [f"Note recorded with the run: {data['note']}", ""]
            if name == "gpu_layer_cuda.json":
                out += [GPU_LAYER_COLUMNS, ""]
    names = sorted(p.name for p in RESULTS.glob("streaming_*_cuda*.json"))
    rows = [load(n) for n in names]
    if rows:
        out += ["### Whole models streamed through one GPU (`benchmarks/streaming.py`)", "",
                "Built on the `meta` device, each block filled with random weights on the GPU just before its "
                "(data-free, RTN W4A4 t1) conversion, then simulated layer by layer — `windows` windows of "
                f"{rows[0]['tokens']} tokens through each block per pass — with blocks streamed from pinned host "
                "memory, and again with every block resident. Copy floor: one block's host bytes over the measured "
                "pinned host-to-device bandwidth (a streamed layer cannot take less).", "", *source_rows(names, rows),
                "| shape | windows | 4-bit packed transfer | layers | convert s | convert peak GiB | spiking block GiB "
                "| copy floor ms/layer | streamed ms/layer | resident ms/layer | streamed / resident | streamed peak GiB "
                "| same logits |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        gib = 2 ** 30
        for r in sorted(rows, key=lambda r: (r["layers"], r.get("pack_codes", False), r.get("windows_per_pass", 1))):
            resident = r.get("resident_seconds")
            out.append(f"| {r['shape']} | {r.get('windows_per_pass', 1)} | {'yes' if r.get('pack_codes') else 'no'} "
                       f"| {r['layers']} | {r['convert_seconds']:.1f} | {r['convert_peak_bytes'] / gib:.2f} "
                       f"| {r['spiking_block_bytes'] / gib:.2f} | {fmt(r.get('copy_floor_ms_per_layer'), 1)} "
                       f"| {r['streamed_ms_per_layer']:.1f} | {fmt(resident and resident / r['layers'] * 1e3, 1)} "
                       f"| {fmt(r.get('streamed_over_resident'), 2)} | {r['streamed_peak_bytes'] / gib:.2f} "
                       f"| {r.get('resident_equals_streamed', '—')} |")
        bound = [r for r in rows if r.get("windows_per_pass", 1) == 1 and not r.get("pack_codes")
                 and r.get("copy_floor_ms_per_layer") and r.get("streamed_over_resident")]
        for r in sorted(bound, key=lambda r: -r["layers"])[:1]:
            out += ["", f"One window a pass, the {r['shape']}-shaped model is bound by the copy: its streamed layer "
                    f"takes {r['streamed_ms_per_layer']:.1f} ms against a {r['copy_floor_ms_per_layer']:.1f} ms copy "
                    f"floor ({r['host_block_bytes'] / 2**30:.2f} GiB a block at "
                    f"{r['h2d_bytes_per_second'] / 1e9:.0f} GB/s), {r['streamed_over_resident']:.1f}× the resident "
                    "layer."]
        out += ["", "The copy is paid once per pass whatever the number of windows, so with several windows a pass "
                "(`eval --stream`'s default, `--windows-per-pass 4`) it hides behind compute. Packed rows: the host "
                "holds 4-bit codes two to a byte, unpacked on the GPU by one Triton kernel as each block arrives "
                "(`--pack-codes`, opt-in): half the copy. Packed runs were timed without a resident pass (moving the "
                "blocks back takes minutes): compare them with the unpacked rows' resident times of the same shape "
                "and windows, from another process."]
        out.append("")
    convert_names = sorted(p.name for p in RESULTS.glob("convert_gpu_*_cuda.json"))
    cpu_names = sorted(p.name for p in RESULTS.glob("convert_memory_*.json") if not p.name.endswith("_tiny.json"))
    converts, cpu = [load(n) for n in convert_names], [load(n) for n in cpu_names]
    if converts or cpu:
        gib = 2 ** 30
        out += ["### Converting a streamed model: peak memory (`benchmarks/streaming.py --convert-only`, "
                "`benchmarks/convert_memory.py`)", "",
                "GPU: peak device memory over the whole data-free (RTN W4A4 t1) conversion, finished blocks on the "
                "host. CPU: peak resident memory while one block is loaded, quantized and rebuilt, per block.", "",
                *source_rows(convert_names + cpu_names, converts + cpu),
                "| where | shape | layers | convert s | peak GiB | fp16 block GiB | peak / fp16 block |",
                "|---|---|---|---|---|---|---|"]
        for r in sorted(converts, key=lambda r: r["layers"]):
            out.append(f"| GPU | {r['shape']} | {r['layers']} | {r['convert_seconds']:.1f} | "
                       f"{r['convert_peak_bytes'] / gib:.2f} | {r['fp16_block_bytes'] / gib:.2f} | "
                       f"{r['convert_peak_bytes'] / r['fp16_block_bytes']:.2f} |")
        for r in cpu:
            out.append(f"| CPU | {r['shape']} (hidden {r['hidden']}) | {r['layers']} | – | "
                       f"{max(r['block_peak_bytes']) / gib:.3f} | {r['fp16_block_bytes'] / gib:.3f} | "
                       f"{r['max_block_peak_over_fp16_block']:.2f} (per block: "
                       + ", ".join(f"{p / r['fp16_block_bytes']:.2f}" for p in r["block_peak_bytes"]) + ") |")
        out.append("")
    return out


def golden_section(g) -> list[str]:
    """``benchmarks/golden.py``'s runs: the numbers ``tests/test_golden.py`` pins (and the README quotes)."""
    if not g:
        return []
    out = [*source("golden.json", g),
           f"SmolLM2-135M, WikiText-2 test, {g['max_windows']} windows of {g['seqlen']} tokens, CPU, float32; "
           f"`{g['readme_command']}` is the spikellm-w4a4-t2 explicit row. `tests/test_golden.py` re-runs them and fails when a number "
           "moves by more than the tolerance: half a unit of the last printed digit (ppl, spike bits and events per "
           "activation to 3 decimals, firing rate to 4), integer totals exactly.", "",
           "| run | mode | ppl | spike events / activation | spike bits | firing rate | spike events | tokens | s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, modes in g["runs"].items():
        for mode, r in modes.items():
            out.append(f"| {name} | {mode} | {r['ppl']:.3f} | {fmt(r.get('events_per_activation'))} | "
                       f"{fmt(r.get('avg_spike_bits'))} | {fmt(r.get('firing_rate'), 4)} | {r.get('spike_events', '–')} "
                       f"| {r['tokens']} | {r['seconds']:.0f} |")
    v = g.get("measured_variation", {})
    moved = {k: x for k, x in v.items() if k != "what" and x}
    out += ["", f"Explicit == collapsed on the quick-start run: {'yes, bit for bit' if g['explicit_equals_collapsed'] else 'NO'}. "
            f"Measured variation ({v.get('what', '–')}): "
            + (", ".join(f"{k} {x:.3g}" for k, x in moved.items()) if moved else "none (every number identical)") + ".", ""]
    return out


def gpu_tier_section(t) -> list[str]:
    """``benchmarks/gpu_tier.py``'s record: the GPU tier's outcome per test, with the commit and device."""
    if not t:
        return []
    counts = ", ".join(f"{n} {k}" for k, n in sorted(t["counts"].items()))
    out = [*source("gpu_tier.json", t),
           f"`python -m pytest -m gpu` on {', '.join(t['devices']) or 'no CUDA device'}: {counts} "
           f"(pytest exit status {t['pytest_exit_status']}, {t['seconds']:.0f} s).", ""]
    bad = {k: v for k, v in t["tests"].items() if v["outcome"] != "passed"}
    if bad:
        out += ["| test | outcome | reason |", "|---|---|---|"]
        out += [f"| `{k}` | {v['outcome']} | {v.get('reason', '').replace('|', '/')} |" for k, v in bad.items()]
        out.append("")
    return out


README = ROOT / "README.md"
QUICK_START = ("<!-- quick-start line: generated by `python benchmarks/write_results.py` from "
               "benchmarks/results/golden.json; do not edit by hand -->")
QUICK_END = "<!-- end of the quick-start line -->"


def quick_start(g) -> str:
    """The line ``neuro-llm eval`` prints for the README's command, from the golden run (what tests pin)."""
    r = g["runs"]["spikellm-w4a4-t2"]["explicit"]
    return (f"{QUICK_START}\n`spikellm W4A4 (explicit): ppl {r['ppl']:.3f}, {r['events_per_activation']:.3f} spike "
            f"events per activation, {r['avg_spike_bits']:.3f} spike bits, firing rate {r['firing_rate']:.4f} over "
            f"{r['tokens']} tokens in {r['seconds']:.0f} s`\n{QUICK_END}")


def update_block(doc: Path, start: str, end: str, block: str) -> bool:
    """Replace the text between the markers ``start`` … ``end`` (inclusive) in ``doc``; True if it changed."""
    text = doc.read_text()
    if not block or start not in text:
        return False
    head, rest = text.split(start, 1)
    new = head + block + rest.split(end, 1)[1]
    if new != text:
        doc.write_text(new)
    return new != text


BEFORE_CAUSALITY = "cfb9ef1"   # the last commit whose spiking numbers used K encoded over the whole window


def _at(commit: str, name: str):
    text = _git("show", f"{commit}:benchmarks/results/{name}")
    return None if text is None else json.loads(text)


def causality_section() -> list[str]:
    """What the causality fix (a97dbb6) moved: each re-measured preset beside its number at BEFORE_CAUSALITY, both
    read from the JSON (the old one from git)."""
    old, new = _at(BEFORE_CAUSALITY, "perplexity.json"), load("perplexity.json")
    if not old or not new:
        return []
    before = {(r["preset"], r["seqlen"], r["max_windows"]): r["collapsed"]["ppl"] for r in old}
    out = ["## The causality fix: what moved", "",
           f"Until a97dbb6, K was spike-encoded per channel over all the tokens of a window, so its thresholds "
           f"depended on later tokens and earlier logits changed with them (tests/test_causality.py now forbids it). "
           f"K is now encoded per token (default) or per channel over the tokens so far (`--key-scale running`; the "
           f"choice is measured in docs/concepts.md). Every preset whose activations spike was re-run; "
           f"`before` is `benchmarks/results/perplexity.json` at {BEFORE_CAUSALITY} (read from git), with its own "
           f"device and calibration. Rows measured with the old encoder and not re-run were dropped: omniquant-w2a8 "
           f"and spikellm-w2a8-t2 (CPU, 16 × 1024), the `sdllm-max-gamma-*` presets (renamed `sdllm-max-*` since), "
           f"the SDLLM k-curve (`sdllm_curve.json`, flagged stale below), Gemma 3's quantized rows and the zero-shot "
           f"`sdllm-max-gamma-w4a4` row.", "",
           "| preset | seqlen | before (K over the window) | now (causal) |", "|---|---|---|---|"]
    for r in sorted(new, key=lambda r: (preset_order(r), r["preset"])):
        k = (r["preset"], r["seqlen"], r["max_windows"])
        if k in before and r["config"]["method"] != "fp" and r["config"].get("abits", 16) < 16:
            out.append(f"| {r['preset']} | {r['seqlen']} | {fmt(before[k])} | {fmt(r['collapsed']['ppl'])} |")
    return out + [""]


def render() -> str:
    """The whole of docs/results.md, from the JSON files under ``benchmarks/results``."""
    lines = ["# Results", "",
             "Generated by `python benchmarks/write_results.py` from `benchmarks/results/*.json`; the numbers come from",
             "`benchmarks/perplexity.py`, `benchmarks/sdllm_curve.py`, `benchmarks/forward_modes.py`, `benchmarks/zeroshot.py`",
             "and `benchmarks/energy.py`",
             "(see each script's docstring for the command). Model: SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantized to",
             "fp32; already 4-bit upstream). Perplexity: WikiText-2 test, non-overlapping windows; calibration:",
             "WikiText-2 valid.", "",
             "Each table names the JSON it comes from and the commit, device and command that produced it (`Source:`); "
             "a `Stale` line marks a table whose JSON is older than the code it measures (" + ", ".join(f"`{c}/`" for c in CODE)
             + " changed since its commit).", ""]
    golden = golden_section(load("golden.json"))
    if golden:
        lines += ["## Golden runs (the README's quick start, pinned by tests)", ""] + golden
    lines += causality_section()
    ppl = load("perplexity.json")
    if ppl:
        lines += ["## Perplexity", "", *source_rows("perplexity.json", ppl)] + perplexity_section(ppl) + targets_section(ppl)
    curve = load("sdllm_curve.json")
    if curve:
        lines += ["## SDLLM (adaptive threshold) against SpikeLLM: perplexity vs spike events", "",
                  *source_rows("sdllm_curve.json", curve)] + sdllm_curve_section(curve)
    fwd = forward_section()
    if fwd:
        lines += ["## Forward time and peak memory (ratios from one run)", ""] + fwd
    cli = cli_section()
    if cli:
        lines += ["## The README's eval, explicit vs collapsed", ""] + cli
    energy = energy_section(load("energy_smollm2.json"))
    if energy:
        lines += ["## Energy budgets: SmolLM2-135M W4A4, 256 WikiText-2 tokens, all 30 blocks", "",
                  *source("energy_smollm2.json", load("energy_smollm2.json"))] + energy
    gemma = load("perplexity_gemma3-270m.json")
    if gemma:
        lines += ["## Gemma 3 270M (second real model: Q4_K_M GGUF, sliding/full attention pattern, GeGLU)", "",
                  "Every window starts with `<bos>` (Gemma is off-distribution without it), so each predicts "
                  "seqlen − 1 text tokens as for SmolLM2.", "", *source_rows("perplexity_gemma3-270m.json", gemma)] \
            + perplexity_section(gemma)
    keys = load("key_scale_gemma3-270m_cuda.json")
    if keys:
        lines += ["### Gemma 3 270M: K per token vs per channel over the tokens so far (H200)", "",
                  "The device's transformers (5.17) loads this GGUF differently from the CPU's 5.25 (see the FP row): "
                  "compare the rows of this table with each other only.", "",
                  *source_rows("key_scale_gemma3-270m_cuda.json", keys)] + perplexity_section(keys)
    scale = scale_section()
    if scale:
        lines += ["## At the papers' scale on one GPU (ratios from one run)", ""] + scale
    decode = load("decode_cuda.json")
    if decode:
        import decode as decode_script
        lines += ["## Decoding with the KV cache (`benchmarks/decode.py`)", "", *source("decode_cuda.json", decode),
                  "Static cache and one captured CUDA graph per decode step on both sides; the spiking model's cache "
                  "holds the encoded K and V (`EncodedStaticCache`). Floor: weight and KV-cache bytes a step reads, "
                  "over the HBM bandwidth the JSON names.", "", decode_script.markdown(decode), ""]
    tier = gpu_tier_section(load("gpu_tier.json"))
    if tier:
        lines += ["## GPU test tier (`python benchmarks/gpu_tier.py`)", ""] + tier
    zs = load("zeroshot.json")
    if zs:
        baselines = load("zeroshot_baselines.json")
        lines += ["## Zero-shot accuracy", "", *source_rows(["zeroshot.json", "zeroshot_baselines.json"],
                                                            [*zs, *([baselines] if baselines else [])])] \
            + zeroshot_section(zs, baselines)
    return "\n".join(lines) + "\n"


def main() -> None:
    tmp = DOC.with_suffix(".md.tmp")
    DOC.parent.mkdir(exist_ok=True)
    tmp.write_text(render())
    os.replace(tmp, DOC)
    print(f"wrote {DOC}")
    if update_energy_doc(ROOT / "docs" / "energy.md"):
        print("updated the worked example of docs/energy.md")
    golden = load("golden.json")
    if golden and update_block(README, QUICK_START, QUICK_END, quick_start(golden)):
        print("updated the quick-start line of README.md")


if __name__ == "__main__":
    main()
